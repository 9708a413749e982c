import Fluent
import Foundation
import Logging
import NebulaCore
import Vapor

/// The composition root's product: one instance of every service, shared by the API, the pages
/// and background loops. Built once in ``configure(_:config:)``.
final class NebulaServices: Sendable {
    let config: Config
    let vault: Vault
    let audit: AuditLog
    let events: EventBus
    let jobs: JobQueue
    let worker: JobWorker?
    let identity: IdentityService
    let secrets: SecretsService
    let settings: SettingsService
    let metrics: ServerMetrics
    let maintenance: MaintenanceScheduler
    let fleet: FleetService
    let fleetMonitor: FleetMonitor
    let agents: AgentAccess
    let power: PowerService
    let terminals: TerminalService
    let ssh: SSHAccess
    let sshMonitor: SSHMonitor
    let files: FilesService
    let containers: ContainersService
    let marketplace: MarketplaceService
    let installs: InstallsService
    let deploys: DeploysService
    let notifications: NotificationsService
    let notificationRouter: NotificationRouter
    let automation: AutomationService
    let automationBackground: AutomationBackground
    let monitoring: MonitoringService
    let checkScheduler: CheckScheduler
    let incidentTimeline: IncidentTimelineListener
    let domains: DomainsService
    let dynamicDNS: DynamicDNSScheduler
    let proxy: ProxyService
    let certificateMonitor: CertificateMonitor
    let ai: AIService
    let aiRouter: AIRouter
    let aiConversations: AIConversations
    let aiHealth: AIHealthMonitor
    /// Jarvis agent runs of this process (see ``AgentExecutionWatch``).
    let aiAgentWatch = AgentExecutionWatch()

    init(config: Config, vault: Vault, audit: AuditLog, events: EventBus, jobs: JobQueue, worker: JobWorker?,
         identity: IdentityService, secrets: SecretsService, settings: SettingsService, metrics: ServerMetrics,
         maintenance: MaintenanceScheduler, fleet: FleetService, fleetMonitor: FleetMonitor, agents: AgentAccess, power: PowerService, terminals: TerminalService, ssh: SSHAccess, sshMonitor: SSHMonitor, files: FilesService,
         containers: ContainersService, marketplace: MarketplaceService, installs: InstallsService, deploys: DeploysService,
         notifications: NotificationsService, notificationRouter: NotificationRouter,
         automation: AutomationService, automationBackground: AutomationBackground,
         monitoring: MonitoringService, checkScheduler: CheckScheduler, incidentTimeline: IncidentTimelineListener,
         domains: DomainsService, dynamicDNS: DynamicDNSScheduler,
         proxy: ProxyService, certificateMonitor: CertificateMonitor,
         ai: AIService, aiConversations: AIConversations, aiHealth: AIHealthMonitor) {
        self.config = config
        self.vault = vault
        self.audit = audit
        self.events = events
        self.jobs = jobs
        self.worker = worker
        self.identity = identity
        self.secrets = secrets
        self.settings = settings
        self.metrics = metrics
        self.maintenance = maintenance
        self.fleet = fleet
        self.fleetMonitor = fleetMonitor
        self.power = power
        self.terminals = terminals
        self.ssh = ssh
        self.sshMonitor = sshMonitor
        self.files = files
        self.containers = containers
        self.marketplace = marketplace
        self.installs = installs
        self.deploys = deploys
        self.notifications = notifications
        self.notificationRouter = notificationRouter
        self.automation = automation
        self.automationBackground = automationBackground
        self.monitoring = monitoring
        self.checkScheduler = checkScheduler
        self.incidentTimeline = incidentTimeline
        self.domains = domains
        self.dynamicDNS = dynamicDNS
        self.proxy = proxy
        self.certificateMonitor = certificateMonitor
        self.ai = ai
        self.aiRouter = AIRouter(service: ai)
        self.aiConversations = aiConversations
        self.aiHealth = aiHealth
        self.agents = agents
    }
}

struct ServicesKey: StorageKey {
    typealias Value = NebulaServices
}

extension Application {
    /// The services built at boot. Reading them before ``configure(_:config:)`` is a programming
    /// error in the composition root, reported as a 500 rather than a crash.
    var nebula: NebulaServices {
        get throws {
            guard let services = storage[ServicesKey.self] else {
                throw NebulaError(.internalServerError, code: "not_configured", "The server is not configured yet.")
            }
            return services
        }
    }
}

extension Request {
    var nebula: NebulaServices {
        get throws { try application.nebula }
    }
}
