import Vapor

/// Every route of the control plane. Features register their own collections here.
func routes(_ app: Application) throws {
    try app.register(collection: SystemController())
    let api = app.grouped("api", "v1")
    try api.register(collection: IdentityController())
    try api.register(collection: AuditController())
    try api.register(collection: SecretsController())
    try api.register(collection: EventsController())
    try api.register(collection: JobsController())
    try api.register(collection: SettingsController())
    try api.register(collection: ServersController())
    try api.register(collection: AgentController())
    try api.register(collection: PowerController())
    try api.register(collection: TerminalController())
    try api.register(collection: SSHController())
    try api.register(collection: FilesController())
    try api.register(collection: MarketplaceController())
    try api.register(collection: InstallsController())
    try api.register(collection: ContainersController())
    try api.register(collection: DeploysController())
    try api.register(collection: NotificationsController())
    try api.register(collection: AutomationController())
    try api.register(collection: MonitoringController())
    try app.register(collection: WebPages())
    try app.register(collection: VendorFiles())
}
