import Fluent
import Foundation
import Logging
import NebulaCore
import Vapor

/// The entry points the `nebula` command line uses. It keeps Vapor out of the CLI module.
public enum ControlPlane {
    /// Reads `.env` and the environment, then applies command-line overrides.
    public static func loadConfig(host: String? = nil, port: Int? = nil, dataDirectory: String? = nil) throws -> Config {
        var environment = Config.environmentWithDotEnv()
        if let dataDirectory { environment["NEBULA_DATA_DIR"] = dataDirectory }
        var config = try Config.load(environment: environment)
        if let host { config.host = host }
        if let port { config.port = port }
        return config
    }

    /// Sets up process-wide logging once, at the configured level, on standard error.
    public static func bootstrapLogging(level: String) {
        let parsed = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return handler
        }
    }

    /// Runs the dashboard and API until SIGINT or SIGTERM.
    public static func serve(config: Config) async throws {
        let app = try await Application.make(Environment(name: "production", arguments: ["nebula", "serve"]))
        app.http.server.configuration.hostname = config.host
        app.http.server.configuration.port = config.port
        do {
            try await configure(app, config: config)
            app.logger.notice("Nebula Command \(NebulaVersion.current) serving http://\(config.host):\(config.port) (\(describe(config.database)))")
            try await app.execute()
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }

    /// Boots the services without the HTTP server or background work, runs `body`, shuts down.
    /// Migrations run as part of the boot, so every command works on a fresh data directory.
    public static func withConsole<T: Sendable>(config: Config, _ body: @Sendable (AdminConsole) async throws -> T) async throws -> T {
        let app = try await Application.make(Environment(name: "production", arguments: ["nebula"]))
        var options = RuntimeOptions()
        options.startsBackgroundWork = false
        do {
            try await configure(app, config: config, options: options)
            let result = try await body(AdminConsole(services: try app.nebula, db: app.db))
            try await app.asyncShutdown()
            return result
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
    }

    static func describe(_ database: Config.Database) -> String {
        switch database {
        case .sqlite(let path): "SQLite \(path)"
        case .postgres: "PostgreSQL"
        }
    }
}

/// Administrative operations for the command line, acting as the system on the server itself.
public struct AdminConsole: Sendable {
    let services: NebulaServices
    let db: any Database
    private var actor: Actor { .system("cli") }

    /// A user row for `nebula user list`.
    public struct UserLine: Sendable {
        public var username: String
        public var role: Role
        public var disabled: Bool
        public var createdAt: Date?
    }

    public func createUser(username: String, password: String, role: Role) async throws -> String {
        try await services.identity.createUser(username: username, password: password, role: role, by: actor).username
    }

    public func listUsers() async throws -> [UserLine] {
        try await services.identity.listUsers(by: actor).items.map { UserLine(username: $0.username, role: $0.role, disabled: $0.disabled, createdAt: $0.createdAt) }
    }

    public func resetPassword(username: String, password: String) async throws {
        try await services.identity.resetPassword(username: username, newPassword: password, by: actor)
    }

    /// Creates a token for `username` and returns it (shown once).
    public func createToken(username: String, name: String, role: Role?, expiresInDays: Int?) async throws -> (token: String, role: Role) {
        let expiry = expiresInDays.map { Date().addingTimeInterval(Double($0) * 86400) }
        let created = try await services.identity.createToken(name: name, role: role, expiresAt: expiry, for: username, by: actor)
        return (created.token, created.role)
    }

    /// Re-encrypts every secret under a new key. For a key file the new key replaces it;
    /// for `NEBULA_MASTER_KEY` the new key is handed to `announce` before anything changes.
    public func rotateMasterKey(announce: @Sendable (String) -> Void) async throws -> Int {
        let store = MasterKeyStore(source: services.config.masterKey)
        let newKey = Vault.generateKeyData()
        if case .environment = services.config.masterKey { announce(newKey.base64EncodedString()) }
        let count = try await store.rotate(on: db, from: services.vault, to: newKey)
        try await services.audit.record("secret.rotate_key", target: "vault", by: actor, detail: "\(count) secrets re-encrypted")
        return count
    }

    /// Stores a runbook or workflow from YAML: a new one, or a new version of the one with its name.
    /// Answers its name and whether it was created; an invalid document throws with every problem.
    public func importRunbook(yaml: String) async throws -> (name: String, created: Bool) {
        let document = try RunbookParser.parse(yaml: yaml)
        if let existing = try await RunbookRecord.query(on: db).filter(\.$name == document.name).first() {
            let updated = try await services.automation.update(try existing.requireID(), yaml: yaml, enabled: nil, by: actor)
            return (updated.name, false)
        }
        return (try await services.automation.create(yaml: yaml, by: actor).name, true)
    }

    public var usesKeyFile: Bool {
        if case .file = services.config.masterKey { return true }
        return false
    }
}

/// Errors the command line shows as one line.
public func describeForCommandLine(_ error: any Error) -> String {
    switch error {
    case let error as NebulaError: error.message
    case let error as StartupError: error.description
    case let error as ConfigError: error.description
    case let error as VaultError: error.description
    default: String(describing: error)
    }
}
