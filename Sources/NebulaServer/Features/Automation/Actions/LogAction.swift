import Foundation
import NebulaCore

/// `log`: writes a line to the run's log. Params: `message`, `level` (info, warning, error).
struct LogAction: RunbookAction {
    let name = "log"
    let summary = "Write a line to the run's log"
    let parameters = [ActionParameter(name: "message", kind: .string, required: true),
                      ActionParameter(name: "level", kind: .string, allowed: ["info", "warning", "error"])]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let message = try params.requiredText("message")
        let level = params.text("level") ?? "info"
        await context.log(level == "info" ? message : "[\(level)] \(message)")
        return ["message": .string(context.mask(message)), "level": .string(level)]
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would log: \(params.text("message") ?? "")"
    }
}
