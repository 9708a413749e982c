import Foundation
import Testing
@testable import ProxyAdmin

/// The rendered Caddy JSON, without a Caddy.
@Suite struct CaddyConfigBuilderTests {
    let settings = CaddySettings(adminListen: "127.0.0.1:2999", httpPort: 8080, httpsPort: 8443, acmeEmail: "ops@example.com", listenHost: "127.0.0.1")
    static let hash = "$2a$14$Dtq7CFbbH/jJJZ2VdqkwUegECqt0KWXW52fx0PpB0jhq8iMBBTn9W"

    func route(_ id: String, _ host: String = "app.example.com", path: String? = nil, tls: ProxyTLSMode = .internal,
               redirect: Bool = true, upstreams: [String] = ["10.0.0.5:8080"]) -> ProxyRouteSpec {
        ProxyRouteSpec(id: id, host: host, pathPrefix: path, upstreams: upstreams, tls: tls, redirectToHTTPS: redirect)
    }

    @Test func outputIsByteIdenticalAndIndependentOfInputOrder() throws {
        // setup
        var withHeaders = route("a", path: "/api")
        withHeaders.requestHeaders = ["X-B": "2", "X-A": "1", "X-C": "3"]
        withHeaders.responseHeaders = ["Strict-Transport-Security": "max-age=60", "X-Frame-Options": "DENY"]
        let routes = [withHeaders, route("b"), route("c", "nas.lan", tls: .off), route("d", "pub.example.org", tls: .auto)]
        // act
        let first = try CaddyConfigBuilder.build(routes, settings: settings)
        let second = try CaddyConfigBuilder.build(routes, settings: settings)
        let reversed = try CaddyConfigBuilder.build(routes.reversed(), settings: settings)
        // verify
        #expect(first == second)
        #expect(first == reversed)
        #expect(try JSONSerialization.jsonObject(with: first) is [String: Any])
    }

    @Test func internalAndAutoHostsGetTheirOwnIssuerPolicies() throws {
        // setup
        let routes = [route("lan", "photos.lan"), route("lan2", "wiki.lan"), route("pub", "pub.example.org", tls: .auto)]
        // act
        let config = try object(CaddyConfigBuilder.build(routes, settings: settings))
        // verify
        let policies = try #require(config["apps", "tls", "automation", "policies"] as? [[String: Any]])
        #expect(policies.count == 2)
        #expect(policies[0]["subjects"] as? [String] == ["photos.lan", "wiki.lan"])
        #expect((policies[0]["issuers"] as? [[String: Any]])?.first?["module"] as? String == "internal")
        #expect(policies[1]["subjects"] as? [String] == ["pub.example.org"])
        let acme = try #require((policies[1]["issuers"] as? [[String: Any]])?.first)
        #expect(acme["module"] as? String == "acme")
        #expect(acme["email"] as? String == "ops@example.com")
        #expect(acme["ca"] == nil, "Caddy's default CA (Let's Encrypt) unless one is set")
        var stepCA = settings
        stepCA.acmeCA = "https://ca.lan/acme/acme/directory"
        let withCA = try object(CaddyConfigBuilder.build(routes, settings: stepCA))
        let policiesWithCA = try #require(withCA["apps", "tls", "automation", "policies"] as? [[String: Any]])
        #expect((policiesWithCA[1]["issuers"] as? [[String: Any]])?.first?["ca"] as? String == "https://ca.lan/acme/acme/directory")
        #expect(config["admin", "listen"] as? String == "127.0.0.1:2999")
        #expect(config["apps", "http", "http_port"] as? Int == 8080)
        #expect(config["apps", "http", "https_port"] as? Int == 8443)
        #expect(config["apps", "pki", "certificate_authorities", "local", "install_trust"] as? Bool == false)
        #expect(config["apps", "http", "servers", "nebula_https", "listen"] as? [String] == ["127.0.0.1:8443"])
        #expect(config["apps", "http", "servers", "nebula_https", "automatic_https", "disable_redirects"] as? Bool == true)
    }

    @Test func httpServerRedirectsTLSRoutesAndProxiesTheRest() throws {
        // setup
        let routes = [route("r", "a.lan"), route("p", "b.lan", redirect: false), route("o", "c.lan", tls: .off)]
        // act
        let config = try object(CaddyConfigBuilder.build(routes, settings: CaddySettings(adminListen: "127.0.0.1:2019")))
        // verify
        let http = try #require(config["apps", "http", "servers", "nebula_http", "routes"] as? [[String: Any]])
        #expect(config["apps", "http", "servers", "nebula_http", "listen"] as? [String] == [":80"])
        #expect(http.map { $0["@id"] as? String } == ["r.http", "p.http", "o", nil])  // nil: the final 404
        let redirect = try #require((http[0]["handle"] as? [[String: Any]])?.first)
        #expect(redirect["handler"] as? String == "static_response")
        #expect(redirect["status_code"] as? Int == 308)
        #expect((redirect["headers"] as? [String: [String]])?["Location"] == ["https://{http.request.host}{http.request.uri}"])
        #expect((http[1]["handle"] as? [[String: Any]])?.last?["handler"] as? String == "reverse_proxy")
        let https = try #require(config["apps", "http", "servers", "nebula_https", "routes"] as? [[String: Any]])
        #expect(https.map { $0["@id"] as? String } == ["r", "p", nil])
        let notFound = try #require((https.last?["handle"] as? [[String: Any]])?.first)
        #expect(notFound["status_code"] as? Int == 404)
    }

    @Test func redirectNamesTheHTTPSPortWhenItIsNot443() throws {
        // act
        let config = try object(CaddyConfigBuilder.build([route("r")], settings: settings))
        // verify
        let http = try #require(config["apps", "http", "servers", "nebula_http", "routes"] as? [[String: Any]])
        let redirect = try #require((http[0]["handle"] as? [[String: Any]])?.first)
        #expect((redirect["headers"] as? [String: [String]])?["Location"] == ["https://{http.request.host}:8443{http.request.uri}"])
    }

    @Test func longerPathPrefixesComeFirst() throws {
        // setup
        let routes = [route("root"), route("api", path: "/api"), route("v2", path: "/api/v2/"), route("other", "b.example.com")]
        // act
        let config = try object(CaddyConfigBuilder.build(routes, settings: settings))
        // verify
        let https = try #require(config["apps", "http", "servers", "nebula_https", "routes"] as? [[String: Any]])
        #expect(https.map { $0["@id"] as? String } == ["v2", "api", "root", "other", nil])
        let match = try #require((https[0]["match"] as? [[String: Any]])?.first)
        #expect(match["host"] as? [String] == ["app.example.com"])
        #expect(match["path"] as? [String] == ["/api/v2", "/api/v2/*"])
        #expect((https[2]["match"] as? [[String: Any]])?.first?["path"] == nil)
    }

    @Test func basicAuthHeadersWebsocketAndUpstreamTLSAreRendered() throws {
        // setup
        var spec = route("a", upstreams: ["10.0.0.5:8080", "[fd00::1]:80"])
        spec.basicAuth = ProxyBasicAuth(username: "alice", passwordHash: Self.hash)
        spec.requestHeaders = ["X-Nebula-Added": "yes"]
        spec.responseHeaders = ["X-Frame-Options": "DENY"]
        spec.websocket = true
        spec.upstreamTLS = true
        // act
        let config = try object(CaddyConfigBuilder.build([spec], settings: settings))
        // verify
        let https = try #require(config["apps", "http", "servers", "nebula_https", "routes"] as? [[String: Any]])
        let handlers = try #require(https[0]["handle"] as? [[String: Any]])
        #expect(handlers.map { $0["handler"] as? String } == ["authentication", "reverse_proxy"])
        let account = try #require(handlers[0]["providers", "http_basic", "accounts"] as? [[String: String]])
        #expect(account == [["username": "alice", "password": Self.hash]])  // Caddy 2.6 takes the bcrypt hash as is
        #expect(handlers[0]["providers", "http_basic", "hash", "algorithm"] as? String == "bcrypt")
        let proxy = handlers[1]
        #expect((proxy["upstreams"] as? [[String: String]]) == [["dial": "10.0.0.5:8080"], ["dial": "[fd00::1]:80"]])
        #expect(proxy["headers", "request", "set"] as? [String: [String]] == ["X-Nebula-Added": ["yes"]])
        #expect(proxy["headers", "response", "set"] as? [String: [String]] == ["X-Frame-Options": ["DENY"]])
        #expect(proxy["flush_interval"] as? Int == -1)
        #expect(proxy["transport", "protocol"] as? String == "http")
        #expect(proxy["transport", "tls"] is [String: Any])
        #expect(https[0]["terminal"] as? Bool == true)
    }

    @Test func disabledRoutesAreLeftOutAndEmptyConfigIsValid() throws {
        // setup
        var disabled = route("off", "gone.example.com", upstreams: [])  // invalid, but disabled: not checked
        disabled.enabled = false
        // act
        let config = try object(CaddyConfigBuilder.build([disabled, route("on", tls: .off)], settings: settings))
        let empty = try object(CaddyConfigBuilder.build([], settings: settings))
        // verify
        let text = String(decoding: try CaddyConfigBuilder.build([disabled], settings: settings), as: UTF8.self)
        #expect(!text.contains("gone.example.com"))
        #expect(config["apps", "http", "servers", "nebula_https"] == nil)
        #expect((config["apps", "http", "servers", "nebula_http", "routes"] as? [Any])?.count == 2)
        #expect(config["apps", "tls"] == nil)
        #expect((empty["apps", "http", "servers"] as? [String: Any])?.isEmpty == true)
        #expect(empty["admin", "listen"] as? String == "127.0.0.1:2999")
    }

    @Test func everyProblemIsReported() throws {
        // setup
        var badHeaders = route("h1", "h1.example.com")
        badHeaders.requestHeaders = ["X Bad": "1", "X-Inject": "a\r\nSet-Cookie: x=1"]
        badHeaders.responseHeaders = ["X-Ok": "fine", "Bad:Name": "v"]
        var badAuth = route("auth", "auth.example.com")
        badAuth.basicAuth = ProxyBasicAuth(username: "bob", passwordHash: "plaintext-secret")
        let routes = [
            route("space", "exa mple.com"), route("dash", "-bad.com"), route("upper", "App.example.com"),
            route("noup", "n.example.com", upstreams: []), route("noport", "p.example.com", upstreams: ["host:notaport"]),
            route("zero", "z.example.com", upstreams: ["10.0.0.1:0"]), route("big", "b.example.com", upstreams: ["10.0.0.1:70000"]),
            route("scheme", "s.example.com", upstreams: ["http://10.0.0.1:80"]),
            route("path", "q.example.com", path: "api"), route("star", "q.example.com", path: "/api/*"),
            badHeaders, badAuth,
            route("dup1", "d.example.com", path: "/x"), route("dup2", "d.example.com", path: "/x/"),
            route("dup1", "other.example.com"), route("bad id!", "i.example.com"),
            route("mix", "d.example.com", tls: .off),
        ]
        // act
        let problems = CaddyConfigBuilder.validate(routes, settings: CaddySettings(adminListen: "nowhere", httpPort: 0, httpsPort: 0, acmeCA: "ca.lan/directory"))
        // verify
        func codes(_ id: String?) -> [String] { problems.filter { $0.routeID == id }.map(\.code) }
        #expect(codes(nil) == ["invalid_settings", "invalid_settings", "invalid_settings", "invalid_settings", "invalid_settings"])
        #expect(problems.contains { $0.message.contains("acmeCA") })
        #expect(codes("space") == ["invalid_host"])
        #expect(codes("dash") == ["invalid_host"])
        #expect(codes("upper") == ["invalid_host"])
        #expect(codes("noup") == ["invalid_upstream"])
        #expect(codes("noport") == ["invalid_upstream"])
        #expect(codes("zero") == ["invalid_upstream"])
        #expect(codes("big") == ["invalid_upstream"])
        #expect(codes("scheme") == ["invalid_upstream"])
        #expect(codes("path") == ["invalid_path"])
        #expect(codes("star") == ["invalid_path"])
        #expect(codes("h1") == ["invalid_header", "invalid_header", "invalid_header"])
        #expect(codes("auth") == ["invalid_basic_auth"])
        #expect(codes("dup2") == ["duplicate_route"])
        #expect(codes("dup1") == ["duplicate_route"])  // the second "dup1" id
        #expect(codes("bad id!") == ["invalid_id"])
        #expect(codes("mix") == ["conflicting_tls"])
        #expect(problems.allSatisfy { !$0.message.isEmpty && !$0.message.contains("plaintext-secret") })
        #expect(problems.first { $0.routeID == "h1" && $0.message.contains("Inject") }?.message.contains("\r") == false)
        #expect(throws: ProxyConfigError.self) { try CaddyConfigBuilder.build(routes, settings: settings) }
    }

    @Test func buildThrowsTheFirstProblem() {
        // act
        let error = #expect(throws: ProxyConfigError.self) {
            try CaddyConfigBuilder.build([route("a", "exa mple.com")], settings: settings)
        }
        // verify
        #expect(error?.code == "invalid_host")
        #expect(error?.routeID == "a")
        #expect(error?.description.contains("exa mple.com") == true)
    }

    @Test func validInputsPass() {
        // setup
        let routes = [
            route("a", "localhost", upstreams: ["localhost:3000"]), route("b", "192.168.1.10", upstreams: ["[fd00::1]:80"]),
            route("c", "xn--bcher-kva.example", path: "/files/v1.2", upstreams: ["nas.lan:5000", "10.0.0.5:65535"]),
        ]
        // act
        let problems = CaddyConfigBuilder.validate(routes, settings: CaddySettings(adminListen: "[::1]:2019", listenHost: "::"))
        // verify
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test func routeSpecDecodesWithDefaults() throws {
        // act
        let spec = try JSONDecoder().decode(ProxyRouteSpec.self, from: Data(#"{"id":"a","host":"a.lan","upstreams":["10.0.0.5:80"]}"#.utf8))
        // verify
        #expect(spec == ProxyRouteSpec(id: "a", host: "a.lan", upstreams: ["10.0.0.5:80"]))
        #expect(spec.enabled && !spec.upstreamTLS && spec.tls == .internal && spec.redirectToHTTPS)
    }

    // MARK: - JSON helpers

    func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

extension Dictionary where Key == String, Value == Any {
    /// The value at a key path of nested objects, or nil.
    subscript(_ first: String, _ rest: String...) -> Any? {
        var current: Any? = self[first]
        for key in rest { current = (current as? [String: Any])?[key] }
        return current
    }
}
