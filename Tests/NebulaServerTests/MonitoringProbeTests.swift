import AsyncHTTPClient
import DNSProviders
import Foundation
@testable import NebulaServer
import NIOCore
import Testing
import Vapor

/// The probes against real peers on loopback: an HTTP server, a TCP listener, a DNS server
/// speaking RFC 1035 over UDP, and a TLS server with a certificate from a test CA.
@Suite struct MonitoringProbeTests {
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return configuration
    }())

    @Test func httpProbeJudgesStatusKeywordLatencyAndRedirects() async throws {
        // setup: /ok 200 "all good", /down 503, /slow 200 after 600 ms, /moved → /ok, /loop → /loop
        let server = try await LoopbackHTTPServer.start { request, _ in
            switch request.path {
            case "/ok": return .init(status: .ok, body: "status: all good")
            case "/down": return .init(status: .serviceUnavailable, body: "maintenance")
            case "/slow": return .init(status: .ok, body: "slow", delay: .milliseconds(600))
            case "/moved": return .init(status: .found, headers: [("Location", "/ok")])
            case "/loop": return .init(status: .movedPermanently, headers: [("Location", "/loop")])
            default: return .init(status: .notFound)
            }
        }
        defer { Task { await server.stop() } }
        func probe(_ path: String, _ adjust: (inout HTTPProbe) -> Void = { _ in }) async -> ProbeOutcome {
            var probe = HTTPProbe(url: server.url + path, timeout: .seconds(30))
            adjust(&probe)
            return await probe.run(using: Self.client)
        }
        // act
        let up = await probe("/ok")
        let down = await probe("/down")
        let downAccepted = await probe("/down") { $0.expectedStatus = StatusRanges(parsing: "200-299,503")! }
        let keywordFound = await probe("/ok") { $0.keyword = "all good" }
        let keywordMissing = await probe("/ok") { $0.keyword = "database: ok" }
        let keywordForbidden = await probe("/ok") { $0.keyword = "all good"; $0.keywordAbsent = true }
        let slow = await probe("/slow") { $0.maxLatencyMs = 300 }
        let followed = await probe("/moved") { $0.keyword = "all good" }
        let notFollowed = await probe("/moved") { $0.followRedirects = false }
        let redirectAccepted = await probe("/moved") { $0.followRedirects = false; $0.expectedStatus = StatusRanges(parsing: "302")! }
        let loop = await probe("/loop")
        let head = await probe("/ok") { $0.method = .HEAD }
        // verify
        #expect(up.ok && up.message.hasPrefix("HTTP 200") && (up.latencyMs ?? -1) >= 0, "\(up)")
        #expect(!down.ok && down.message == "HTTP 503, expected 200-299", "\(down)")
        #expect(downAccepted.ok)
        #expect(keywordFound.ok)
        #expect(!keywordMissing.ok && keywordMissing.message.contains("database: ok"), "\(keywordMissing)")
        #expect(!keywordForbidden.ok && keywordForbidden.message.contains("contains"), "\(keywordForbidden)")
        #expect(!slow.ok && slow.message.contains("slower than 300 ms"), "\(slow)")
        #expect(followed.ok, "\(followed)")
        #expect(!notFollowed.ok && notFollowed.message.contains("HTTP 302"), "\(notFollowed)")
        #expect(redirectAccepted.ok)
        #expect(!loop.ok && loop.message.contains("redirects"), "\(loop)")
        #expect(head.ok && server.requests.contains { $0.method == "HEAD" })
    }

    @Test func httpProbeReportsRefusedConnectionsAndTimeouts() async throws {
        // setup: a port nobody listens on, and a server slower than the timeout
        let listener = try await LoopbackTCPServer.start()
        let free = listener.port
        await listener.stop()
        let slow = try await LoopbackHTTPServer.start { _, _ in .init(status: .ok, delay: .seconds(5)) }
        defer { Task { await slow.stop() } }
        // act
        let refused = await HTTPProbe(url: "http://127.0.0.1:\(free)/", timeout: .seconds(30)).run(using: Self.client)
        let timedOut = await HTTPProbe(url: slow.url + "/", timeout: .milliseconds(500)).run(using: Self.client)
        // verify
        #expect(!refused.ok && refused.message.contains("refused"), "\(refused)")
        #expect(!timedOut.ok && timedOut.message.contains("no answer"), "\(timedOut)")
    }

    @Test func tcpProbeSeesAnOpenAndAClosedPort() async throws {
        // setup
        let listener = try await LoopbackTCPServer.start()
        let port = listener.port
        // act
        let open = await TCPProbe(target: HostPort(host: "127.0.0.1", port: port), timeout: .seconds(30)).run()
        await listener.stop()
        let closed = await TCPProbe(target: HostPort(host: "127.0.0.1", port: port), timeout: .seconds(30)).run()
        // verify
        #expect(open.ok, "\(open)")
        #expect(!closed.ok && closed.message.contains("refused"), "\(closed)")
    }

    @Test func dnsQueryParsesEveryRecordTypeWithCompression() async throws {
        // setup
        typealias Record = LoopbackDNSServer.Record
        let server = try await LoopbackDNSServer.start(records: [
            "nas.lab.test": [Record(type: 1, value: "192.0.2.10"), Record(type: 1, value: "192.0.2.11"),
                             Record(type: 28, value: "2001:db8::10"), Record(type: 16, value: "v=spf1 -all"),
                             Record(type: 15, value: "10 mail.nas.lab.test")],
            "www.lab.test": [Record(type: 5, value: "edge.www.lab.test")],
        ])
        defer { Task { await server.stop() } }
        let resolver = HostPort(host: "127.0.0.1", port: server.port)
        func probe(_ name: String, _ type: DNSQuery.RecordType, _ expected: [String] = []) async -> ProbeOutcome {
            await DNSProbe(name: name, type: type, expected: expected, resolver: resolver, timeout: .seconds(30)).run()
        }
        // act
        let a = try await DNSQuery.resolve("nas.lab.test", type: .A, server: DNSServerAddress(host: "127.0.0.1", port: server.port), timeout: .seconds(30))
        let aaaa = await probe("nas.lab.test", .AAAA, ["2001:db8::10"])
        let txt = await probe("nas.lab.test", .TXT, ["v=spf1 -all"])
        let mx = await probe("nas.lab.test", .MX, ["10 mail.nas.lab.test."])
        let cname = await probe("www.lab.test", .CNAME, ["edge.www.lab.test"])
        let wrong = await probe("nas.lab.test", .A, ["192.0.2.99"])
        let missing = await probe("nothing.lab.test", .A)
        // verify
        #expect(a.rcode == 0 && a.answers.map(\.value) == ["192.0.2.10", "192.0.2.11"] && a.answers.allSatisfy { $0.name == "nas.lab.test" })
        #expect(aaaa.ok, "\(aaaa)")
        #expect(txt.ok, "\(txt)")
        #expect(mx.ok, "\(mx)")
        #expect(cname.ok, "\(cname)")
        #expect(!wrong.ok && wrong.message.contains("192.0.2.99"), "\(wrong)")
        #expect(!missing.ok && missing.message.contains("NXDOMAIN"), "\(missing)")
    }

    @Test func dnsQueryTimesOutAndRejectsBadNamesAndPointerLoops() async throws {
        // setup: a UDP port that never answers (the DNS server stopped)
        let server = try await LoopbackDNSServer.start(records: [:])
        let port = server.port
        await server.stop()
        // act
        let silent = await DNSProbe(name: "nas.lab.test", type: .A, expected: [], resolver: HostPort(host: "127.0.0.1", port: port), timeout: .milliseconds(500)).run()
        // verify
        #expect(!silent.ok)
        #expect(throws: DNSQuery.QueryError.self) { try DNSQuery.encodeName("bad..name") }
        // A pointer that points at itself must not loop.
        let looping: [UInt8] = [0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]
        #expect(throws: DNSQuery.QueryError.self) { try DNSQuery.decode(looping) }
    }

    @Test func tlsProbeCountsTheDaysLeftOfACertificateFromATestCA() async throws {
        // setup: a certificate valid for 5 days served on loopback
        let certificates = try TestCertificates.make(days: 5)
        defer { certificates.remove() }
        let server = try await LoopbackTCPServer.start(tls: try certificates.serverContext())
        defer { Task { await server.stop() } }
        let target = HostPort(host: "localhost", port: server.port)
        // act
        let strict = await TLSProbe(target: target, warnDays: 14, timeout: .seconds(30)).run()
        let relaxed = await TLSProbe(target: target, warnDays: 3, timeout: .seconds(30)).run()
        let plain = try await LoopbackTCPServer.start()
        defer { Task { await plain.stop() } }
        let notTLS = await TLSProbe(target: HostPort(host: "127.0.0.1", port: plain.port), warnDays: 3, timeout: .seconds(30)).run()
        // verify
        #expect(!strict.ok && (strict.message.contains("expires in 4 days") || strict.message.contains("expires in 5 days")), "\(strict)")
        #expect(relaxed.ok && relaxed.message.contains("days left"), "\(relaxed)")
        #expect(!notTLS.ok, "\(notTLS)")
    }

    @Test func inputRulesNameTheField() throws {
        // act + verify
        func field(_ spec: CheckSpec, _ kind: CheckKind) -> String? {
            do { _ = try CheckRules.normalise(spec, kind: kind); return nil } catch let error as NebulaError { return error.problems.first?.path } catch { return "?" }
        }
        #expect(field(CheckSpec(url: "ftp://nas/"), .http) == "url")
        #expect(field(CheckSpec(url: "http://nas/", expectedStatus: "200-99"), .http) == "expectedStatus")
        #expect(field(CheckSpec(host: "nas", port: 70000), .tcp) == "port")
        #expect(field(CheckSpec(recordName: "nas.lab", recordType: "SRV"), .dns) == "recordType")
        #expect(field(CheckSpec(recordName: "nas.lab", resolver: "1.2.3.4:99999"), .dns) == "resolver")
        #expect(field(CheckSpec(serverId: UUID(), metric: "cpu", threshold: 90), .metric) == nil)
        #expect(StatusRanges(parsing: "200-299,301")?.contains(301) == true)
        #expect(HostPort(parsing: "[::1]:53") == HostPort(host: "::1", port: 53))
        #expect(DNSQuery.ipv6Text([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1]) == "2001:db8::1")
    }
}
