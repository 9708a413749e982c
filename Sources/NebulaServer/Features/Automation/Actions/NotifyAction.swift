import Foundation
import NebulaCore

/// `notify`: sends a notification through the notification channels. Params: `channel` or
/// `channels` (names; the routing rules decide when absent), `title`, `message`, `severity`.
struct NotifyAction: RunbookAction {
    let name = "notify"
    let summary = "Send a notification to channels (or by the routing rules)"
    let parameters = [ActionParameter(name: "channel", kind: .string), ActionParameter(name: "channels", kind: .list),
                      ActionParameter(name: "title", kind: .string), ActionParameter(name: "message", kind: .string, required: true),
                      ActionParameter(name: "severity", kind: .string, allowed: ["info", "warning", "critical"])]

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        guard let notifier = context.environment.notifier else { throw ActionFailure("notifications are not available in this control plane") }
        let channels = params.texts("channel") + params.texts("channels")
        let severity = NotificationSeverity(rawValue: params.text("severity") ?? "warning") ?? .warning
        let request = NotifyRequest(category: "runbook", severity: severity, title: params.text("title") ?? "Runbook \(context.runbook)",
                                    body: try params.requiredText("message"), channels: channels.isEmpty ? nil : channels,
                                    incidentID: context.incidentID, fields: ["runbook": context.runbook, "run": context.runID.uuidString])
        let deliveries = try await notifier.notify(request, by: context.actor)
        await context.log("notified \(channels.isEmpty ? "by the routing rules" : channels.joined(separator: ", ")): \(deliveries.count) deliver\(deliveries.count == 1 ? "y" : "ies")")
        return ["deliveries": .number(Double(deliveries.count)), "channels": .list(channels.map { .string($0) })]
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        let channels = params.texts("channel") + params.texts("channels")
        return "would notify \(channels.isEmpty ? "by the routing rules" : channels.joined(separator: ", ")): \(params.text("message") ?? "")"
    }
}
