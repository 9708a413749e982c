import DNSProviders
import Foundation
import NebulaTestSupport
import Testing

/// DefaultCloudflareClient against FakeCloudflare, a loopback server speaking API v4.
@Suite struct CloudflareClientTests {
    static let zone = "example.com"
    static let token = "cf-token-Zq8xY2vK4pL9"

    /// Runs `body` with a fake holding `seed`, and a client for it with `token`.
    func withCloudflare(seed: sending [[String: Any]] = [], token: String = Self.token,
                        _ body: (FakeCloudflare, DefaultCloudflareClient) async throws -> Void) async throws {
        let fake = FakeCloudflare(zone: Self.zone, token: Self.token)
        await fake.seed(seed)
        try await withTestHTTPServer({ request in await fake.handle(request) }) { server in
            let url = try #require(URL(string: "\(server.url.absoluteString)/client/v4"))
            let client = DefaultCloudflareClient(settings: CloudflareSettings(baseURL: url, apiToken: token, timeout: .seconds(30)))
            try await body(fake, client)
        }
    }

    static func seed() -> [[String: Any]] { [
        ["type": "A", "name": "www.example.com", "content": "192.0.2.1", "ttl": 1, "proxied": true],
        ["type": "AAAA", "name": "www.example.com", "content": "2001:0db8:0000::0001", "ttl": 300],
        ["type": "CNAME", "name": "docs.example.com", "content": "Pages.Example.NET", "ttl": 600],
        ["type": "TXT", "name": "example.com", "content": "\"v=spf1 -all\"", "ttl": 300],
        ["type": "MX", "name": "example.com", "content": "mail.example.com", "priority": 10, "ttl": 300],
        ["type": "SRV", "name": "_sip._tcp.example.com", "content": "5 5060 sip.example.com", "ttl": 300,
         "data": ["priority": 10, "weight": 5, "port": 5060, "target": "sip.example.com"]],
        ["type": "CAA", "name": "example.com", "content": "0 issue \"letsencrypt.org\"", "ttl": 300,
         "data": ["flags": 0, "tag": "issue", "value": "letsencrypt.org"]],
        ["type": "NS", "name": "example.com", "content": "ns1.cloudflare.com", "ttl": 86400],
    ] }

    @Test func listFollowsEveryPageAndMapsEachTypeIntoNebulaForm() async throws {
        try await withCloudflare(seed: Self.seed()) { fake, client in
            // act
            let records = try await client.records(zone: Self.zone)
            // verify
            #expect(Set(records) == [
                DNSRecord(name: "www.example.com", type: .A, content: "192.0.2.1", ttl: 300),
                DNSRecord(name: "www.example.com", type: .AAAA, content: "2001:db8::1", ttl: 300),
                DNSRecord(name: "docs.example.com", type: .CNAME, content: "pages.example.net", ttl: 600),
                DNSRecord(name: "example.com", type: .TXT, content: "v=spf1 -all", ttl: 300),
                DNSRecord(name: "example.com", type: .MX, content: "10 mail.example.com", ttl: 300),
                DNSRecord(name: "_sip._tcp.example.com", type: .SRV, content: "10 5 5060 sip.example.com", ttl: 300),
                DNSRecord(name: "example.com", type: .CAA, content: "0 issue \"letsencrypt.org\"", ttl: 300),
            ])
            #expect(records.count == 7)
            #expect(await fake.listPages == [1, 2, 3, 4])
        }
    }

    @Test func replaceSendsOneBatchOfDeletesPatchesAndPosts() async throws {
        // setup
        try await withCloudflare(seed: Self.seed() + [["type": "A", "name": "www.example.com", "content": "192.0.2.2", "ttl": 300]]) { fake, client in
            let changes = [
                DNSRRSet(name: "www.example.com", type: .A, ttl: 300, contents: ["192.0.2.2", "192.0.2.3"]),  // keep .2, .1 becomes .3
                DNSRRSet(name: "example.com", type: .TXT, ttl: 300, contents: []),                            // delete
                DNSRRSet(name: "example.com", type: .MX, ttl: 3600, contents: ["10 mail.example.com"]),       // ttl only
                DNSRRSet(name: "_xmpp._tcp.example.com", type: .SRV, ttl: 300, contents: ["5 0 5222 chat.example.com"]),
                DNSRRSet(name: "example.com", type: .CAA, ttl: 300, contents: ["0 issue \"letsencrypt.org\"", "0 iodef \"mailto:sec@example.com\""]),
                DNSRRSet(name: "new.example.com", type: .TXT, ttl: 300, contents: ["quote \" and backslash \\"]),
            ]
            // act
            try await client.replace(changes, zone: Self.zone)
            let after = try await client.records(zone: Self.zone)
            // verify
            #expect(await fake.batches == [FakeCloudflare.BatchSummary(deletes: 1, patches: 2, posts: 3)])
            #expect(Set(after) == [
                DNSRecord(name: "www.example.com", type: .A, content: "192.0.2.3", ttl: 300),
                DNSRecord(name: "www.example.com", type: .A, content: "192.0.2.2", ttl: 300),
                DNSRecord(name: "www.example.com", type: .AAAA, content: "2001:db8::1", ttl: 300),
                DNSRecord(name: "docs.example.com", type: .CNAME, content: "pages.example.net", ttl: 600),
                DNSRecord(name: "example.com", type: .MX, content: "10 mail.example.com", ttl: 3600),
                DNSRecord(name: "_sip._tcp.example.com", type: .SRV, content: "10 5 5060 sip.example.com", ttl: 300),
                DNSRecord(name: "_xmpp._tcp.example.com", type: .SRV, content: "5 0 5222 chat.example.com", ttl: 300),
                DNSRecord(name: "example.com", type: .CAA, content: "0 issue \"letsencrypt.org\"", ttl: 300),
                DNSRecord(name: "example.com", type: .CAA, content: "0 iodef \"mailto:sec@example.com\"", ttl: 300),
                DNSRecord(name: "new.example.com", type: .TXT, content: "quote \" and backslash \\", ttl: 300),
            ])
            // Replacing with the same sets again sends nothing.
            try await client.replace(changes.filter { !$0.contents.isEmpty }, zone: Self.zone)
            #expect(await fake.batches.count == 1)
        }
    }

    @Test func aRefusedBatchChangesNothing() async throws {
        try await withCloudflare(seed: Self.seed()) { fake, client in
            // setup
            let before = await fake.recordCount
            let changes = [
                DNSRRSet(name: "ok.example.com", type: .A, ttl: 300, contents: ["192.0.2.9"]),
                DNSRRSet(name: "example.com", type: .TXT, ttl: 300, contents: []),
                DNSRRSet(name: "bad.example.com", type: .SRV, ttl: 300, contents: ["not an srv record"]),
            ]
            // act
            let error = await #expect(throws: DNSProviderError.self) { try await client.replace(changes, zone: Self.zone) }
            // verify
            #expect(error?.code == .rejected)
            #expect(error?.message.contains("SRV needs data") == true, "\(String(describing: error))")
            #expect(await fake.batches.count == 1)
            #expect(await fake.recordCount == before)
            let after = try await client.records(zone: Self.zone)
            #expect(!after.contains { $0.name == "ok.example.com" })
            #expect(after.contains { $0.type == .TXT })
        }
    }

    @Test func rateLimitingSaysWhenToRetry() async throws {
        try await withCloudflare(seed: Self.seed()) { fake, client in
            // setup
            await fake.setRateLimit(1)
            // act
            let error = await #expect(throws: DNSProviderError.self) { try await client.records(zone: Self.zone) }
            let afterwards = try await client.records(zone: Self.zone)
            // verify
            #expect(error?.code == .rateLimited)
            #expect(error?.message.contains("17 seconds") == true, "\(String(describing: error))")
            #expect(afterwards.count == 7)
        }
    }

    @Test func aWrongTokenIsAuthenticationFailedAndNeverShown() async throws {
        let wrong = "cf-wrong-token-Hh41Jd0"
        try await withCloudflare(seed: Self.seed(), token: wrong) { _, client in
            // act
            let listing = await #expect(throws: DNSProviderError.self) { try await client.records(zone: Self.zone) }
            let change = await #expect(throws: DNSProviderError.self) {
                try await client.replace([DNSRRSet(name: "a.example.com", type: .A, ttl: 300, contents: ["192.0.2.1"])], zone: Self.zone)
            }
            let ensure = await #expect(throws: DNSProviderError.self) { try await client.ensureZone(Self.zone, nameservers: []) }
            // verify
            for error in [listing, change, ensure] {
                #expect(error?.code == .authenticationFailed)
                #expect(error?.message.contains("code 10000") == true)
                #expect(error.map { !"\($0)".contains(wrong) && !"\($0)".contains(Self.token) } == true)
            }
        }
    }

    @Test func ensureZoneOnlyChecksTheZoneExists() async throws {
        try await withCloudflare { _, client in
            // act
            try await client.ensureZone(Self.zone, nameservers: [])
            let missing = await #expect(throws: DNSProviderError.self) { try await client.ensureZone("example.org", nameservers: []) }
            let listing = await #expect(throws: DNSProviderError.self) { try await client.records(zone: "example.org") }
            // verify
            #expect(missing?.code == .zoneNotFound)
            #expect(listing?.code == .zoneNotFound)
            #expect(missing?.message.contains("example.org") == true)
        }
    }

    @Test func aRefusedConnectionIsUnreachableWithoutTheToken() async throws {
        // setup
        let port = try await closedTCPPort()
        let url = try #require(URL(string: "http://127.0.0.1:\(port)/client/v4"))
        let client = DefaultCloudflareClient(settings: CloudflareSettings(baseURL: url, apiToken: Self.token, timeout: .seconds(20)))
        // act
        let error = await #expect(throws: DNSProviderError.self) { try await client.records(zone: Self.zone) }
        // verify
        #expect(error?.code == .unreachable, "\(String(describing: error))")
        #expect(error.map { !$0.description.contains(Self.token) } == true)
    }
}
