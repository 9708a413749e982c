import Foundation

/// How Caddy terminates TLS for a proxied host.
public enum ProxyTLSMode: String, Codable, Sendable, CaseIterable {
    /// A publicly trusted certificate from an ACME CA (Let's Encrypt); the name must resolve to this
    /// machine from the internet and ports 80/443 must be reachable for the challenges.
    case auto
    /// A certificate from Caddy's own local CA, for LAN names (`nas.home.arpa`, `app.lan`). Clients
    /// trust it once they import Caddy's root (`<data dir>/caddy/pki/authorities/local/root.crt`).
    case `internal`
    /// Plain HTTP only, on the HTTP port.
    case off
}

/// HTTP basic authentication in front of a route.
public struct ProxyBasicAuth: Codable, Sendable, Hashable {
    public var username: String
    /// A bcrypt hash (`$2a$…`, `$2b$…` or `$2y$…`) made by the caller. Caddy 2.6 accepts the hash as
    /// is (verified against Caddy 2.6.2; it also accepts it base64-encoded), so the builder writes it unchanged.
    public var passwordHash: String

    public init(username: String, passwordHash: String) {
        self.username = username
        self.passwordHash = passwordHash
    }
}

/// One reverse-proxy route as Nebula stores it: a host (and optional path prefix) sent to upstreams.
public struct ProxyRouteSpec: Codable, Sendable, Hashable {
    /// Stable id (letters, digits, `-` and `_`, at most 100 characters). Becomes the Caddy `@id` of the
    /// route (`/id/<id>` in the admin API); the plain-HTTP companion of a TLS route gets `<id>.http`.
    public var id: String
    /// Lowercase DNS name or IPv4 address, e.g. `photos.example.com`; no wildcards, no port.
    public var host: String
    /// `/api` matches `/api` and `/api/*`; nil (or `/`) means the whole host. A trailing `/` is ignored.
    public var pathPrefix: String?
    /// `host:port` of each upstream (`10.0.0.5:8080`, `[fd00::1]:80`, `localhost:3000`); at least one.
    /// Caddy balances between several (random by default) and skips ones that refuse connections.
    public var upstreams: [String]
    public var tls: ProxyTLSMode
    /// The upstream speaks WebSocket or streams: Caddy proxies upgrades natively; with this flag the
    /// builder also sets `flush_interval: -1` (write every chunk at once). Nothing is buffered either way.
    public var websocket: Bool
    public var basicAuth: ProxyBasicAuth?
    /// Set on the request to the upstream (replacing a value the client sent). Caddy placeholders such
    /// as `{http.request.remote.host}` in values are expanded.
    public var requestHeaders: [String: String]
    /// Set on the upstream's response on its way back to the client.
    public var responseHeaders: [String: String]
    /// With `tls` `auto`/`internal`: plain-HTTP requests get a 308 to HTTPS. When false, the host is also
    /// proxied on plain HTTP. Ignored for `tls: .off`.
    public var redirectToHTTPS: Bool
    /// The upstreams speak HTTPS (their certificate must be trusted by the system).
    public var upstreamTLS: Bool
    /// Disabled routes are left out of the Caddy config (and not validated, except their id).
    public var enabled: Bool

    public init(
        id: String,
        host: String,
        pathPrefix: String? = nil,
        upstreams: [String],
        tls: ProxyTLSMode = .internal,
        websocket: Bool = false,
        basicAuth: ProxyBasicAuth? = nil,
        requestHeaders: [String: String] = [:],
        responseHeaders: [String: String] = [:],
        redirectToHTTPS: Bool = true,
        upstreamTLS: Bool = false,
        enabled: Bool = true
    ) {
        self.id = id
        self.host = host
        self.pathPrefix = pathPrefix
        self.upstreams = upstreams
        self.tls = tls
        self.websocket = websocket
        self.basicAuth = basicAuth
        self.requestHeaders = requestHeaders
        self.responseHeaders = responseHeaders
        self.redirectToHTTPS = redirectToHTTPS
        self.upstreamTLS = upstreamTLS
        self.enabled = enabled
    }

    private enum CodingKeys: String, CodingKey {
        case id, host, pathPrefix, upstreams, tls, websocket, basicAuth, requestHeaders, responseHeaders
        case redirectToHTTPS, upstreamTLS, enabled
    }

    /// Decodes a route; every field except `id`, `host` and `upstreams` may be missing and takes the
    /// default of ``init(id:host:pathPrefix:upstreams:tls:websocket:basicAuth:requestHeaders:responseHeaders:redirectToHTTPS:upstreamTLS:enabled:)``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(String.self, forKey: .id),
            host: try c.decode(String.self, forKey: .host),
            pathPrefix: try c.decodeIfPresent(String.self, forKey: .pathPrefix),
            upstreams: try c.decode([String].self, forKey: .upstreams),
            tls: try c.decodeIfPresent(ProxyTLSMode.self, forKey: .tls) ?? .internal,
            websocket: try c.decodeIfPresent(Bool.self, forKey: .websocket) ?? false,
            basicAuth: try c.decodeIfPresent(ProxyBasicAuth.self, forKey: .basicAuth),
            requestHeaders: try c.decodeIfPresent([String: String].self, forKey: .requestHeaders) ?? [:],
            responseHeaders: try c.decodeIfPresent([String: String].self, forKey: .responseHeaders) ?? [:],
            redirectToHTTPS: try c.decodeIfPresent(Bool.self, forKey: .redirectToHTTPS) ?? true,
            upstreamTLS: try c.decodeIfPresent(Bool.self, forKey: .upstreamTLS) ?? false,
            enabled: try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        )
    }
}

/// Where the Caddy that Nebula manages listens.
public struct CaddySettings: Sendable, Codable, Hashable {
    /// `host:port` of Caddy's admin endpoint, e.g. `127.0.0.1:2019`. Always written into the config's
    /// `admin.listen`, so loading a config never moves (or drops) the admin endpoint.
    public var adminListen: String
    public var httpPort: Int
    public var httpsPort: Int
    /// Contact address for the ACME account (`tls: .auto` routes); optional.
    public var acmeEmail: String?
    /// Interface the proxy listens on (`127.0.0.1` in tests); nil means all interfaces.
    public var listenHost: String?
    /// The ACME directory URL for `tls: .auto` routes (a private step-ca, Let's Encrypt's staging);
    /// nil means Caddy's default, Let's Encrypt.
    public var acmeCA: String?

    public init(adminListen: String = "127.0.0.1:2019", httpPort: Int = 80, httpsPort: Int = 443,
                acmeEmail: String? = nil, listenHost: String? = nil, acmeCA: String? = nil) {
        self.adminListen = adminListen
        self.httpPort = httpPort
        self.httpsPort = httpsPort
        self.acmeEmail = acmeEmail
        self.listenHost = listenHost
        self.acmeCA = acmeCA
    }

    private enum CodingKeys: String, CodingKey { case adminListen, httpPort, httpsPort, acmeEmail, listenHost, acmeCA }

    /// True for a usable ``acmeCA``: an absolute http(s) URL with a host, without spaces or controls.
    public static func isACMEDirectory(_ raw: String) -> Bool {
        guard raw.count <= 500, !raw.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }),
              let url = URL(string: raw), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), let host = url.host, !host.isEmpty else { return false }
        return true
    }

    /// Decodes settings; missing fields take the defaults of ``init(adminListen:httpPort:httpsPort:acmeEmail:listenHost:acmeCA:)``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            adminListen: try c.decodeIfPresent(String.self, forKey: .adminListen) ?? "127.0.0.1:2019",
            httpPort: try c.decodeIfPresent(Int.self, forKey: .httpPort) ?? 80,
            httpsPort: try c.decodeIfPresent(Int.self, forKey: .httpsPort) ?? 443,
            acmeEmail: try c.decodeIfPresent(String.self, forKey: .acmeEmail),
            listenHost: try c.decodeIfPresent(String.self, forKey: .listenHost),
            acmeCA: try c.decodeIfPresent(String.self, forKey: .acmeCA)
        )
    }
}

/// A route or setting the builder cannot turn into a Caddy config.
///
/// `code` is stable: `invalid_id`, `invalid_host`, `invalid_path`, `invalid_upstream`, `invalid_header`,
/// `invalid_basic_auth`, `duplicate_route`, `conflicting_tls`, `invalid_settings`. The message says what
/// is wrong and how to fix it; it never contains a password hash.
public struct ProxyConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    /// The route at fault; nil for `invalid_settings`.
    public var routeID: String?
    public var message: String

    public init(code: String, routeID: String?, message: String) {
        self.code = code
        self.routeID = routeID
        self.message = message
    }

    public var description: String {
        if let routeID { return "\(code) (route \(routeID)): \(message)" }
        return "\(code): \(message)"
    }
}
