import Foundation
import NebulaCore

/// `wait`: pauses the run. Params: `duration` (30s, 5m, at most 1h).
struct WaitAction: RunbookAction {
    let name = "wait"
    let summary = "Wait a while (at most 1 h)"
    let parameters = [ActionParameter(name: "duration", kind: .duration, required: true)]
    static let maxSeconds: Double = 3600

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] {
        guard let seconds = params.literal("duration")?.textValue.flatMap(RunbookDocument.seconds(in:)) else { return [] }
        return seconds > Self.maxSeconds ? [("duration", "must be at most 1h (got \(Int(seconds)) s)")] : []
    }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        guard let seconds = try params.seconds("duration"), seconds <= Self.maxSeconds else {
            throw ActionFailure("the duration must be from 0 s to 1h")
        }
        await context.log("waiting \(seconds.fixed(1, trimmingZeros: true)) s")
        try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        return ["seconds": .number(seconds)]
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would wait \(params.text("duration") ?? "?") (a dry run does not wait)"
    }
}
