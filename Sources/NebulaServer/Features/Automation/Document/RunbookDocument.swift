import Foundation
import NebulaCore

/// A runbook or workflow as its YAML says it, after ``RunbookParser`` checked every part.
/// Templates and conditions are kept as their source text and parsed again where they are used:
/// the parser has proven they parse.
struct RunbookDocument: Sendable {
    /// A runbook runs its steps in order; a workflow runs a DAG of steps (`needs:`), ready steps at once.
    enum Kind: String, Codable, Sendable, CaseIterable {
        case runbook, workflow
    }

    /// How the shipped library groups runbooks.
    enum Tier: String, Codable, Sendable, CaseIterable {
        case diagnose, remediate, proactive
    }

    var kind: Kind
    /// A slug, unique among runbooks and workflows.
    var name: String
    var description: String?
    var tier: Tier?
    var trigger: Trigger
    var inputs: [Input]
    var concurrency: Concurrency?
    /// The longest a whole run may take.
    var timeoutSeconds: Int
    var steps: [Step]
    var escalation: Escalation?

    static let defaultRunTimeoutSeconds = 3600
    static let maxRunTimeoutSeconds = 24 * 3600

    struct Trigger: Sendable, Equatable {
        enum Kind: String, Codable, Sendable, CaseIterable {
            /// An incident opened (by a check), optionally only for the check named `check`.
            case alert
            /// Any event of type `event`.
            case event
            /// A cron schedule.
            case schedule
            /// Only when someone starts it.
            case manual
        }

        /// What a schedule does about fire times it missed while the control plane was down.
        enum Misfire: String, Codable, Sendable, CaseIterable {
            /// Forget them; fire at the next time.
            case skip
            /// Fire once for all of them, then go on.
            case runOnce = "run_once"
        }

        var type: Kind
        var check: String?
        var event: String?
        var condition: String?
        var cron: String?
        var timezone: String?
        var misfire: Misfire = .skip
    }

    struct Input: Sendable, Equatable {
        enum Kind: String, Codable, Sendable, CaseIterable {
            case string, number, boolean
        }
        var name: String
        var type: Kind
        var defaultValue: TemplateValue?
        var required: Bool
        var description: String?
    }

    struct Concurrency: Sendable, Equatable {
        enum Policy: String, Codable, Sendable, CaseIterable {
            /// A new run while another holds the key is recorded `skipped`.
            case skip
            /// A new run waits (`queued`) until the one holding the key ends.
            case queue
        }
        /// A template; runs whose rendered keys are equal never overlap.
        var key: String
        var policy: Policy
    }

    struct Retries: Sendable, Equatable {
        /// Attempts in all (1 = no retry).
        var attempts: Int = 1
        var initialSeconds: Double = 1
        var factor: Double = 2
        var maxSeconds: Double = 60

        /// Seconds to wait after failed attempt `attempt` (1-based).
        func delay(afterAttempt attempt: Int) -> Double {
            min(maxSeconds, initialSeconds * pow(factor, Double(max(0, attempt - 1))))
        }
    }

    struct Step: Sendable {
        /// Referred to as `steps.<id>`: given, or the name in snake_case.
        var id: String
        var name: String
        var action: String
        /// Values as written; every string in them is a template.
        var params: [String: TemplateValue]
        var condition: String?
        var retries: Retries
        var timeoutSeconds: Int
        var continueOnFailure: Bool
        /// Ids of the steps that must end first (workflows). Runbook steps each need the one before.
        var needs: [String]
    }

    static let defaultStepTimeoutSeconds = 300

    struct Escalation: Sendable, Equatable {
        var afterFailures: Int
        var notify: [String]
    }

    /// The ids each step waits for: a workflow's `needs`, or the previous step in a runbook.
    var dependencies: [String: [String]] {
        var result: [String: [String]] = [:]
        for (index, step) in steps.enumerated() {
            switch kind {
            case .workflow: result[step.id] = step.needs
            case .runbook: result[step.id] = index == 0 ? [] : [steps[index - 1].id]
            }
        }
        return result
    }

    /// `Attempt restart` → `attempt_restart`: lower case, runs of anything but letters and digits as one `_`.
    static func snakeCase(_ name: String) -> String {
        var result = ""
        var pendingSeparator = false
        for character in name {
            if character.isASCII && (character.isLetter || character.isNumber) {
                if pendingSeparator && !result.isEmpty { result.append("_") }
                pendingSeparator = false
                result.append(Character(character.lowercased()))
            } else {
                pendingSeparator = true
            }
        }
        return result
    }

    /// Seconds in `90`, `90s`, `5m`, `2h` or `1d`; nil when it is none of these.
    static func seconds(in text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let plain = Double(trimmed), plain.isFinite, plain >= 0 { return plain }
        guard let unit = trimmed.last, let amount = Double(trimmed.dropLast()), amount.isFinite, amount >= 0 else { return nil }
        switch unit {
        case "s": return amount
        case "m": return amount * 60
        case "h": return amount * 3600
        case "d": return amount * 86400
        default: return nil
        }
    }
}

extension TemplateValue {
    /// The value as text for a parameter that must be a string (numbers and booleans as written).
    var textValue: String? {
        switch self {
        case .string(let text): text
        case .number, .bool: rendered
        default: nil
        }
    }

    /// The value as a whole number, from a number or a numeric string.
    var integerValue: Int? {
        switch self {
        case .number(let number): number.isFinite && number == number.rounded() && abs(number) < 1e15 ? Int(number) : nil
        case .string(let text): Int(text.trimmingCharacters(in: .whitespaces))
        default: nil
        }
    }

    var boolValue: Bool? {
        switch self {
        case .bool(let value): value
        case .string(let text): text == "true" ? true : text == "false" ? false : nil
        default: nil
        }
    }

    /// The members of an object, or nil.
    var objectValue: [String: TemplateValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements of a list, or nil.
    var listValue: [TemplateValue]? {
        if case .list(let elements) = self { return elements }
        return nil
    }

    /// JSON text for storing.
    var storedJSON: String { jsonText }

    /// Decodes stored JSON; `.null` for nil or unreadable text.
    static func fromJSON(_ text: String?) -> TemplateValue {
        guard let text, let value = try? JSONDecoder().decode(TemplateValue.self, from: Data(text.utf8)) else { return .null }
        return value
    }

    /// A value from string event facts.
    static func strings(_ values: [String: String]) -> TemplateValue {
        .object(values.mapValues { .string($0) })
    }
}
