import Foundation

/// A JSON-like value that templates render and conditions compare: step outputs, incident facts,
/// event data. Encodes and decodes as plain JSON (`null`, `true`, `1.5`, `"x"`, `[…]`, `{…}`).
public enum TemplateValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case list([TemplateValue])
    case object([String: TemplateValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let list = try? container.decode([TemplateValue].self) {
            self = .list(list)
        } else if let object = try? container.decode([String: TemplateValue].self) {
            self = .object(object)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .list(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension TemplateValue {
    /// Whether the value counts as "true" in a condition.
    ///
    /// `null`, `false`, `0`, NaN, empty lists and objects are false. Strings are false when empty or
    /// when they read `false` or `0` (ignoring case and surrounding whitespace), because step outputs
    /// captured from commands are text and `"false"` there means false; every other string is true.
    public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let value): return value
        case .number(let value): return value != 0 && !value.isNaN
        case .string(let value):
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            return !(trimmed.isEmpty || trimmed == "false" || trimmed == "0")
        case .list(let value): return !value.isEmpty
        case .object(let value): return !value.isEmpty
        }
    }

    /// The text a template inserts for this value: strings as is, integral numbers without `.0`
    /// (`3`, not `3.0`), `true`/`false`, `null` as the empty string, lists and objects as compact
    /// JSON with sorted keys.
    public var rendered: String {
        switch self {
        case .null: return ""
        case .string(let value): return value
        default: return jsonText
        }
    }

    /// Compact JSON for the value (sorted object keys, no whitespace); strings are quoted.
    public var jsonText: String {
        var output = ""
        appendJSON(to: &output)
        return output
    }

    /// A short name for the value's type, used in error messages (`number`, `string`, …).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .list: return "list"
        case .object: return "object"
        }
    }

    private func appendJSON(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let value): output += Self.format(value)
        case .string(let value): Self.appendQuoted(value, to: &output)
        case .list(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.appendJSON(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                Self.appendQuoted(key, to: &output)
                output += ":"
                members[key, default: .null].appendJSON(to: &output)
            }
            output += "}"
        }
    }

    /// Integral values within the exactly representable range print as integers.
    static func format(_ number: Double) -> String {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number < 0 ? "-Infinity" : "Infinity" }
        if number == number.rounded(), abs(number) < 9_007_199_254_740_992 {
            return String(Int64(number))
        }
        return String(number)
    }

    private static func appendQuoted(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case let control where control.value < 0x20:
                output += "\\u" + String(format: "%04x", control.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

extension TemplateValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, TemplateValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// The values a template or condition can refer to, looked up by dotted path.
///
/// Paths are segments separated by `.`: `incident.severity`, `steps.check-health.output`.
/// A segment is letters, digits, `_` and `-`. A list element is addressed by index either as a
/// segment (`hosts.0`) or in brackets (`hosts[0]`).
public struct TemplateContext: Sendable {
    /// The top-level values.
    public var values: [String: TemplateValue]

    public init(_ values: [String: TemplateValue]) {
        self.values = values
    }

    /// The value at `path`, or nil when any segment is missing, an index is out of range, the path
    /// descends into a scalar, or the path is not well formed. A present JSON `null` is `.null`.
    public func lookup(_ path: String) -> TemplateValue? {
        guard case .success(let segments) = PathSyntax.segments(of: path) else { return nil }
        return lookup(segments: segments)
    }

    func lookup(segments: [String]) -> TemplateValue? {
        guard let first = segments.first, var current = values[first] else { return nil }
        for segment in segments.dropFirst() {
            switch current {
            case .object(let members):
                guard let next = members[segment] else { return nil }
                current = next
            case .list(let elements):
                guard let index = Int(segment), index >= 0, index < elements.count else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }
}

/// Parsing of the path syntax shared by templates, conditions and `TemplateContext.lookup`.
enum PathSyntax {
    static func isSegmentCharacter(_ character: Character) -> Bool {
        character == "_" || character == "-" || (character.isASCII && (character.isLetter || character.isNumber))
    }

    /// Splits `a.b[0].c` into `["a", "b", "0", "c"]`; on failure, the 0-based character offset of
    /// the problem and a description.
    static func segments(of path: String) -> Result<[String], PathProblem> {
        let characters = Array(path)
        var segments: [String] = []
        var index = 0
        var expectSegment = true
        if characters.isEmpty { return .failure(PathProblem(offset: 0, reason: "the path is empty")) }
        while index < characters.count {
            let character = characters[index]
            if expectSegment {
                var segment = ""
                while index < characters.count, isSegmentCharacter(characters[index]) {
                    segment.append(characters[index])
                    index += 1
                }
                if segment.isEmpty {
                    return .failure(PathProblem(
                        offset: index,
                        reason: index < characters.count
                            ? "'\(characters[index])' cannot appear here; a path segment is letters, digits, '_' and '-'"
                            : "the path ends where a segment name should follow"))
                }
                segments.append(segment)
                expectSegment = false
            } else if character == "." {
                index += 1
                expectSegment = true
            } else if character == "[" {
                var digits = ""
                index += 1
                while index < characters.count, characters[index].isASCII, characters[index].isNumber {
                    digits.append(characters[index])
                    index += 1
                }
                guard !digits.isEmpty, index < characters.count, characters[index] == "]" else {
                    return .failure(PathProblem(offset: index, reason: "a list index must be digits in brackets, like [0]"))
                }
                segments.append(digits)
                index += 1
            } else {
                return .failure(PathProblem(
                    offset: index, reason: "'\(character)' cannot appear in a path; use '.' between segments"))
            }
        }
        if expectSegment {
            return .failure(PathProblem(offset: index, reason: "the path ends with '.'; a segment name must follow"))
        }
        return .success(segments)
    }

    struct PathProblem: Error {
        var offset: Int
        var reason: String
    }
}
