import Foundation
import NebulaTestSupport
@testable import NebulaServer
import Vapor

/// Proxy things for the access tests: a route (revision 1) and a version. Routes that reach Caddy
/// (apply, rollback) get a real Caddy set as the proxy, the version applied to it, and a second
/// route so an apply has something to change.
struct ProxyTargets {
    /// Keeps the Caddy of one route's targets until ``stop()``.
    final class CaddyHandle: @unchecked Sendable {
        // @unchecked: the server is only started here and stopped once, from one task.
        let server: CaddyTestServer
        init(_ server: CaddyTestServer) { self.server = server }
    }

    var routeID: UUID
    var versionID: UUID
    var caddy: CaddyHandle?

    static func make(in app: TestApp, suffix: String, for route: Route?) async throws -> ProxyTargets {
        let services = try app.services
        let words = route?.path.map(\.description) ?? []
        let needsCaddy = words.contains("proxy") && (words.last == "apply" || words.last == "rollback")
        var input = ProxyRouteInput()
        input.host = "t-\(suffix).localhost"
        input.upstream = ProxyUpstream(kind: .address, address: "127.0.0.1:9")
        input.tls = .internal
        let created = try await services.proxy.createRoute(input, by: .system("test"))
        guard needsCaddy, CaddyTestServer.isAvailable else {
            let version = ProxyVersionRecord()
            version.number = (try await ProxyVersionRecord.query(on: app.app.db).max(\.$number) ?? 0) + 1
            version.config = "{}"
            version.sha256 = "0"
            version.routes = "[]"
            version.status = ProxyVersionStatus.superseded.rawValue
            version.createdBy = "test"
            try await version.create(on: app.app.db)
            return ProxyTargets(routeID: created.id, versionID: try version.requireID())
        }
        let caddy = try await CaddyTestServer.start()
        _ = try await services.proxy.updateSettings(ProxySettingsPatch(adminURL: caddy.adminURL.absoluteString, httpPort: caddy.httpPort,
                                                                       httpsPort: caddy.httpsPort, listenHost: "127.0.0.1"), by: .system("test"))
        let applied = try await services.proxy.apply(ProxyApplyInput(force: true), by: .system("test"))
        input.host = "extra-\(suffix).localhost"
        _ = try await services.proxy.createRoute(input, by: .system("test"))
        return ProxyTargets(routeID: created.id, versionID: applied.version?.id ?? UUID(), caddy: CaddyHandle(caddy))
    }

    func stop() { caddy?.server.stop() }
}
