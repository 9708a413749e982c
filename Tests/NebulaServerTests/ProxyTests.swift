import AsyncHTTPClient
import Foundation
import NebulaCore
import NIOCore
import NIOHTTP1
import NebulaTestSupport
@testable import NebulaServer
import ProxyAdmin
import Testing

/// Proxy routes applied to a real Caddy (started per test, `tls internal`), fetched over HTTPS
/// trusting Caddy's own root CA; versions, refused configs, rollback, concurrent edits, bad input
/// and certificate monitoring.
@Suite struct ProxyTests {
    struct Routes: Decodable { var items: [ProxyRouteDTO] }
    struct Versions: Decodable { var items: [ProxyVersionDTO] }
    struct Certificates: Decodable { var items: [ProxyCertificateDTO] }
    struct Problems: Decodable {
        struct Detail: Decodable { var code: String; var message: String; var problems: [FieldProblem]? }
        var error: Detail
    }
    struct Conflict: Decodable {
        struct Detail: Decodable { var code: String }
        var error: Detail
        var current: ProxyRouteDTO?
    }

    static func createRoute(_ app: TestApp, _ token: String, host: String = "localhost", upstream: String) async throws -> ProxyRouteDTO {
        let response = try await app.request(.POST, "/api/v1/proxy/routes", token: token,
                                             json: #"{"host":"\#(host)","upstream":{"kind":"address","address":"\#(upstream)"},"tls":"internal"}"#)
        try #require(response.status == .created, "\(response.body)")
        return try response.decode(ProxyRouteDTO.self)
    }

    static func apply(_ app: TestApp, _ token: String, _ json: String = "{}") async throws -> TestResponse {
        try await app.request(.POST, "/api/v1/proxy/apply", token: token, json: json)
    }

    static func versions(_ app: TestApp, _ token: String) async throws -> [ProxyVersionDTO] {
        try await app.request(.GET, "/api/v1/proxy/versions", token: token).decode(Versions.self).items
    }

    @Test(arguments: TestDatabase.all)
    func anAppliedRouteServesOverHTTPSAndItsCertificateIsWatched(_ database: TestDatabase) async throws {
        try await withLoopbackServer({ _, _ in .init(body: "photos upstream") }) { upstream in
            try await withProxyApp(database) { app, caddy, token in
                // setup
                _ = try await Self.createRoute(app, token, upstream: "127.0.0.1:\(upstream.port)")
                // act
                let applied = try await Self.apply(app, token)
                let again = try await Self.apply(app, token)
                let page = try await fetchThroughCaddy("https://localhost:\(caddy.httpsPort)/", trusting: try await caddy.rootCertificatePEM())
                // The scheduled monitor (or another replica) may check at the same moment as "Check now".
                async let concurrent = withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<4 { group.addTask { try await app.services.proxy.checkCertificates(by: .system("certificates")).count } }
                    return try await group.reduce(0, +)
                }
                let checked = try await app.request(.POST, "/api/v1/proxy/certificates/check", token: token)
                let concurrentlySeen = try await concurrent
                // verify
                #expect(concurrentlySeen >= 4)
                #expect(applied.status == .ok, "\(applied.body)")
                let outcome = try applied.decode(ProxyApplyOutcome.self)
                #expect(outcome.changed && outcome.diff.added == ["localhost"])
                #expect(try again.decode(ProxyApplyOutcome.self).changed == false)
                #expect(page.status == .ok && page.body == "photos upstream")
                let versions = try await Self.versions(app, token)
                #expect(versions.map(\.status) == [.applied] && versions.first?.number == 1)
                #expect(checked.status == .ok, "\(checked.body)")
                let certificate = try #require(try checked.decode(Certificates.self).items.first { $0.host == "localhost" })
                #expect(certificate.issuer?.contains("Caddy") == true, "\(certificate)")
                #expect((certificate.notAfter ?? .distantPast) > Date())
                // Caddy's internal leaf certificates live 12 hours: well inside the 14-day window.
                #expect(certificate.state == .expiring)
                let events = try await app.services.events.history(types: [.certificateExpiring], after: 0, limit: 200)
                let event = try #require(events.first { $0.data["host"] == "localhost" })
                let notification = try #require(NotificationRouter.request(for: event, baseURL: nil))
                #expect(notification.category == "certificate" && notification.severity == .warning)
                #expect(NotificationRouter.routed.contains(.certificateExpiring) && NotificationRouter.routed.contains(.certificateExpired))
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func aConfigCaddyRefusesIsRecordedAndTheOldOneKeepsServing(_ database: TestDatabase) async throws {
        try await withLoopbackServer({ _, _ in .init(body: "old upstream") }) { upstream in
            try await withLoopbackServer { holder in
                try await withProxyApp(database) { app, caddy, token in
                    // setup: version 1 serves
                    let route = try await Self.createRoute(app, token, upstream: "127.0.0.1:\(upstream.port)")
                    #expect(try await Self.apply(app, token).status == .ok)
                    let root = try await caddy.rootCertificatePEM()
                    _ = try await fetchThroughCaddy("https://localhost:\(caddy.httpsPort)/", trusting: root)
                    // act: an HTTPS port another socket holds, and a changed route so there is something to apply
                    let moved = try await app.request(.PUT, "/api/v1/proxy/settings", token: token, json: #"{"httpsPort":\#(holder.port)}"#)
                    let edited = try await app.request(.PUT, "/api/v1/proxy/routes/\(route.id)", token: token, json: #"{"revision":1,"websocket":true}"#)
                    let refused = try await Self.apply(app, token)
                    // verify
                    #expect(moved.status == .ok && edited.status == .ok)
                    #expect(refused.status == .unprocessableEntity, "\(refused.body)")
                    #expect(refused.errorCode == "config_rejected")
                    #expect(refused.body.contains("\(holder.port)"), "Caddy's message names the port: \(refused.body)")
                    let versions = try await Self.versions(app, token)
                    #expect(versions.map(\.status) == [.rejected, .applied])
                    #expect(versions.first?.error?.isEmpty == false)
                    let still = try await fetchThroughCaddy("https://localhost:\(caddy.httpsPort)/", trusting: root)
                    #expect(still.status == .ok && still.body == "old upstream")
                }
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func rollbackServesTheOldUpstreamAndRestoresTheRoutes(_ database: TestDatabase) async throws {
        try await withLoopbackServer({ _, _ in .init(body: "first") }) { first in
            try await withLoopbackServer({ _, _ in .init(body: "second") }) { second in
                try await withProxyApp(database) { app, caddy, token in
                    // setup: v1 → first, v2 → second (plus an extra route)
                    let route = try await Self.createRoute(app, token, upstream: "127.0.0.1:\(first.port)")
                    #expect(try await Self.apply(app, token).status == .ok)
                    let changed = try await app.request(.PUT, "/api/v1/proxy/routes/\(route.id)", token: token,
                                                        json: #"{"revision":1,"upstream":{"kind":"address","address":"127.0.0.1:\#(second.port)"}}"#)
                    try #require(changed.status == .ok, "\(changed.body)")
                    _ = try await Self.createRoute(app, token, host: "extra.localhost", upstream: "127.0.0.1:\(second.port)")
                    #expect(try await Self.apply(app, token).status == .ok)
                    let root = try await caddy.rootCertificatePEM()
                    #expect(try await fetchThroughCaddy("https://localhost:\(caddy.httpsPort)/", trusting: root) { _, body in body == "second" }.body == "second")
                    let v1 = try #require(try await Self.versions(app, token).first { $0.number == 1 })
                    // act
                    let rolledBack = try await app.request(.POST, "/api/v1/proxy/versions/\(v1.id)/rollback", token: token, json: "{}")
                    // verify
                    #expect(rolledBack.status == .ok, "\(rolledBack.body)")
                    let page = try await fetchThroughCaddy("https://localhost:\(caddy.httpsPort)/", trusting: root) { _, body in body == "first" }
                    #expect(page.body == "first")
                    let routes = try await app.request(.GET, "/api/v1/proxy/routes", token: token).decode(Routes.self).items
                    #expect(routes.map(\.host) == ["localhost"])
                    #expect(routes.first?.upstreams.first?.address == "127.0.0.1:\(first.port)")
                    #expect((routes.first?.revision ?? 0) > 2)
                    let versions = try await Self.versions(app, token)
                    #expect(versions.map(\.status) == [.applied, .rolledBack, .superseded])
                    #expect(versions.first?.rollbackOf == 1)
                    #expect(try await app.auditEntries(action: "proxy.rollback").count == 1)
                }
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func anACMERouteUsesTheConfiguredDirectoryAndWithoutACertificateSaysWhatIssuanceNeeds(_ database: TestDatabase) async throws {
        try await withProxyApp(database) { app, caddy, token in
            // setup: an ACME directory nothing answers at, so Caddy cannot obtain the certificate
            let directory = "http://127.0.0.1:\(try await closedTCPPort())/acme/directory"
            let refused = try await app.request(.PUT, "/api/v1/proxy/settings", token: token, json: #"{"acmeCA":"ftp://ca.lan/directory"}"#)
            let saved = try await app.request(.PUT, "/api/v1/proxy/settings", token: token, json: #"{"acmeCA":"\#(directory)"}"#)
            let route = try await app.request(.POST, "/api/v1/proxy/routes", token: token,
                                              json: #"{"host":"public-app.localhost","upstream":{"kind":"address","address":"127.0.0.1:9"},"tls":"auto"}"#)
            // act
            let applied = try await Self.apply(app, token)
            let running = String(decoding: try await DefaultCaddyAdminClient(adminURL: caddy.adminURL).currentConfig(), as: UTF8.self)
            let checked = try await app.request(.POST, "/api/v1/proxy/certificates/check", token: token)
            // verify
            #expect(refused.status == .unprocessableEntity && refused.body.contains("ACME directory"), "\(refused.body)")
            #expect(try saved.decode(ProxySettingsDTO.self).acmeCA == directory)
            #expect(route.status == .created, "\(route.body)")
            #expect(applied.status == .ok, "\(applied.body)")
            #expect(running.contains(#""ca":"\#(directory)""#), "the ACME issuer points at the configured directory: \(running)")
            let certificate = try #require(try checked.decode(Certificates.self).items.first { $0.host == "public-app.localhost" }, "\(checked.body)")
            #expect(certificate.state == .error)
            #expect(certificate.error?.hasPrefix("No certificate yet?") == true && certificate.error?.contains("public-app.localhost resolves to this proxy") == true,
                    "\(certificate.error ?? "")")
        }
    }

    @Test(arguments: TestDatabase.all)
    func concurrentEditsAndHandEditsAreDetected(_ database: TestDatabase) async throws {
        try await withLoopbackServer { upstream in
            try await withProxyApp(database) { app, caddy, token in
                // setup
                let route = try await Self.createRoute(app, token, upstream: "127.0.0.1:\(upstream.port)")
                let mine = try await app.request(.PUT, "/api/v1/proxy/routes/\(route.id)", token: token, json: #"{"revision":1,"websocket":true}"#)
                #expect(try await Self.apply(app, token).status == .ok)
                // act
                let stale = try await app.request(.PUT, "/api/v1/proxy/routes/\(route.id)", token: token, json: #"{"revision":1,"websocket":false}"#)
                let staleHeader = try await app.request(.DELETE, "/api/v1/proxy/routes/\(route.id)", token: token, headers: [("If-Match", "\"1\"")])
                let staleApply = try await Self.apply(app, token, #"{"expectedVersion":0}"#)
                var hand = HTTPClientRequest(url: caddy.adminURL.absoluteString + "/load")
                hand.method = .POST
                hand.headers.add(name: "Content-Type", value: "application/json")
                hand.body = .bytes(ByteBuffer(string: #"{"admin":{"listen":"\#(caddy.adminListen)"},"apps":{"http":{"servers":{"hand":{"listen":[":\#(caddy.httpPort)"]}}}}}"#))
                let handResponse = try await TestApp.client.execute(hand, timeout: .seconds(30))
                _ = try await app.request(.PUT, "/api/v1/proxy/routes/\(route.id)", token: token, json: #"{"revision":2,"websocket":false}"#)
                let outside = try await Self.apply(app, token)
                let forced = try await Self.apply(app, token, #"{"force":true}"#)
                // Eight saves made from the same revision arrive together: one wins, seven are told.
                let racing = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                    for index in 0..<8 {
                        group.addTask {
                            try await app.request(.PUT, "/api/v1/proxy/routes/\(route.id)", token: token,
                                                  json: #"{"revision":3,"websocket":\#(index % 2 == 0)}"#).status
                        }
                    }
                    return try await group.reduce(into: [HTTPResponseStatus]()) { $0.append($1) }
                }
                let afterRace = try await app.request(.GET, "/api/v1/proxy/routes/\(route.id)", token: token).decode(ProxyRouteDTO.self)
                // verify
                #expect(racing.filter { $0 == .ok }.count == 1 && racing.filter { $0 == .conflict }.count == 7, "\(racing)")
                #expect(afterRace.revision == 4)
                #expect(mine.status == .ok)
                #expect(stale.status == .conflict && stale.errorCode == "edit_conflict")
                #expect(try stale.decode(Conflict.self).current?.revision == 2)
                #expect(staleHeader.status == .conflict)
                #expect(staleApply.status == .conflict && staleApply.errorCode == "edit_conflict")
                #expect(handResponse.status == .ok)
                #expect(outside.status == .conflict && outside.errorCode == "caddy_changed_outside", "\(outside.body)")
                #expect(forced.status == .ok, "\(forced.body)")
                #expect(try await Self.versions(app, token).map(\.number) == [2, 1])
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func badInputIsRefusedWholeAndCaddyDownChangesNothing(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .admin)
            let password = "correct-horse-battery-77"
            let notConfigured = try await Self.apply(app, token)
            let route = try await app.request(.POST, "/api/v1/proxy/routes", token: token, json: """
            {"host":"private.localhost","upstream":{"kind":"address","address":"127.0.0.1:9"},"basicAuth":{"username":"alice","password":"\(password)"}}
            """)
            // act
            let bad = try await app.request(.POST, "/api/v1/proxy/routes", token: token, json: """
            {"host":"Bad Host!","upstream":{"kind":"address","address":"127.0.0.1:70000"},"requestHeaders":{"X-Evil":"a\\r\\nInjected: yes"}}
            """)
            let closed = try LoopbackPorts.freePort()
            _ = try await app.request(.PUT, "/api/v1/proxy/settings", token: token, json: #"{"adminURL":"http://127.0.0.1:\#(closed)"}"#)
            let down = try await Self.apply(app, token)
            // verify
            #expect(notConfigured.status == .conflict && notConfigured.errorCode == "proxy_not_configured")
            #expect(route.status == .created, "\(route.body)")
            #expect(route.body.contains(#""hasPassword":true"#))
            #expect(bad.status == .unprocessableEntity && bad.errorCode == "invalid_route")
            let problems = try bad.decode(Problems.self).error.problems ?? []
            #expect(problems.count >= 3, "\(problems)")
            #expect(problems.contains { $0.message.contains("Bad Host!") || $0.path.contains("host") })
            #expect(problems.contains { $0.path.contains("upstream") })
            #expect(problems.contains { $0.path.contains("header") || $0.message.lowercased().contains("header") })
            #expect(down.status == .badGateway && down.errorCode == "caddy_unreachable", "\(down.body)")
            #expect(try await Self.versions(app, token).isEmpty)
            let everything = [try await app.request(.GET, "/api/v1/proxy/routes", token: token).body, route.body]
            let audit = try await app.auditEntries()
            let events = try await app.services.events.history(types: nil, after: 0, limit: 1000)
            #expect(!everything.contains { $0.contains(password) || $0.contains("$2b$") })
            #expect(!audit.contains { ($0.detail ?? "").contains(password) })
            #expect(!events.contains { $0.data.values.contains { $0.contains(password) } })
            #expect(!LogCapture.allText.contains(password))
        }
    }
}
