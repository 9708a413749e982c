import AsyncHTTPClient
import DNSProviders
import DockerEngine
import Fluent
import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import NebulaAgent
import NebulaCore
import NotificationChannels
import NebulaSSH
import SQLKit
import Vapor

/// A problem that stops the control plane from starting, said in one line with its cause.
public struct StartupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Knobs tests turn that are not user configuration.
public struct RuntimeOptions: Sendable {
    /// bcrypt cost; 12 in production.
    public var passwordHashCost = 12
    /// Whether to run the job worker and the schedulers.
    public var startsBackgroundWork = true
    public init() {}
}

/// The composition root: database, migrations, vault, services, middleware, routes and
/// background work, in that order. The CLI and the tests both call it.
public func configure(_ app: Application, config: Config, options: RuntimeOptions = RuntimeOptions()) async throws {
    try prepareDataDirectory(config)
    let isPostgres: Bool
    var listenerConfiguration: PostgresConnection.Configuration?
    switch config.database {
    case .sqlite(let path):
        app.databases.use(.sqlite(.file(path)), as: .sqlite)
        isPostgres = false
    case .postgres(let url):
        let postgres: SQLPostgresConfiguration
        do {
            postgres = try SQLPostgresConfiguration(url: url)
        } catch {
            throw StartupError("DATABASE_URL is not a usable PostgreSQL URL (\(error)); expected postgres://user:password@host:5432/database")
        }
        listenerConfiguration = postgres.coreConfiguration
        app.databases.use(.postgres(configuration: postgres), as: .psql)
        isPostgres = true
    }
    app.migrations.add(Migrations.ordered)
    do {
        try await app.autoMigrate()
    } catch {
        throw StartupError("cannot prepare the database (\(describeDatabase(config.database))): \(String(reflecting: error))")
    }
    if !isPostgres, let sql = app.db as? any SQLDatabase {
        // Write-ahead logging lets pages read while jobs write.
        try await sql.raw("PRAGMA journal_mode=WAL").run()
    }

    let vault: Vault
    do {
        vault = try await MasterKeyStore(source: config.masterKey).unlock(on: app.db)
    } catch let error as VaultError {
        throw StartupError(error.description)
    }

    let services = buildServices(app: app, config: config, vault: vault, isPostgres: isPostgres,
                                 listener: listenerConfiguration, options: options)
    app.storage[ServicesKey.self] = services

    app.routes.defaultMaxBodySize = ByteCount(integerLiteral: config.maxBodyBytes)
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    ContentConfiguration.global.use(encoder: encoder, for: .json)
    ContentConfiguration.global.use(decoder: decoder, for: .json)

    app.middleware = Middlewares()
    app.middleware.use(MetricsMiddleware(metrics: services.metrics))
    app.middleware.use(NebulaErrorMiddleware())
    app.middleware.use(SecurityHeadersMiddleware())
    app.middleware.use(PublicFilesMiddleware.make(for: app))
    app.middleware.use(AccessMiddleware(identity: services.identity, audit: services.audit,
                                        secureCookies: config.publicURL?.hasPrefix("https://") ?? false))
    try routes(app)

    await services.events.start()
    if options.startsBackgroundWork {
        services.worker?.start()
        services.maintenance.start()
        services.fleetMonitor.start()
        services.sshMonitor.start()
        services.notificationRouter.start()
        services.automationBackground.start()
        // Checks are probed by the processes that run jobs: with replicas, set NEBULA_JOB_WORKER=false on all but one.
        if config.runsJobWorker { services.checkScheduler.start() }
        if config.runsJobWorker { services.dynamicDNS.start() }
        if config.runsJobWorker { services.certificateMonitor.start() }
        services.aiHealth.start()
        services.aiAgentWatch.start(db: app.db, logger: app.logger)
        services.incidentTimeline.start()
    }
    app.lifecycle.use(BackgroundWorkLifecycle(services: services))
}

private func buildServices(app: Application, config: Config, vault: Vault, isPostgres: Bool,
                           listener: PostgresConnection.Configuration?, options: RuntimeOptions) -> NebulaServices {
    let db = app.db
    let logger = app.logger
    let metrics = ServerMetrics()
    let audit = AuditLog(db: db)
    let events = EventBus(db: db, fanout: listener.map { .postgres($0) } ?? .local, logger: logger)
    let jobs = JobQueue(db: db, events: events, audit: audit, logger: logger, lease: config.jobLease, isPostgres: isPostgres,
                        onFinished: { metrics.recordJobFinished(type: $0, outcome: $1) })
    let identity = IdentityService(db: db, audit: audit, events: events, hasher: PasswordHasher(cost: options.passwordHashCost))
    let secrets = SecretsService(db: db, vault: vault, audit: audit, events: events)
    let settings = SettingsService(db: db, audit: audit, events: events, defaults: Settings(
        instanceName: "Nebula Command", eventRetentionDays: config.eventRetentionDays,
        auditRetentionDays: config.auditRetentionDays, jobRetentionDays: 30))
    let fleet = FleetService(db: db, audit: audit, events: events, interval: config.metricsInterval)
    let connections = AgentConnections()
    let ssh = SSHAccess(db: db, secrets: secrets, audit: audit, events: events, client: DefaultSSHClient(logger: logger), timeout: config.sshTimeout,
                      maxUploadBytes: config.maxUploadBytes)
    jobs.register(MetricsRollupJob(history: fleet.history))
    let containers = ContainersService(db: db, audit: audit, events: events, connections: connections,
                                      local: NodeDocker(endpoint: config.dockerEndpoint, appsRoot: Config.absolute(config.appsDirectory)),
                                      localApps: NodeApps(appsRoot: Config.absolute(config.appsDirectory), endpoint: config.dockerEndpoint))
    let marketplace = MarketplaceService(db: db, audit: audit, events: events, catalog: MarketplaceCatalog(builtInDirectory: CatalogLoader.builtInDirectory),
                                         checkoutsDirectory: URL(fileURLWithPath: config.dataDirectory).appendingPathComponent("catalogs"), git: CatalogClone())
    let installs = InstallsService(db: db, audit: audit, events: events, jobs: jobs, secrets: secrets, marketplace: marketplace, containers: containers)
    jobs.register(AppUpgradeJob(installs: installs))
    let deploys = DeploysService(db: db, audit: audit, events: events, jobs: jobs, secrets: secrets, containers: containers)
    jobs.register(DeployBuildJob(deploys: deploys))
    jobs.register(DeployRollbackJob(deploys: deploys))
    let notifications = NotificationsService(db: db, audit: audit, events: events, jobs: jobs, secrets: secrets,
                                             sender: DefaultNotificationSender(logger: logger), publicURL: config.publicURL)
    jobs.register(NotificationDeliveryJob(notifications: notifications))
    let monitoring = MonitoringService(db: db, audit: audit, events: events, probes: CheckProbes(db: db, containers: containers),
                                       runtime: CheckRuntime(), uptimeCache: UptimeCache(), logger: logger)
    let automationEnvironment = AutomationEnvironment(db: db, isPostgres: isPostgres, audit: audit, events: events, secrets: secrets, containers: containers,
                                                      connections: connections, ssh: ssh, deploys: deploys, fleet: fleet,
                                                      notifier: notifications, checks: monitoring)
    let automation = AutomationService(db: db, audit: audit, events: events, jobs: jobs, environment: automationEnvironment, library: RunbookLibrary.load())
    jobs.register(RunbookRunJob(automation: automation))
    jobs.register(RetentionJob(settings: settings, events: events, audit: audit, identity: identity, finishedWork: [
        .init(what: "finished runbook and workflow runs", prune: automation.deleteRuns(finishedBefore:)),
        .init(what: "settled notification deliveries", prune: notifications.deleteDeliveries(settledBefore:)),
    ]))
    let proxy = ProxyService(db: db, audit: audit, events: events, containers: containers, hasher: PasswordHasher(cost: options.passwordHashCost),
                             defaults: ProxyDefaults(adminURL: config.caddyAdminURL, httpPort: config.proxyHTTPPort, httpsPort: config.proxyHTTPSPort))
    let domains = DomainsService(db: db, audit: audit, events: events, secrets: secrets, httpClient: DNSProviderHTTP.client)
    jobs.register(AppInstallJob(installs: installs, publishing: AppPublishing(proxy: proxy, domains: domains)))
    jobs.register(AppUninstallJob(installs: installs, publishing: AppPublishing(proxy: proxy, domains: domains)))
    let ai = AIService(db: db, audit: audit, events: events, secrets: secrets,
                       breakers: AIBreakers(failureThreshold: config.aiBreakerFailures, cooldown: config.aiBreakerCooldown))
    jobs.register(AIModelPullJob(models: AIModelManagement(ai: ai, jobs: jobs)))
    let worker = config.runsJobWorker
        ? JobWorker(queue: jobs, concurrency: config.jobConcurrency, pollInterval: config.jobPollInterval, logger: logger)
        : nil
    return NebulaServices(config: config, vault: vault, audit: audit, events: events, jobs: jobs, worker: worker,
                    identity: identity, secrets: secrets, settings: settings, metrics: metrics,
                    maintenance: MaintenanceScheduler(queue: jobs), fleet: fleet,
                    fleetMonitor: FleetMonitor(fleet: fleet, measuresLocalHost: config.measuresLocalHost, logger: logger),
                    agents: AgentAccess(db: db, audit: audit, events: events, fleet: fleet, connections: connections, metrics: metrics),
                    power: PowerService(db: db, audit: audit, events: events, connections: connections,
                                        localActions: NodeActions(power: config.powerCommands), remote: ssh),
                    terminals: TerminalService(db: db, audit: audit, connections: connections, remote: ssh),
                    ssh: ssh, sshMonitor: SSHMonitor(ssh: ssh, fleet: fleet, logger: logger),
                    files: FilesService(db: db, audit: audit, connections: connections,
                                        local: FileAccessCache(maxUploadBytes: config.maxUploadBytes), remote: ssh),
                    containers: containers, marketplace: marketplace, installs: installs, deploys: deploys,
                    notifications: notifications, notificationRouter: NotificationRouter(notifications: notifications, events: events, logger: logger),
                    automation: automation, automationBackground: AutomationBackground(service: automation, logger: logger),
                    monitoring: monitoring, checkScheduler: CheckScheduler(monitoring: monitoring, events: events, logger: logger),
                    incidentTimeline: IncidentTimelineListener(monitoring: monitoring, events: events, logger: logger),
                    domains: domains, dynamicDNS: DynamicDNSScheduler(domains: domains, logger: logger),
                    proxy: proxy, certificateMonitor: CertificateMonitor(proxy: proxy, logger: logger),
                    ai: ai, aiConversations: AIConversations(db: db, audit: audit),
                    aiHealth: AIHealthMonitor(ai: ai, interval: config.aiHealthInterval, logger: logger))
}

/// Stops background work before the application (and its database pool) shuts down.
struct BackgroundWorkLifecycle: LifecycleHandler {
    let services: NebulaServices

    func shutdownAsync(_ application: Application) async {
        services.maintenance.stop()
        await services.fleetMonitor.stop()
        await services.sshMonitor.stop()
        await services.notificationRouter.stop()
        await services.automationBackground.stop()
        await services.incidentTimeline.stop()
        await services.checkScheduler.stop()
        await services.dynamicDNS.stop()
        await services.certificateMonitor.stop()
        await services.aiHealth.stop()
        await services.aiAgentWatch.stop()
        await services.agents.connections.closeAll()
        await services.worker?.stop()
        await services.events.stop()
    }
}

/// Creates the data directory and proves it is writable, so the failure is a clear message at
/// start-up rather than an error deep inside SQLite or the key file.
private func prepareDataDirectory(_ config: Config) throws {
    let path = config.dataDirectory
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let probe = (path as NSString).appendingPathComponent(".write-probe-\(UUID().uuidString.prefix(8))")
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw StartupError("NEBULA_DATA_DIR \(path) is not writable by this user; fix its permissions or choose another directory")
        }
        try FileManager.default.removeItem(atPath: probe)
    } catch let error as StartupError {
        throw error
    } catch {
        throw StartupError("NEBULA_DATA_DIR \(path) cannot be created or written: \(error.localizedDescription)")
    }
}

private func describeDatabase(_ database: Config.Database) -> String {
    switch database {
    case .sqlite(let path):
        return "SQLite at \(path)"
    case .postgres(let url):
        // Never print the password.
        guard var components = URLComponents(string: url) else { return "PostgreSQL" }
        if components.password != nil { components.password = "***" }
        return "PostgreSQL at \(components.string ?? "the configured URL")"
    }
}

/// Conservative browser security headers on every response.
struct SecurityHeadersMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let response = try await next.respond(to: request)
        response.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        response.headers.replaceOrAdd(name: "X-Frame-Options", value: "DENY")
        response.headers.replaceOrAdd(name: "Referrer-Policy", value: "same-origin")
        if response.headers.contentType == .html {
            response.headers.replaceOrAdd(name: "Content-Security-Policy",
                                          value: "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'")
        }
        return response
    }
}

/// Serves `Public/` (css, js, icons) from the bundle's resources, and the Debian-packaged
/// front-end libraries from `/usr/share/javascript` under `/vendor/`.
enum PublicFilesMiddleware {
    static func make(for app: Application) -> FileMiddleware {
        let directory = Bundle.module.resourceURL?.appendingPathComponent("Public").path ?? app.directory.publicDirectory
        return FileMiddleware(publicDirectory: directory.hasSuffix("/") ? directory : directory + "/", defaultFile: nil)
    }
}
