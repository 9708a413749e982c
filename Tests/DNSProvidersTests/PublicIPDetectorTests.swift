import DNSProviders
import Foundation
import NebulaTestSupport
import NIOHTTP1
import Testing

/// PublicIPDetector against loopback echo servers answering per path.
@Suite struct PublicIPDetectorTests {
    /// One echo server: `/text` plain text, `/json` JSON, `/v6` an IPv6 address, `/garbage`,
    /// `/fail` HTTP 500.
    func withEcho(_ body: (String) async throws -> Void) async throws {
        try await withTestHTTPServer({ request in
            switch request.path {
            case "/text": .init(body: "203.0.113.7\n", headers: [("Content-Type", "text/plain")])
            case "/json": .init(body: #"{"ip": "198.51.100.23"}"#)
            case "/json6": .init(body: #"{"ip":"2001:DB8:0:0::7"}"#)
            case "/v6": .init(body: "2001:db8::7\n", headers: [("Content-Type", "text/plain")])
            case "/garbage": .init(body: "<html>hello</html>", headers: [("Content-Type", "text/html")])
            case "/fail": .init(status: .internalServerError, body: "oops")
            default: .init(status: .notFound)
            }
        }) { server in try await body(server.url.absoluteString) }
    }

    func detector(_ urls: [String]) throws -> PublicIPDetector {
        PublicIPDetector(endpoints: try urls.map { try #require(URL(string: $0)) }, timeout: .seconds(20))
    }

    @Test func plainTextAndJSONAnswersAreRead() async throws {
        try await withEcho { base in
            // act
            let text = try await detector(["\(base)/text"]).detect(.v4)
            let json = try await detector(["\(base)/json"]).detect(.v4)
            let v6 = try await detector(["\(base)/json6"]).detect(.v6)
            // verify
            #expect(text == "203.0.113.7")
            #expect(json == "198.51.100.23")
            #expect(v6 == "2001:db8::7")
        }
    }

    @Test func failingAndWrongAnswersAreSkippedUntilOneFits() async throws {
        try await withEcho { base in
            // setup
            let refused = "http://127.0.0.1:\(try await closedTCPPort())/ip"
            // act
            let afterFailure = try await detector(["\(base)/fail", "\(base)/text"]).detect(.v4)
            let afterRefusal = try await detector([refused, "\(base)/json"]).detect(.v4)
            let afterWrongFamily = try await detector(["\(base)/v6", "\(base)/garbage", "\(base)/text"]).detect(.v4)
            // verify
            #expect(afterFailure == "203.0.113.7")
            #expect(afterRefusal == "198.51.100.23")
            #expect(afterWrongFamily == "203.0.113.7")
        }
    }

    @Test func whenAllFailTheErrorListsEachEndpoint() async throws {
        try await withEcho { base in
            // setup
            let refused = "http://127.0.0.1:\(try await closedTCPPort())/ip"
            // act
            let error = await #expect(throws: DNSProviderError.self) {
                try await detector(["\(base)/fail", refused, "\(base)/v6", "\(base)/garbage"]).detect(.v4)
            }
            let nothingReachable = await #expect(throws: DNSProviderError.self) { try await detector([refused]).detect(.v6) }
            // verify
            let message = error?.message ?? ""
            #expect(error?.code == .invalidResponse)
            #expect(message.contains("\(base)/fail: HTTP 500"), "\(message)")
            #expect(message.contains("\(refused): not reachable"), "\(message)")
            #expect(message.contains("\(base)/v6: answered an IPv6 address"), "\(message)")
            #expect(message.contains("\(base)/garbage: answered \"<html>"), "\(message)")
            #expect(nothingReachable?.code == .unreachable)
        }
    }
}
