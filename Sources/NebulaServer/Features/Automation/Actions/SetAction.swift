import Foundation
import NebulaCore

/// `set`: sets run variables, read later as `vars.<name>`. Every parameter is a variable.
struct SetAction: RunbookAction {
    let name = "set"
    let summary = "Set variables (vars.<name>) for later steps"
    let parameters: [ActionParameter] = []
    var acceptsAnyParameter: Bool { true }

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        await context.log("set " + params.keys.sorted().joined(separator: ", "))
        return .object(params)
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would set " + RunbookActions.describe(params)
    }
}
