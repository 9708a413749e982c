import Foundation
import Logging
import NebulaCore

/// Turns events worth a person's attention into notifications routed by the rules: incidents,
/// failed runbook runs, approvals waiting, failed deploys, servers going offline. Escalations are
/// not routed here: the automation engine sends them itself, to the runbook's named channels.
/// Every replica routes every event; the event id on each delivery keeps it to one send per channel.
final class NotificationRouter: Sendable {
    let notifications: NotificationsService
    let events: EventBus
    let logger: Logger
    private let loop = BackgroundTask()

    static let routed: Set<EventType> = [
        "incident.opened", "incident.acknowledged", "incident.resolved",
        "runbook.run_finished", "runbook.approval_requested",
        "workflow.run_finished", .deployFailed, .serverOffline, .serverOnline,
        .certificateExpiring, .certificateExpired,
    ]

    init(notifications: NotificationsService, events: EventBus, logger: Logger) {
        self.notifications = notifications
        self.events = events
        self.logger = logger
    }

    func start() {
        loop.start { [notifications, events, logger] in
            let stream = await events.subscribe(types: Self.routed, after: nil)
            for await event in stream {
                guard let request = Self.request(for: event, baseURL: notifications.publicURL) else { continue }
                do {
                    try await notifications.notify(request, by: .system("notifications"))
                } catch {
                    logger.warning("could not route a notification", metadata: ["event": "\(event.type)", "error": "\(error)"])
                }
            }
        }
    }

    func stop() async { await loop.stop() }

    /// The notification an event deserves, or nil when it deserves none (a runbook that succeeded).
    static func request(for event: EventEnvelope, baseURL: String?) -> NotifyRequest? {
        let data = event.data
        func link(_ path: String) -> String? { baseURL.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path } }
        let severity = data["severity"].flatMap(NotificationSeverity.init(rawValue:)) ?? .warning
        var fields: [String: String] = [:]
        for key in ["check", "server", "container", "url", "host", "runbook", "status"] { if let value = data[key], !value.isEmpty { fields[key.capitalized] = value } }
        let incident = data["incidentID"].flatMap(UUID.init(uuidString:))
        // Subjects are `kind:name` (`server:nas`); a title shows the name alone.
        let subjectName = event.subject.map { String($0.split(separator: ":", maxSplits: 1).last ?? Substring($0)) }
        let name = data["check"] ?? data["name"] ?? event.subject ?? "a check"
        switch event.type.rawValue {
        case "incident.opened":
            return NotifyRequest(category: "incident", severity: severity, title: "Down: \(name)", body: data["message"] ?? "\(name) is failing.",
                                 dedupKey: "incident:\(data["incidentID"] ?? name):opened", incidentID: incident, fields: fields,
                                 url: incident.flatMap { link("/incidents/\($0)") }, sourceEvent: event.id)
        case "incident.resolved":
            return NotifyRequest(category: "incident", severity: severity, title: "Resolved: \(name)", body: data["message"] ?? "\(name) is healthy again.",
                                 dedupKey: "incident:\(data["incidentID"] ?? name):resolved", incidentID: incident, fields: fields,
                                 url: incident.flatMap { link("/incidents/\($0)") }, sourceEvent: event.id)
        case "incident.acknowledged":
            return NotifyRequest(category: "incident", severity: .info, title: "Acknowledged: \(name)",
                                 body: "\(event.actor ?? "Someone") is looking at it.", incidentID: incident, fields: fields,
                                 url: incident.flatMap { link("/incidents/\($0)") }, sourceEvent: event.id)
        case "runbook.run_finished", "workflow.run_finished":
            guard data["status"] == "failed" else { return nil }
            let runbook = data["runbook"] ?? data["workflow"] ?? "automation"
            return NotifyRequest(category: event.type.rawValue.hasPrefix("workflow") ? "workflow" : "runbook", severity: .warning,
                                 title: "Run failed: \(runbook)", body: data["error"] ?? "The run failed; see its step log.",
                                 incidentID: incident, fields: fields, url: data["runID"].flatMap { link("/runs/\($0)") }, sourceEvent: event.id)
        case "runbook.approval_requested":
            return NotifyRequest(category: "runbook", severity: .warning, title: "Approval needed: \(data["runbook"] ?? "a runbook")",
                                 body: "Step '\(data["step"] ?? "?")' waits for an operator to approve or reject it.", fields: fields,
                                 url: data["runID"].flatMap { link("/runs/\($0)") }, sourceEvent: event.id)
        case EventType.deployFailed.rawValue:
            return NotifyRequest(category: "deploy", severity: .warning, title: "Deploy failed: \(data["name"] ?? subjectName ?? "a project")",
                                 body: data["error"] ?? "The release did not go live; the previous one keeps running.", fields: fields, sourceEvent: event.id)
        case EventType.serverOffline.rawValue:
            return NotifyRequest(category: "server", severity: .warning, title: "Offline: \(data["name"] ?? subjectName ?? "a server")",
                                 body: "The server stopped answering.", dedupKey: "server:\(event.subject ?? ""):offline", fields: fields, sourceEvent: event.id)
        case EventType.serverOnline.rawValue:
            return NotifyRequest(category: "server", severity: .info, title: "Online: \(data["name"] ?? subjectName ?? "a server")",
                                 body: "The server is answering again.", fields: fields, sourceEvent: event.id)
        case EventType.certificateExpiring.rawValue, EventType.certificateExpired.rawValue:
            let host = data["host"] ?? subjectName ?? "a host"
            let expired = event.type == .certificateExpired
            return NotifyRequest(category: "certificate", severity: expired ? .critical : .warning,
                                 title: expired ? "Certificate expired: \(host)" : "Certificate expires in \(data["daysLeft"] ?? "?") days: \(host)",
                                 body: "The certificate of \(host) (issuer \(data["issuer"] ?? "unknown")) \(expired ? "expired" : "is valid until") \(data["notAfter"] ?? "?").",
                                 dedupKey: "certificate:\(host):\(expired ? "expired" : "expiring")", fields: fields, url: link("/proxy"), sourceEvent: event.id)
        default:
            return nil
        }
    }
}
