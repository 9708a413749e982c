import Foundation
import NebulaCore

/// `approval`: the run waits (`waiting_approval`) until someone with the `approvers` role approves
/// or rejects it on the run page or through the API, or `timeout` passes (then it counts as
/// rejected). The engine parks the run itself; `run` is only reached when a decision was recorded.
struct ApprovalAction: RunbookAction {
    let name = "approval"
    let summary = "Wait until an operator approves or rejects (with a timeout)"
    let parameters = [ActionParameter(name: "message", kind: .string),
                      ActionParameter(name: "timeout", kind: .duration),
                      ActionParameter(name: "approvers", kind: .string, allowed: ["operator", "admin"])]
    static let defaultTimeoutSeconds: Double = 24 * 3600

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] {
        guard let seconds = params.literal("timeout")?.textValue.flatMap(RunbookDocument.seconds(in:)) else { return [] }
        return (1...(30 * 86400)).contains(seconds) ? [] : [("timeout", "must be from 1s to 30d")]
    }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        throw ActionFailure("an approval step is decided on the run page or with POST /api/v1/runs/{id}/approve")
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would wait for approval by an \(params.text("approvers") ?? "operator"): \(params.text("message") ?? "approve to continue")"
    }
}
