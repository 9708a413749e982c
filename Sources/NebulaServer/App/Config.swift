import DockerEngine
import Foundation
import NebulaAgent

/// Everything the control plane reads from its environment, read once at boot.
///
/// Sources, later ones winning: built-in defaults, a `.env` file in the working directory,
/// the process environment, then command-line flags (applied by the CLI).
public struct Config: Sendable {
    /// Where the database lives.
    public enum Database: Sendable, Equatable {
        /// An embedded SQLite file.
        case sqlite(path: String)
        /// A PostgreSQL server, from a `postgres://user:pass@host:port/db` URL.
        case postgres(url: String)
    }

    /// Where the vault's 32-byte master key comes from.
    public enum MasterKeySource: Sendable, Equatable {
        /// `NEBULA_MASTER_KEY`, base64.
        case environment(Data)
        /// A key file in the data directory, created with mode 0600 on first start.
        case file(path: String)
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory: String
    public var database: Database
    public var masterKey: MasterKeySource
    /// The URL people use to reach the dashboard; `https://…` makes session cookies `Secure`.
    public var publicURL: String?
    /// Days of event history to keep.
    public var eventRetentionDays = 30
    /// Days of audit history to keep.
    public var auditRetentionDays = 365
    /// How often the job worker looks for due jobs when nothing woke it.
    public var jobPollInterval: Duration = .milliseconds(500)
    /// How long a claimed job stays claimed without a heartbeat before another worker may take it.
    public var jobLease: Duration = .seconds(30)
    /// How many jobs one process runs at once.
    public var jobConcurrency = 2
    /// How often SSE streams send a comment to keep proxies from closing them.
    public var sseHeartbeat: Duration = .seconds(15)
    /// Largest accepted request body.
    public var maxBodyBytes = 1 << 20
    /// Whether this process runs the job worker (a read-only replica may switch it off).
    public var runsJobWorker = true
    public var logLevel = "info"
    /// Whether the machine running `nebula serve` is measured and shown as a node.
    public var measuresLocalHost = true
    /// How often nodes report metrics.
    public var metricsInterval: Duration = .seconds(5)
    /// Largest file the file browser accepts in one upload.
    public var maxUploadBytes: Int64 = 512 << 20
    /// How long one SSH operation (connect, log in, run) may take.
    public var sshTimeout: Duration = .seconds(15)
    /// How the control plane reboots or shuts down its own machine (and SSH servers).
    public var powerCommands: PowerCommands = .systemd
    /// The Docker Engine of the control plane's own machine (`DOCKER_HOST`, else the default socket).
    public var dockerEndpoint: DockerEndpoint = .default
    /// Where installed apps' compose files, env files and relative data folders live on the
    /// control plane's own machine (agents use their own `NEBULA_APPS_DIR`).
    public var appsDirectory: String
    /// Caddy's admin API (`NEBULA_CADDY_ADMIN_URL`), used while the proxy settings name none.
    public var caddyAdminURL: String?
    /// The ports Caddy serves sites on, used while the proxy settings name none.
    public var proxyHTTPPort = 80
    public var proxyHTTPSPort = 443
    /// Failures in a row after which the AI router stops calling a provider (`NEBULA_AI_BREAKER_FAILURES`).
    public var aiBreakerFailures = 3
    /// How long an opened AI circuit refuses requests before one probe (`NEBULA_AI_BREAKER_COOLDOWN_SECONDS`).
    public var aiBreakerCooldown: Duration = .seconds(30)
    /// How often provider health and model lists are refreshed (`NEBULA_AI_HEALTH_INTERVAL_SECONDS`).
    public var aiHealthInterval: Duration = .seconds(60)

    public init(dataDirectory: String, database: Database, masterKey: MasterKeySource) {
        self.dataDirectory = dataDirectory
        self.database = database
        self.masterKey = masterKey
        self.appsDirectory = (dataDirectory as NSString).appendingPathComponent("apps")
    }

    /// `path` made absolute against the working directory (compose and the apps directory need it).
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
    }

    /// Every variable the control plane reads, its default and what it does; the README's table follows this list.
    public static let variables: [(name: String, defaultValue: String, meaning: String)] = [
        ("NEBULA_HOST", "127.0.0.1", "Address the dashboard and API listen on."),
        ("NEBULA_PORT", "8080", "Port the dashboard and API listen on."),
        ("NEBULA_DATA_DIR", "./nebula-data", "Where the SQLite file, master key file and other state live."),
        ("DATABASE_URL", "(unset: SQLite in the data directory)", "postgres://user:pass@host:port/db to use PostgreSQL."),
        ("NEBULA_MASTER_KEY", "(unset: generated key file)", "Base64 of 32 random bytes; the vault key. Without it, <data dir>/master.key is created with mode 0600."),
        ("NEBULA_PUBLIC_URL", "(unset)", "The URL users reach the dashboard at; https makes cookies Secure."),
        ("NEBULA_EVENT_RETENTION_DAYS", "30", "Days of event history kept by the maintenance job."),
        ("NEBULA_AUDIT_RETENTION_DAYS", "365", "Days of audit history kept by the maintenance job."),
        ("NEBULA_JOB_CONCURRENCY", "2", "Jobs one process runs at once."),
        ("NEBULA_JOB_LEASE_SECONDS", "30", "Seconds a running job stays claimed without a heartbeat."),
        ("NEBULA_JOB_WORKER", "true", "Set to false to run no jobs in this process."),
        ("NEBULA_MAX_BODY_BYTES", "1048576", "Largest request body accepted."),
        ("NEBULA_LOG_LEVEL", "info", "trace, debug, info, notice, warning, error or critical."),
        ("NEBULA_LOCAL_AGENT", "true", "Set to false to not measure and list the machine running nebula serve."),
        ("NEBULA_METRICS_INTERVAL_SECONDS", "5", "Seconds between metric reports of each node; a node is offline after three missed reports."),
        ("NEBULA_MAX_UPLOAD_BYTES", "536870912", "Largest file the file browser accepts in one upload (512 MiB)."),
        ("NEBULA_SSH_TIMEOUT_SECONDS", "15", "Longest time one SSH operation (connect, log in, run a command) may take."),
        ("NEBULA_REBOOT_COMMAND", "systemctl reboot", "Command (split on spaces, no shell) that reboots this machine or an SSH server; `nebula agent` reads it too."),
        ("NEBULA_SHUTDOWN_COMMAND", "systemctl poweroff", "Command that shuts down this machine or an SSH server; `nebula agent` reads it too."),
        ("DOCKER_HOST", "unix:///var/run/docker.sock", "The Docker Engine of this machine (unix:///path or tcp://host:port); `nebula agent` reads it too."),
        ("NEBULA_APPS_DIR", "<data dir>/apps", "Where installed apps' compose files, env files and data folders live; `nebula agent` reads it too."),
        ("NEBULA_CADDY_ADMIN_URL", "(unset: set it on the proxy page)", "Caddy's admin API, e.g. http://127.0.0.1:2019; the proxy settings page overrides it."),
        ("NEBULA_PROXY_HTTP_PORT", "80", "Port Caddy serves HTTP on (redirects and ACME challenges)."),
        ("NEBULA_PROXY_HTTPS_PORT", "443", "Port Caddy serves HTTPS on."),
    ]

    /// Reads the configuration. Throws a ``ConfigError`` naming the variable on any malformed value.
    public static func load(environment: [String: String]) throws(ConfigError) -> Config {
        let env = environment
        let dataDirectory = nonEmpty(env["NEBULA_DATA_DIR"]) ?? "./nebula-data"
        let database: Database
        if let url = nonEmpty(env["DATABASE_URL"]) {
            guard let parsed = URL(string: url), ["postgres", "postgresql"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw ConfigError(variable: "DATABASE_URL", problem: "must look like postgres://user:password@host:5432/database")
            }
            database = .postgres(url: url)
        } else {
            database = .sqlite(path: (dataDirectory as NSString).appendingPathComponent("nebula.sqlite"))
        }
        let masterKey: MasterKeySource
        if let encoded = nonEmpty(env["NEBULA_MASTER_KEY"]) {
            guard let key = Data(base64Encoded: encoded), key.count == 32 else {
                throw ConfigError(variable: "NEBULA_MASTER_KEY", problem: "must be base64 of exactly 32 bytes (make one with: head -c32 /dev/urandom | base64)")
            }
            masterKey = .environment(key)
        } else {
            masterKey = .file(path: (dataDirectory as NSString).appendingPathComponent("master.key"))
        }
        var config = Config(dataDirectory: dataDirectory, database: database, masterKey: masterKey)
        config.host = nonEmpty(env["NEBULA_HOST"]) ?? config.host
        config.port = try integer(env, "NEBULA_PORT", default: config.port, in: 0...65535)
        config.publicURL = nonEmpty(env["NEBULA_PUBLIC_URL"])
        if let url = config.publicURL, URL(string: url)?.host == nil {
            throw ConfigError(variable: "NEBULA_PUBLIC_URL", problem: "must be an absolute URL such as https://nebula.example.com")
        }
        config.eventRetentionDays = try integer(env, "NEBULA_EVENT_RETENTION_DAYS", default: config.eventRetentionDays, in: 1...3650)
        config.auditRetentionDays = try integer(env, "NEBULA_AUDIT_RETENTION_DAYS", default: config.auditRetentionDays, in: 1...36500)
        config.jobConcurrency = try integer(env, "NEBULA_JOB_CONCURRENCY", default: config.jobConcurrency, in: 1...64)
        config.jobLease = .seconds(try integer(env, "NEBULA_JOB_LEASE_SECONDS", default: 30, in: 5...3600))
        config.maxBodyBytes = try integer(env, "NEBULA_MAX_BODY_BYTES", default: config.maxBodyBytes, in: 1024...(1 << 30))
        if let worker = nonEmpty(env["NEBULA_JOB_WORKER"]) {
            guard let value = Bool(worker.lowercased()) else {
                throw ConfigError(variable: "NEBULA_JOB_WORKER", problem: "must be true or false")
            }
            config.runsJobWorker = value
        }
        if let local = nonEmpty(env["NEBULA_LOCAL_AGENT"]) {
            guard let value = Bool(local.lowercased()) else {
                throw ConfigError(variable: "NEBULA_LOCAL_AGENT", problem: "must be true or false")
            }
            config.measuresLocalHost = value
        }
        config.metricsInterval = .seconds(try integer(env, "NEBULA_METRICS_INTERVAL_SECONDS", default: 5, in: 1...3600))
        config.powerCommands = PowerCommands.from(environment: env)
        config.maxUploadBytes = Int64(try integer(env, "NEBULA_MAX_UPLOAD_BYTES", default: 512 << 20, in: 1...(64 << 30)))
        config.sshTimeout = .seconds(try integer(env, "NEBULA_SSH_TIMEOUT_SECONDS", default: 15, in: 1...300))
        if let host = nonEmpty(env["DOCKER_HOST"]) {
            do {
                config.dockerEndpoint = try DockerEndpoint(parsing: host)
            } catch {
                throw ConfigError(variable: "DOCKER_HOST", problem: "must look like unix:///var/run/docker.sock or tcp://host:2375")
            }
        }
        config.appsDirectory = nonEmpty(env["NEBULA_APPS_DIR"]) ?? config.appsDirectory
        if let caddy = nonEmpty(env["NEBULA_CADDY_ADMIN_URL"]) {
            guard let url = URL(string: caddy), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigError(variable: "NEBULA_CADDY_ADMIN_URL", problem: "must be Caddy's admin URL, such as http://127.0.0.1:2019")
            }
            config.caddyAdminURL = caddy
        }
        config.proxyHTTPPort = try integer(env, "NEBULA_PROXY_HTTP_PORT", default: config.proxyHTTPPort, in: 1...65535)
        config.proxyHTTPSPort = try integer(env, "NEBULA_PROXY_HTTPS_PORT", default: config.proxyHTTPSPort, in: 1...65535)
        config.aiBreakerFailures = try integer(env, "NEBULA_AI_BREAKER_FAILURES", default: config.aiBreakerFailures, in: 1...100)
        config.aiBreakerCooldown = .seconds(try integer(env, "NEBULA_AI_BREAKER_COOLDOWN_SECONDS", default: 30, in: 1...3600))
        config.aiHealthInterval = .seconds(try integer(env, "NEBULA_AI_HEALTH_INTERVAL_SECONDS", default: 60, in: 5...86400))
        if let level = nonEmpty(env["NEBULA_LOG_LEVEL"]) {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw ConfigError(variable: "NEBULA_LOG_LEVEL", problem: "must be one of trace, debug, info, notice, warning, error, critical")
            }
            config.logLevel = level
        }
        return config
    }

    /// The process environment with a `.env` file's values underneath it.
    public static func environmentWithDotEnv(at path: String = ".env") -> [String: String] {
        var merged = parseDotEnv((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
        for (key, value) in ProcessInfo.processInfo.environment { merged[key] = value }
        return merged
    }

    /// `KEY=value` lines; `#` comments and blank lines ignored; surrounding quotes removed.
    static func parseDotEnv(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            var key = String(line[..<equals]).trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("export ") { key = String(key.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            var value = String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        return values
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return value
    }

    private static func integer(_ env: [String: String], _ name: String, default value: Int, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let raw = nonEmpty(env[name]) else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw ConfigError(variable: name, problem: "must be a whole number from \(range.lowerBound) to \(range.upperBound), got \"\(raw)\"")
        }
        return parsed
    }
}

/// A configuration value that cannot be used. The message names the variable and says what it should be.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var variable: String
    public var problem: String
    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }
    public var description: String { "\(variable) \(problem)" }
}
