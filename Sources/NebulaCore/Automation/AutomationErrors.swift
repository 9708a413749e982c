import Foundation

/// Why a template could not be parsed or rendered. Lines and columns are 1-based and count
/// characters; `message` says what is wrong and what to write instead.
public enum TemplateError: Error, Equatable, CustomStringConvertible {
    /// The template is longer than `limit` characters.
    case tooLong(length: Int, limit: Int)
    /// A `{{` has no matching `}}`.
    case unterminatedPlaceholder(line: Int, column: Int)
    /// `{{ }}` with nothing inside.
    case emptyPlaceholder(line: Int, column: Int)
    /// The text inside `{{ … }}` is not a path like `incident.title` or `hosts[0]`.
    case invalidPath(String, reason: String, line: Int, column: Int)
    /// `| name` names a filter that does not exist.
    case unknownFilter(String, line: Int, column: Int)
    /// A known filter was called with the wrong arguments.
    case invalidFilter(String, reason: String, line: Int, column: Int)
    /// Rendering needed a value the context does not have (and the placeholder has no `default`).
    case missingValue(path: String, line: Int, column: Int)

    /// 1-based line of the problem (1 for problems with the whole template).
    public var line: Int {
        switch self {
        case .tooLong: return 1
        case .unterminatedPlaceholder(let line, _), .emptyPlaceholder(let line, _),
            .invalidPath(_, _, let line, _), .unknownFilter(_, let line, _), .invalidFilter(_, _, let line, _),
            .missingValue(_, let line, _):
            return line
        }
    }

    /// 1-based column of the problem within its line.
    public var column: Int {
        switch self {
        case .tooLong(_, let limit): return limit + 1
        case .unterminatedPlaceholder(_, let column), .emptyPlaceholder(_, let column),
            .invalidPath(_, _, _, let column), .unknownFilter(_, _, let column), .invalidFilter(_, _, _, let column),
            .missingValue(_, _, let column):
            return column
        }
    }

    /// What went wrong and how to fix it, without the location.
    public var message: String {
        switch self {
        case .tooLong(let length, let limit):
            return "the template is \(length) characters long; the limit is \(limit)"
        case .unterminatedPlaceholder:
            return "'{{' is not closed; add '}}' after the path"
        case .emptyPlaceholder:
            return "'{{ }}' is empty; put a path inside, like {{ incident.title }}"
        case .invalidPath(let text, let reason, _, _):
            return "'\(text)' is not a valid path: \(reason)"
        case .unknownFilter(let name, _, _):
            return "unknown filter '\(name)'; available filters: \(Template.filterNames.joined(separator: ", "))"
        case .invalidFilter(let name, let reason, _, _):
            return "filter '\(name)': \(reason)"
        case .missingValue(let path, _, _):
            return "no value for '\(path)'; check the spelling or add | default('…')"
        }
    }

    public var description: String {
        line == 1 ? "column \(column): \(message)" : "line \(line), column \(column): \(message)"
    }

    /// The offending source line with a caret under the column, followed by the message.
    public func annotated(_ source: String) -> String {
        Diagnostic.caret(source: source, line: line, column: column, message: message)
    }
}

/// Why a condition could not be parsed or evaluated. Columns are 1-based character offsets into
/// the condition text (a line break counts as one character); `message` says what to change.
public enum ConditionError: Error, Equatable, CustomStringConvertible {
    /// The condition is blank.
    case empty
    /// The condition is longer than `limit` bytes.
    case tooLong(length: Int, limit: Int)
    /// Parentheses, `not`s or list literals are nested deeper than `limit`.
    case tooDeep(limit: Int, column: Int)
    /// A character that starts no token (`$`, `;`, a single `&`, …).
    case unexpectedCharacter(String, column: Int)
    /// A quoted string has no closing quote.
    case unterminatedString(column: Int)
    /// A backslash escape other than `\\ \' \" \n \r \t \uXXXX`.
    case invalidEscape(String, column: Int)
    /// A malformed number such as `1.` or `1.2.3`.
    case invalidNumber(String, column: Int)
    /// A token that does not fit here; `expected` says what would.
    case unexpectedToken(String, expected: String, column: Int)
    /// The condition stops where more was expected.
    case unexpectedEnd(expected: String, column: Int)
    /// A malformed path such as `a..b` or `a[x]`.
    case invalidPath(String, reason: String, column: Int)
    /// A call to a function other than `exists`.
    case unknownFunction(String, column: Int)
    /// The condition refers to a value the context does not have. Guard it with `exists(path) && …`.
    case missingValue(path: String, column: Int)
    /// An operator applied to values it cannot compare, such as `'a' < 3`.
    case typeMismatch(operator: String, left: String, right: String, column: Int)

    /// 1-based column of the problem (1 for problems with the whole condition).
    public var column: Int {
        switch self {
        case .empty: return 1
        case .tooLong(_, let limit): return limit + 1
        case .tooDeep(_, let column), .unexpectedCharacter(_, let column), .unterminatedString(let column),
            .invalidEscape(_, let column), .invalidNumber(_, let column), .unexpectedToken(_, _, let column),
            .unexpectedEnd(_, let column), .invalidPath(_, _, let column), .unknownFunction(_, let column),
            .missingValue(_, let column), .typeMismatch(_, _, _, let column):
            return column
        }
    }

    /// What went wrong and how to fix it, without the location.
    public var message: String {
        switch self {
        case .empty:
            return "the condition is empty; write an expression like status == 'down'"
        case .tooLong(let length, let limit):
            return "the condition is \(length) bytes long; the limit is \(limit)"
        case .tooDeep(let limit, _):
            return "the condition nests more than \(limit) levels deep; simplify it"
        case .unexpectedCharacter(let text, _):
            let hint = text == "&" ? " (did you mean '&&'?)" : text == "|" ? " (did you mean '||'?)"
                : text == "=" ? " (did you mean '=='?)"
                : text == "{" || text == "}" ? " ('{{ … }}' must wrap the whole condition; inside it, write paths without braces)"
                : ""
            return "unexpected character '\(text)'\(hint)"
        case .unterminatedString:
            return "this string has no closing quote"
        case .invalidEscape(let text, _):
            return "unknown escape '\(text)'; use \\\\, \\', \\\", \\n, \\r, \\t or \\uXXXX"
        case .invalidNumber(let text, _):
            return "'\(text)' is not a number; write integers like 3 or decimals like 0.5"
        case .unexpectedToken(let text, let expected, _):
            return "unexpected '\(text)'; expected \(expected)"
        case .unexpectedEnd(let expected, _):
            return "the condition ends too early; expected \(expected)"
        case .invalidPath(let text, let reason, _):
            return "'\(text)' is not a valid path: \(reason)"
        case .unknownFunction(let name, _):
            return "unknown function '\(name)'; the only function is exists(path)"
        case .missingValue(let path, _):
            return "no value for '\(path)'; guard it with exists(\(path)) && …"
        case .typeMismatch(let op, let left, let right, _):
            return "cannot apply '\(op)' to \(left) and \(right)"
        }
    }

    public var description: String { "column \(column): \(message)" }

    /// The condition with a caret under the column, followed by the message.
    public func annotated(_ source: String) -> String {
        Diagnostic.caret(source: source, line: nil, column: column, message: message)
    }
}

/// One of the five fields of a cron expression.
public enum CronField: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case minute
    case hour
    case dayOfMonth = "day-of-month"
    case month
    case dayOfWeek = "day-of-week"

    /// The values the field accepts (day-of-week also accepts 7 for Sunday).
    public var range: ClosedRange<Int> {
        switch self {
        case .minute: return 0...59
        case .hour: return 0...23
        case .dayOfMonth: return 1...31
        case .month: return 1...12
        case .dayOfWeek: return 0...7
        }
    }

    public var description: String { rawValue }
}

/// Why a cron expression was rejected. Columns are 1-based character offsets into the expression.
public enum CronError: Error, Equatable, CustomStringConvertible {
    /// The expression is blank.
    case empty
    /// Not five fields.
    case wrongFieldCount(found: Int)
    /// A number outside the field's range, e.g. minute 61.
    case outOfRange(field: CronField, value: Int, range: ClosedRange<Int>, column: Int)
    /// Text that is neither a number nor a name the field accepts.
    case invalidValue(field: CronField, text: String, column: Int)
    /// A step that is not a positive number (`*/0`, `*/x`).
    case invalidStep(field: CronField, text: String, column: Int)
    /// A range whose start is after its end (`30-10`).
    case backwardsRange(field: CronField, low: Int, high: Int, column: Int)
    /// An `@macro` that does not exist.
    case unknownMacro(String)
    /// An `@every` duration that cannot be read.
    case invalidDuration(String, reason: String, column: Int)
    /// An `@every` duration under one second.
    case durationTooShort(String, column: Int)
    /// The schedule can never fire (e.g. February 30th).
    case impossible(reason: String, column: Int)

    /// 1-based column of the problem (1 for problems with the whole expression).
    public var column: Int {
        switch self {
        case .empty, .wrongFieldCount, .unknownMacro: return 1
        case .outOfRange(_, _, _, let column), .invalidValue(_, _, let column), .invalidStep(_, _, let column),
            .backwardsRange(_, _, _, let column), .invalidDuration(_, _, let column), .durationTooShort(_, let column),
            .impossible(_, let column):
            return column
        }
    }

    /// What went wrong and how to fix it, without the location.
    public var message: String {
        switch self {
        case .empty:
            return "the schedule is empty; write five fields (minute hour day-of-month month day-of-week) or a macro like @daily"
        case .wrongFieldCount(let found):
            return "expected 5 fields (minute hour day-of-month month day-of-week), found \(found)"
        case .outOfRange(let field, let value, let range, _):
            return "\(field) \(value) is out of range \(range.lowerBound)-\(range.upperBound)"
        case .invalidValue(let field, let text, _):
            let names = field == .month ? " or a name JAN-DEC" : field == .dayOfWeek ? " or a name SUN-SAT" : ""
            return "\(field) '\(text)' is not valid; use a number\(names), '*', a list a,b, a range a-b or a step */n"
        case .invalidStep(let field, let text, _):
            return "\(field) step '\(text)' must be a whole number of at least 1"
        case .backwardsRange(let field, let low, let high, _):
            return "\(field) range \(low)-\(high) runs backwards; write the smaller value first"
        case .unknownMacro(let name):
            return "unknown macro '\(name)'; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"
        case .invalidDuration(let text, let reason, _):
            return "'\(text)' is not a duration (\(reason)); write e.g. 90s, 5m, 2h or 1h30m"
        case .durationTooShort(let text, _):
            return "'\(text)' is shorter than the minimum interval of 1s"
        case .impossible(let reason, _):
            return "the schedule never fires: \(reason)"
        }
    }

    public var description: String { "column \(column): \(message)" }

    /// The expression with a caret under the column, followed by the message.
    public func annotated(_ source: String) -> String {
        Diagnostic.caret(source: source, line: nil, column: column, message: message)
    }
}

enum Diagnostic {
    /// `source line`, a caret line under `column`, and the message — for logs and `<pre>` blocks.
    static func caret(source: String, line: Int?, column: Int, message: String) -> String {
        let text: String
        if let line {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            text = line - 1 < lines.count && line >= 1 ? String(lines[line - 1]) : ""
        } else {
            text = source.replacingOccurrences(of: "\n", with: " ")
        }
        let pad = String(repeating: " ", count: max(0, column - 1))
        return "\(text)\n\(pad)^ \(message)"
    }
}
