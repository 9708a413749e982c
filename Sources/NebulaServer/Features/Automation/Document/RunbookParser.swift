import Foundation
import NebulaCore
import Yams

/// One thing wrong in a runbook: where (`steps[2].params.container`, and the YAML line and column
/// when known) and what.
struct RunbookProblem: Codable, Sendable, Equatable, CustomStringConvertible {
    var path: String
    var line: Int?
    var column: Int?
    var message: String

    var description: String {
        let place = [path.isEmpty ? nil : path, line.map { "line \($0)" + (column.map { ", column \($0)" } ?? "") }].compactMap { $0 }
        return place.isEmpty ? message : "\(place.joined(separator: " (")+(place.count > 1 ? ")" : "")): \(message)"
    }
}

/// Every problem found in one runbook, never just the first.
public struct RunbookProblems: Error, Sendable, CustomStringConvertible {
    var problems: [RunbookProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
    /// One line per problem, `path (line L, column C): message`.
    public var lines: [String] { problems.map(\.description) }
}

/// Checks a runbook or workflow file without storing it (the `nebula runbook validate` command):
/// its name, or every problem in it.
public func validateRunbook(yaml: String) -> Result<String, RunbookProblems> {
    RunbookParser.check(yaml: yaml).map(\.name)
}

/// Reads a runbook or workflow (YAML) into a ``RunbookDocument``, checking everything that can be
/// checked before it runs: the YAML, every key, actions and their parameters, templates,
/// conditions, what they refer to, cron expressions, the DAG. Pure: no database, no clock.
enum RunbookParser {
    static let topLevelKeys = ["kind", "name", "description", "tier", "trigger", "inputs", "concurrency", "timeout", "steps", "escalation"]
    static let triggerKeys = ["type", "check", "event", "condition", "cron", "timezone", "misfire"]
    static let inputKeys = ["name", "type", "default", "required", "description"]
    static let stepKeys = ["name", "id", "action", "params", "condition", "retries", "timeout", "continue_on_failure", "needs"]
    static let retryKeys = ["attempts", "backoff"]
    static let backoffKeys = ["initial", "factor", "max"]
    static let maxSteps = 100

    /// The document, or every problem in it.
    static func parse(yaml: String) throws(RunbookProblems) -> RunbookDocument {
        try check(yaml: yaml).get()
    }

    static func check(yaml: String) -> Result<RunbookDocument, RunbookProblems> {
        guard yaml.utf8.count <= 256 * 1024 else {
            return .failure(RunbookProblems(problems: [RunbookProblem(path: "", message: "the runbook is larger than 256 KiB")]))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            return .failure(RunbookProblems(problems: [syntaxProblem(error)]))
        }
        guard let root, case .mapping(let mapping) = root else {
            return .failure(RunbookProblems(problems: [RunbookProblem(path: "", line: root?.mark?.line, column: root?.mark?.column,
                                                                      message: "a runbook is a YAML mapping (name: …, trigger: …, steps: …)")]))
        }
        var reader = RunbookReader()
        let document = reader.read(mapping)
        guard reader.problems.isEmpty, let document else { return .failure(RunbookProblems(problems: reader.problems)) }
        return .success(document)
    }

    static func syntaxProblem(_ error: any Error) -> RunbookProblem {
        guard let yamlError = error as? YamlError else {
            return RunbookProblem(path: "", message: "the YAML cannot be read: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return RunbookProblem(path: "", line: mark.line, column: mark.column, message: "invalid YAML: \(detail)")
        case .reader(let problem, let offset, _, let yaml):
            let line = offset.map { yaml.utf8.prefix($0).filter { $0 == UInt8(ascii: "\n") }.count + 1 }
            return RunbookProblem(path: "", line: line, message: "invalid YAML: \(problem)")
        default:
            return RunbookProblem(path: "", message: "invalid YAML: \(yamlError)")
        }
    }

    /// Whether `name` is a slug: 2–63 lower-case letters, digits and `-`, starting with a letter or digit.
    static func isSlug(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard (2...63).contains(scalars.count) else { return false }
        func lowerOrDigit(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("0"..."9").contains(c) }
        return lowerOrDigit(scalars[0]) && scalars.dropFirst().allSatisfy { lowerOrDigit($0) || $0 == "-" }
    }

    /// Whether `id` can be a path segment (`steps.<id>`): letters, digits, `_`, `-`.
    static func isIdentifier(_ id: String) -> Bool {
        (1...64).contains(id.count) && id.allSatisfy { $0 == "_" || $0 == "-" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    /// A YAML node as a value: plain scalars typed (`200`, `true`, `1.5`, `null`), quoted ones text.
    static func value(of node: Node) -> TemplateValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if node.null != nil { return .null }
                if let bool = node.bool { return .bool(bool) }
                if let int = node.int { return .number(Double(int)) }
                if let double = node.float, double.isFinite { return .number(double) }
            }
            return .string(scalar.string)
        case .sequence(let sequence):
            return .list(sequence.map(value(of:)))
        case .mapping(let mapping):
            var members: [String: TemplateValue] = [:]
            for (key, item) in mapping { members[key.string ?? ""] = value(of: item) }
            return .object(members)
        }
    }
}

/// Walks the YAML tree once, collecting problems with their places.
private struct RunbookReader {
    var problems: [RunbookProblem] = []

    mutating func problem(_ path: String, _ node: Node?, _ message: String) {
        problems.append(RunbookProblem(path: path, line: node?.mark?.line, column: node?.mark?.column, message: message))
    }

    func join(_ base: String, _ key: String) -> String { base.isEmpty ? key : base + "." + key }

    // MARK: Node helpers

    mutating func text(_ node: Node?, _ path: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            problem(path, node, "must be a single value, not a list or mapping")
            return nil
        }
        if node.null != nil && scalar.style == .plain { return nil }
        return scalar.string
    }

    mutating func requiredText(_ node: Node?, _ path: String, parent: Node?) -> String? {
        guard let node else {
            problem(path, parent, "is required")
            return nil
        }
        guard let value = text(node, path) else { return nil }
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
            problem(path, node, "must not be empty")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let value = text(node, path) else { return nil }
        switch value.lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        default:
            problem(path, node, "must be true or false")
            return nil
        }
    }

    mutating func integer(_ node: Node?, _ path: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = text(node, path) else { return nil }
        guard let number = Int(value), range.contains(number) else {
            problem(path, node, "must be a whole number from \(range.lowerBound) to \(range.upperBound) (got '\(value.prefix(40))')")
            return nil
        }
        return number
    }

    mutating func number(_ node: Node?, _ path: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = text(node, path) else { return nil }
        guard let number = Double(value), range.contains(number) else {
            problem(path, node, "must be a number from \(range.lowerBound.formatted()) to \(range.upperBound.formatted()) (got '\(value.prefix(40))')")
            return nil
        }
        return number
    }

    /// A duration (`30s`, `5m`, `1h`, or seconds) within `range` seconds.
    mutating func duration(_ node: Node?, _ path: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = text(node, path) else { return nil }
        guard let seconds = RunbookDocument.seconds(in: value) else {
            problem(path, node, "must be a duration such as 30s, 5m or 1h (got '\(value.prefix(40))')")
            return nil
        }
        guard range.contains(seconds) else {
            problem(path, node, "must be from \(Int(range.lowerBound)) s to \(Int(range.upperBound)) s (got \(value))")
            return nil
        }
        return seconds
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node?, _ path: String, _ type: T.Type) -> T? where T.RawValue == String {
        guard let value = text(node, path) else { return nil }
        guard let parsed = T(rawValue: value) else {
            problem(path, node, "must be one of: \(T.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(value.prefix(40))')")
            return nil
        }
        return parsed
    }

    /// The entries of a mapping by key, with unknown and repeated keys reported.
    mutating func fields(_ node: Node?, _ path: String, allowed: [String]) -> [String: Node] {
        guard let node else { return [:] }
        guard case .mapping(let mapping) = node else {
            problem(path, node, "must be a mapping (\(allowed.prefix(4).map { "\($0): …" }.joined(separator: ", ")))")
            return [:]
        }
        var fields: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                problem(path, keyNode, "keys must be text")
                continue
            }
            let keyPath = join(path, key)
            if !allowed.contains(key) {
                problem(keyPath, keyNode, "unknown key (allowed: \(allowed.joined(separator: ", ")))")
            } else if fields[key] != nil {
                problem(keyPath, keyNode, "appears more than once")
            } else {
                fields[key] = value
            }
        }
        return fields
    }

    // MARK: The document

    mutating func read(_ mapping: Node.Mapping) -> RunbookDocument? {
        let rootNode = Node.mapping(mapping)
        let fields = self.fields(rootNode, "", allowed: RunbookParser.topLevelKeys)
        let kind = fields["kind"] == nil ? .runbook : choice(fields["kind"], "kind", RunbookDocument.Kind.self)
        let name = requiredText(fields["name"], "name", parent: rootNode)
        if let name, !RunbookParser.isSlug(name) {
            problem("name", fields["name"], "must be 2–63 lower-case letters, digits and '-', starting with a letter or digit (got '\(name.prefix(70))')")
        }
        let description = text(fields["description"], "description")
        let tier = fields["tier"] == nil ? nil : choice(fields["tier"], "tier", RunbookDocument.Tier.self)
        let trigger = readTrigger(fields["trigger"], parent: rootNode)
        let inputs = readInputs(fields["inputs"])
        let timeout = fields["timeout"] == nil ? Double(RunbookDocument.defaultRunTimeoutSeconds)
            : duration(fields["timeout"], "timeout", in: 1...Double(RunbookDocument.maxRunTimeoutSeconds))
        let steps = readSteps(fields["steps"], kind: kind ?? .runbook, parent: rootNode)
        let escalation = readEscalation(fields["escalation"])

        // References need the whole picture: the trigger's kind, the inputs and every step.
        let scope = ReferenceScope(trigger: trigger?.type, inputs: Set(inputs.map(\.name)), steps: steps.map(\.step),
                                   variables: Set(steps.filter { $0.step.action == "set" }.flatMap { $0.step.params.keys }),
                                   kind: kind ?? .runbook)
        if let trigger, let source = trigger.condition {
            checkCondition(source, path: "trigger.condition", node: fieldsNode(fields["trigger"], "condition"), scope: scope, step: nil)
        }
        let concurrency = readConcurrency(fields["concurrency"], scope: scope)
        for entry in steps {
            checkStepReferences(entry, scope: scope)
        }
        if kind == .workflow { checkGraph(steps) }

        guard let kind, let name, let trigger, let timeout, problems.isEmpty else { return nil }
        return RunbookDocument(kind: kind, name: name, description: description, tier: tier, trigger: trigger, inputs: inputs,
                               concurrency: concurrency, timeoutSeconds: Int(timeout), steps: steps.map(\.step), escalation: escalation)
    }

    func fieldsNode(_ node: Node?, _ key: String) -> Node? {
        guard case .mapping(let mapping)? = node else { return nil }
        return mapping[Node(key)]
    }

    // MARK: Trigger

    mutating func readTrigger(_ node: Node?, parent: Node) -> RunbookDocument.Trigger? {
        guard let node else { return RunbookDocument.Trigger(type: .manual) }
        let fields = self.fields(node, "trigger", allowed: RunbookParser.triggerKeys)
        guard case .mapping = node else { return nil }
        guard let type = fields["type"] == nil ? nil : choice(fields["type"], "trigger.type", RunbookDocument.Trigger.Kind.self) else {
            if fields["type"] == nil { problem("trigger.type", node, "is required (alert, event, schedule or manual)") }
            return nil
        }
        var trigger = RunbookDocument.Trigger(type: type)
        trigger.condition = text(fields["condition"], "trigger.condition")
        trigger.check = text(fields["check"], "trigger.check")
        trigger.event = text(fields["event"], "trigger.event")
        trigger.cron = text(fields["cron"], "trigger.cron")
        trigger.timezone = text(fields["timezone"], "trigger.timezone")
        if fields["misfire"] != nil { trigger.misfire = choice(fields["misfire"], "trigger.misfire", RunbookDocument.Trigger.Misfire.self) ?? .skip }
        func only(_ key: String, for types: [RunbookDocument.Trigger.Kind]) {
            if fields[key] != nil, !types.contains(type) {
                problem("trigger.\(key)", fields[key], "applies only to \(types.map(\.rawValue).joined(separator: " and ")) triggers")
            }
        }
        only("check", for: [.alert])
        only("event", for: [.event])
        only("condition", for: [.alert, .event])
        only("cron", for: [.schedule])
        only("timezone", for: [.schedule])
        only("misfire", for: [.schedule])
        switch type {
        case .event:
            if let event = trigger.event {
                if !EventType.isValid(event) && event != "*" {
                    problem("trigger.event", fields["event"], "must be an event type such as container.changed (lower-case letters, digits, '.', '_', '-') or *")
                }
            } else if fields["event"] == nil {
                problem("trigger.event", node, "an event trigger needs the event type to react to (event: container.changed)")
            }
        case .schedule:
            var zone = TimeZone(identifier: "UTC") ?? .current
            if let name = trigger.timezone {
                if let parsed = TimeZone(identifier: name) {
                    zone = parsed
                } else {
                    problem("trigger.timezone", fields["timezone"], "'\(name.prefix(60))' is not a time zone; use a name such as Europe/Berlin or UTC")
                }
            }
            if let cron = trigger.cron {
                do {
                    _ = try CronSchedule(parsing: cron, timeZone: zone)
                } catch {
                    problems.append(located("trigger.cron", fields["cron"], source: cron, column: error.column, line: 1,
                                            message: "cron expression: \(error.message)"))
                }
            } else if fields["cron"] == nil {
                problem("trigger.cron", node, "a schedule trigger needs a cron expression (cron: \"*/5 * * * *\" or @every 10m)")
            }
        case .alert, .manual:
            break
        }
        return trigger
    }

    /// A problem inside a scalar's text: the YAML position of the character at `line`/`column`
    /// of the text, when the scalar is written on one line.
    func located(_ path: String, _ node: Node?, source: String, column: Int, line: Int, message: String) -> RunbookProblem {
        guard case .scalar(let scalar)? = node, let mark = node?.mark else {
            return RunbookProblem(path: path, line: node?.mark?.line, column: node?.mark?.column, message: message)
        }
        switch scalar.style {
        case .plain, .singleQuoted, .doubleQuoted:
            let quote = scalar.style == .plain ? 0 : 1
            if line == 1 && !source.contains("\n") {
                return RunbookProblem(path: path, line: mark.line, column: mark.column + quote + column - 1, message: message)
            }
            return RunbookProblem(path: path, line: mark.line, column: mark.column, message: "\(message) (line \(line), column \(column) of the text)")
        default:
            // Block scalars (| and >) start on the next line.
            return RunbookProblem(path: path, line: mark.line + line, column: nil, message: "\(message) (column \(column) of that line)")
        }
    }

    // MARK: Inputs

    mutating func readInputs(_ node: Node?) -> [RunbookDocument.Input] {
        guard let node else { return [] }
        guard case .sequence(let sequence) = node else {
            problem("inputs", node, "must be a list of inputs (- name: …, type: string)")
            return []
        }
        var inputs: [RunbookDocument.Input] = []
        var seen = Set<String>()
        for (index, item) in sequence.enumerated() {
            let path = "inputs[\(index)]"
            let fields = self.fields(item, path, allowed: RunbookParser.inputKeys)
            guard case .mapping = item else { continue }
            let name = requiredText(fields["name"], path + ".name", parent: item)
            if let name {
                if !RunbookParser.isIdentifier(name) {
                    problem(path + ".name", fields["name"], "must be letters, digits, '_' or '-' (got '\(name.prefix(40))')")
                } else if !seen.insert(name).inserted {
                    problem(path + ".name", fields["name"], "the input \(name) is declared twice")
                }
            }
            let type = fields["type"] == nil ? .string : choice(fields["type"], path + ".type", RunbookDocument.Input.Kind.self)
            let required = bool(fields["required"], path + ".required") ?? false
            var defaultValue: TemplateValue?
            if let node = fields["default"] {
                let value = RunbookParser.value(of: node)
                defaultValue = value
                if let type, let message = RunbookInputs.problem(with: value, for: type) {
                    problem(path + ".default", node, message)
                }
            }
            guard let name, let type else { continue }
            inputs.append(RunbookDocument.Input(name: name, type: type, defaultValue: defaultValue, required: required,
                                                description: text(fields["description"], path + ".description")))
        }
        return inputs
    }

    // MARK: Concurrency and escalation

    mutating func readConcurrency(_ node: Node?, scope: ReferenceScope) -> RunbookDocument.Concurrency? {
        guard let node else { return nil }
        let fields = self.fields(node, "concurrency", allowed: ["key", "policy"])
        guard case .mapping = node else { return nil }
        let key = requiredText(fields["key"], "concurrency.key", parent: node)
        if let key { checkTemplate(key, path: "concurrency.key", node: fields["key"], scope: scope, step: nil, allowSecrets: false) }
        let policy = fields["policy"] == nil ? .skip : choice(fields["policy"], "concurrency.policy", RunbookDocument.Concurrency.Policy.self)
        guard let key, let policy else { return nil }
        return RunbookDocument.Concurrency(key: key, policy: policy)
    }

    mutating func readEscalation(_ node: Node?) -> RunbookDocument.Escalation? {
        guard let node else { return nil }
        let fields = self.fields(node, "escalation", allowed: ["after_failures", "notify"])
        guard case .mapping = node else { return nil }
        let after = fields["after_failures"] == nil ? 3 : integer(fields["after_failures"], "escalation.after_failures", in: 1...100)
        var channels: [String] = []
        switch fields["notify"] {
        case .sequence(let list)?:
            channels = list.enumerated().compactMap { text($0.element, "escalation.notify[\($0.offset)]") }
        case .scalar?:
            channels = text(fields["notify"], "escalation.notify").map { [$0] } ?? []
        case nil:
            break  // no channels named: the escalation is routed by the notification rules
        default:
            problem("escalation.notify", fields["notify"], "must be a list of channel names")
        }
        if fields["notify"] != nil, channels.isEmpty { problem("escalation.notify", fields["notify"], "must name at least one channel") }
        guard let after, fields["notify"] == nil || !channels.isEmpty else { return nil }
        return RunbookDocument.Escalation(afterFailures: after, notify: channels)
    }

    // MARK: Steps

    struct StepEntry {
        var step: RunbookDocument.Step
        var index: Int
        var node: Node
        var fields: [String: Node]
    }

    mutating func readSteps(_ node: Node?, kind: RunbookDocument.Kind, parent: Node) -> [StepEntry] {
        guard let node else {
            problem("steps", parent, "is required: a list of at least one step")
            return []
        }
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            problem("steps", node, "must be a list of at least one step (- name: …, action: …)")
            return []
        }
        if sequence.count > RunbookParser.maxSteps { problem("steps", node, "has \(sequence.count) steps; at most \(RunbookParser.maxSteps)") }
        var entries: [StepEntry] = []
        var seen: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "steps[\(index)]"
            let fields = self.fields(item, path, allowed: RunbookParser.stepKeys)
            guard case .mapping = item else { continue }
            let name = requiredText(fields["name"], path + ".name", parent: item)
            var id = text(fields["id"], path + ".id") ?? name.map(RunbookDocument.snakeCase)
            if let given = id {
                if !RunbookParser.isIdentifier(given) {
                    problem(path + (fields["id"] == nil ? ".name" : ".id"), fields["id"] ?? fields["name"],
                            "the step id '\(given.prefix(40))' must be 1–64 letters, digits, '_' or '-'" + (fields["id"] == nil ? "; give an id:" : ""))
                    id = nil
                } else if let first = seen[given] {
                    problem(path + (fields["id"] == nil ? ".name" : ".id"), fields["id"] ?? fields["name"],
                            "the step id '\(given)' is already used by steps[\(first)]; give one of them another id:")
                    id = nil
                } else {
                    seen[given] = index
                }
            }
            let actionName = requiredText(fields["action"], path + ".action", parent: item)
            let action = actionName.flatMap { RunbookActions.byName[$0] }
            if let actionName, action == nil {
                problem(path + ".action", fields["action"], "unknown action '\(actionName.prefix(40))'; available: \(RunbookActions.names.joined(separator: ", "))")
            }
            var params: [String: TemplateValue] = [:]
            if let paramsNode = fields["params"] {
                guard case .mapping(let mapping) = paramsNode else {
                    problem(path + ".params", paramsNode, "must be a mapping of parameters")
                    continue
                }
                for (keyNode, valueNode) in mapping {
                    guard let key = keyNode.string else { continue }
                    params[key] = RunbookParser.value(of: valueNode)
                }
                if let action { checkParameters(params, of: action, mapping: mapping, path: path + ".params", paramsNode: paramsNode) }
            } else if let action {
                let missing = action.parameters.filter(\.required).map(\.name)
                if !missing.isEmpty { problem(path + ".params", item, "the \(action.name) action needs: \(missing.joined(separator: ", "))") }
            }
            let condition = text(fields["condition"], path + ".condition")
            var retries = RunbookDocument.Retries()
            if let retryNode = fields["retries"] {
                if case .scalar = retryNode {
                    retries.attempts = integer(retryNode, path + ".retries", in: 1...20) ?? 1
                } else {
                    let retryFields = self.fields(retryNode, path + ".retries", allowed: RunbookParser.retryKeys)
                    retries.attempts = retryFields["attempts"] == nil ? 1 : integer(retryFields["attempts"], path + ".retries.attempts", in: 1...20) ?? 1
                    if let backoffNode = retryFields["backoff"] {
                        let backoff = self.fields(backoffNode, path + ".retries.backoff", allowed: RunbookParser.backoffKeys)
                        if backoff["initial"] != nil { retries.initialSeconds = duration(backoff["initial"], path + ".retries.backoff.initial", in: 0...3600) ?? 1 }
                        if backoff["factor"] != nil { retries.factor = number(backoff["factor"], path + ".retries.backoff.factor", in: 1...10) ?? 2 }
                        if backoff["max"] != nil { retries.maxSeconds = duration(backoff["max"], path + ".retries.backoff.max", in: 0...3600) ?? 60 }
                    }
                }
            }
            let defaultTimeout = actionName == "wait" ? 3700.0 : actionName == "approval" ? 7 * 86400.0 : Double(RunbookDocument.defaultStepTimeoutSeconds)
            let timeout = fields["timeout"] == nil ? defaultTimeout : duration(fields["timeout"], path + ".timeout", in: 1...Double(RunbookDocument.maxRunTimeoutSeconds))
            let continueOnFailure = bool(fields["continue_on_failure"], path + ".continue_on_failure") ?? false
            var needs: [String] = []
            if let needsNode = fields["needs"] {
                if kind == .runbook {
                    problem(path + ".needs", needsNode, "needs is for workflows (kind: workflow); runbook steps run in order")
                }
                switch needsNode {
                case .sequence(let list): needs = list.enumerated().compactMap { text($0.element, path + ".needs[\($0.offset)]") }
                case .scalar: needs = text(needsNode, path + ".needs").map { [$0] } ?? []
                default: problem(path + ".needs", needsNode, "must be a list of step ids")
                }
            }
            guard let name, let id, let actionName, let timeout else { continue }
            entries.append(StepEntry(step: RunbookDocument.Step(id: id, name: name, action: actionName, params: params, condition: condition,
                                                                retries: retries, timeoutSeconds: Int(timeout), continueOnFailure: continueOnFailure,
                                                                needs: needs),
                                     index: index, node: item, fields: fields))
        }
        return entries
    }

    mutating func checkParameters(_ params: [String: TemplateValue], of action: any RunbookAction, mapping: Node.Mapping, path: String, paramsNode: Node) {
        let known = Dictionary(action.parameters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var nodes: [String: Node] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { continue }
            nodes[key] = valueNode
            guard let spec = known[key] else {
                if !action.acceptsAnyParameter {
                    problem(path + "." + key, keyNode, "the \(action.name) action has no parameter '\(key)'; it takes: \(action.parameters.map(\.name).joined(separator: ", "))")
                } else if !RunbookParser.isIdentifier(key) {
                    problem(path + "." + key, keyNode, "a variable name is letters, digits, '_' or '-'")
                }
                continue
            }
            let value = params[key] ?? .null
            guard !value.isTemplated else { continue }
            if let message = Self.typeProblem(value, spec) { problem(path + "." + key, valueNode, message) }
        }
        for spec in action.parameters where spec.required && params[spec.name] == nil {
            problem(path + "." + spec.name, paramsNode, "is required by the \(action.name) action")
        }
        for (parameter, message) in action.validate(params) {
            problem(parameter.isEmpty ? path : path + "." + parameter, parameter.isEmpty ? paramsNode : nodes[parameter] ?? paramsNode, message)
        }
    }

    static func typeProblem(_ value: TemplateValue, _ spec: ActionParameter) -> String? {
        switch spec.kind {
        case .any: return nil
        case .string:
            guard let text = value.textValue else { return "must be text" }
            if let allowed = spec.allowed, !allowed.contains(text) { return "must be one of: \(allowed.joined(separator: ", ")) (got '\(text.prefix(40))')" }
            return nil
        case .integer: return value.integerValue == nil ? "must be a whole number" : nil
        case .boolean: return value.boolValue == nil ? "must be true or false" : nil
        case .duration:
            return value.textValue.flatMap(RunbookDocument.seconds(in:)) == nil ? "must be a duration such as 30s, 5m or 1h" : nil
        case .list: return value.listValue == nil && value.textValue == nil ? "must be a list" : nil
        case .object: return value.objectValue == nil ? "must be a mapping" : nil
        }
    }

    // MARK: Templates, conditions and references

    /// What templates may refer to.
    struct ReferenceScope {
        var trigger: RunbookDocument.Trigger.Kind?
        var inputs: Set<String>
        var steps: [RunbookDocument.Step]
        var variables: Set<String>
        var kind: RunbookDocument.Kind

        var roots: [String] {
            var roots = ["inputs", "trigger", "run", "steps", "vars", "secrets"]
            switch trigger {
            case .alert: roots += ["incident", "service", "check"]
            case .event: roots += ["event"]
            default: break
            }
            return roots
        }
    }

    mutating func checkStepReferences(_ entry: StepEntry, scope: ReferenceScope) {
        let path = "steps[\(entry.index)]"
        if let condition = entry.step.condition {
            checkCondition(condition, path: path + ".condition", node: entry.fields["condition"], scope: scope, step: entry.step)
        }
        guard case .mapping(let mapping)? = entry.fields["params"] else { return }
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { continue }
            checkTemplates(in: valueNode, path: path + ".params." + key, scope: scope, step: entry.step)
        }
    }

    mutating func checkTemplates(in node: Node, path: String, scope: ReferenceScope, step: RunbookDocument.Step?) {
        switch node {
        case .scalar(let scalar):
            if scalar.string.contains("{{") || scalar.string.contains("}}") {
                checkTemplate(scalar.string, path: path, node: node, scope: scope, step: step, allowSecrets: true)
            }
        case .sequence(let list):
            for (index, item) in list.enumerated() { checkTemplates(in: item, path: "\(path)[\(index)]", scope: scope, step: step) }
        case .mapping(let mapping):
            for (key, item) in mapping { checkTemplates(in: item, path: path + "." + (key.string ?? "?"), scope: scope, step: step) }
        }
    }

    mutating func checkTemplate(_ source: String, path: String, node: Node?, scope: ReferenceScope, step: RunbookDocument.Step?, allowSecrets: Bool) {
        do {
            let template = try Template(parsing: source)
            for reference in template.references {
                if let message = referenceProblem(reference, scope: scope, step: step, allowSecrets: allowSecrets) {
                    let column = Self.column(of: reference, in: source)
                    problems.append(located(path, node, source: source, column: column.column, line: column.line, message: message))
                }
            }
        } catch {
            problems.append(located(path, node, source: source, column: error.column, line: error.line, message: "template: \(error.message)"))
        }
    }

    mutating func checkCondition(_ source: String, path: String, node: Node?, scope: ReferenceScope, step: RunbookDocument.Step?) {
        do {
            let condition = try Condition(parsing: source)
            for reference in condition.references {
                if let message = referenceProblem(reference, scope: scope, step: step, allowSecrets: false) {
                    let column = Self.column(of: reference, in: source)
                    problems.append(located(path, node, source: source, column: column.column, line: column.line, message: message))
                }
            }
        } catch {
            problems.append(located(path, node, source: source, column: error.column, line: 1, message: "condition: \(error.message)"))
        }
    }

    /// Where a reference first appears in its text (1-based), for pointing at it.
    static func column(of reference: String, in source: String) -> (line: Int, column: Int) {
        let head = reference.split(separator: ".").first.map(String.init) ?? reference
        guard let range = source.range(of: reference) ?? source.range(of: head) else { return (1, 1) }
        let before = source[..<range.lowerBound]
        let line = before.filter { $0 == "\n" }.count + 1
        let column = (before.lastIndex(of: "\n").map { before[before.index(after: $0)...].count } ?? before.count) + 1
        return (line, column)
    }

    func referenceProblem(_ reference: String, scope: ReferenceScope, step: RunbookDocument.Step?, allowSecrets: Bool) -> String? {
        let parts = reference.split(separator: ".").map(String.init)
        guard let root = parts.first else { return nil }
        guard scope.roots.contains(root) else {
            return "'\(reference)' refers to '\(root)', which does not exist here; available: \(scope.roots.joined(separator: ", "))"
        }
        switch root {
        case "inputs":
            guard parts.count >= 2 else { return "'inputs' needs an input name (inputs.<name>)" }
            if !scope.inputs.contains(parts[1]) {
                return "'\(reference)' uses the input '\(parts[1])', which is not declared under inputs"
                    + (scope.inputs.isEmpty ? "" : " (declared: \(scope.inputs.sorted().joined(separator: ", ")))")
            }
        case "steps":
            guard let step else { return "'\(reference)': step results are not known yet here" }
            guard parts.count >= 2 else { return "'steps' needs a step id (steps.<id>.ok)" }
            let id = parts[1]
            guard scope.steps.contains(where: { $0.id == id }) else {
                return "'\(reference)' refers to the step '\(id)', which does not exist (steps: \(scope.steps.map(\.id).joined(separator: ", ")))"
            }
            if id == step.id { return "'\(reference)': a step cannot use its own result" }
            if !Self.ancestors(of: step.id, in: scope).contains(id) {
                return scope.kind == .runbook
                    ? "'\(reference)' refers to the step '\(id)', which runs after this one"
                    : "'\(reference)' refers to the step '\(id)', which is not among this step's needs (directly or through them)"
            }
        case "vars":
            guard step != nil else { return "'vars' are set by steps and are not known yet here" }
            guard parts.count >= 2 else { return "'vars' needs a variable name (vars.<name>)" }
            if !scope.variables.contains(parts[1]) { return "'\(reference)': no set step sets the variable '\(parts[1])'" }
        case "secrets":
            guard allowSecrets else { return "secrets may be used only in step parameters, never in conditions or keys" }
            guard parts.count == 2, (try? SecretsService.validate(name: parts[1])) != nil else {
                return "'\(reference)' must be secrets.<name> with a secret's name"
            }
        default:
            break
        }
        return nil
    }

    /// The steps that surely ended before `id` starts.
    static func ancestors(of id: String, in scope: ReferenceScope) -> Set<String> {
        switch scope.kind {
        case .runbook:
            guard let index = scope.steps.firstIndex(where: { $0.id == id }) else { return [] }
            return Set(scope.steps[..<index].map(\.id))
        case .workflow:
            let needs = Dictionary(scope.steps.map { ($0.id, $0.needs) }, uniquingKeysWith: { first, _ in first })
            var found = Set<String>()
            var pending = needs[id] ?? []
            while let next = pending.popLast() {
                guard found.insert(next).inserted else { continue }
                pending += needs[next] ?? []
            }
            return found
        }
    }

    // MARK: The DAG

    mutating func checkGraph(_ entries: [StepEntry]) {
        let ids = Set(entries.map(\.step.id))
        for entry in entries {
            for (offset, need) in entry.step.needs.enumerated() {
                let node: Node? = { if case .sequence(let list)? = entry.fields["needs"], offset < list.count { return list[offset] }; return entry.fields["needs"] }()
                if need == entry.step.id {
                    problem("steps[\(entry.index)].needs[\(offset)]", node, "a step cannot need itself")
                } else if !ids.contains(need) {
                    problem("steps[\(entry.index)].needs[\(offset)]", node,
                            "unknown step '\(need.prefix(40))' (steps: \(entries.map(\.step.id).joined(separator: ", ")))")
                }
            }
        }
        // Depth-first search for a cycle; reported once, at the step where it closes.
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        let byID = Dictionary(entries.map { ($0.step.id, $0) }, uniquingKeysWith: { first, _ in first })
        var reported = false
        func visit(_ id: String, _ trail: [String]) {
            guard !reported, let entry = byID[id] else { return }
            if state[id] == 2 { return }
            if state[id] == 1 {
                let cycle = (trail.drop(while: { $0 != id }) + [id]).joined(separator: " → ")
                problem("steps[\(entry.index)].needs", entry.fields["needs"] ?? entry.node, "the needs form a cycle: \(cycle)")
                reported = true
                return
            }
            state[id] = 1
            for need in entry.step.needs where need != id { visit(need, trail + [id]) }
            state[id] = 2
        }
        for entry in entries { visit(entry.step.id, []) }
    }
}

/// Checking and converting run inputs against their declarations.
enum RunbookInputs {
    static func problem(with value: TemplateValue, for type: RunbookDocument.Input.Kind) -> String? {
        switch type {
        case .string: value.textValue == nil ? "must be text" : nil
        case .number:
            switch value {
            case .number: nil
            case .string(let text): Double(text) == nil ? "must be a number (got '\(text.prefix(40))')" : nil
            default: "must be a number"
            }
        case .boolean: value.boolValue == nil ? "must be true or false" : nil
        }
    }

    /// The inputs a run gets: given values converted to their declared type, then defaults;
    /// unknown names and missing required inputs are refused.
    static func resolve(_ given: [String: TemplateValue], declared: [RunbookDocument.Input]) throws -> [String: TemplateValue] {
        var result: [String: TemplateValue] = [:]
        var problems: [String] = []
        let names = Set(declared.map(\.name))
        for key in given.keys.sorted() where !names.contains(key) {
            problems.append("unknown input '\(key.prefix(40))'" + (names.isEmpty ? " (this runbook takes none)" : " (inputs: \(names.sorted().joined(separator: ", ")))"))
        }
        for input in declared {
            if let value = given[input.name], value != .null {
                if let problem = problem(with: value, for: input.type) {
                    problems.append("input '\(input.name)' \(problem)")
                    continue
                }
                switch (input.type, value) {
                case (.number, .string(let text)): result[input.name] = .number(Double(text) ?? 0)
                case (.boolean, _): result[input.name] = .bool(value.boolValue ?? false)
                case (.string, _): result[input.name] = .string(value.textValue ?? "")
                default: result[input.name] = value
                }
            } else if let fallback = input.defaultValue {
                result[input.name] = fallback
            } else if input.required {
                problems.append("input '\(input.name)' is required")
            } else {
                result[input.name] = .null
            }
        }
        guard problems.isEmpty else {
            throw NebulaError.unprocessable("The inputs do not fit the runbook: \(problems.joined(separator: "; ")).", code: "invalid_inputs")
        }
        return result
    }
}
