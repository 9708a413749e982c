import Foundation
import NebulaCore
import ProxyAdmin
import Vapor

/// Where a route sends its traffic: a fixed `host:port`, a container's published port on a node,
/// or an installed marketplace app's published port. Containers and apps are resolved to the
/// node's address and host port each time the configuration is rendered.
struct ProxyUpstream: Codable, Sendable, Hashable {
    enum Kind: String, Codable, Sendable, CaseIterable {
        case address, container, app
    }

    var kind: Kind
    /// `address`: `host:port` (`192.168.1.20:8096`).
    var address: String?
    /// `container`: the server (id) the container runs on.
    var server: UUID?
    /// `container`: the container's name or id.
    var container: String?
    /// `app`: the install's id or name.
    var install: String?
    /// `container`: the port inside the container (its published host port is used), or the
    /// published host port itself; `app`: one of the install's host ports (default: its first).
    var port: Int?

    /// How people read it: `192.168.1.20:8096`, `container jellyfin:8096`, `app immich:2283`.
    var label: String {
        switch kind {
        case .address: address ?? "?"
        case .container: "container \(container ?? "?")" + (port.map { ":\($0)" } ?? "")
        case .app: "app \(install ?? "?")" + (port.map { ":\($0)" } ?? "")
        }
    }
}

/// Extra headers set on the request to the upstream and on the response to the client.
struct ProxyHeaders: Codable, Sendable, Hashable {
    var request: [String: String] = [:]
    var response: [String: String] = [:]
}

/// Basic-auth credentials as a client sends them; the password is hashed at once and never kept.
struct ProxyBasicAuthInput: Codable, Sendable {
    /// Empty removes basic auth.
    var username: String
    /// Required when basic auth is added; absent on update keeps the stored hash.
    var password: String?
}

/// What `POST /api/v1/proxy/routes` and `PUT …/{id}` take. On update, absent fields keep their value.
struct ProxyRouteInput: Codable, Sendable {
    var host: String?
    var pathPrefix: String?
    /// One upstream (shorthand for `upstreams: [upstream]`).
    var upstream: ProxyUpstream?
    /// Several upstreams are load-balanced.
    var upstreams: [ProxyUpstream]?
    var tls: ProxyTLSMode?
    var websocket: Bool?
    var basicAuth: ProxyBasicAuthInput?
    var requestHeaders: [String: String]?
    var responseHeaders: [String: String]?
    var redirectToHTTPS: Bool?
    var upstreamTLS: Bool?
    var enabled: Bool?
    /// The revision the client last saw (update and delete; or `If-Match`).
    var revision: Int?

    static let keys = ["host", "pathPrefix", "upstream", "upstreams", "tls", "websocket", "basicAuth", "requestHeaders", "responseHeaders",
                       "redirectToHTTPS", "upstreamTLS", "enabled", "revision"]
}

/// Basic auth as the API shows it: never the password or its hash.
struct ProxyBasicAuthDTO: Codable, Sendable, Equatable {
    var username: String
    var hasPassword: Bool
}

/// The outcome of connecting to one upstream.
struct UpstreamProbeResult: Codable, Sendable, Equatable {
    var upstream: String
    /// The `host:port` tried (nil when the upstream could not be resolved).
    var address: String?
    var ok: Bool
    var message: String
}

/// A route as the API and pages show it.
struct ProxyRouteDTO: Content, Equatable {
    var id: UUID
    var host: String
    var pathPrefix: String?
    var upstreams: [ProxyUpstream]
    var tls: ProxyTLSMode
    var websocket: Bool
    var basicAuth: ProxyBasicAuthDTO?
    var requestHeaders: [String: String]
    var responseHeaders: [String: String]
    var redirectToHTTPS: Bool
    var upstreamTLS: Bool
    var enabled: Bool
    var revision: Int
    /// From the last "test upstream" (nil when never tested).
    var upstreamStatus: [UpstreamProbeResult]?
    var upstreamCheckedAt: Date?
    var createdBy: String
    var createdAt: Date?
    var updatedAt: Date?
}

/// "Test upstream": whether every upstream accepted a TCP connection.
struct ProxyRouteTestOutcome: Content {
    var ok: Bool
    var results: [UpstreamProbeResult]
}

/// What became of a configuration sent to Caddy.
enum ProxyVersionStatus: String, Codable, Sendable, CaseIterable {
    /// Caddy runs it now.
    case applied
    /// Caddy refused it; the previous version kept serving.
    case rejected
    /// A later apply replaced it.
    case superseded
    /// A rollback replaced it.
    case rolledBack = "rolled_back"
}

/// A version in the list; `config` (redacted of password hashes) only when one version is asked for.
struct ProxyVersionDTO: Content, Equatable {
    var id: UUID
    var number: Int
    var sha256: String
    var status: ProxyVersionStatus
    var error: String?
    var rollbackOf: Int?
    var routeCount: Int
    var createdBy: String
    var createdAt: Date?
    var config: String?
}

/// Routes added, changed and removed compared with the live version (labels `host/path`).
struct ProxyDiff: Content, Equatable {
    var added: [String] = []
    var changed: [String] = []
    var removed: [String] = []
    var isEmpty: Bool { added.isEmpty && changed.isEmpty && removed.isEmpty }
    var summary: String {
        isEmpty ? "no route changes" : [("added", added), ("changed", changed), ("removed", removed)]
            .filter { !$0.1.isEmpty }.map { "\($0.1.count) \($0.0) (\($0.1.joined(separator: ", ")))" }.joined(separator: "; ")
    }
}

/// What `POST /api/v1/proxy/apply` and a rollback answer.
struct ProxyApplyOutcome: Content {
    /// False when Caddy already ran exactly this configuration (nothing was sent, no version recorded).
    var changed: Bool
    var message: String
    var version: ProxyVersionDTO?
    var diff: ProxyDiff
}

/// `POST /api/v1/proxy/apply`.
struct ProxyApplyInput: Codable, Sendable {
    /// The newest version number the client saw; another apply since answers 409 `edit_conflict`.
    var expectedVersion: Int?
    /// Replace Caddy's configuration even when someone changed it outside Nebula.
    var force: Bool?
}

/// The Caddy connection and ports. `configured` is false while no admin URL is known.
struct ProxySettingsDTO: Content, Equatable {
    var configured: Bool
    var adminURL: String?
    var httpPort: Int
    var httpsPort: Int
    var acmeEmail: String?
    /// ACME directory URL for `auto` routes; nil = Let's Encrypt.
    var acmeCA: String?
    var listenHost: String?
    var warnDays: Int
}

/// `PUT /api/v1/proxy/settings`: absent fields keep their value, empty strings clear one.
struct ProxySettingsPatch: Codable, Sendable {
    var adminURL: String?
    var httpPort: Int?
    var httpsPort: Int?
    var acmeEmail: String?
    var acmeCA: String?
    var listenHost: String?
    var warnDays: Int?

    static let keys = ["adminURL", "httpPort", "httpsPort", "acmeEmail", "acmeCA", "listenHost", "warnDays"]
}

/// A certificate as last seen.
struct ProxyCertificateDTO: Content, Equatable {
    enum State: String, Codable, Sendable { case ok, expiring, expired, error }
    var host: String
    /// `route` or `domain`.
    var source: String
    var notAfter: Date?
    var issuer: String?
    var daysLeft: Int?
    var state: State
    var checkedAt: Date
    var error: String?
}

/// A route refused because someone changed it since the client read it; carries the current route.
struct ProxyEditConflict: Error, APIErrorConvertible {
    var message: String
    var current: ProxyRouteDTO?
    var apiError: NebulaError { .conflict(message, code: "edit_conflict") }
}

/// Every stored field of a route, as kept in a version so a rollback can restore the table.
struct ProxyRouteSnapshot: Codable, Sendable, Equatable {
    var id: UUID
    var host: String
    var pathPrefix: String
    var upstream: String
    var tls: String
    var websocket: Bool
    var basicAuthUser: String?
    var basicAuthHash: String?
    var headers: String
    var redirectToHTTPS: Bool
    var upstreamTLS: Bool
    var enabled: Bool
    var revision: Int

    var label: String { host + pathPrefix }

    /// The same route apart from its revision.
    func sameContent(as other: ProxyRouteSnapshot) -> Bool {
        var mine = self, theirs = other
        mine.revision = 0
        theirs.revision = 0
        return mine == theirs
    }
}
