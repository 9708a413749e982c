import Foundation
@testable import NebulaServer

/// A check (TCP to a loopback port nobody listens on: "run now" reports the refusal) and an open
/// incident of it, for the access and audit tests' `/checks/:id` and `/incidents/:id` routes.
struct MonitoringTargets: Sendable {
    var checkID: UUID
    var incidentID: UUID

    static func make(in app: TestApp, suffix: String) async throws -> MonitoringTargets {
        let services = try app.services
        let check = try await services.monitoring.create(CheckInput(name: "target-\(suffix)", kind: "tcp", enabled: false,
                                                                    spec: CheckSpec(host: "127.0.0.1", port: 1)), by: .system())
        let incident = IncidentRecord()
        incident.id = UUID()
        incident.checkID = check.id
        incident.checkName = check.name
        incident.kind = .tcp
        incident.status = .open
        incident.severity = .warning
        incident.message = "connection refused"
        incident.openedAt = Date()
        try await incident.create(on: app.app.db)
        return MonitoringTargets(checkID: check.id, incidentID: try incident.requireID())
    }
}
