import DNSProviders
import Foundation
import NebulaTestSupport
import Testing

/// DefaultPowerDNSClient and PropagationChecker against the real PowerDNS that `start_pdns`
/// (scripts/lib/peers.sh) starts. Each test uses a zone of its own.
@Suite(.enabled(if: PowerDNSPeer.isAvailable, "needs PowerDNS: source scripts/lib/peers.sh; start_pdns DIR"))
struct PowerDNSClientTests {
    static let longText = "k=rsa; p=" + String(repeating: "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", count: 10) + " \"quoted\" and \\ backslash"

    static func everyType(_ zone: String) -> [DNSRRSet] {
        [
            DNSRRSet(name: "www.\(zone)", type: .A, ttl: 300, contents: ["192.0.2.10", "192.0.2.11"]),
            DNSRRSet(name: "www.\(zone)", type: .AAAA, ttl: 300, contents: ["2001:db8::10"]),
            DNSRRSet(name: "docs.\(zone)", type: .CNAME, ttl: 600, contents: ["pages.example.net"]),
            DNSRRSet(name: zone, type: .TXT, ttl: 300, contents: ["v=spf1 -all", longText]),
            DNSRRSet(name: zone, type: .MX, ttl: 3600, contents: ["10 mail.\(zone)", "20 backup.example.net"]),
            DNSRRSet(name: "_sip._tcp.\(zone)", type: .SRV, ttl: 300, contents: ["10 5 5060 sip.\(zone)"]),
            DNSRRSet(name: zone, type: .CAA, ttl: 300, contents: ["0 issue \"letsencrypt.org\""]),
        ]
    }

    @Test func ensureZoneThenEveryTypeReadsBackAndResolves() async throws {
        // setup
        let client = try PowerDNSPeer.client()
        let zone = PowerDNSPeer.uniqueZone()
        // act
        try await client.ensureZone(zone, nameservers: [])
        try await client.ensureZone(zone, nameservers: [])  // already there: fine
        try await client.replace(Self.everyType(zone), zone: zone)
        let records = try await client.records(zone: zone)
        let server = PowerDNSPeer.dnsServer
        let a = try await DNSQuery.resolve("www.\(zone)", type: .A, server: server, timeout: .seconds(30))
        let txt = try await DNSQuery.resolve(zone, type: .TXT, server: server, timeout: .seconds(30))
        let srv = try await DNSQuery.resolve("_sip._tcp.\(zone)", type: .SRV, server: server, timeout: .seconds(30))
        let caa = try await DNSQuery.resolve(zone, type: .CAA, server: server, timeout: .seconds(30))
        // verify
        let expected = Set(Self.everyType(zone).flatMap { set in set.contents.map { DNSRecord(name: set.name, type: set.type, content: $0, ttl: set.ttl) } })
        #expect(Set(records) == expected)
        #expect(records.count == expected.count)
        #expect(Set(a.answers.map(\.value)) == ["192.0.2.10", "192.0.2.11"])
        #expect(Set(txt.answers.map(\.value)) == ["v=spf1 -all", Self.longText])
        #expect(srv.answers.map(\.value) == ["10 5 5060 sip.\(zone)"])
        #expect(caa.answers.map(\.value) == ["0 issue \"letsencrypt.org\""])
    }

    @Test func anEmptySetDeletesTheRRset() async throws {
        // setup
        let client = try PowerDNSPeer.client()
        let zone = PowerDNSPeer.uniqueZone()
        try await client.ensureZone(zone, nameservers: ["ns1.\(zone)", "ns2.example.net."])
        try await client.replace(Self.everyType(zone), zone: zone)
        // act
        try await client.replace([DNSRRSet(name: "www.\(zone)", type: .A, ttl: 300, contents: []),
                                  DNSRRSet(name: "docs.\(zone)", type: .CNAME, ttl: 300, contents: [])], zone: zone)
        let records = try await client.records(zone: zone)
        let answer = try await DNSQuery.resolve("www.\(zone)", type: .A, server: PowerDNSPeer.dnsServer, timeout: .seconds(30))
        let ns = try await DNSQuery.resolve(zone, type: .NS, server: PowerDNSPeer.dnsServer, timeout: .seconds(30))
        // verify
        #expect(!records.contains { $0.type == .A || $0.type == .CNAME })
        #expect(records.contains { $0.type == .AAAA && $0.name == "www.\(zone)" })
        #expect(answer.answers.isEmpty)
        #expect(Set(ns.answers.map(\.value)) == ["ns1.\(zone)", "ns2.example.net"])
    }

    @Test func aRejectedChangeAppliesNothing() async throws {
        // setup
        let client = try PowerDNSPeer.client()
        let zone = PowerDNSPeer.uniqueZone()
        try await client.ensureZone(zone, nameservers: [])
        try await client.replace([DNSRRSet(name: "c.\(zone)", type: .A, ttl: 300, contents: ["192.0.2.1"])], zone: zone)
        let before = try await client.records(zone: zone)
        // act: a CNAME beside the A, sent straight to PowerDNS together with a valid set
        let error = await #expect(throws: DNSProviderError.self) {
            try await client.replace([DNSRRSet(name: "ok.\(zone)", type: .A, ttl: 300, contents: ["192.0.2.2"]),
                                      DNSRRSet(name: "c.\(zone)", type: .CNAME, ttl: 300, contents: ["elsewhere.example.net"])], zone: zone)
        }
        let after = try await client.records(zone: zone)
        // verify
        #expect(error?.code == .rejected)
        #expect(error?.message.contains("Conflicts") == true, "\(String(describing: error))")
        #expect(after == before)
    }

    @Test func aWrongKeyIsAuthenticationFailedAndNeverShown() async throws {
        // setup
        let wrong = "wrong-key-7Qm2Xv9LpA"
        let client = try PowerDNSPeer.client(key: wrong)
        // act
        let listing = await #expect(throws: DNSProviderError.self) { try await client.records(zone: "example.com") }
        let creating = await #expect(throws: DNSProviderError.self) { try await client.ensureZone(PowerDNSPeer.uniqueZone(), nameservers: []) }
        // verify
        for error in [listing, creating] {
            #expect(error?.code == .authenticationFailed)
            #expect(error.map { !$0.description.contains(wrong) && !$0.description.contains(PowerDNSPeer.apiKey) } == true)
        }
    }

    @Test func anUnknownZoneIsZoneNotFound() async throws {
        // setup
        let client = try PowerDNSPeer.client()
        let zone = PowerDNSPeer.uniqueZone()
        // act
        let listing = await #expect(throws: DNSProviderError.self) { try await client.records(zone: zone) }
        let change = await #expect(throws: DNSProviderError.self) {
            try await client.replace([DNSRRSet(name: "a.\(zone)", type: .A, ttl: 300, contents: ["192.0.2.1"])], zone: zone)
        }
        // verify
        #expect(listing?.code == .zoneNotFound)
        #expect(change?.code == .zoneNotFound)
        #expect(listing?.message.contains(zone) == true)
    }

    @Test func propagationComparesEachServersAnswers() async throws {
        // setup
        let client = try PowerDNSPeer.client()
        let zone = PowerDNSPeer.uniqueZone()
        try await client.ensureZone(zone, nameservers: [])
        try await client.replace(Self.everyType(zone), zone: zone)
        let closed = DNSServerAddress(host: "127.0.0.1", port: try await closedTCPPort())
        let checker = PropagationChecker(timeout: .seconds(20))
        // act
        let right = await checker.check(name: "www.\(zone)", type: .A, expected: ["192.0.2.11", "192.0.2.10"], servers: [PowerDNSPeer.dnsServer])
        let mx = await checker.check(name: zone, type: .MX, expected: ["10 MAIL.\(zone).", "20 backup.example.net"], servers: [PowerDNSPeer.dnsServer])
        let wrong = await checker.check(name: "www.\(zone)", type: .A, expected: ["192.0.2.99"], servers: [PowerDNSPeer.dnsServer])
        let gone = await checker.check(name: "nothing.\(zone)", type: .A, expected: [], servers: [PowerDNSPeer.dnsServer])
        let silent = await PropagationChecker(timeout: .seconds(2)).check(name: "www.\(zone)", type: .A, expected: ["192.0.2.10"], servers: [closed, PowerDNSPeer.dnsServer])
        // verify
        #expect(right.count == 1 && right[0].matches && right[0].error == nil, "\(right)")
        #expect(mx.first?.matches == true, "\(mx)")
        #expect(wrong.first?.matches == false)
        #expect(Set(wrong.first?.answers ?? []) == ["192.0.2.10", "192.0.2.11"])
        #expect(gone.first?.matches == true && gone.first?.answers == [], "\(gone)")
        #expect(silent.map(\.server) == [closed.description, PowerDNSPeer.dnsServer.description])
        #expect(silent[0].error != nil && !silent[0].matches, "\(silent)")
        #expect(silent[1].error == nil && !silent[1].matches, "\(silent)")
    }
}

/// PowerDNS failures that need no running PowerDNS.
@Suite struct PowerDNSClientOfflineTests {
    @Test func aRefusedPortIsUnreachable() async throws {
        // setup
        let port = try await closedTCPPort()
        let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
        let key = "offline-key-Rt5Wq"
        let client = DefaultPowerDNSClient(settings: PowerDNSSettings(apiURL: url, apiKey: key, timeout: .seconds(20)))
        // act
        let error = await #expect(throws: DNSProviderError.self) { try await client.records(zone: "example.com") }
        // verify
        #expect(error?.code == .unreachable, "\(String(describing: error))")
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        #expect(error.map { !$0.description.contains(key) } == true)
    }
}
