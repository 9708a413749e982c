import Fluent
import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
import Vapor

extension EventType {
    public static let appInstalling: EventType = "app.installing"
    public static let appInstalled: EventType = "app.installed"
    public static let appInstallFailed: EventType = "app.install_failed"
    public static let appUpgraded: EventType = "app.upgraded"
    public static let appUninstalled: EventType = "app.uninstalled"
}

/// Installs marketplace apps on servers, upgrades and removes them. Every change needs the
/// operator role, is audited and runs as a durable job whose log streams to the browser; an
/// install only succeeds once its health checks pass. The API and the pages both call this.
struct InstallsService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let jobs: JobQueue
    let secrets: SecretsService
    let marketplace: MarketplaceService
    let containers: ContainersService

    /// What `POST /api/v1/marketplace/installs` takes.
    struct InstallRequest: Codable, Sendable {
        var package: String
        var server: UUID
        var variables: [String: String]?
        /// The install's name (its Compose project); the package name when absent.
        var name: String?
        /// Leave a failed install running for inspection instead of rolling it back.
        var keepOnFailure: Bool?
        /// Publish the app under this host name once it is healthy: a proxy route through Caddy
        /// with HTTPS and, when the name is in a domain Nebula manages, its DNS record.
        var domain: String?
    }

    /// An install and the job doing its work.
    struct Accepted: Content {
        var install: AppInstallDTO
        var job: JobDTO
    }

    // MARK: Reading

    func list(by actor: Actor) async throws -> [AppInstallDTO] {
        try actor.require(.viewer)
        let installs = try await AppInstall.query(on: db).sort(\.$name).all()
        let servers = try await ServerRecord.query(on: db).all()
        let names = Dictionary(servers.compactMap { server in server.id.map { ($0, server) } }, uniquingKeysWith: { first, _ in first })
        let latest = try await latestVersions(by: actor)
        return installs.map { AppInstallDTO($0, server: names[$0.serverID], latest: latest[$0.package]) }
    }

    func find(_ id: UUID, by actor: Actor) async throws -> AppInstallDTO {
        try actor.require(.viewer)
        let install = try await record(id)
        let latest = try await latestVersions(by: actor)
        return AppInstallDTO(install, server: try await ServerRecord.find(install.serverID, on: db), latest: latest[install.package])
    }

    /// The install's containers with state and health, from its node.
    func status(_ id: UUID, by actor: Actor) async throws -> AppResult {
        try actor.require(.viewer)
        let install = try await record(id)
        return try await node(install).engine.apps(.status(project: install.name))
    }

    /// The last lines of every container of the install (operator: logs may hold secrets).
    func logs(_ id: UUID, tail: Int, by actor: Actor) async throws -> [AppLogLine] {
        try actor.require(.operator)
        let install = try await record(id)
        let result = try await node(install).engine.apps(.logs(project: install.name, tail: tail))
        guard result.ok else { throw NebulaError.badGateway(result.message, code: "app_logs_failed") }
        return result.logs ?? []
    }

    /// The newest version of each package in the catalogs, for "update available".
    private func latestVersions(by actor: Actor) async throws -> [String: String] {
        let packages = (try? await marketplace.packages(by: actor)) ?? []
        return Dictionary(packages.map { ($0.manifest.name, $0.manifest.version) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Installing

    /// Checks everything that can be checked before anything starts (package, values, name, port
    /// conflicts), stores generated secrets in the vault and queues the install job.
    func install(_ request: InstallRequest, by actor: Actor) async throws -> Accepted {
        try actor.require(.operator)
        let package = try await marketplace.package(name: request.package, by: actor)
        let manifest = package.manifest
        let name = request.name?.trimmingCharacters(in: .whitespaces).lowercased() ?? manifest.name
        guard ComposeProject.isValidName(name), name.count <= 40 else {
            throw NebulaError.unprocessable("'\(name.prefix(64))' is not a valid app name: 1–40 lower-case letters, digits, '-' or '_'.", code: "invalid_name")
        }
        guard try await AppInstall.query(on: db).filter(\.$name == name).first() == nil else {
            throw NebulaError.conflict("An app named '\(name)' is already installed; choose another name.", code: "name_taken")
        }
        // An app uninstalled with its data kept comes back with the same secrets, so its data
        // (a database's password, say) still opens.
        var given = request.variables ?? [:]
        for variable in manifest.variables where variable.secret && (given[variable.name] ?? "").isEmpty {
            if let kept = try? await secrets.value(of: Self.secretName(name, variable.name)) { given[variable.name] = kept }
        }
        let values: [String: String]
        do {
            values = try manifest.resolve(values: given)
        } catch {
            var refusal = NebulaError.unprocessable("The values for \(manifest.title) are not valid: " + error.problems.map(\.description).joined(separator: "; "),
                                                   code: "invalid_variables")
            refusal.problems = error.problems.map { FieldProblem(path: $0.path, message: $0.message) }
            throw refusal
        }
        let domain = try await Self.validDomain(request.domain, db: db)
        let node = try await containers.node(request.server)
        let ports = Self.ports(of: manifest, values: values)
        try await NodePorts.ensureFree(ports.map { ($0.port, $0.variable) }, on: node, db: db)

        let install = AppInstall()
        install.id = UUID()
        install.name = name
        install.package = manifest.name
        install.title = manifest.title
        install.version = manifest.version
        install.source = package.source
        install.serverID = try node.server.requireID()
        install.status = .installing
        install.keepOnFailure = request.keepOnFailure ?? false
        install.domain = domain
        install.createdBy = actor.username
        try apply(manifest, values: values, to: install)
        try await storeSecrets(of: manifest, values: values, for: name, by: actor)
        try await install.create(on: db)
        let job = try await jobs.enqueue(type: AppInstallJob.type, payload: Self.payload(install), maxAttempts: 1, by: actor)
        install.jobID = job.id
        try await install.update(on: db)
        try await audit.record("app.install", target: "app:\(name)@server:\(node.name)", by: actor,
                               detail: "\(manifest.name) \(manifest.version), job \(job.id)")
        await events.publish(.appInstalling, actor: actor.username, subject: "app:\(name)",
                             data: ["id": try install.requireID().uuidString, "job": job.id.uuidString, "server": node.id.uuidString])
        return Accepted(install: AppInstallDTO(install, server: node.server, latest: manifest.version), job: job)
    }

    /// Queues an upgrade to the catalog's newer version of the install's package (data kept,
    /// health-gated, rolled back when the new version does not become healthy).
    func upgrade(_ id: UUID, by actor: Actor) async throws -> Accepted {
        try actor.require(.operator)
        let install = try await record(id)
        guard install.status == .running || install.status == .failed else {
            throw NebulaError.conflict("\(install.name) is \(install.status.rawValue); wait for that to finish.", code: "app_busy")
        }
        let package = try await marketplace.package(name: install.package, by: actor)
        guard Self.isNewer(package.manifest.version, than: install.version) else {
            throw NebulaError.conflict("\(install.title) \(install.version) is the newest version in the catalog.", code: "no_newer_version")
        }
        let node = try await node(install)
        install.status = .upgrading
        try await install.update(on: db)
        let job = try await jobs.enqueue(type: AppUpgradeJob.type, payload: Self.payload(install, version: package.manifest.version), maxAttempts: 1, by: actor)
        install.jobID = job.id
        try await install.update(on: db)
        try await audit.record("app.upgrade", target: "app:\(install.name)@server:\(node.name)", by: actor,
                               detail: "\(install.version) → \(package.manifest.version), job \(job.id)")
        return Accepted(install: AppInstallDTO(install, server: node.server, latest: package.manifest.version), job: job)
    }

    /// Queues the removal of an install; `deleteData` also removes its volumes, folder and secrets.
    func uninstall(_ id: UUID, deleteData: Bool, by actor: Actor) async throws -> Accepted {
        try actor.require(.operator)
        let install = try await record(id)
        guard install.status != .installing, install.status != .upgrading, install.status != .uninstalling else {
            throw NebulaError.conflict("\(install.name) is \(install.status.rawValue); wait for that to finish.", code: "app_busy")
        }
        let node = try await node(install)
        install.status = .uninstalling
        try await install.update(on: db)
        let job = try await jobs.enqueue(type: AppUninstallJob.type, payload: Self.payload(install, deleteData: deleteData), maxAttempts: 1, by: actor)
        install.jobID = job.id
        try await install.update(on: db)
        try await audit.record("app.uninstall", target: "app:\(install.name)@server:\(node.name)", by: actor,
                               detail: deleteData ? "deleting data, job \(job.id)" : "keeping data, job \(job.id)")
        return Accepted(install: AppInstallDTO(install, server: node.server, latest: nil), job: job)
    }

    // MARK: Shared with the jobs

    func record(_ id: UUID) async throws -> AppInstall {
        guard let install = try await AppInstall.find(id, on: db) else { throw NebulaError.notFound("App install \(id)") }
        return install
    }

    func node(_ install: AppInstall) async throws -> ContainersService.Node {
        try await containers.node(install.serverID)
    }

    /// Sets what the install runs from a manifest and resolved values (secret values stay out).
    func apply(_ manifest: AppManifest, values: [String: String], to install: AppInstall) throws {
        let secretNames = Set(manifest.variables.filter(\.secret).map(\.name))
        install.values = try Self.json(values.filter { !secretNames.contains($0.key) })
        install.secretNames = try Self.json(secretNames.sorted())
        install.ports = try Self.json(Self.ports(of: manifest, values: values).map(\.port))
        install.compose = manifest.composeYAML
        install.probes = try Self.json(Self.probes(of: manifest, values: values))
        install.healthTimeoutSeconds = manifest.healthChecks.map(\.timeoutSeconds).max() ?? 120
        install.healthIntervalSeconds = max(1, manifest.healthChecks.map(\.intervalSeconds).min() ?? 2)
        install.hooks = try Self.json(manifest.postInstall)
        install.version = manifest.version
        install.title = manifest.title
    }

    /// Every value the app's `.env` holds: the stored ones and the secrets from the vault.
    func environment(of install: AppInstall) async throws -> [String: String] {
        var values = try JSONDecoder().decode([String: String].self, from: Data(install.values.utf8))
        for name in try JSONDecoder().decode([String].self, from: Data(install.secretNames.utf8)) {
            values[name] = try await secrets.value(of: Self.secretName(install.name, name))
        }
        return values
    }

    func storeSecrets(of manifest: AppManifest, values: [String: String], for name: String, by actor: Actor) async throws {
        for variable in manifest.variables where variable.secret {
            _ = try await secrets.store(name: Self.secretName(name, variable.name), value: values[variable.name] ?? "",
                                        description: "\(variable.name) of the app \(name)", replace: true, by: actor)
        }
    }

    static func secretName(_ install: String, _ variable: String) -> String { "app.\(install).\(variable)" }

    static func ports(of manifest: AppManifest, values: [String: String]) -> [(port: Int, variable: String)] {
        manifest.variables.filter { $0.type == .port }.compactMap { variable in
            values[variable.name].flatMap(Int.init).map { ($0, variable.name) }
        }
    }

    static func probes(of manifest: AppManifest, values: [String: String]) -> [HealthCheck] {
        manifest.healthChecks.compactMap { check in
            guard let port = check.resolvedPort(values: values) else { return nil }
            switch check.type {
            case .http: return .http(port: port, path: check.path ?? "/", expectStatus: check.expectStatus)
            case .tcp: return .tcp(port: port)
            }
        }
    }

    /// Whether version `a` is newer than `b`, comparing dotted numbers (`1.10.0` > `1.9.3`).
    static func isNewer(_ a: String, than b: String) -> Bool {
        func parts(_ version: String) -> [Int] {
            version.split(whereSeparator: { !$0.isNumber }).map { Int($0) ?? 0 }
        }
        let left = parts(a), right = parts(b)
        for index in 0..<max(left.count, right.count) {
            let l = index < left.count ? left[index] : 0
            let r = index < right.count ? right[index] : 0
            if l != r { return l > r }
        }
        return false
    }

    struct JobPayload: Codable, Sendable {
        var install: UUID
        var version: String?
        var deleteData: Bool?
    }

    static func payload(_ install: AppInstall, version: String? = nil, deleteData: Bool? = nil) throws -> String {
        try json(JobPayload(install: try install.requireID(), version: version, deleteData: deleteData))
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// An install as the API and pages show it; never a secret value.
struct AppInstallDTO: Content, Equatable {
    var id: UUID
    var name: String
    var package: String
    var title: String
    var version: String
    var source: String
    var serverId: UUID
    var serverName: String?
    var status: AppInstallStatus
    /// The non-secret variables' values.
    var values: [String: String]
    /// The secret variables, whose values are in the vault as `app.<name>.<VARIABLE>`.
    var secretVariables: [String]
    var ports: [Int]
    /// Where the app answers: `http://<server address>:<port>` for each HTTP health check.
    var urls: [String]
    /// The catalog's newer version, when there is one.
    var updateAvailable: String?
    var jobId: UUID?
    var lastError: String?
    var keepOnFailure: Bool
    /// The host name the app is published under, and its address through the proxy.
    var domain: String?
    var publicURL: String?
    var createdBy: String
    var createdAt: Date?
    var updatedAt: Date?

    init(_ install: AppInstall, server: ServerRecord?, latest: String?) {
        let decoder = JSONDecoder()
        id = install.id ?? UUID()
        name = install.name
        package = install.package
        title = install.title
        version = install.version
        source = install.source
        serverId = install.serverID
        serverName = server?.name
        status = install.status
        values = (try? decoder.decode([String: String].self, from: Data(install.values.utf8))) ?? [:]
        secretVariables = (try? decoder.decode([String].self, from: Data(install.secretNames.utf8))) ?? []
        ports = (try? decoder.decode([Int].self, from: Data(install.ports.utf8))) ?? []
        let host = server.flatMap { $0.connection == .local ? "127.0.0.1" : $0.address } ?? "127.0.0.1"
        let probes = (try? decoder.decode([HealthCheck].self, from: Data(install.probes.utf8))) ?? []
        urls = probes.compactMap { probe in
            if case .http(let port, _, _) = probe { return "http://\(host):\(port)/" }
            return nil
        }
        updateAvailable = latest.flatMap { InstallsService.isNewer($0, than: install.version) ? $0 : nil }
        jobId = install.jobID
        lastError = install.lastError
        keepOnFailure = install.keepOnFailure
        domain = install.domain
        publicURL = install.domain.map { "https://\($0)/" }
        createdBy = install.createdBy
        createdAt = install.createdAt
        updatedAt = install.updatedAt
    }
}
