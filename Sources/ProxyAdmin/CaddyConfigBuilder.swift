import Foundation

/// Renders the complete Caddy 2 JSON config (for `POST /load`) from Nebula's proxy routes.
///
/// Shape of the result:
/// - `admin.listen` = ``CaddySettings/adminListen`` (a load never moves the admin endpoint);
/// - `apps.http.servers.nebula_https` on the HTTPS port: the `auto`/`internal` routes. Caddy's automatic
///   HTTPS provides their certificates; its automatic HTTP→HTTPS redirects are switched off
///   (`automatic_https.disable_redirects`) because Nebula renders its own, per route;
/// - `apps.http.servers.nebula_http` on the HTTP port: a 308 redirect to HTTPS for each TLS route with
///   ``ProxyRouteSpec/redirectToHTTPS`` (`@id` `<id>.http`), a proxy for each TLS route without it
///   (also `<id>.http`) and for each `off` route (`@id` `<id>`). Caddy answers ACME HTTP challenges here;
/// - each server ends with a 404 for any other host or path; a server without routes is left out;
/// - `apps.tls.automation.policies`: the internal issuer for `internal` hosts, ACME (with the email
///   when set) for `auto` hosts; `apps.pki` with `install_trust: false` so Caddy never tries to add its
///   local root to the system trust store.
///
/// Within a server, routes are ordered by host, then longest path prefix first (`/api/v2`, `/api`, whole
/// host), then id; disabled routes are left out. Keys are sorted, so the same routes in any order give
/// byte-identical output.
public enum CaddyConfigBuilder {
    /// Every problem in `routes` and `settings`, settings first, then routes in input order
    /// (empty when ``build(_:settings:)`` will succeed). Disabled routes are checked only for their id.
    public static func validate(_ routes: [ProxyRouteSpec], settings: CaddySettings) -> [ProxyConfigError] {
        var problems = ProxyValidation.settingsProblems(settings)
        var ids = Set<String>()
        var destinations: [String: String] = [:]  // "host path" -> route id
        var hostModes: [String: (mode: ProxyTLSMode, routeID: String)] = [:]
        for route in routes {
            func report(_ code: String, _ message: String) {
                problems.append(ProxyConfigError(code: code, routeID: route.id, message: message))
            }
            if let message = ProxyValidation.idProblem(route.id) {
                report("invalid_id", message)
            } else if !ids.insert(route.id).inserted {
                report("duplicate_route", "another route already has the id \(route.id); route ids must be unique")
            }
            guard route.enabled else { continue }

            let hostMessage = ProxyValidation.hostProblem(route.host)
            if let hostMessage { report("invalid_host", hostMessage) }
            var path: String?
            var pathValid = true
            switch ProxyValidation.normalizedPath(route.pathPrefix) {
            case .success(let normalized): path = normalized
            case .failure(let problem): report("invalid_path", problem.message); pathValid = false
            }
            if route.upstreams.isEmpty {
                report("invalid_upstream", "the route has no upstream; add at least one host:port, e.g. 10.0.0.5:8080")
            }
            for upstream in route.upstreams {
                if let message = ProxyValidation.upstreamProblem(upstream) { report("invalid_upstream", "upstream \(message)") }
            }
            for (direction, headers) in [("request", route.requestHeaders), ("response", route.responseHeaders)] {
                var seen = Set<String>()
                for name in headers.keys.sorted() {
                    if let message = ProxyValidation.headerProblem(name: name, value: headers[name] ?? "", direction: direction) {
                        report("invalid_header", message)
                    } else if !seen.insert(name.lowercased()).inserted {
                        report("invalid_header", "\(direction) header \(name) is set twice (names are case-insensitive); keep one")
                    }
                }
            }
            if let auth = route.basicAuth, let message = ProxyValidation.basicAuthProblem(auth) {
                report("invalid_basic_auth", message)
            }
            guard hostMessage == nil else { continue }
            if pathValid {
                let key = "\(route.host) \(path ?? "/")"
                if let other = destinations[key] {
                    report("duplicate_route", "route \(other) already proxies \(route.host)\(path ?? "") ; change the host or path prefix, or disable one of them")
                } else {
                    destinations[key] = route.id
                }
            }
            if let existing = hostModes[route.host] {
                if existing.mode != route.tls {
                    report("conflicting_tls", "route \(existing.routeID) serves \(route.host) with TLS \(existing.mode.rawValue) but this one with \(route.tls.rawValue); use the same TLS mode for every route of a host")
                }
            } else {
                hostModes[route.host] = (route.tls, route.id)
            }
        }
        return problems
    }

    /// The Caddy config for `routes`, or the first problem ``validate(_:settings:)`` finds.
    public static func build(_ routes: [ProxyRouteSpec], settings: CaddySettings) throws(ProxyConfigError) -> Data {
        if let problem = validate(routes, settings: settings).first { throw problem }
        let active = routes.filter(\.enabled).map { route -> (route: ProxyRouteSpec, path: String?) in
            let path = (try? ProxyValidation.normalizedPath(route.pathPrefix).get()) ?? nil
            return (route, path)
        }.sorted { a, b in
            if a.route.host != b.route.host { return a.route.host < b.route.host }
            let lengthA = a.path?.count ?? 0, lengthB = b.path?.count ?? 0
            if lengthA != lengthB { return lengthA > lengthB }
            if (a.path ?? "") != (b.path ?? "") { return (a.path ?? "") < (b.path ?? "") }
            return a.route.id < b.route.id
        }

        var httpsRoutes: [JSONValue] = []
        var httpRoutes: [JSONValue] = []
        var internalHosts = Set<String>()
        var acmeHosts = Set<String>()
        for (route, path) in active {
            switch route.tls {
            case .off:
                httpRoutes.append(proxyRoute(route, path: path, id: route.id))
            case .auto, .internal:
                if route.tls == .auto { acmeHosts.insert(route.host) } else { internalHosts.insert(route.host) }
                httpsRoutes.append(proxyRoute(route, path: path, id: route.id))
                httpRoutes.append(route.redirectToHTTPS
                    ? redirectRoute(route, path: path, httpsPort: settings.httpsPort)
                    : proxyRoute(route, path: path, id: "\(route.id).http"))
            }
        }

        var servers: [String: JSONValue] = [:]
        if !httpsRoutes.isEmpty {
            servers["nebula_https"] = [
                "listen": [.string(listenAddress(settings.listenHost, settings.httpsPort))],
                "routes": .array(httpsRoutes + [notFoundRoute]),
                "automatic_https": ["disable_redirects": true],
            ]
        }
        if !httpRoutes.isEmpty {
            // Listening only on apps.http.http_port keeps Caddy's automatic HTTPS away from this server.
            servers["nebula_http"] = [
                "listen": [.string(listenAddress(settings.listenHost, settings.httpPort))],
                "routes": .array(httpRoutes + [notFoundRoute]),
            ]
        }

        var apps: [String: JSONValue] = [
            "http": ["http_port": .int(settings.httpPort), "https_port": .int(settings.httpsPort), "servers": .object(servers)],
            "pki": ["certificate_authorities": ["local": ["install_trust": false]]],
        ]
        var policies: [JSONValue] = []
        if !internalHosts.isEmpty {
            policies.append(["subjects": .array(internalHosts.sorted().map(JSONValue.string)), "issuers": [["module": "internal"]]])
        }
        if !acmeHosts.isEmpty {
            var issuer: [String: JSONValue] = ["module": "acme"]
            if let email = settings.acmeEmail { issuer["email"] = .string(email) }
            if let ca = settings.acmeCA { issuer["ca"] = .string(ca) }
            policies.append(["subjects": .array(acmeHosts.sorted().map(JSONValue.string)), "issuers": [.object(issuer)]])
        }
        if !policies.isEmpty {
            apps["tls"] = ["automation": ["policies": .array(policies)]]
        }
        let config: JSONValue = ["admin": ["listen": .string(settings.adminListen)], "apps": .object(apps)]
        return config.rendered()
    }

    // MARK: - Pieces

    private static func match(_ route: ProxyRouteSpec, path: String?) -> JSONValue {
        var matcher: [String: JSONValue] = ["host": [.string(route.host)]]
        if let path { matcher["path"] = [.string(path), .string(path + "/*")] }
        return [.object(matcher)]
    }

    private static func proxyRoute(_ route: ProxyRouteSpec, path: String?, id: String) -> JSONValue {
        var handlers: [JSONValue] = []
        if let auth = route.basicAuth {
            handlers.append([
                "handler": "authentication",
                "providers": ["http_basic": [
                    "accounts": [["username": .string(auth.username), "password": .string(auth.passwordHash)]],
                    "hash": ["algorithm": "bcrypt"],
                ]],
            ])
        }
        var proxy: [String: JSONValue] = [
            "handler": "reverse_proxy",
            "upstreams": .array(route.upstreams.map { ["dial": .string($0)] }),
        ]
        var headerOps: [String: JSONValue] = [:]
        if !route.requestHeaders.isEmpty { headerOps["request"] = ["set": headerSet(route.requestHeaders)] }
        if !route.responseHeaders.isEmpty { headerOps["response"] = ["set": headerSet(route.responseHeaders)] }
        if !headerOps.isEmpty { proxy["headers"] = .object(headerOps) }
        // Upgrades (WebSocket) are proxied natively; -1 flushes every write at once for long-lived streams.
        if route.websocket { proxy["flush_interval"] = -1 }
        if route.upstreamTLS { proxy["transport"] = ["protocol": "http", "tls": [:]] }
        handlers.append(.object(proxy))
        return ["@id": .string(id), "match": match(route, path: path), "handle": .array(handlers), "terminal": true]
    }

    private static func redirectRoute(_ route: ProxyRouteSpec, path: String?, httpsPort: Int) -> JSONValue {
        let port = httpsPort == 443 ? "" : ":\(httpsPort)"
        return [
            "@id": .string("\(route.id).http"),
            "match": match(route, path: path),
            "handle": [[
                "handler": "static_response",
                "status_code": 308,
                "headers": ["Location": [.string("https://{http.request.host}\(port){http.request.uri}")]],
            ]],
            "terminal": true,
        ]
    }

    private static let notFoundRoute: JSONValue = [
        "handle": [["handler": "static_response", "status_code": 404, "body": "No Nebula proxy route for this host and path.\n"]],
        "terminal": true,
    ]

    private static func headerSet(_ headers: [String: String]) -> JSONValue {
        .object(headers.mapValues { [.string($0)] })
    }

    private static func listenAddress(_ host: String?, _ port: Int) -> String {
        guard let host, !host.isEmpty else { return ":\(port)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
