import Crypto
import DockerEngine
import Fluent
import Foundation
import NebulaCore
import ProxyAdmin
import SQLKit
import Vapor

extension EventType {
    static let proxyRouteCreated: EventType = "proxy.route_created"
    static let proxyRouteUpdated: EventType = "proxy.route_updated"
    static let proxyRouteDeleted: EventType = "proxy.route_deleted"
    /// Caddy accepted a new configuration. Data: version, sha256, routes, changes.
    static let proxyApplied: EventType = "proxy.applied"
    /// Caddy refused a configuration (the old one keeps serving). Data: version, error.
    static let proxyApplyFailed: EventType = "proxy.apply_failed"
    /// A rollback made an older configuration live again. Data: version, rollbackOf.
    static let proxyRolledBack: EventType = "proxy.rolled_back"
    static let proxySettingsUpdated: EventType = "proxy.settings_updated"
    /// A certificate expires within the warning window. Subject `host:<name>`; data: host, source, daysLeft, notAfter, issuer, severity.
    static let certificateExpiring: EventType = "certificate.expiring"
    /// A certificate has expired. Same data.
    static let certificateExpired: EventType = "certificate.expired"
}

/// Where Caddy is when the database says nothing (`NEBULA_CADDY_ADMIN_URL`, `NEBULA_PROXY_HTTP(S)_PORT`).
struct ProxyDefaults: Sendable {
    var adminURL: String?
    var httpPort = 80
    var httpsPort = 443
}

/// Reverse-proxy routes, the Caddy configuration rendered from them, its versions and rollbacks,
/// and the certificates of proxied hosts and domains. Authorize, change, audit, publish — like
/// every service. Reading needs the viewer role, changes the operator role, settings the admin role.
///
/// Applying renders the complete Caddy JSON from every enabled route and loads it through the
/// admin API's `/load`, which validates before it switches: a refused configuration leaves the
/// running one untouched. Each configuration sent is kept as a numbered version.
struct ProxyService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let containers: ContainersService
    let hasher: PasswordHasher
    let defaults: ProxyDefaults
    var makeClient: @Sendable (URL) -> any CaddyAdminClient = { DefaultCaddyAdminClient(adminURL: $0) }
    /// The names of DNS domains whose certificates are watched (the Domains feature's table).
    var domainHosts: @Sendable (any Database) async throws -> [String] = { db in try await DomainRecord.query(on: db).all().map(\.name) }
    var now: @Sendable () -> Date = { Date() }

    static let upstreamTimeout: Duration = .seconds(5)
    static let defaultWarnDays = 14

    // MARK: Settings

    func settings(by actor: Actor) async throws -> ProxySettingsDTO {
        try actor.require(.viewer)
        return try await currentSettings()
    }

    func currentSettings() async throws -> ProxySettingsDTO {
        let row = try await ProxySettingsRecord.find(ProxySettingsRecord.singletonID, on: db)
        let admin = row?.adminURL ?? defaults.adminURL
        return ProxySettingsDTO(configured: admin != nil, adminURL: admin, httpPort: row?.httpPort ?? defaults.httpPort,
                                httpsPort: row?.httpsPort ?? defaults.httpsPort, acmeEmail: row?.acmeEmail, acmeCA: row?.acmeCA, listenHost: row?.listenHost,
                                warnDays: row?.warnDays ?? Self.defaultWarnDays)
    }

    func updateSettings(_ patch: ProxySettingsPatch, by actor: Actor) async throws -> ProxySettingsDTO {
        try actor.require(.admin)
        let row = try await ProxySettingsRecord.find(ProxySettingsRecord.singletonID, on: db) ?? {
            let fresh = ProxySettingsRecord()
            fresh.id = ProxySettingsRecord.singletonID
            return fresh
        }()
        var problems: [FieldProblem] = []
        func given(_ value: String?) -> String?? {
            guard let value else { return nil }
            let trimmed = value.trimmingCharacters(in: .whitespaces)
            return .some(trimmed.isEmpty ? nil : trimmed)
        }
        if let admin = given(patch.adminURL) {
            if let admin, Self.adminURL(admin) == nil {
                problems.append(FieldProblem(path: "adminURL", message: "The Caddy admin URL looks like http://127.0.0.1:2019."))
            }
            row.adminURL = admin
        }
        for (key, value) in [("httpPort", patch.httpPort), ("httpsPort", patch.httpsPort)] {
            guard let value else { continue }
            if !(1...65535).contains(value) { problems.append(FieldProblem(path: key, message: "A port is 1 to 65535.")) }
        }
        if let port = patch.httpPort { row.httpPort = port }
        if let port = patch.httpsPort { row.httpsPort = port }
        if let email = given(patch.acmeEmail) {
            if let email, !(email.contains("@") && !email.contains(" ") && email.count <= 200) {
                problems.append(FieldProblem(path: "acmeEmail", message: "The ACME account email looks like you@example.com."))
            }
            row.acmeEmail = email
        }
        if let ca = given(patch.acmeCA) {
            if let ca, !CaddySettings.isACMEDirectory(ca) {
                problems.append(FieldProblem(path: "acmeCA", message: "The ACME directory is an http(s) URL such as https://ca.lan/acme/acme/directory; leave it empty for Let's Encrypt."))
            }
            row.acmeCA = ca
        }
        if let listen = given(patch.listenHost) {
            if let listen, !(listen.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".:-".contains($0)) }) || listen.count > 253 {
                problems.append(FieldProblem(path: "listenHost", message: "The listen address is an IP address or host name, such as 0.0.0.0 or 192.168.1.10."))
            }
            row.listenHost = listen
        }
        if let days = patch.warnDays {
            if !(1...365).contains(days) { problems.append(FieldProblem(path: "warnDays", message: "Warn 1 to 365 days before a certificate expires.")) }
            row.warnDays = days
        }
        if (row.httpPort ?? defaults.httpPort) == (row.httpsPort ?? defaults.httpsPort) {
            problems.append(FieldProblem(path: "httpsPort", message: "The HTTP and HTTPS ports must differ."))
        }
        guard problems.isEmpty else { throw Self.invalid(problems, what: "The proxy settings") }
        try await row.save(on: db)
        let settings = try await currentSettings()
        try await audit.record("proxy.settings.update", target: "proxy", by: actor,
                               detail: "admin=\(settings.adminURL ?? "-") http=\(settings.httpPort) https=\(settings.httpsPort)")
        await events.publish(.proxySettingsUpdated, actor: actor.username, subject: "proxy")
        return settings
    }

    static func adminURL(_ raw: String) -> URL? {
        guard let url = URL(string: raw), ["http", "https"].contains(url.scheme ?? ""), let host = url.host, !host.isEmpty else { return nil }
        return url
    }

    /// Caddy's settings for the builder and the admin URL, or 409 `proxy_not_configured`.
    func requireCaddy() async throws -> (ProxySettingsDTO, CaddySettings, URL) {
        let settings = try await currentSettings()
        guard let raw = settings.adminURL, let url = Self.adminURL(raw) else {
            throw NebulaError.conflict("Caddy is not configured: set its admin URL (for example http://127.0.0.1:2019) in the proxy settings.",
                                       code: "proxy_not_configured")
        }
        return (settings, Self.caddySettings(settings, adminURL: url), url)
    }

    static func caddySettings(_ settings: ProxySettingsDTO, adminURL url: URL?) -> CaddySettings {
        let host = url?.host ?? "127.0.0.1"
        let port = url?.port ?? (url?.scheme == "https" ? 443 : 2019)
        let listen = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return CaddySettings(adminListen: listen, httpPort: settings.httpPort, httpsPort: settings.httpsPort,
                             acmeEmail: settings.acmeEmail, listenHost: settings.listenHost, acmeCA: settings.acmeCA)
    }

    // MARK: Routes

    func routes(by actor: Actor) async throws -> [ProxyRouteDTO] {
        try actor.require(.viewer)
        return try await ProxyRouteRecord.query(on: db).sort(\.$host).sort(\.$pathPrefix).all().map(Self.dto)
    }

    func route(_ id: UUID, by actor: Actor) async throws -> ProxyRouteDTO {
        try actor.require(.viewer)
        return Self.dto(try await routeRecord(id))
    }

    func createRoute(_ input: ProxyRouteInput, by actor: Actor) async throws -> ProxyRouteDTO {
        try actor.require(.operator)
        let record = ProxyRouteRecord()
        record.createdBy = actor.username
        record.revision = 1
        record.upstreamTLS = false
        try await fill(record, from: input, creating: true)
        try await ensureUnique(record)
        do {
            try await record.create(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw Self.taken(record)
        }
        try await audit.record("proxy.route.create", target: Self.target(record), by: actor, detail: Self.describe(record))
        await events.publish(.proxyRouteCreated, actor: actor.username, subject: Self.target(record), data: ["host": record.host, "revision": "1"])
        return Self.dto(record)
    }

    func updateRoute(_ id: UUID, _ input: ProxyRouteInput, ifMatch: Int?, by actor: Actor) async throws -> ProxyRouteDTO {
        try actor.require(.operator)
        let record = try await routeRecord(id)
        try checkRevision(record, seen: input.revision ?? ifMatch)
        try await fill(record, from: input, creating: false)
        try await ensureUnique(record)
        record.revision += 1
        do {
            try await db.transaction { tx in
                try await self.claimRevision(of: record, seen: record.revision - 1, deleting: false, on: tx)
                try await record.update(on: tx)
            }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw Self.taken(record)
        }
        try await audit.record("proxy.route.update", target: Self.target(record), by: actor, detail: Self.describe(record))
        await events.publish(.proxyRouteUpdated, actor: actor.username, subject: Self.target(record),
                             data: ["host": record.host, "revision": String(record.revision)])
        return Self.dto(record)
    }

    func deleteRoute(_ id: UUID, revision: Int?, by actor: Actor) async throws {
        try actor.require(.operator)
        let record = try await routeRecord(id)
        try checkRevision(record, seen: revision)
        try await claimRevision(of: record, seen: record.revision, deleting: true, on: db)
        try await audit.record("proxy.route.delete", target: Self.target(record), by: actor)
        await events.publish(.proxyRouteDeleted, actor: actor.username, subject: Self.target(record), data: ["host": record.host])
    }

    /// Connects to every upstream of the route (TCP, 5 s each) and remembers the outcome for the list.
    func testRoute(_ id: UUID, by actor: Actor) async throws -> ProxyRouteTestOutcome {
        try actor.require(.operator)
        let record = try await routeRecord(id)
        var results: [UpstreamProbeResult] = []
        for upstream in Self.upstreams(record) {
            let address: String
            do {
                address = try await resolve(upstream)
            } catch let error as NebulaError {
                results.append(UpstreamProbeResult(upstream: upstream.label, address: nil, ok: false, message: error.message))
                continue
            }
            guard let target = HostPort(parsing: address) else {
                results.append(UpstreamProbeResult(upstream: upstream.label, address: address, ok: false, message: "not a host:port"))
                continue
            }
            let outcome = await TCPProbe(target: target, timeout: Self.upstreamTimeout).run()
            results.append(UpstreamProbeResult(upstream: upstream.label, address: address, ok: outcome.ok, message: outcome.message))
        }
        let ok = !results.isEmpty && results.allSatisfy(\.ok)
        record.upstreamStatus = try Self.json(results)
        record.upstreamCheckedAt = now()
        try await record.update(on: db)
        try await audit.record("proxy.route.test", target: Self.target(record), outcome: ok ? .success : .failure, by: actor,
                               detail: results.map { "\($0.upstream): \($0.ok ? "ok" : $0.message)" }.joined(separator: "; "))
        return ProxyRouteTestOutcome(ok: ok, results: results)
    }

    private func routeRecord(_ id: UUID) async throws -> ProxyRouteRecord {
        guard let record = try await ProxyRouteRecord.find(id, on: db) else { throw NebulaError.notFound("Proxy route \(id)") }
        return record
    }

    private func checkRevision(_ record: ProxyRouteRecord, seen: Int?) throws {
        guard let seen else {
            throw NebulaError(.preconditionRequired, code: "revision_required",
                              "Send the route's revision you last saw (body field `revision` or an If-Match header), so a concurrent edit is not overwritten.")
        }
        guard seen == record.revision else {
            throw Self.editConflict(seen: seen, current: record)
        }
    }

    /// Moves the route on from the revision its editor saw (or deletes it) only if the row still has
    /// that revision, so of two saves made from one revision exactly one wins, however close together
    /// they arrive; the other gets the same conflict as a stale revision. Inside a transaction the
    /// guarded write holds the row until the rest of the edit is written.
    private func claimRevision(of record: ProxyRouteRecord, seen: Int, deleting: Bool, on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { throw NebulaError.misconfigured("Proxy routes need an SQL database.") }
        let id = try record.requireID()
        let rows: [any SQLRow]
        if deleting {
            rows = try await sql.delete(from: ProxyRouteRecord.schema).where("id", .equal, id).where("revision", .equal, seen)
                .returning("id").all()
        } else {
            rows = try await sql.update(ProxyRouteRecord.schema).set("revision", to: seen + 1).where("id", .equal, id)
                .where("revision", .equal, seen).returning("id").all()
        }
        guard rows.isEmpty else { return }
        guard let current = try await ProxyRouteRecord.find(id, on: database) else { throw NebulaError.notFound("Proxy route \(id)") }
        throw Self.editConflict(seen: seen, current: current)
    }

    private static func editConflict(seen: Int, current: ProxyRouteRecord) -> ProxyEditConflict {
        ProxyEditConflict(message: "The route \(current.host + current.pathPrefix) was changed by someone else since you loaded it (you saw revision \(seen), it is now \(current.revision)). Reload it and make your change again.",
                          current: dto(current))
    }

    private func ensureUnique(_ record: ProxyRouteRecord) async throws {
        let clash = try await ProxyRouteRecord.query(on: db).filter(\.$host == record.host).filter(\.$pathPrefix == record.pathPrefix).all()
        if clash.contains(where: { $0.id != record.id }) { throw Self.taken(record) }
    }

    private static func taken(_ record: ProxyRouteRecord) -> NebulaError {
        .conflict("A route for \(record.host + (record.pathPrefix.isEmpty ? "" : record.pathPrefix)) already exists; edit that one.", code: "route_exists")
    }

    /// Applies `input` to `record` after checking every field; all problems are reported at once (422 `invalid_route`).
    private func fill(_ record: ProxyRouteRecord, from input: ProxyRouteInput, creating: Bool) async throws {
        var problems: [FieldProblem] = []
        if let host = input.host ?? (creating ? "" : nil) {
            record.host = host.trimmingCharacters(in: .whitespaces).lowercased()
            if record.host.isEmpty { problems.append(FieldProblem(path: "host", message: "A route needs a host name, such as photos.lab.example.")) }
        }
        if let prefix = input.pathPrefix ?? (creating ? "" : nil) {
            let trimmed = prefix.trimmingCharacters(in: .whitespaces)
            record.pathPrefix = trimmed == "/" ? "" : trimmed
        }
        let upstreams = input.upstreams ?? input.upstream.map { [$0] }
        if let upstreams {
            if upstreams.isEmpty { problems.append(FieldProblem(path: "upstreams", message: "A route needs at least one upstream.")) }
            for (index, upstream) in upstreams.enumerated() { problems += Self.check(upstream, path: "upstreams[\(index)]") }
            record.upstream = try Self.json(upstreams)
        } else if creating {
            problems.append(FieldProblem(path: "upstream", message: "A route needs an upstream: {\"kind\":\"address\",\"address\":\"192.168.1.20:8096\"}, a container or an app."))
            record.upstream = "[]"
        }
        if let tls = input.tls { record.tls = tls.rawValue } else if creating { record.tls = Self.defaultTLS(for: record.host).rawValue }
        if let websocket = input.websocket { record.websocket = websocket } else if creating { record.websocket = false }
        if let redirect = input.redirectToHTTPS { record.redirectToHTTPS = redirect } else if creating { record.redirectToHTTPS = true }
        if let upstreamTLS = input.upstreamTLS { record.upstreamTLS = upstreamTLS }
        if let enabled = input.enabled { record.enabled = enabled } else if creating { record.enabled = true }
        var headers = creating ? ProxyHeaders() : ((try? JSONDecoder().decode(ProxyHeaders.self, from: Data(record.headers.utf8))) ?? ProxyHeaders())
        if let request = input.requestHeaders { headers.request = request }
        if let response = input.responseHeaders { headers.response = response }
        record.headers = try Self.json(headers)
        var newPassword: String?
        if let auth = input.basicAuth {
            let username = auth.username.trimmingCharacters(in: .whitespaces)
            if username.isEmpty {
                record.basicAuthUser = nil
                record.basicAuthHash = nil
            } else {
                if username.contains(":") || username.count > 100 || username.contains(where: { $0.isWhitespace || $0.isNewline }) {
                    problems.append(FieldProblem(path: "basicAuth.username", message: "The basic-auth user name is 1–100 characters without spaces or ':'."))
                }
                if let password = auth.password, !password.isEmpty {
                    if password.count < 8 || password.count > 72 {
                        problems.append(FieldProblem(path: "basicAuth.password", message: "The basic-auth password is 8 to 72 characters."))
                    }
                    newPassword = password
                } else if record.basicAuthHash == nil {
                    problems.append(FieldProblem(path: "basicAuth.password", message: "Give a password for the basic-auth user."))
                }
                record.basicAuthUser = username
            }
        }
        // The builder knows what Caddy accepts: host names, paths, header names and values.
        var spec = Self.spec(record, upstreams: Self.upstreams(record).map { $0.address ?? "127.0.0.1:\($0.port ?? 1)" })
        if newPassword != nil { spec.basicAuth = ProxyBasicAuth(username: record.basicAuthUser ?? "", passwordHash: "$2b$04$" + String(repeating: "a", count: 53)) }
        for error in CaddyConfigBuilder.validate([spec], settings: Self.caddySettings(try await currentSettings(), adminURL: nil)) {
            let message = error.message
            if !problems.contains(where: { $0.message == message }) { problems.append(FieldProblem(path: error.code, message: message)) }
        }
        guard problems.isEmpty else { throw Self.invalid(problems, what: "The route") }
        if let newPassword { record.basicAuthHash = try await hasher.hash(newPassword) }
    }

    static func check(_ upstream: ProxyUpstream, path: String) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        let portOK = upstream.port.map { (1...65535).contains($0) } ?? true
        switch upstream.kind {
        case .address:
            if let address = upstream.address, let parsed = HostPort(parsing: address), (1...65535).contains(parsed.port), !parsed.host.isEmpty,
               parsed.host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:_".contains($0)) }), address.contains(":") {
                break
            }
            problems.append(FieldProblem(path: path + ".address", message: "An upstream address is host:port with a port from 1 to 65535, such as 192.168.1.20:8096 (got '\(upstream.address ?? "")')."))
        case .container:
            if upstream.server == nil { problems.append(FieldProblem(path: path + ".server", message: "Name the server the container runs on (its id).")) }
            if (upstream.container ?? "").isEmpty { problems.append(FieldProblem(path: path + ".container", message: "Name the container.")) }
            if upstream.port == nil { problems.append(FieldProblem(path: path + ".port", message: "Give the container's port.")) }
        case .app:
            if (upstream.install ?? "").isEmpty { problems.append(FieldProblem(path: path + ".install", message: "Name the installed app (its name or id).")) }
        }
        if !portOK { problems.append(FieldProblem(path: path + ".port", message: "A port is 1 to 65535.")) }
        return problems
    }

    /// LAN names (and IP addresses) get Caddy's own CA; public names a certificate from Let's Encrypt.
    static func defaultTLS(for host: String) -> ProxyTLSMode {
        let lan = [".local", ".lan", ".home", ".home.arpa", ".internal", ".localhost", ".test"]
        if host == "localhost" || lan.contains(where: { host.hasSuffix($0) }) || !host.contains(".") { return .internal }
        if host.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) { return .internal }
        return .auto
    }

    static func invalid(_ problems: [FieldProblem], what: String) -> NebulaError {
        var error = NebulaError.unprocessable("\(what) has \(problems.count == 1 ? "a problem" : "\(problems.count) problems"): "
                                              + problems.map(\.message).joined(separator: " "), code: "invalid_route")
        error.problems = problems
        return error
    }

    // MARK: Rendering

    /// The addresses `upstream` stands for right now: containers and apps resolve to their node and published port.
    func resolve(_ upstream: ProxyUpstream) async throws -> String {
        switch upstream.kind {
        case .address:
            return upstream.address ?? ""
        case .container:
            guard let serverID = upstream.server, let name = upstream.container, let port = upstream.port else {
                throw NebulaError.unprocessable("The container upstream needs a server, a container and a port.", code: "upstream_unresolved")
            }
            guard let server = try await ServerRecord.find(serverID, on: db) else {
                throw NebulaError.unprocessable("The server \(serverID) of container \(name) no longer exists.", code: "upstream_unresolved")
            }
            let list = try await containers.containers(on: serverID, by: .system("proxy"))
            guard let container = list.first(where: { $0.names.contains(name) || $0.id.rawValue.hasPrefix(name) }) else {
                throw NebulaError.unprocessable("There is no container \(name) on \(server.name).", code: "upstream_unresolved")
            }
            let published = container.ports.first(where: { $0.privatePort == port && $0.publicPort != nil && $0.type == "tcp" })?.publicPort
                ?? container.ports.first(where: { $0.publicPort == port })?.publicPort
            guard let hostPort = published else {
                throw NebulaError.unprocessable("Container \(name) on \(server.name) does not publish port \(port) on the host; publish it (ports: \"\(port):\(port)\").",
                                                code: "upstream_unresolved")
            }
            return try Self.hostPort(try Self.address(of: server), hostPort)
        case .app:
            let key = upstream.install ?? ""
            let install: AppInstall?
            if let id = UUID(uuidString: key) { install = try await AppInstall.find(id, on: db) } else {
                install = try await AppInstall.query(on: db).filter(\.$name == key).first()
            }
            guard let install else { throw NebulaError.unprocessable("There is no installed app \(key).", code: "upstream_unresolved") }
            let ports = (try? JSONDecoder().decode([Int].self, from: Data(install.ports.utf8))) ?? []
            guard let port = upstream.port ?? ports.first else {
                throw NebulaError.unprocessable("The app \(install.name) publishes no port; give one.", code: "upstream_unresolved")
            }
            guard let server = try await ServerRecord.find(install.serverID, on: db) else {
                throw NebulaError.unprocessable("The server of app \(install.name) no longer exists.", code: "upstream_unresolved")
            }
            return try Self.hostPort(try Self.address(of: server), port)
        }
    }

    static func address(of server: ServerRecord) throws -> String {
        if let address = server.address, !address.isEmpty { return address }
        if server.connection == .local { return "127.0.0.1" }
        throw NebulaError.unprocessable("The server \(server.name) has no address Caddy could reach; set one on the server.", code: "upstream_unresolved")
    }

    static func hostPort(_ host: String, _ port: Int) throws -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The complete Caddy JSON for every enabled route, upstreams resolved; 422 when a route cannot be rendered.
    func render(_ records: [ProxyRouteRecord], settings: CaddySettings) async throws -> Data {
        var specs: [ProxyRouteSpec] = []
        for record in records where record.enabled {
            var addresses: [String] = []
            for upstream in Self.upstreams(record) { addresses.append(try await resolve(upstream)) }
            specs.append(Self.spec(record, upstreams: addresses))
        }
        let problems = CaddyConfigBuilder.validate(specs, settings: settings)
        if !problems.isEmpty {
            let labels = Dictionary(records.compactMap { record in record.id.map { ($0.uuidString, record.host + record.pathPrefix) } }, uniquingKeysWith: { first, _ in first })
            throw Self.invalid(problems.map { FieldProblem(path: $0.routeID.flatMap { labels[$0] } ?? $0.code, message: $0.message) }, what: "The proxy configuration")
        }
        do {
            return try CaddyConfigBuilder.build(specs, settings: settings)
        } catch {
            throw Self.invalid([FieldProblem(path: error.routeID ?? error.code, message: error.message)], what: "The proxy configuration")
        }
    }

    static func spec(_ record: ProxyRouteRecord, upstreams: [String]) -> ProxyRouteSpec {
        let headers = (try? JSONDecoder().decode(ProxyHeaders.self, from: Data(record.headers.utf8))) ?? ProxyHeaders()
        let auth = record.basicAuthUser.flatMap { user in record.basicAuthHash.map { ProxyBasicAuth(username: user, passwordHash: $0) } }
        return ProxyRouteSpec(id: record.id?.uuidString ?? "new", host: record.host, pathPrefix: record.pathPrefix.isEmpty ? nil : record.pathPrefix,
                              upstreams: upstreams, tls: ProxyTLSMode(rawValue: record.tls) ?? .auto, websocket: record.websocket, basicAuth: auth,
                              requestHeaders: headers.request, responseHeaders: headers.response, redirectToHTTPS: record.redirectToHTTPS,
                              upstreamTLS: record.upstreamTLS, enabled: record.enabled)
    }

    // MARK: Applying

    /// The version Caddy runs (as far as Nebula knows), if any.
    func liveVersion() async throws -> ProxyVersionRecord? {
        try await ProxyVersionRecord.query(on: db).filter(\.$status == ProxyVersionStatus.applied.rawValue).sort(\.$number, .descending).first()
    }

    /// What applying now would change, compared with the live version.
    func pendingChanges(by actor: Actor) async throws -> ProxyDiff {
        try actor.require(.viewer)
        let routes = try await ProxyRouteRecord.query(on: db).all().map(Self.snapshot)
        return Self.diff(from: try await liveVersion(), to: routes)
    }

    func apply(_ input: ProxyApplyInput, by actor: Actor) async throws -> ProxyApplyOutcome {
        try actor.require(.operator)
        let (_, caddy, url) = try await requireCaddy()
        let latest = try await ProxyVersionRecord.query(on: db).sort(\.$number, .descending).first()
        if let expected = input.expectedVersion, expected != (latest?.number ?? 0) {
            throw NebulaError.conflict("Version \(latest?.number ?? 0) was applied since you looked (you saw \(expected)); review the routes and apply again.",
                                       code: "edit_conflict")
        }
        let records = try await ProxyRouteRecord.query(on: db).sort(\.$host).sort(\.$pathPrefix).all()
        let snapshots = records.map(Self.snapshot)
        let live = try await liveVersion()
        let diff = Self.diff(from: live, to: snapshots)
        let config = try await render(records, settings: caddy)
        let sha = Self.sha256(config)
        let client = makeClient(url)
        let running = try await currentConfig(client, url: url, actor: actor, action: "proxy.apply")
        if input.force != true { try Self.checkUnchangedOutside(running: running, live: live) }
        if let live, live.sha256 == sha, Self.sameConfig(running, Data(live.config.utf8)) {
            return ProxyApplyOutcome(changed: false, message: "Caddy already runs this configuration (version \(live.number)); nothing was applied.",
                                     version: Self.dto(live, withConfig: false), diff: diff)
        }
        let routesJSON = try Self.json(snapshots)
        try await load(config, client: client, url: url, sha: sha, routes: routesJSON, rollbackOf: nil, actor: actor, action: "proxy.apply")
        let version = try await recordLive(config: String(decoding: config, as: UTF8.self), sha: sha, routes: routesJSON, rollbackOf: nil,
                                           replacing: live, replacedStatus: .superseded, restore: nil, by: actor)
        try await audit.record("proxy.apply", target: "proxy-version:\(version.number)", by: actor, detail: diff.summary)
        await events.publish(.proxyApplied, actor: actor.username, subject: "proxy-version:\(version.number)",
                             data: ["version": String(version.number), "sha256": sha, "routes": String(records.filter(\.enabled).count), "changes": diff.summary])
        return ProxyApplyOutcome(changed: true, message: "Caddy runs version \(version.number) now (\(diff.summary)).",
                                 version: Self.dto(version, withConfig: false), diff: diff)
    }

    /// Loads an older version's configuration again, then restores the routes table to what it was
    /// rendered from, so the routes shown are the routes served.
    func rollback(to id: UUID, force: Bool, by actor: Actor) async throws -> ProxyApplyOutcome {
        try actor.require(.operator)
        let (_, _, url) = try await requireCaddy()
        guard let target = try await ProxyVersionRecord.find(id, on: db) else { throw NebulaError.notFound("Proxy version \(id)") }
        guard target.status != ProxyVersionStatus.rejected.rawValue else {
            throw NebulaError.conflict("Caddy refused version \(target.number); there is nothing to roll back to.", code: "version_rejected")
        }
        let live = try await liveVersion()
        let client = makeClient(url)
        let running = try await currentConfig(client, url: url, actor: actor, action: "proxy.rollback")
        if !force { try Self.checkUnchangedOutside(running: running, live: live) }
        let snapshots = (try? JSONDecoder().decode([ProxyRouteSnapshot].self, from: Data(target.routes.utf8))) ?? []
        let current = try await ProxyRouteRecord.query(on: db).all().map(Self.snapshot)
        let diff = Self.diff(current: current, target: snapshots)
        try await load(Data(target.config.utf8), client: client, url: url, sha: target.sha256, routes: target.routes, rollbackOf: target.number,
                       actor: actor, action: "proxy.rollback")
        let version = try await recordLive(config: target.config, sha: target.sha256, routes: target.routes, rollbackOf: target.number,
                                           replacing: live, replacedStatus: .rolledBack, restore: snapshots, by: actor)
        try await audit.record("proxy.rollback", target: "proxy-version:\(version.number)", by: actor, detail: "back to version \(target.number): \(diff.summary)")
        await events.publish(.proxyRolledBack, actor: actor.username, subject: "proxy-version:\(version.number)",
                             data: ["version": String(version.number), "rollbackOf": String(target.number), "sha256": target.sha256])
        return ProxyApplyOutcome(changed: true, message: "Rolled back: Caddy runs the configuration of version \(target.number) again (as version \(version.number)).",
                                 version: Self.dto(version, withConfig: false), diff: diff)
    }

    private func currentConfig(_ client: any CaddyAdminClient, url: URL, actor: Actor, action: String) async throws -> Data {
        do {
            return try await client.currentConfig()
        } catch {
            try await audit.record(action, target: "proxy", outcome: .failure, by: actor, detail: "Caddy unreachable: \(error.message)")
            throw Self.unreachable(error, url: url)
        }
    }

    private func load(_ config: Data, client: any CaddyAdminClient, url: URL, sha: String, routes: String, rollbackOf: Int?,
                      actor: Actor, action: String) async throws {
        do {
            try await client.load(config)
        } catch {
            guard error.code == .rejected else {
                try await audit.record(action, target: "proxy", outcome: .failure, by: actor, detail: "Caddy unreachable: \(error.message)")
                throw Self.unreachable(error, url: url)
            }
            let number = try await nextNumber()
            let version = ProxyVersionRecord()
            version.number = number
            version.config = String(decoding: config, as: UTF8.self)
            version.sha256 = sha
            version.routes = routes
            version.status = ProxyVersionStatus.rejected.rawValue
            version.error = String(error.message.prefix(4000))
            version.rollbackOf = rollbackOf
            version.createdBy = actor.username
            try await create(version)
            try await audit.record(action, target: "proxy-version:\(number)", outcome: .failure, by: actor, detail: String(error.message.prefix(500)))
            await events.publish(.proxyApplyFailed, actor: actor.username, subject: "proxy-version:\(number)",
                                 data: ["version": String(number), "error": String(error.message.prefix(500))])
            throw NebulaError.unprocessable("Caddy refused the configuration (recorded as version \(number)); the previous configuration keeps serving. Caddy said: \(error.message)",
                                            code: "config_rejected")
        }
    }

    private static func unreachable(_ error: CaddyAdminError, url: URL) -> NebulaError {
        .badGateway("Caddy's admin API at \(url.absoluteString) did not answer (\(error.message)); nothing was changed. Is Caddy running?", code: "caddy_unreachable")
    }

    /// Records the configuration Caddy just accepted as the live version, the one it replaced as
    /// superseded or rolled back, and (for a rollback) restores the routes table; one transaction.
    private func recordLive(config: String, sha: String, routes: String, rollbackOf: Int?, replacing live: ProxyVersionRecord?,
                            replacedStatus: ProxyVersionStatus, restore: [ProxyRouteSnapshot]?, by actor: Actor) async throws -> ProxyVersionRecord {
        let number = try await nextNumber()
        let version = ProxyVersionRecord()
        version.number = number
        version.config = config
        version.sha256 = sha
        version.routes = routes
        version.status = ProxyVersionStatus.applied.rawValue
        version.rollbackOf = rollbackOf
        version.createdBy = actor.username
        do {
            try await db.transaction { tx in
                for previous in try await ProxyVersionRecord.query(on: tx).filter(\.$status == ProxyVersionStatus.applied.rawValue).all() {
                    previous.status = (previous.id == live?.id ? replacedStatus : .superseded).rawValue
                    try await previous.update(on: tx)
                }
                try await version.create(on: tx)
                if let restore { try await Self.restore(restore, on: tx) }
            }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw NebulaError.conflict("Another apply recorded version \(number) at the same moment; Caddy runs one of the two. Reload and check.", code: "edit_conflict")
        }
        return version
    }

    /// Replaces the routes table with `snapshots`; every restored route gets a revision above any it had.
    private static func restore(_ snapshots: [ProxyRouteSnapshot], on db: any Database) async throws {
        let existing = try await ProxyRouteRecord.query(on: db).all()
        let old = Dictionary(existing.compactMap { record in record.id.map { ($0, record) } }, uniquingKeysWith: { first, _ in first })
        try await ProxyRouteRecord.query(on: db).delete()
        for snapshot in snapshots {
            let record = ProxyRouteRecord()
            record.id = snapshot.id
            record.host = snapshot.host
            record.pathPrefix = snapshot.pathPrefix
            record.upstream = snapshot.upstream
            record.tls = snapshot.tls
            record.websocket = snapshot.websocket
            record.basicAuthUser = snapshot.basicAuthUser
            record.basicAuthHash = snapshot.basicAuthHash
            record.headers = snapshot.headers
            record.redirectToHTTPS = snapshot.redirectToHTTPS
            record.upstreamTLS = snapshot.upstreamTLS
            record.enabled = snapshot.enabled
            record.revision = max(snapshot.revision, old[snapshot.id]?.revision ?? 0) + 1
            record.upstreamStatus = old[snapshot.id]?.upstreamStatus
            record.upstreamCheckedAt = old[snapshot.id]?.upstreamCheckedAt
            record.createdBy = old[snapshot.id]?.createdBy ?? "rollback"
            try await record.create(on: db)
        }
    }

    private func nextNumber() async throws -> Int {
        (try await ProxyVersionRecord.query(on: db).max(\.$number) ?? 0) + 1
    }

    private func create(_ version: ProxyVersionRecord) async throws {
        do {
            try await version.create(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw NebulaError.conflict("Another apply recorded version \(version.number) at the same moment. Reload and check.", code: "edit_conflict")
        }
    }

    /// 409 `caddy_changed_outside` when Caddy runs something other than the live version.
    static func checkUnchangedOutside(running: Data, live: ProxyVersionRecord?) throws {
        if let live {
            guard sameConfig(running, Data(live.config.utf8)) else {
                throw NebulaError.conflict("Caddy's running configuration differs from version \(live.number), the last one Nebula applied: someone changed Caddy by hand. Applying would discard that; apply with force to replace it anyway.",
                                           code: "caddy_changed_outside")
            }
        } else if hasSites(running) {
            throw NebulaError.conflict("Caddy already runs a configuration Nebula did not write. Applying would replace it; apply with force to do so anyway.",
                                       code: "caddy_changed_outside")
        }
    }

    /// Whether two configurations are the same JSON (key order and spacing aside).
    static func sameConfig(_ a: Data, _ b: Data) -> Bool {
        canonical(a) == canonical(b)
    }

    static func canonical(_ data: Data) -> Data? {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        return try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
    }

    /// Whether a running configuration serves anything (a fresh Caddy has `null` or only `admin`).
    static func hasSites(_ data: Data) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [String: Any] else { return false }
        guard let apps = object["apps"] as? [String: Any] else { return false }
        return !apps.isEmpty
    }

    // MARK: Versions

    func versions(by actor: Actor) async throws -> [ProxyVersionDTO] {
        try actor.require(.viewer)
        return try await ProxyVersionRecord.query(on: db).sort(\.$number, .descending).limit(200).all().map { Self.dto($0, withConfig: false) }
    }

    func version(_ id: UUID, by actor: Actor) async throws -> ProxyVersionDTO {
        try actor.require(.viewer)
        guard let record = try await ProxyVersionRecord.find(id, on: db) else { throw NebulaError.notFound("Proxy version \(id)") }
        return Self.dto(record, withConfig: true)
    }

    // MARK: Mapping

    static func upstreams(_ record: ProxyRouteRecord) -> [ProxyUpstream] {
        (try? JSONDecoder().decode([ProxyUpstream].self, from: Data(record.upstream.utf8))) ?? []
    }

    static func target(_ record: ProxyRouteRecord) -> String { "proxy-route:\(record.host)\(record.pathPrefix)" }

    /// For the audit log: never the password or its hash.
    static func describe(_ record: ProxyRouteRecord) -> String {
        "\(record.host)\(record.pathPrefix) → \(upstreams(record).map(\.label).joined(separator: ", ")) tls=\(record.tls)"
            + (record.basicAuthUser.map { " basic-auth=\($0)" } ?? "") + (record.enabled ? "" : " (disabled)")
    }

    static func snapshot(_ record: ProxyRouteRecord) -> ProxyRouteSnapshot {
        ProxyRouteSnapshot(id: record.id ?? UUID(), host: record.host, pathPrefix: record.pathPrefix, upstream: record.upstream, tls: record.tls,
                           websocket: record.websocket, basicAuthUser: record.basicAuthUser, basicAuthHash: record.basicAuthHash,
                           headers: record.headers, redirectToHTTPS: record.redirectToHTTPS, upstreamTLS: record.upstreamTLS,
                           enabled: record.enabled, revision: record.revision)
    }

    static func diff(from live: ProxyVersionRecord?, to routes: [ProxyRouteSnapshot]) -> ProxyDiff {
        let served = live.flatMap { try? JSONDecoder().decode([ProxyRouteSnapshot].self, from: Data($0.routes.utf8)) } ?? []
        return diff(current: served, target: routes)
    }

    /// What changes (enabled routes only) when `target` replaces `current`.
    static func diff(current: [ProxyRouteSnapshot], target: [ProxyRouteSnapshot]) -> ProxyDiff {
        let before = Dictionary(current.filter(\.enabled).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(target.filter(\.enabled).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var diff = ProxyDiff()
        for (id, route) in after {
            if let old = before[id] {
                if !old.sameContent(as: route) { diff.changed.append(route.label) }
            } else {
                diff.added.append(route.label)
            }
        }
        for (id, route) in before where after[id] == nil { diff.removed.append(route.label) }
        diff.added.sort()
        diff.changed.sort()
        diff.removed.sort()
        return diff
    }

    static func dto(_ record: ProxyRouteRecord) -> ProxyRouteDTO {
        let headers = (try? JSONDecoder().decode(ProxyHeaders.self, from: Data(record.headers.utf8))) ?? ProxyHeaders()
        return ProxyRouteDTO(id: record.id ?? UUID(), host: record.host, pathPrefix: record.pathPrefix.isEmpty ? nil : record.pathPrefix,
                             upstreams: upstreams(record), tls: ProxyTLSMode(rawValue: record.tls) ?? .auto, websocket: record.websocket,
                             basicAuth: record.basicAuthUser.map { ProxyBasicAuthDTO(username: $0, hasPassword: record.basicAuthHash != nil) },
                             requestHeaders: headers.request, responseHeaders: headers.response, redirectToHTTPS: record.redirectToHTTPS,
                             upstreamTLS: record.upstreamTLS, enabled: record.enabled, revision: record.revision,
                             upstreamStatus: record.upstreamStatus.flatMap { try? JSONDecoder().decode([UpstreamProbeResult].self, from: Data($0.utf8)) },
                             upstreamCheckedAt: record.upstreamCheckedAt, createdBy: record.createdBy, createdAt: record.createdAt, updatedAt: record.updatedAt)
    }

    static func dto(_ record: ProxyVersionRecord, withConfig: Bool) -> ProxyVersionDTO {
        let routes = (try? JSONDecoder().decode([ProxyRouteSnapshot].self, from: Data(record.routes.utf8))) ?? []
        return ProxyVersionDTO(id: record.id ?? UUID(), number: record.number, sha256: record.sha256,
                               status: ProxyVersionStatus(rawValue: record.status) ?? .superseded, error: record.error, rollbackOf: record.rollbackOf,
                               routeCount: routes.filter(\.enabled).count, createdBy: record.createdBy, createdAt: record.createdAt,
                               config: withConfig ? redacted(record.config) : nil)
    }

    /// The configuration with basic-auth password hashes blanked (they are not the password, but need not travel).
    static func redacted(_ config: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(config.utf8), options: [.fragmentsAllowed]) else { return config }
        func walk(_ value: Any) -> Any {
            if let dictionary = value as? [String: Any] {
                var copy: [String: Any] = [:]
                for (key, inner) in dictionary { copy[key] = key == "password" && inner is String ? "(bcrypt hash hidden)" : walk(inner) }
                return copy
            }
            if let array = value as? [Any] { return array.map(walk) }
            return value
        }
        guard let data = try? JSONSerialization.data(withJSONObject: walk(object), options: [.sortedKeys, .prettyPrinted, .fragmentsAllowed]) else { return config }
        return String(decoding: data, as: UTF8.self)
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
