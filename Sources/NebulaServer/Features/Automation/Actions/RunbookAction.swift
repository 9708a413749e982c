import Fluent
import Foundation
import NebulaCore

/// One kind of step (`log`, `docker`, `http` …). An action is a plain value without services:
/// the parser asks it about parameters when a runbook is saved, and the engine hands it the
/// services (``ActionContext``) when a step runs.
protocol RunbookAction: Sendable {
    /// The name steps use in `action:`.
    var name: String { get }
    /// One line for the docs and error messages.
    var summary: String { get }
    var parameters: [ActionParameter] { get }
    /// `set` takes any parameter name (each one is a variable).
    var acceptsAnyParameter: Bool { get }
    /// Whether running it again after a crash mid-step is harmless (reads, waits, logs).
    func isIdempotent(_ params: [String: TemplateValue]) -> Bool
    /// Checks when the runbook is saved: `(parameter, message)`. Templated values are known only
    /// when the step runs: read values with `literal(_:)`, which skips them.
    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)]
    /// Does the work with rendered parameters; returns the step's output (an object).
    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue
    /// What it would do, without doing anything.
    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String
}

extension RunbookAction {
    var acceptsAnyParameter: Bool { false }
    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { false }
    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] { [] }
    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would run \(name) with " + RunbookActions.describe(params)
    }
}

/// A parameter an action takes.
struct ActionParameter: Sendable {
    enum Kind: String, Sendable {
        case string, integer, boolean, duration, list, object, any
    }
    var name: String
    var kind: Kind
    var required = false
    /// The only values a string may have, when limited.
    var allowed: [String]? = nil
}

/// Why a step failed, said so that the run page explains it.
struct ActionFailure: Error, CustomStringConvertible, Sendable {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What a running step can use: the control plane's services, the run it belongs to, a log.
struct ActionContext: Sendable {
    let environment: AutomationEnvironment
    let runID: UUID
    let runbook: String
    let stepID: String
    let incidentID: UUID?
    let dryRun: Bool
    /// The step's timeout, for actions that pass it on (a command on a node).
    let timeout: Duration
    /// Appends a line to the run's log (secrets masked).
    let log: @Sendable (String) async -> Void
    /// Every secret value used by the step replaced with `••••`.
    let mask: @Sendable (String) -> String

    var actor: Actor { .system("automation") }
}

/// Every action, by name.
enum RunbookActions {
    static let all: [any RunbookAction] = [
        LogAction(), WaitAction(), SetAction(), HTTPAction(), HealthCheckAction(), DockerAction(), ExecAction(),
        NotifyAction(), ApprovalAction(), PruneImagesAction(), VacuumDatabaseAction(), DeployRollbackAction(),
        DiskReportAction(), DNSLookupAction(), TLSCheckAction(),
    ]

    static let byName: [String: any RunbookAction] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    static var names: [String] { all.map(\.name).sorted() }

    /// `key=value, …` for a dry-run line (values shortened).
    static func describe(_ params: [String: TemplateValue]) -> String {
        if params.isEmpty { return "no parameters" }
        return params.keys.sorted().map { key in
            let text = params[key]?.rendered ?? ""
            return "\(key)=\(text.count > 120 ? String(text.prefix(117)) + "…" : text)"
        }.joined(separator: ", ")
    }
}

/// Reading rendered parameters with clear failures.
extension Dictionary where Key == String, Value == TemplateValue {
    /// A value as written, or nil when absent or templated (checked when the step runs).
    func literal(_ name: String) -> TemplateValue? {
        guard let value = self[name], !value.isTemplated else { return nil }
        return value
    }

    func text(_ name: String) -> String? {
        guard let value = self[name], value != .null else { return nil }
        return value.textValue
    }

    func requiredText(_ name: String) throws -> String {
        guard let text = text(name), !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ActionFailure("the parameter '\(name)' is missing or empty")
        }
        return text
    }

    func integer(_ name: String) throws -> Int? {
        guard let value = self[name], value != .null else { return nil }
        guard let number = value.integerValue else { throw ActionFailure("the parameter '\(name)' must be a whole number (got '\(value.rendered.prefix(40))')") }
        return number
    }

    func flag(_ name: String) throws -> Bool? {
        guard let value = self[name], value != .null else { return nil }
        guard let flag = value.boolValue else { throw ActionFailure("the parameter '\(name)' must be true or false") }
        return flag
    }

    func seconds(_ name: String) throws -> Double? {
        guard let value = self[name], value != .null else { return nil }
        guard let text = value.textValue, let seconds = RunbookDocument.seconds(in: text) else {
            throw ActionFailure("the parameter '\(name)' must be a duration such as 30s, 5m or 1h (got '\(value.rendered.prefix(40))')")
        }
        return seconds
    }

    /// A string or a list of strings, as a list.
    func texts(_ name: String) -> [String] {
        guard let value = self[name] else { return [] }
        if let list = value.listValue { return list.compactMap(\.textValue).filter { !$0.isEmpty } }
        return value.textValue.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } } ?? []
    }
}

extension TemplateValue {
    /// Whether a written value contains a template anywhere (then its type is known only when it runs).
    var isTemplated: Bool {
        switch self {
        case .string(let text): text.contains("{{")
        case .list(let elements): elements.contains(where: \.isTemplated)
        case .object(let members): members.values.contains(where: \.isTemplated)
        default: false
        }
    }
}
