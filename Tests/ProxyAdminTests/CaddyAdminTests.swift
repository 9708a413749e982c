import AsyncHTTPClient
import Foundation
import NebulaTestSupport
import NIOCore
import NIOPosix
import Testing
@testable import ProxyAdmin

/// Configs applied to a real Caddy (one per test) and requests through it to an upstream started here.
@Suite(.enabled(if: CaddyTestServer.isAvailable, "\(CaddyTestServer.unavailableReason)"))
struct CaddyAdminTests {
    /// A route for `localhost` (resolves to 127.0.0.1, so TLS uses the right SNI without DNS tricks).
    func localRoute(_ upstream: EchoUpstream, redirect: Bool = true, auth: ProxyBasicAuth? = nil) -> ProxyRouteSpec {
        ProxyRouteSpec(id: "local-app", host: "localhost", upstreams: [upstream.address], tls: .internal,
                       basicAuth: auth, requestHeaders: ["X-Nebula-Added": "from-caddy"],
                       responseHeaders: ["X-Served-By": "nebula"], redirectToHTTPS: redirect)
    }

    @Test func internalTLSRouteProxiesWithHeadersAndRedirectsHTTP() async throws {
        // setup
        let caddy = try await CaddyTestServer.start()
        defer { caddy.stop() }
        let upstream = try await EchoUpstream.start()
        let api = try await EchoUpstream.start(name: "api")
        let admin = DefaultCaddyAdminClient(adminURL: caddy.adminURL)
        let routes = [localRoute(upstream), ProxyRouteSpec(id: "local-api", host: "localhost", pathPrefix: "/api", upstreams: [api.address])]
        // act
        try await admin.load(try CaddyConfigBuilder.build(routes, settings: caddy.settings))
        let root = try await caddy.rootCertificatePEM()
        let (page, apiPage, redirect) = try await withProxyClient(trusting: root) { client in
            let page = try await fetchRetrying(client, "https://localhost:\(caddy.httpsPort)/photos?x=1")
            let apiPage = try await fetch(client, "https://localhost:\(caddy.httpsPort)/api/items")
            let redirect = try await fetch(client, "http://localhost:\(caddy.httpPort)/photos?x=1")
            return (page, apiPage, redirect)
        }
        // verify
        #expect(page.status == .ok, "\(page.body)\n\(caddy.log.suffix(2000))")
        #expect(page.body.hasPrefix("upstream app path=/photos?x=1 x-nebula-added=from-caddy"), "\(page.body)")
        #expect(page.headers.first(name: "X-Served-By") == "nebula")
        #expect(apiPage.body.hasPrefix("upstream api path=/api/items"), "\(apiPage.body)")
        #expect(redirect.status == .permanentRedirect)
        #expect(redirect.headers.first(name: "Location") == "https://localhost:\(caddy.httpsPort)/photos?x=1")
        await upstream.stop()
        await api.stop()
    }

    @Test func plainHTTPWhenRedirectIsOff() async throws {
        // setup
        let caddy = try await CaddyTestServer.start()
        defer { caddy.stop() }
        let upstream = try await EchoUpstream.start()
        let admin = DefaultCaddyAdminClient(adminURL: caddy.adminURL)
        // act
        try await admin.load(try CaddyConfigBuilder.build([localRoute(upstream, redirect: false)], settings: caddy.settings))
        let response = try await withProxyClient { client in
            try await fetchRetrying(client, "http://localhost:\(caddy.httpPort)/plain")
        }
        // verify
        #expect(response.status == .ok, "\(caddy.log.suffix(2000))")
        #expect(response.body.hasPrefix("upstream app path=/plain"))
        await upstream.stop()
    }

    @Test func basicAuthNeedsTheRightPassword() async throws {
        // setup
        let caddy = try await CaddyTestServer.start()
        defer { caddy.stop() }
        let upstream = try await EchoUpstream.start()
        let admin = DefaultCaddyAdminClient(adminURL: caddy.adminURL)
        let auth = ProxyBasicAuth(username: "alice", passwordHash: try caddyHash("Corr3ct-Horse"))
        // act
        try await admin.load(try CaddyConfigBuilder.build([localRoute(upstream, auth: auth)], settings: caddy.settings))
        let root = try await caddy.rootCertificatePEM()
        let url = "https://localhost:\(caddy.httpsPort)/private"
        let (anonymous, wrong, right) = try await withProxyClient(trusting: root) { client in
            let anonymous = try await fetchRetrying(client, url) { $0.status == .unauthorized }
            let wrong = try await fetch(client, url, basicAuth: ("alice", "guess"))
            let right = try await fetch(client, url, basicAuth: ("alice", "Corr3ct-Horse"))
            return (anonymous, wrong, right)
        }
        // verify
        #expect(anonymous.status == .unauthorized, "\(caddy.log.suffix(2000))")
        #expect(anonymous.headers.first(name: "WWW-Authenticate")?.hasPrefix("Basic") == true)
        #expect(wrong.status == .unauthorized)
        #expect(right.status == .ok)
        #expect(right.body.hasPrefix("upstream app path=/private"))
        await upstream.stop()
    }

    @Test func refusedConfigKeepsTheOldOneRunning() async throws {
        // setup
        let caddy = try await CaddyTestServer.start()
        defer { caddy.stop() }
        let upstream = try await EchoUpstream.start()
        let admin = DefaultCaddyAdminClient(adminURL: caddy.adminURL)
        try await admin.load(try CaddyConfigBuilder.build([localRoute(upstream)], settings: caddy.settings))
        let root = try await caddy.rootCertificatePEM()
        let url = "https://localhost:\(caddy.httpsPort)/still"
        let before = try await withProxyClient(trusting: root) { try await fetchRetrying($0, url) }
        let blocker = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: try LoopbackPorts.freePort(excluding: [caddy.httpPort, caddy.httpsPort, caddy.adminPort])).get()
        let busyPort = try #require(blocker.localAddress?.port)
        var settings = caddy.settings
        settings.httpsPort = busyPort
        var renamed = localRoute(upstream)
        renamed.id = "moved-app"
        // act
        let error = await #expect(throws: CaddyAdminError.self) {
            try await admin.load(try CaddyConfigBuilder.build([renamed], settings: settings))
        }
        let after = try await withProxyClient(trusting: root) { try await fetch($0, url) }
        let running = String(decoding: try await admin.currentConfig(), as: UTF8.self)
        // verify
        #expect(before.status == .ok)
        #expect(error?.code == .rejected)
        #expect(error?.message.contains("address already in use") == true, "\(String(describing: error))")
        #expect(after.status == .ok)
        #expect(after.body.hasPrefix("upstream app path=/still"))
        #expect(running.contains(#""@id":"local-app""#))
        #expect(!running.contains("moved-app"))
        try await blocker.close()
        await upstream.stop()
    }

    @Test func currentConfigShowsTheLoadedRoute() async throws {
        // setup
        let caddy = try await CaddyTestServer.start()
        defer { caddy.stop() }
        let admin = DefaultCaddyAdminClient(adminURL: caddy.adminURL)
        let initial = String(decoding: try await admin.currentConfig(), as: UTF8.self)
        let route = ProxyRouteSpec(id: "find-me", host: "find.lan", upstreams: ["127.0.0.1:9"], tls: .off)
        // act
        try await admin.load(try CaddyConfigBuilder.build([route], settings: caddy.settings))
        let loaded = String(decoding: try await admin.currentConfig(), as: UTF8.self)
        // verify
        #expect(initial.contains(caddy.adminListen))
        #expect(loaded.contains(#""@id":"find-me""#), "\(loaded)")
        #expect(loaded.contains(caddy.adminListen))  // the admin endpoint did not move
    }

    @Test func loadingGarbageIsRejected() async throws {
        // setup
        let caddy = try await CaddyTestServer.start()
        defer { caddy.stop() }
        let admin = DefaultCaddyAdminClient(adminURL: caddy.adminURL)
        // act
        let error = await #expect(throws: CaddyAdminError.self) {
            try await admin.load(Data(#"{"admin": {"listen": "\#(caddy.adminListen)"}, "apps": {"http": {"servers": 5}}}"#.utf8))
        }
        // verify
        #expect(error?.code == .rejected)
        #expect(error?.message.isEmpty == false)
    }
}

/// The admin client without a Caddy.
@Suite struct CaddyAdminClientTests {
    @Test func closedPortIsUnreachableQuickly() async throws {
        // setup
        let port = try LoopbackPorts.freePort()
        let admin = DefaultCaddyAdminClient(adminURL: URL(string: "http://127.0.0.1:\(port)")!, timeout: .seconds(90))
        let started = ContinuousClock.now
        // act
        let error = await #expect(throws: CaddyAdminError.self) { try await admin.currentConfig() }
        let loadError = await #expect(throws: CaddyAdminError.self) { try await admin.load(Data("{}".utf8)) }
        // verify
        #expect(error?.code == .unreachable, "\(String(describing: error))")
        #expect(loadError?.code == .unreachable)
        // Refused at once, not retried until the 90 s deadline (a starved CI runner took 8 s for both calls).
        #expect(ContinuousClock.now - started < .seconds(45))
        #expect(error?.description.contains("127.0.0.1:\(port)") == true)
    }
}

/// `/load` against a loopback server that answers as Caddy's admin API does.
@Suite struct CaddyAdminLoadRetryTests {
    static let storageRace = #"{"error":"loading config: loading new config: http app module: start: finalizing automatic HTTPS: managing certificates for [a.localhost b.localhost]: automate: manage [a.localhost b.localhost]: b.localhost: caching certificate: decoding certificate metadata: unexpected end of JSON input"}"#

    @Test func aCertificateStillBeingWrittenIsRetriedUntilCaddyLoadsTheConfig() async throws {
        // setup
        let loads = Counter()
        try await withTestHTTPServer({ request in
            guard request.path == "/load" else { return .json("{}", status: .notFound) }
            return await loads.next() <= 2 ? .json(Self.storageRace, status: .badRequest) : .json("")
        }) { server in
            let admin = DefaultCaddyAdminClient(adminURL: server.url)
            // act
            try await admin.load(Data("{}".utf8))
        }
        // verify
        #expect(await loads.value == 3)
    }

    @Test func aStorageRaceThatPersistsAndAnyOtherRefusalAreReported() async throws {
        // setup
        let loads = Counter()
        let (raceError, configError) = try await withTestHTTPServer({ request in
            let body = String(decoding: request.body, as: UTF8.self)
            _ = await loads.next()
            return body == "{}" ? .json(Self.storageRace, status: .badRequest)
                : .json(#"{"error":"loading config: json: unknown field \"servers\""}"#, status: .badRequest)
        }) { server in
            let admin = DefaultCaddyAdminClient(adminURL: server.url)
            // act
            let raceError = await #expect(throws: CaddyAdminError.self) { try await admin.load(Data("{}".utf8)) }
            let racedLoads = await loads.value
            let configError = await #expect(throws: CaddyAdminError.self) { try await admin.load(Data(#"{"apps":5}"#.utf8)) }
            return ((raceError, racedLoads), configError)
        }
        // verify
        #expect(raceError.0?.code == .rejected && raceError.0?.message.contains("decoding certificate metadata") == true)
        #expect(raceError.1 == 1 + DefaultCaddyAdminClient.storageRaceRetryDelays.count)
        #expect(configError?.code == .rejected && configError?.message.contains("unknown field") == true)
        #expect(await loads.value == raceError.1 + 1)
    }
}

/// Counts requests a test server answered.
private actor Counter {
    private(set) var value = 0
    func next() -> Int {
        value += 1
        return value
    }
}
