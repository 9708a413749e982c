import Foundation
import NebulaCore

/// `health_check`: is a service healthy now? Either `url` (with `expected_status`, `keyword`) or
/// `check` (a monitoring check by name, run now). The step fails when it is not healthy, so a
/// later step can react with `condition: "{{ steps.<id>.failed }}"`.
struct HealthCheckAction: RunbookAction {
    let name = "health_check"
    let summary = "Check a URL (status, keyword) or run a monitoring check by name"
    let parameters = [ActionParameter(name: "url", kind: .string),
                      ActionParameter(name: "expected_status", kind: .any),
                      ActionParameter(name: "keyword", kind: .string),
                      ActionParameter(name: "check", kind: .string),
                      ActionParameter(name: "follow_redirects", kind: .boolean)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] {
        let hasURL = params["url"] != nil, hasCheck = params["check"] != nil
        if hasURL == hasCheck { return [("", "give either url (with expected_status, keyword) or check (a check's name)")] }
        if let url = params.literal("url")?.textValue, let problem = AutomationHTTP.checkURL(url) { return [("url", problem)] }
        if let expected = params.literal("expected_status"), AutomationHTTP.expectedStatuses(expected) == nil {
            return [("expected_status", "must be a status code (100–599) or a list of them")]
        }
        return []
    }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        if let check = params.text("check") {
            guard let runner = context.environment.checks else {
                throw ActionFailure("health checks by name need the monitoring feature, which this control plane does not have")
            }
            let result = try await runner.runCheck(named: check, by: context.actor)
            await context.log("check \(check): \(result.ok ? "healthy" : "unhealthy") — \(result.message)")
            let output: TemplateValue = ["ok": .bool(result.ok), "message": .string(result.message),
                                         "latency_ms": result.latencyMs.map { .number($0.rounded()) } ?? .null]
            guard result.ok else { throw ActionFailureWithOutput(description: "the check \(check) is unhealthy: \(result.message)", output: output) }
            return output
        }
        let url = try params.requiredText("url")
        if let problem = AutomationHTTP.checkURL(url) { throw ActionFailure("url \(problem)") }
        let expected = params["expected_status"].flatMap(AutomationHTTP.expectedStatuses)
        let keyword = params.text("keyword")
        let answer: AutomationHTTP.Answer
        do {
            answer = try await AutomationHTTP.perform(method: "GET", url: url, headers: [], body: nil, timeout: context.timeout,
                                                      followRedirects: try params.flag("follow_redirects") ?? true)
        } catch let failure as ActionFailure {
            throw ActionFailureWithOutput(description: failure.description, output: ["ok": false, "message": .string(failure.description)])
        }
        var problems: [String] = []
        if !(expected?.contains(answer.status) ?? (200...399).contains(answer.status)) {
            problems.append("status \(answer.status), expected \(expected.map { $0.map(String.init).joined(separator: " or ") } ?? "200–399")")
        }
        if let keyword, !answer.body.contains(keyword) { problems.append("the body does not contain '\(keyword)'") }
        let ok = problems.isEmpty
        let message = ok ? "healthy: \(answer.status) in \(Int(answer.latencyMs)) ms" : problems.joined(separator: "; ")
        await context.log("\(context.mask(url)): \(message)")
        let output: TemplateValue = ["ok": .bool(ok), "status_code": .number(Double(answer.status)),
                                     "latency_ms": .number(answer.latencyMs.rounded()), "message": .string(message)]
        guard ok else { throw ActionFailureWithOutput(description: "\(context.mask(url)) is unhealthy: \(message)", output: output) }
        return output
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        if let check = params.text("check") { return "would run the check \(check)" }
        return "would GET \(context.mask(params.text("url") ?? "")) and expect \(params["expected_status"]?.rendered ?? "200–399")"
            + (params.text("keyword").map { " containing '\($0)'" } ?? "")
    }
}
