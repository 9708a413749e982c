import DNSProviders
import Foundation
import NebulaCore
import NebulaTestSupport
import NIOConcurrencyHelpers
@testable import NebulaServer
import Testing

/// Domains and DNS records: validation and conflicts, import/export, pushing to a real PowerDNS
/// and resolving the result with DNS queries, drift, propagation, dynamic DNS.
@Suite struct DomainsTests {
    struct Records: Decodable { var items: [DNSRecordDTO]; var total: Int }
    struct Propagation: Decodable { var items: [PropagationReport] }

    static func createDomain(_ app: TestApp, _ token: String, _ json: String) async throws -> DomainDTO {
        let response = try await app.request(.POST, "/api/v1/domains", token: token, json: json)
        try #require(response.status == .created, "\(response.body)")
        return try response.decode(DomainDTO.self)
    }

    static func addRecord(_ app: TestApp, _ token: String, _ domain: DomainDTO, _ json: String) async throws -> DNSRecordDTO {
        let response = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: json)
        try #require(response.status == .created, "\(response.body)")
        return try response.decode(DNSRecordDTO.self)
    }

    @Test(arguments: TestDatabase.all)
    func badRecordsAreRefusedWithClearErrorsAndNothingIsSaved(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let domain = try await Self.createDomain(app, token, #"{"name":"Lab.Example.ORG.","provider":"manual"}"#)
            _ = try await Self.addRecord(app, token, domain, #"{"name":"www","type":"A","content":"192.0.2.10"}"#)
            // act
            let badName = try await app.request(.POST, "/api/v1/domains", token: token, json: #"{"name":"exa mple.com","provider":"manual"}"#)
            let duplicate = try await app.request(.POST, "/api/v1/domains", token: token, json: #"{"name":"lab.example.org","provider":"manual"}"#)
            let cname = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: #"{"name":"www","type":"CNAME","content":"other.example.net"}"#)
            let badAddress = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: #"{"name":"nas","type":"A","content":"192.0.2.300"}"#)
            let outside = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: #"{"name":"www.other.org.","type":"A","content":"192.0.2.1"}"#)
            let ttl = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: #"{"name":"nas","type":"A","content":"192.0.2.3","ttl":5}"#)
            let dynamicTXT = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: #"{"name":"nas","type":"TXT","content":"x","dynamic":true}"#)
            let unknownKey = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: #"{"name":"nas","type":"A","content":"192.0.2.3","prio":1}"#)
            let same = try await app.request(.POST, "/api/v1/domains/\(domain.id)/records", token: token, json: #"{"name":"www.lab.example.org","type":"A","content":"192.0.2.10"}"#)
            let powerdnsWithoutURL = try await app.request(.POST, "/api/v1/domains", token: token, json: #"{"name":"p.example.org","provider":"powerdns","secret":"k"}"#)
            let listed = try await app.request(.GET, "/api/v1/domains/\(domain.id)/records", token: token).decode(Records.self)
            // verify
            #expect(domain.name == "lab.example.org")
            #expect(badName.status == .unprocessableEntity && badName.errorCode == "invalid_name", "\(badName.body)")
            #expect(duplicate.status == .conflict && duplicate.errorCode == "name_taken")
            #expect(cname.status == .conflict && cname.errorCode == "record_conflict", "\(cname.body)")
            #expect(cname.body.contains("www.lab.example.org"))
            #expect(badAddress.status == .unprocessableEntity && badAddress.errorCode == "invalid_content", "\(badAddress.body)")
            #expect(outside.status == .unprocessableEntity && outside.errorCode == "outside_zone", "\(outside.body)")
            #expect(ttl.status == .unprocessableEntity && ttl.errorCode == "invalid_ttl", "\(ttl.body)")
            #expect(dynamicTXT.status == .unprocessableEntity && dynamicTXT.errorCode == "invalid_dynamic")
            #expect(unknownKey.status == .badRequest, "\(unknownKey.body)")
            #expect(same.status == .conflict && same.errorCode == "record_exists")
            #expect(powerdnsWithoutURL.status == .unprocessableEntity && powerdnsWithoutURL.errorCode == "invalid_api_url")
            #expect(listed.items.map(\.name) == ["www.lab.example.org"])
        }
    }

    @Test(arguments: TestDatabase.all)
    func recordsExportAndImportAsJSONAndCSVWithEveryProblemReported(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup: a zone with one of each kind of record, some needing quotes in CSV
            let token = try await app.token(role: .operator)
            let source = try await Self.createDomain(app, token, #"{"name":"source.example.org","provider":"manual"}"#)
            for json in [#"{"name":"@","type":"MX","content":"10 mail.source.example.org"}"#,
                         #"{"name":"@","type":"TXT","content":"v=spf1 mx -all, really","comment":"SPF, \"strict\""}"#,
                         #"{"name":"_sip._tcp","type":"SRV","content":"10 5 5060 sip.source.example.org"}"#,
                         #"{"name":"@","type":"CAA","content":"0 issue \"letsencrypt.org\""}"#,
                         #"{"name":"home","type":"A","content":"198.51.100.4","dynamic":true}"#,
                         #"{"name":"v6","type":"AAAA","content":"2001:DB8:0:0::1"}"#] {
                _ = try await Self.addRecord(app, token, source, json)
            }
            let target = try await Self.createDomain(app, token, #"{"name":"source.example.org.copy.test","provider":"manual"}"#)
            let other = try await Self.createDomain(app, token, #"{"name":"json.example.org","provider":"manual"}"#)
            // act
            let csv = try await app.request(.GET, "/api/v1/domains/\(source.id)/records/export?format=csv", token: token)
            let json = try await app.request(.GET, "/api/v1/domains/\(source.id)/records/export?format=json", token: token)
            let csvForTarget = csv.body.replacingOccurrences(of: "source.example.org", with: "source.example.org.copy.test")
            let dryRun = try await app.request(.POST, "/api/v1/domains/\(target.id)/records/import", token: token,
                                               json: try Self.json(["format": "csv", "data": csvForTarget, "dryRun": true]))
            let imported = try await app.request(.POST, "/api/v1/domains/\(target.id)/records/import", token: token,
                                                 json: try Self.json(["format": "csv", "data": csvForTarget]))
            let again = try await app.request(.POST, "/api/v1/domains/\(target.id)/records/import", token: token,
                                              json: try Self.json(["format": "csv", "data": csvForTarget]))
            let jsonForOther = json.body.replacingOccurrences(of: "source.example.org", with: "json.example.org")
            let fromJSON = try await app.request(.POST, "/api/v1/domains/\(other.id)/records/import", token: token,
                                                 json: try Self.json(["format": "json", "data": jsonForOther]))
            let broken = "name,type,content,ttl\nok,A,192.0.2.1,300\nbad,A,not-an-ip,300\nworse,BOGUS,x,\nslow,A,192.0.2.2,abc\nok,CNAME,elsewhere.example.net,300\n"
            let refused = try await app.request(.POST, "/api/v1/domains/\(other.id)/records/import", token: token, json: try Self.json(["format": "csv", "data": broken]))
            let unclosed = try await app.request(.POST, "/api/v1/domains/\(other.id)/records/import", token: token,
                                                 json: try Self.json(["format": "csv", "data": "name,type,content\n\"www,A,192.0.2.1\n"]))
            let replaced = try await app.request(.POST, "/api/v1/domains/\(other.id)/records/import", token: token,
                                                 json: try Self.json(["format": "csv", "data": "name,type,content\nonly,A,192.0.2.99\n", "mode": "replace"]))
            let targetRecords = try await app.request(.GET, "/api/v1/domains/\(target.id)/records", token: token).decode(Records.self).items
            let otherRecords = try await app.request(.GET, "/api/v1/domains/\(other.id)/records", token: token).decode(Records.self).items
            // verify
            #expect(csv.status == .ok && csv.headers.first(name: "Content-Disposition")?.contains("source.example.org.records.csv") == true)
            #expect(csv.body.hasPrefix("name,type,content,ttl,dynamic,comment\r\n"))
            #expect(csv.body.contains(#""v=spf1 mx -all, really""#) && csv.body.contains(#""SPF, ""strict""""#), "\(csv.body)")
            try #require(dryRun.status == .ok, "\(dryRun.body) \n\(csvForTarget)")
            let preview = try dryRun.decode(RecordsImportOutcome.self)
            #expect(preview.dryRun && !preview.applied && preview.added == 6)
            let outcome = try imported.decode(RecordsImportOutcome.self)
            #expect(outcome.applied && outcome.added == 6 && outcome.problems.isEmpty, "\(imported.body)")
            #expect(try again.decode(RecordsImportOutcome.self).unchanged == 6)
            #expect(targetRecords.count == 6)
            #expect(targetRecords.first { $0.type == .TXT }?.content == "v=spf1 mx -all, really")
            #expect(targetRecords.first { $0.type == .TXT }?.comment == #"SPF, "strict""#)
            #expect(targetRecords.first { $0.type == .A }?.dynamic == true)
            #expect(targetRecords.first { $0.type == .AAAA }?.content == "2001:db8::1")
            #expect(try fromJSON.decode(RecordsImportOutcome.self).added == 6, "\(fromJSON.body)")
            #expect(refused.status == .unprocessableEntity && refused.errorCode == "invalid_import", "\(refused.body)")
            for row in ["row 3", "row 4", "row 5"] { #expect(refused.body.contains(row), "\(row) missing in \(refused.body)") }
            #expect(refused.body.contains("ok.json.example.org"), "the CNAME beside an A is reported: \(refused.body)")
            #expect(unclosed.status == .unprocessableEntity && unclosed.body.contains("never closed"))
            let replacement = try replaced.decode(RecordsImportOutcome.self)
            #expect(replacement.added == 1 && replacement.removed == 6, "\(replaced.body)")
            #expect(otherRecords.map(\.name) == ["only.json.example.org"], "the refused imports changed nothing; replace left only the file's record")
        }
    }

    @Test(.enabled(if: PowerDNSPeer.isAvailable, PowerDNSPeer.skipMessage), arguments: TestDatabase.all)
    func recordsPushedToPowerDNSResolveAndDriftIsFoundAndRepaired(_ database: TestDatabase) async throws {
        let pdns = try PowerDNSPeer.require()
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let zone = PowerDNSPeer.uniqueZone("push")
            let domain = try await Self.createDomain(app, token, try Self.json([
                "name": zone, "provider": "powerdns", "apiURL": pdns.apiURL, "secret": pdns.apiKey, "nameservers": ["127.0.0.1:\(pdns.dnsPort)"],
            ]))
            _ = try await Self.addRecord(app, token, domain, #"{"name":"www","type":"A","content":"192.0.2.10"}"#)
            _ = try await Self.addRecord(app, token, domain, #"{"name":"www","type":"A","content":"192.0.2.11"}"#)
            let alias = try await Self.addRecord(app, token, domain, #"{"name":"photos","type":"CNAME","content":"www.\#(zone)"}"#)
            _ = try await Self.addRecord(app, token, domain, #"{"name":"@","type":"TXT","content":"v=spf1 -all"}"#)
            _ = try await Self.addRecord(app, token, domain, #"{"name":"@","type":"MX","content":"10 mail.\#(zone)"}"#)
            let pending = try await app.request(.GET, "/api/v1/domains/\(domain.id)", token: token).decode(DomainDTO.self)
            // act
            let push = try await app.request(.POST, "/api/v1/domains/\(domain.id)/push", token: token)
            let www = try await pdns.answers("www.\(zone)", .A)
            let txt = try await pdns.answers(zone, .TXT)
            let mx = try await pdns.answers(zone, .MX)
            let cname = try await pdns.answers("photos.\(zone)", .CNAME)
            let inSync = try await app.request(.GET, "/api/v1/domains/\(domain.id)/drift", token: token).decode(DriftReport.self)
            let propagated = try await app.request(.GET, "/api/v1/domains/\(domain.id)/propagation", token: token).decode(Propagation.self).items
            // someone changes the zone behind Nebula's back
            try await pdns.client.replace([DNSRRSet(name: "www.\(zone)", type: .A, ttl: 300, contents: ["203.0.113.66"]),
                                           DNSRRSet(name: "extra.\(zone)", type: .A, ttl: 300, contents: ["203.0.113.67"])], zone: zone)
            let drift = try await app.request(.GET, "/api/v1/domains/\(domain.id)/drift", token: token).decode(DriftReport.self)
            let stale = try await app.request(.GET, "/api/v1/domains/\(domain.id)/propagation?name=www&type=A", token: token).decode(Propagation.self).items
            let deleted = try await app.request(.DELETE, "/api/v1/domains/\(domain.id)/records/\(alias.id)", token: token)
            let repair = try await app.request(.POST, "/api/v1/domains/\(domain.id)/push", token: token).decode(PushOutcome.self)
            let repaired = try await pdns.answers("www.\(zone)", .A)
            let aliasGone = try await pdns.answers("photos.\(zone)", .CNAME)
            let extraKept = try await pdns.answers("extra.\(zone)", .A)
            // verify
            #expect(pending.pendingChanges && pending.recordCount == 5)
            #expect(push.status == .ok, "\(push.body)")
            #expect(try push.decode(PushOutcome.self).replaced == 4)
            #expect(www == ["192.0.2.10", "192.0.2.11"])
            #expect(txt == ["v=spf1 -all"])
            #expect(mx == ["10 mail.\(zone)"])
            #expect(cname == ["www.\(zone)"])
            #expect(inSync.inSync, "\(inSync)")
            #expect(propagated.count == 4 && propagated.allSatisfy(\.propagated), "\(propagated)")
            #expect(!drift.inSync)
            #expect(drift.different.map(\.provider.contents) == [["203.0.113.66"]])
            #expect(drift.onlyAtProvider.map(\.name) == ["extra.\(zone)"])
            #expect(stale.first?.propagated == false && stale.first?.results.first?.answers == ["203.0.113.66"], "\(stale)")
            #expect(deleted.status == .noContent)
            #expect(repair.replaced == 1 && repair.deleted == 1 && !repair.domain.pendingChanges, "\(repair)")
            #expect(repaired == ["192.0.2.10", "192.0.2.11"])
            #expect(aliasGone.isEmpty)
            #expect(extraKept == ["203.0.113.67"], "a set Nebula never managed is left alone")
        }
    }

    @Test(.enabled(if: PowerDNSPeer.isAvailable, PowerDNSPeer.skipMessage), arguments: TestDatabase.all)
    func anExistingZoneIsImportedAndProviderFailuresAreClearAndSaveNothing(_ database: TestDatabase) async throws {
        let pdns = try PowerDNSPeer.require()
        try await withApp(database) { app in
            // setup: a zone that already has records at PowerDNS
            let token = try await app.token(role: .operator)
            let zone = PowerDNSPeer.uniqueZone("import")
            let client = try pdns.client
            try await client.ensureZone(zone, nameservers: ["ns1.\(zone)"])
            try await client.replace([DNSRRSet(name: "nas.\(zone)", type: .A, ttl: 600, contents: ["192.0.2.5"]),
                                      DNSRRSet(name: zone, type: .TXT, ttl: 300, contents: ["hello world"])], zone: zone)
            let closedPort = try LoopbackPorts.freePort()
            // act
            let domain = try await Self.createDomain(app, token, try Self.json([
                "name": zone, "provider": "powerdns", "apiURL": pdns.apiURL, "secret": pdns.apiKey, "importExisting": true,
            ]))
            let records = try await app.request(.GET, "/api/v1/domains/\(domain.id)/records", token: token).decode(Records.self).items
            let drift = try await app.request(.GET, "/api/v1/domains/\(domain.id)/drift", token: token).decode(DriftReport.self)
            let wrongKey = try await app.request(.POST, "/api/v1/domains", token: token, json: try Self.json([
                "name": PowerDNSPeer.uniqueZone("wrongkey"), "provider": "powerdns", "apiURL": pdns.apiURL, "secret": "not-the-key-9931",
            ]))
            let down = try await app.request(.POST, "/api/v1/domains", token: token, json: try Self.json([
                "name": PowerDNSPeer.uniqueZone("down"), "provider": "powerdns", "apiURL": "http://127.0.0.1:\(closedPort)", "secret": pdns.apiKey,
            ]))
            let domains = try await app.request(.GET, "/api/v1/domains", token: token)
            let audit = try await app.auditEntries()
            // verify
            #expect(records.map { "\($0.name) \($0.type.rawValue) \($0.content) \($0.ttl)" }.sorted() == ["\(zone) TXT hello world 300", "nas.\(zone) A 192.0.2.5 600"])
            #expect(!domain.pendingChanges, "what was imported is what the provider has")
            #expect(drift.inSync, "\(drift)")
            #expect(wrongKey.status == .badGateway && wrongKey.errorCode == "dns_authentication_failed", "\(wrongKey.body)")
            #expect(down.status == .badGateway && down.errorCode == "dns_unreachable", "\(down.body)")
            #expect(!wrongKey.body.contains("not-the-key-9931"))
            #expect(try domains.decode(ListPage<DomainDTO>.self).items.map(\.name) == [zone], "failed creations saved nothing")
            #expect(!domains.body.contains(pdns.apiKey) && !audit.contains { ($0.detail ?? "").contains(pdns.apiKey) })
        }
    }

    @Test(arguments: TestDatabase.all)
    func dynamicDNSFollowsThePublicIPAndPushesTheChange(_ database: TestDatabase) async throws {
        let pdns = PowerDNSPeer.isAvailable ? try PowerDNSPeer.require() : nil
        let address = NIOLockedValueBox("203.0.113.7")
        try await withLoopbackServer({ request, _ in
            request.path == "/broken" ? .init(status: .internalServerError, body: "oops") : .init(body: address.withLockedValue { $0 } + "\n")
        }) { ipEndpoint in
            try await withApp(database) { app in
                // setup: a manual domain and (with PowerDNS) a pushed one, each with a record that follows the IP
                let token = try await app.token(role: .operator)
                let manual = try await Self.createDomain(app, token, #"{"name":"home.example.org","provider":"manual"}"#)
                _ = try await Self.addRecord(app, token, manual, #"{"name":"@","type":"A","content":"198.51.100.1","dynamic":true}"#)
                let zone = PowerDNSPeer.uniqueZone("ddns")
                if let pdns {
                    let pushed = try await Self.createDomain(app, token, try Self.json(["name": zone, "provider": "powerdns", "apiURL": pdns.apiURL, "secret": pdns.apiKey]))
                    _ = try await Self.addRecord(app, token, pushed, #"{"name":"vpn","type":"A","content":"198.51.100.1","dynamic":true}"#)
                }
                let settings = try await app.request(.PUT, "/api/v1/dns/dynamic", token: token,
                                                     json: try Self.json(["endpoints": [ipEndpoint.url + "/broken", ipEndpoint.url + "/ip"], "intervalMinutes": 5]))
                // act
                let first = try await app.request(.POST, "/api/v1/dns/dynamic/run", token: token).decode(DynamicDNSRunOutcome.self)
                let firstAnswer = try await pdns?.answers("vpn.\(zone)", .A)
                address.withLockedValue { $0 = "203.0.113.8" }
                let second = try await app.request(.POST, "/api/v1/dns/dynamic/run", token: token).decode(DynamicDNSRunOutcome.self)
                let secondAnswer = try await pdns?.answers("vpn.\(zone)", .A)
                let unchanged = try await app.request(.POST, "/api/v1/dns/dynamic/run", token: token).decode(DynamicDNSRunOutcome.self)
                let state = try await app.request(.GET, "/api/v1/dns/dynamic", token: token).decode(DynamicDNSSettingsDTO.self)
                let records = try await app.request(.GET, "/api/v1/domains/\(manual.id)/records", token: token).decode(Records.self).items
                let badEndpoint = try await app.request(.PUT, "/api/v1/dns/dynamic", token: token, json: #"{"endpoints":["ftp://x"]}"#)
                // verify
                #expect(settings.status == .ok, "\(settings.body)")
                #expect(first.ipv4 == "203.0.113.7" && first.errors.isEmpty, "\(first)")
                #expect(first.updated.count == (pdns == nil ? 1 : 2))
                #expect(second.ipv4 == "203.0.113.8" && second.updated.count == (pdns == nil ? 1 : 2))
                #expect(unchanged.updated.isEmpty)
                if pdns != nil {
                    #expect(firstAnswer == ["203.0.113.7"])
                    #expect(secondAnswer == ["203.0.113.8"])
                    #expect(second.pushed == [zone])
                }
                #expect(records.map(\.content) == ["203.0.113.8"])
                #expect(state.lastIPv4 == "203.0.113.8" && state.dynamicRecords == (pdns == nil ? 1 : 2) && state.lastError == nil)
                #expect(badEndpoint.status == .unprocessableEntity && badEndpoint.errorCode == "invalid_endpoints")
                #expect(ipEndpoint.requests.contains { $0.path == "/broken" }, "the failing endpoint was asked first, then the next one")
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func aCloudflareZoneIsImportedPushedAndComparedWithTheTokenFromTheVault(_ database: TestDatabase) async throws {
        let zone = "cf-\(UUID().uuidString.prefix(6).lowercased()).example.org"
        let apiToken = "cf-token-\(UUID().uuidString.prefix(12))"
        let cloudflare = FakeCloudflare(zone: zone, token: apiToken)
        await cloudflare.seed([["type": "A", "name": "nas.\(zone)", "content": "192.0.2.5", "ttl": 600]])
        try await withTestHTTPServer({ await cloudflare.handle($0) }) { api in
            try await withApp(database) { app in
                // setup
                let token = try await app.token(role: .operator)
                // act
                let domain = try await Self.createDomain(app, token, try Self.json([
                    "name": zone, "provider": "cloudflare", "apiURL": api.url.absoluteString + "/client/v4", "secret": apiToken, "importExisting": true,
                ]))
                let imported = try await app.request(.GET, "/api/v1/domains/\(domain.id)/records", token: token).decode(Records.self).items
                _ = try await Self.addRecord(app, token, domain, #"{"name":"www","type":"A","content":"192.0.2.10"}"#)
                _ = try await Self.addRecord(app, token, domain, #"{"name":"@","type":"MX","content":"10 mail.\#(zone)"}"#)
                let push = try await app.request(.POST, "/api/v1/domains/\(domain.id)/push", token: token)
                let atCloudflare = await cloudflare.recordSummaries
                let inSync = try await app.request(.GET, "/api/v1/domains/\(domain.id)/drift", token: token).decode(DriftReport.self)
                await cloudflare.seed([["type": "TXT", "name": "hand.\(zone)", "content": "made in the dashboard", "ttl": 300]])
                let drift = try await app.request(.GET, "/api/v1/domains/\(domain.id)/drift", token: token).decode(DriftReport.self)
                // The token is rotated in Nebula but not at Cloudflare: the next call uses the new (refused) one.
                let rotated = try await app.request(.PUT, "/api/v1/domains/\(domain.id)", token: token, json: #"{"secret":"cf-token-revoked-4417"}"#)
                let refused = try await app.request(.GET, "/api/v1/domains/\(domain.id)/drift", token: token)
                let vaulted = try await app.services.secrets.value(of: DomainsService.secretName(zone))
                let listed = try await app.request(.GET, "/api/v1/domains", token: token)
                let audit = try await app.auditEntries()
                // verify
                #expect(imported.map { "\($0.name) \($0.type.rawValue) \($0.content) \($0.ttl)" } == ["nas.\(zone) A 192.0.2.5 600"])
                #expect(push.status == .ok, "\(push.body)")
                #expect(atCloudflare == ["\(zone) MX mail.\(zone)", "nas.\(zone) A 192.0.2.5", "www.\(zone) A 192.0.2.10"], "\(atCloudflare)")
                #expect(inSync.inSync, "\(inSync)")
                #expect(!drift.inSync && drift.onlyAtProvider.map(\.name) == ["hand.\(zone)"], "\(drift)")
                #expect(rotated.status == .ok, "\(rotated.body)")
                #expect(refused.status == .badGateway && refused.errorCode == "dns_authentication_failed", "\(refused.body)")
                #expect(vaulted == "cf-token-revoked-4417")
                for body in [listed.body, push.body, rotated.body, refused.body] {
                    #expect(!body.contains(apiToken) && !body.contains("cf-token-revoked-4417"))
                }
                #expect(!audit.contains { ($0.detail ?? "").contains(apiToken) || ($0.detail ?? "").contains("cf-token-revoked") })
            }
        }
    }

    static func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
