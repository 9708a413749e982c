import Fluent
import Foundation
import NebulaAgent
import NebulaCore

/// Sends a notification for a `notify` step or an escalation (``NotificationsService``).
protocol AutomationNotifier: Sendable {
    func notify(_ request: NotifyRequest, by actor: Actor) async throws -> [NotificationDeliveryDTO]
}

extension NotificationsService: AutomationNotifier {}

extension MonitoringService: AutomationCheckRunner {
    func runCheck(named name: String, by actor: Actor) async throws -> (ok: Bool, message: String, latencyMs: Double?) {
        let result = try await runNow(checkNamed: name, by: actor)
        return (result.ok, result.message, result.latencyMs)
    }
}

/// Runs a health check by name now, for `health_check` with `check:` (the monitoring feature).
protocol AutomationCheckRunner: Sendable {
    func runCheck(named name: String, by actor: Actor) async throws -> (ok: Bool, message: String, latencyMs: Double?)
}

/// The services actions use. The optional ones (notifications, monitoring) are given when the
/// composition root has them; an action that needs a missing one fails with a clear message.
struct AutomationEnvironment: Sendable {
    let db: any Database
    let isPostgres: Bool
    let audit: AuditLog
    let events: EventBus
    let secrets: SecretsService
    let containers: ContainersService
    let connections: AgentConnections
    let ssh: SSHAccess
    let deploys: DeploysService
    let fleet: FleetService
    /// Sends `notify` steps and escalations; nil where the control plane has no notifications.
    var notifier: (any AutomationNotifier)?
    /// Runs `health_check` steps that name a check; nil without the monitoring feature.
    var checks: (any AutomationCheckRunner)?

    /// The server named or with id `reference`, or the control plane's own machine when nil/`local`.
    func server(_ reference: String?) async throws -> ServerRecord {
        let trimmed = reference?.trimmingCharacters(in: .whitespaces) ?? ""
        if trimmed.isEmpty || trimmed == "local" {
            guard let local = try await ServerRecord.query(on: db).filter(\.$connection == .local).first() else {
                throw ActionFailure("this control plane has no local server (NEBULA_LOCAL_AGENT=false); name a server")
            }
            return local
        }
        if let id = UUID(uuidString: trimmed), let server = try await ServerRecord.find(id, on: db) { return server }
        guard let server = try await ServerRecord.query(on: db).filter(\.$name == trimmed).first() else {
            throw ActionFailure("no server named '\(trimmed.prefix(60))'")
        }
        return server
    }
}
