import Foundation

/// A text template with `{{ path }}` placeholders, parsed once and rendered many times.
///
/// ```
/// Disk on {{ server.name }} is {{ check.value }}% full ({{ incident.severity | upper }})
/// Owner: {{ labels.owner | default('nobody') }}
/// ```
/// Inside the braces: a path (see `TemplateContext`), then optional filters separated by `|`:
/// - `default('text')` — used when the value is missing or `null` (the argument may also be a
///   number, `true`, `false` or `null`);
/// - `lower`, `upper`, `trim` — change the rendered text;
/// - `json` — render the value as compact JSON (strings quoted), e.g. to embed it in a request body.
///
/// A missing value without `default` fails rendering with `TemplateError.missingValue`, naming
/// the path and its position. Text outside placeholders is copied as is (there is no escape for
/// a literal `{{`). Templates are limited to `maxLength` characters.
public struct Template: Sendable {
    /// Longest accepted template, in characters.
    public static let maxLength = 65_536
    /// Filters accepted after `|`.
    public static let filterNames = ["default", "lower", "upper", "trim", "json"]

    enum Filter: Sendable {
        case fallback(TemplateValue)
        case lower, upper, trim, json
    }

    struct Placeholder: Sendable {
        var path: String
        var segments: [String]
        var filters: [Filter]
        var line: Int
        var column: Int
    }

    enum Part: Sendable {
        case text(String)
        case placeholder(Placeholder)
    }

    let parts: [Part]

    /// The source the template was parsed from.
    public let source: String

    /// The paths the placeholders use, in dotted form (`hosts[0]` is listed as `hosts.0`), each once,
    /// in order of first use.
    public let references: [String]

    /// Parses `source`; fails with the line and column of the first problem.
    public init(parsing source: String) throws(TemplateError) {
        let characters = Array(source)
        guard characters.count <= Self.maxLength else {
            throw .tooLong(length: characters.count, limit: Self.maxLength)
        }
        let locator = Locator(characters)
        var parts: [Part] = []
        var references: [String] = []
        var text = ""
        var index = 0
        while index < characters.count {
            if characters[index] == "{", index + 1 < characters.count, characters[index + 1] == "{" {
                let open = index
                guard let close = Self.closingBraces(in: characters, from: index + 2) else {
                    let (line, column) = locator.location(open)
                    throw .unterminatedPlaceholder(line: line, column: column)
                }
                if !text.isEmpty { parts.append(.text(text)); text = "" }
                let placeholder = try Self.parsePlaceholder(characters, from: open + 2, to: close, open: open, locator: locator)
                if !references.contains(placeholder.path) { references.append(placeholder.path) }
                parts.append(.placeholder(placeholder))
                index = close + 2
            } else {
                text.append(characters[index])
                index += 1
            }
        }
        if !text.isEmpty { parts.append(.text(text)) }
        self.parts = parts
        self.source = source
        self.references = references
    }

    /// Renders the template; fails on the first placeholder whose value is missing.
    public func render(_ context: TemplateContext) throws(TemplateError) -> String {
        var output = ""
        for part in parts {
            switch part {
            case .text(let text):
                output += text
            case .placeholder(let placeholder):
                var value = context.lookup(segments: placeholder.segments)
                for filter in placeholder.filters {
                    switch filter {
                    case .fallback(let fallback):
                        if value == nil || value == .null { value = fallback }
                    case .lower: value = value.map { .string($0.rendered.lowercased()) }
                    case .upper: value = value.map { .string($0.rendered.uppercased()) }
                    case .trim: value = value.map { .string($0.rendered.trimmingCharacters(in: .whitespacesAndNewlines)) }
                    case .json: value = value.map { .string($0.jsonText) }
                    }
                }
                guard let value else {
                    throw .missingValue(path: placeholder.path, line: placeholder.line, column: placeholder.column)
                }
                output += value.rendered
            }
        }
        return output
    }

    /// Index of the `}}` closing a placeholder whose content starts at `start`, skipping quoted text
    /// so that `default('}}')` works.
    private static func closingBraces(in characters: [Character], from start: Int) -> Int? {
        var index = start
        while index < characters.count {
            let character = characters[index]
            if character == "'" || character == "\"" {
                index += 1
                while index < characters.count, characters[index] != character {
                    if characters[index] == "\\" { index += 1 }
                    index += 1
                }
                if index >= characters.count { return nil }
                index += 1
            } else if character == "}", index + 1 < characters.count, characters[index + 1] == "}" {
                return index
            } else {
                index += 1
            }
        }
        return nil
    }

    private static func parsePlaceholder(
        _ characters: [Character], from start: Int, to end: Int, open: Int, locator: Locator
    ) throws(TemplateError) -> Placeholder {
        var index = start
        func skipSpaces() { while index < end, characters[index].isWhitespace { index += 1 } }
        func error(_ at: Int, _ make: (Int, Int) -> TemplateError) -> TemplateError {
            let (line, column) = locator.location(at)
            return make(line, column)
        }
        skipSpaces()
        guard index < end else { throw error(open) { .emptyPlaceholder(line: $0, column: $1) } }

        let pathStart = index
        while index < end, !characters[index].isWhitespace, characters[index] != "|" { index += 1 }
        let pathText = String(characters[pathStart..<index])
        let segments: [String]
        switch PathSyntax.segments(of: pathText) {
        case .success(let parsed): segments = parsed
        case .failure(let problem):
            throw error(pathStart + problem.offset) { .invalidPath(pathText, reason: problem.reason, line: $0, column: $1) }
        }

        var filters: [Filter] = []
        skipSpaces()
        while index < end {
            guard characters[index] == "|" else {
                let rest = String(characters[index..<end]).trimmingCharacters(in: .whitespaces)
                throw error(index) {
                    .invalidPath(pathText + " " + rest, reason: "unexpected '\(characters[index])' after the path; filters start with '|'",
                                 line: $0, column: $1)
                }
            }
            index += 1
            skipSpaces()
            let nameStart = index
            while index < end, characters[index].isLetter || characters[index] == "_" { index += 1 }
            let name = String(characters[nameStart..<index])
            guard !name.isEmpty else {
                throw error(nameStart) { .invalidFilter("", reason: "a filter name must follow '|'", line: $0, column: $1) }
            }
            skipSpaces()
            var argument: TemplateValue?
            if index < end, characters[index] == "(" {
                let argumentStart = index
                index += 1
                skipSpaces()
                let (value, next) = try parseArgument(characters, at: index, end: end, filter: name, locator: locator)
                argument = value
                index = next
                skipSpaces()
                guard index < end, characters[index] == ")" else {
                    throw error(index < end ? index : argumentStart) {
                        .invalidFilter(name, reason: "expected ')' after the argument", line: $0, column: $1)
                    }
                }
                index += 1
                skipSpaces()
            }
            switch name {
            case "default":
                guard let argument else {
                    throw error(nameStart) { .invalidFilter(name, reason: "needs a value, like default('none')", line: $0, column: $1) }
                }
                filters.append(.fallback(argument))
            case "lower", "upper", "trim", "json":
                if argument != nil {
                    throw error(nameStart) { .invalidFilter(name, reason: "takes no argument", line: $0, column: $1) }
                }
                filters.append(name == "lower" ? .lower : name == "upper" ? .upper : name == "trim" ? .trim : .json)
            default:
                throw error(nameStart) { .unknownFilter(name, line: $0, column: $1) }
            }
        }
        let (line, column) = locator.location(pathStart)
        return Placeholder(path: segments.joined(separator: "."), segments: segments, filters: filters, line: line, column: column)
    }

    /// A filter argument: a quoted string (with `\\`, `\'`, `\"`, `\n`, `\t` escapes), a number,
    /// `true`, `false` or `null`.
    private static func parseArgument(
        _ characters: [Character], at start: Int, end: Int, filter: String, locator: Locator
    ) throws(TemplateError) -> (TemplateValue, Int) {
        var index = start
        let (line, column) = locator.location(min(start, max(end - 1, 0)))
        guard index < end else {
            throw .invalidFilter(filter, reason: "expected a value in the parentheses", line: line, column: column)
        }
        let quote = characters[index]
        if quote == "'" || quote == "\"" {
            var text = ""
            index += 1
            while index < end, characters[index] != quote {
                if characters[index] == "\\", index + 1 < end {
                    index += 1
                    switch characters[index] {
                    case "n": text.append("\n")
                    case "t": text.append("\t")
                    case "r": text.append("\r")
                    default: text.append(characters[index])
                    }
                } else {
                    text.append(characters[index])
                }
                index += 1
            }
            guard index < end else {
                throw .invalidFilter(filter, reason: "the quoted argument is not closed", line: line, column: column)
            }
            return (.string(text), index + 1)
        }
        var word = ""
        while index < end, characters[index] != ")", !characters[index].isWhitespace {
            word.append(characters[index])
            index += 1
        }
        switch word {
        case "true": return (.bool(true), index)
        case "false": return (.bool(false), index)
        case "null": return (.null, index)
        default:
            if let number = Double(word), word.first?.isNumber == true || word.first == "-" {
                return (.number(number), index)
            }
            throw .invalidFilter(
                filter, reason: "'\(word)' is not a value; quote text like '\(word)'", line: line, column: column)
        }
    }
}

/// Maps character offsets to 1-based line and column.
struct Locator {
    private var lineStarts: [Int] = [0]

    init(_ characters: [Character]) {
        for (offset, character) in characters.enumerated() where character == "\n" || character == "\r\n" {
            lineStarts.append(offset + 1)
        }
    }

    func location(_ offset: Int) -> (line: Int, column: Int) {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return (low + 1, offset - lineStarts[low] + 1)
    }
}
