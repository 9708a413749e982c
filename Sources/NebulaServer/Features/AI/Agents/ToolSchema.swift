import Foundation
import NebulaCore

/// The part of JSON Schema that tool parameters use: `type` (object, string, integer, number,
/// boolean, array, null), `properties`, `required`, `additionalProperties: false`, `enum`,
/// `minimum`/`maximum`, `minLength`/`maxLength`, `items`, `minItems`/`maxItems`, and the
/// annotations `description`, `title`, `default`. Arguments a model sends are checked against it
/// before a tool runs; a violation becomes a message the model can read and correct.
enum ToolSchema {
    static let types: Set<String> = ["object", "string", "integer", "number", "boolean", "array", "null"]
    static let keywords: Set<String> = ["type", "properties", "required", "additionalProperties", "enum", "minimum", "maximum",
                                        "minLength", "maxLength", "items", "minItems", "maxItems", "description", "title", "default"]

    /// Parses JSON text into a value (nil when it is not JSON).
    static func parse(_ text: String) -> TemplateValue? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        return try? JSONDecoder().decode(TemplateValue.self, from: Data(trimmed.utf8))
    }

    /// Why `schema` cannot describe a tool's parameters, or nil: it must be an object schema and
    /// use only the keywords above, with well-formed values.
    static func problem(in schema: TemplateValue) -> String? {
        guard case .object(let top) = schema, top["type"] == .string("object") else {
            return "parameters must be a JSON Schema with \"type\": \"object\""
        }
        return problem(schema, path: "parameters")
    }

    private static func problem(_ schema: TemplateValue, path: String) -> String? {
        guard case .object(let fields) = schema else { return "\(path) must be a schema object" }
        if let unknown = fields.keys.sorted().first(where: { !keywords.contains($0) }) {
            return "\(path): the keyword \(unknown) is not supported (use \(keywords.sorted().joined(separator: ", ")))"
        }
        switch fields["type"] {
        case nil: break
        case .string(let type)?:
            guard types.contains(type) else { return "\(path).type \(type) is not one of \(types.sorted().joined(separator: ", "))" }
        case .list(let list)?:
            guard !list.isEmpty, list.allSatisfy({ if case .string(let type) = $0 { types.contains(type) } else { false } }) else {
                return "\(path).type must name types among \(types.sorted().joined(separator: ", "))"
            }
        default: return "\(path).type must be a string"
        }
        if let properties = fields["properties"] {
            guard case .object(let members) = properties else { return "\(path).properties must be an object" }
            for name in members.keys.sorted() {
                if let problem = problem(members[name]!, path: "\(path).properties.\(name)") { return problem }
            }
        }
        if let required = fields["required"] {
            guard case .list(let names) = required, names.allSatisfy({ if case .string = $0 { true } else { false } }) else {
                return "\(path).required must be a list of property names"
            }
        }
        if let additional = fields["additionalProperties"] {
            switch additional {
            case .bool: break
            case .object: if let problem = problem(additional, path: "\(path).additionalProperties") { return problem }
            default: return "\(path).additionalProperties must be true, false or a schema"
            }
        }
        if let allowed = fields["enum"] {
            guard case .list(let values) = allowed, !values.isEmpty else { return "\(path).enum must be a non-empty list" }
        }
        for bound in ["minimum", "maximum"] {
            if let value = fields[bound], !value.isNumber { return "\(path).\(bound) must be a number" }
        }
        for count in ["minLength", "maxLength", "minItems", "maxItems"] {
            if let value = fields[count], value.wholeNumber.map({ $0 >= 0 }) != true { return "\(path).\(count) must be a whole number ≥ 0" }
        }
        if let items = fields["items"], let problem = problem(items, path: "\(path).items") { return problem }
        return nil
    }

    /// What is wrong with `value` against `schema`, one line per problem (empty when it is valid).
    /// `path` names the value (`arguments.server`).
    static func violations(of value: TemplateValue, against schema: TemplateValue, path: String = "arguments") -> [String] {
        guard case .object(let rules) = schema else { return [] }
        var problems: [String] = []
        if let declared = rules["type"] {
            let names: [String] = switch declared {
            case .string(let name): [name]
            case .list(let list): list.compactMap { if case .string(let name) = $0 { name } else { nil } }
            default: []
            }
            if !names.isEmpty, !names.contains(where: { matches(value, type: $0) }) {
                return ["\(path) must be \(names.map(article).joined(separator: " or ")), not \(describe(value))"]
            }
        }
        if case .list(let allowed)? = rules["enum"], !allowed.contains(where: { same($0, value) }) {
            problems.append("\(path) must be one of \(allowed.map(\.jsonText).joined(separator: ", ")), not \(value.jsonText.prefix(80))")
        }
        switch value {
        case .number(let number):
            if let minimum = rules["minimum"]?.numberValue, number < minimum { problems.append("\(path) must be at least \(TemplateValue.number(minimum).jsonText)") }
            if let maximum = rules["maximum"]?.numberValue, number > maximum { problems.append("\(path) must be at most \(TemplateValue.number(maximum).jsonText)") }
        case .string(let text):
            if let minimum = rules["minLength"]?.wholeNumber, text.count < minimum { problems.append("\(path) must have at least \(minimum) characters") }
            if let maximum = rules["maxLength"]?.wholeNumber, text.count > maximum { problems.append("\(path) must have at most \(maximum) characters") }
        case .list(let items):
            if let minimum = rules["minItems"]?.wholeNumber, items.count < minimum { problems.append("\(path) must have at least \(minimum) items") }
            if let maximum = rules["maxItems"]?.wholeNumber, items.count > maximum { problems.append("\(path) must have at most \(maximum) items") }
            if let itemSchema = rules["items"] {
                for (index, item) in items.enumerated() { problems += violations(of: item, against: itemSchema, path: "\(path)[\(index)]") }
            }
        case .object(let members):
            if case .list(let required)? = rules["required"] {
                for case .string(let name) in required where members[name] == nil || members[name] == .null {
                    problems.append("\(path).\(name) is required")
                }
            }
            let properties: [String: TemplateValue] = if case .object(let declared)? = rules["properties"] { declared } else { [:] }
            for name in members.keys.sorted() {
                if let propertySchema = properties[name] {
                    problems += violations(of: members[name]!, against: propertySchema, path: "\(path).\(name)")
                } else if rules["additionalProperties"] == .bool(false) {
                    problems.append("\(path).\(name) is not a known parameter (known: \(properties.keys.sorted().joined(separator: ", ")))")
                } else if case .object? = rules["additionalProperties"] {
                    problems += violations(of: members[name]!, against: rules["additionalProperties"]!, path: "\(path).\(name)")
                }
            }
        default: break
        }
        return problems
    }

    static func matches(_ value: TemplateValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("string", .string), ("boolean", .bool), ("array", .list), ("null", .null), ("number", .number): true
        case ("integer", .number(let number)): number.isFinite && number == number.rounded()
        default: false
        }
    }

    static func same(_ a: TemplateValue, _ b: TemplateValue) -> Bool { a.jsonText == b.jsonText }

    static func article(_ type: String) -> String {
        switch type {
        case "object", "array", "integer": "an \(type)"
        case "null": "null"
        default: "a \(type)"
        }
    }

    static func describe(_ value: TemplateValue) -> String {
        switch value {
        case .list: "an array"
        case .object: "an object"
        case .null: "null"
        default: "\(article(value.typeName)) (\(value.jsonText.prefix(40)))"
        }
    }
}

extension TemplateValue {
    var isNumber: Bool { if case .number = self { true } else { false } }

    var numberValue: Double? { if case .number(let number) = self { number } else { nil } }

    /// The value as a whole number, when it is one.
    var wholeNumber: Int? {
        guard case .number(let number) = self, number.isFinite, number == number.rounded(), abs(number) < 1e15 else { return nil }
        return Int(number)
    }

    var stringValue: String? { if case .string(let text) = self { text } else { nil } }
}
