import Foundation

/// A safe boolean expression over a `TemplateContext`, for runbook `when:` clauses and workflow
/// triggers. It is parsed into a small tree and interpreted; nothing is ever executed.
///
/// ```
/// incident.severity == 'critical' && server.labels.env in ['prod', 'staging']
/// not steps.restart.failed or steps.check.latency_ms > 1500
/// exists(event.data.container) && event.data.container contains 'db'
/// {{ steps.check_health.failed }}
/// ```
/// - Literals: integers and decimals (`3`, `-0.5`), strings in `'single'` or `"double"` quotes
///   with `\\ \' \" \n \r \t \uXXXX` escapes, `true`, `false`, `null`, lists `['a', 'b']`.
/// - Paths: `a.b.c`, `hosts.0`, `hosts[0]` (see `TemplateContext`). The words `true false null
///   and or not in contains exists` are reserved and cannot be used as a bare top-level path.
/// - Operators, loosest first: `||`/`or`; `&&`/`and`; `!`/`not` (so `not a == b` means
///   `not (a == b)`); comparisons `== != < <= > >= in`, `not in`, `contains`; parentheses group.
///   Comparisons do not chain (`a < b < c` is an error).
/// - `==`/`!=` compare any two values; values of different types are never equal (`1 == '1'` is
///   false). `< <= > >=` compare two numbers numerically or two strings lexically, and fail with
///   `typeMismatch` otherwise. `x in list` tests membership, `x in 'text'` a substring,
///   `x in object` a key; `a contains b` is `b in a`.
/// - `&&`, `||` and `!` use truthiness (`TemplateValue.isTruthy`) and short-circuit: the right
///   side is not evaluated when the left side decides, so `exists(a) && a.b > 1` is safe.
/// - Missing values: referring to a path the context lacks fails with `missingValue` — also in
///   `x == null`. Test for presence with `exists(path)`, which is true when the path resolves to a
///   value other than `null`.
/// - A condition written as one template, `{{ expression }}`, means the same as `expression`;
///   the result of the whole condition is the truthiness of its value.
/// - Limits, for hostile input: at most `maxLength` bytes and `maxDepth` levels of nesting.
public struct Condition: Sendable {
    /// Longest accepted condition, in UTF-8 bytes.
    public static let maxLength = 4096
    /// Deepest accepted nesting of parentheses, negations and list literals.
    public static let maxDepth = 64

    /// The source the condition was parsed from.
    public let source: String
    /// The paths the condition reads, dotted (`hosts[0]` is `hosts.0`), each once, in order of first use.
    public let references: [String]
    let root: ConditionNode

    /// Parses `source`; fails with the column of the first problem.
    public init(parsing source: String) throws(ConditionError) {
        let length = source.utf8.count
        guard length <= Self.maxLength else { throw .tooLong(length: length, limit: Self.maxLength) }
        let characters = Array(source)
        var start = 0
        var end = characters.count
        while start < end, characters[start].isWhitespace { start += 1 }
        while end > start, characters[end - 1].isWhitespace { end -= 1 }
        guard start < end else { throw .empty }
        // The whole-template form `{{ … }}` is the expression inside.
        if end - start >= 4, characters[start] == "{", characters[start + 1] == "{",
            characters[end - 1] == "}", characters[end - 2] == "}"
        {
            start += 2
            end -= 2
            var inner = start
            while inner < end, characters[inner].isWhitespace { inner += 1 }
            if inner == end { throw .unexpectedEnd(expected: "an expression inside '{{ }}'", column: start + 1) }
        }
        var lexer = ConditionLexer(characters: characters, index: start, end: end)
        let tokens = try lexer.tokenize()
        var parser = ConditionParser(tokens: tokens, endColumn: end + 1)
        let root = try parser.parseCondition()
        self.source = source
        self.root = root
        self.references = parser.references
    }

    /// Evaluates the condition; fails on a missing value or a type mismatch that evaluation reaches.
    public func evaluate(_ context: TemplateContext) throws(ConditionError) -> Bool {
        try root.evaluate(in: context).isTruthy
    }
}

// MARK: - Tokens

struct ConditionToken: Sendable {
    enum Kind: Sendable, Equatable {
        case literal(TemplateValue)
        case path(String, [String])
        case word(String)          // and or not in contains exists
        case symbol(String)        // == != < <= > >= && || ! ( ) [ ] ,
    }

    var kind: Kind
    var text: String
    var column: Int
}

struct ConditionLexer {
    static let reserved: Set<String> = ["and", "or", "not", "in", "contains", "exists"]

    let characters: [Character]
    var index: Int
    let end: Int

    mutating func tokenize() throws(ConditionError) -> [ConditionToken] {
        var tokens: [ConditionToken] = []
        while true {
            while index < end, characters[index].isWhitespace { index += 1 }
            guard index < end else { return tokens }
            tokens.append(try next())
        }
    }

    private func peek(_ offset: Int = 0) -> Character? {
        index + offset < end ? characters[index + offset] : nil
    }

    private mutating func next() throws(ConditionError) -> ConditionToken {
        let start = index
        let column = start + 1
        let character = characters[index]
        func symbol(_ text: String) -> ConditionToken {
            index += text.count
            return ConditionToken(kind: .symbol(text), text: text, column: column)
        }
        switch character {
        case "(", ")", "[", "]", ",": return symbol(String(character))
        case "=":
            if peek(1) == "=" { return symbol("==") }
        case "!":
            return peek(1) == "=" ? symbol("!=") : symbol("!")
        case "<", ">":
            return peek(1) == "=" ? symbol(String(character) + "=") : symbol(String(character))
        case "&":
            if peek(1) == "&" { return symbol("&&") }
        case "|":
            if peek(1) == "|" { return symbol("||") }
        case "'", "\"":
            return try string(quote: character)
        default:
            if character.isASCII, character.isNumber || (character == "-" && peek(1).map { $0.isASCII && $0.isNumber } == true) {
                return try number()
            }
            if character.isASCII, character.isLetter || character == "_" {
                return try pathOrWord()
            }
        }
        throw .unexpectedCharacter(String(character), column: column)
    }

    private mutating func string(quote: Character) throws(ConditionError) -> ConditionToken {
        let start = index
        index += 1
        var text = ""
        while true {
            guard let character = peek() else { throw .unterminatedString(column: start + 1) }
            index += 1
            if character == quote { break }
            guard character == "\\" else { text.append(character); continue }
            guard let escaped = peek() else { throw .unterminatedString(column: start + 1) }
            index += 1
            switch escaped {
            case "\\": text.append("\\")
            case "'": text.append("'")
            case "\"": text.append("\"")
            case "n": text.append("\n")
            case "r": text.append("\r")
            case "t": text.append("\t")
            case "u":
                var hex = ""
                while hex.count < 4, let digit = peek(), digit.isHexDigit { hex.append(digit); index += 1 }
                guard hex.count == 4, let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) else {
                    throw .invalidEscape("\\u" + hex, column: index - hex.count - 1)
                }
                text.unicodeScalars.append(scalar)
            default:
                throw .invalidEscape("\\" + String(escaped), column: index - 1)
            }
        }
        return ConditionToken(kind: .literal(.string(text)), text: String(characters[start..<index]), column: start + 1)
    }

    private mutating func number() throws(ConditionError) -> ConditionToken {
        let start = index
        if peek() == "-" { index += 1 }
        while let character = peek(), character.isASCII, character.isNumber { index += 1 }
        var valid = true
        if peek() == "." {
            index += 1
            var fraction = 0
            while let character = peek(), character.isASCII, character.isNumber { index += 1; fraction += 1 }
            valid = fraction > 0
        }
        // `1.2.3`, `12abc`: swallow the rest of the word so the error shows all of it.
        while let character = peek(), character == "." || character == "_" || (character.isASCII && character.isLetter) || character.isNumber {
            index += 1
            valid = false
        }
        let text = String(characters[start..<index])
        guard valid, let value = Double(text) else { throw .invalidNumber(text, column: start + 1) }
        return ConditionToken(kind: .literal(.number(value)), text: text, column: start + 1)
    }

    private mutating func pathOrWord() throws(ConditionError) -> ConditionToken {
        let start = index
        while let character = peek(), PathSyntax.isSegmentCharacter(character) { index += 1 }
        let word = String(characters[start..<index])
        switch word {
        case "true": return ConditionToken(kind: .literal(.bool(true)), text: word, column: start + 1)
        case "false": return ConditionToken(kind: .literal(.bool(false)), text: word, column: start + 1)
        case "null": return ConditionToken(kind: .literal(.null), text: word, column: start + 1)
        default:
            if Self.reserved.contains(word) {
                return ConditionToken(kind: .word(word), text: word, column: start + 1)
            }
        }
        // Continue the path through `.segment` and `[index]`.
        while let character = peek(), character == "." || character == "[" {
            if character == "." {
                index += 1
                let segmentStart = index
                while let next = peek(), PathSyntax.isSegmentCharacter(next) { index += 1 }
                if index == segmentStart { break }
            } else {
                index += 1
                while let next = peek(), next.isASCII, next.isNumber { index += 1 }
                guard peek() == "]" else { break }
                index += 1
            }
        }
        let text = String(characters[start..<index])
        if case .success(let segments) = PathSyntax.segments(of: text) {
            return ConditionToken(kind: .path(segments.joined(separator: "."), segments), text: text, column: start + 1)
        }
        // Show the character that stopped the path too: it is usually the mistake (`a..b`, `a[x]`).
        var shown = text
        if let next = peek(), !next.isWhitespace { shown.append(next) }
        let problem: PathSyntax.PathProblem
        switch PathSyntax.segments(of: shown) {
        case .failure(let found): problem = found
        case .success: problem = PathSyntax.PathProblem(offset: text.count, reason: "the path is incomplete")
        }
        throw .invalidPath(shown, reason: problem.reason, column: start + problem.offset + 1)
    }
}

// MARK: - Syntax tree

indirect enum ConditionNode: Sendable {
    case literal(TemplateValue)
    case path(String, [String], column: Int)
    case list([ConditionNode])
    case not(ConditionNode)
    case all([ConditionNode])
    case any([ConditionNode])
    case exists([String])
    case compare(String, ConditionNode, ConditionNode, column: Int)

    func evaluate(in context: TemplateContext) throws(ConditionError) -> TemplateValue {
        switch self {
        case .literal(let value):
            return value
        case .path(let path, let segments, let column):
            guard let value = context.lookup(segments: segments) else { throw .missingValue(path: path, column: column) }
            return value
        case .list(let elements):
            var values: [TemplateValue] = []
            for element in elements { values.append(try element.evaluate(in: context)) }
            return .list(values)
        case .not(let operand):
            return .bool(!(try operand.evaluate(in: context).isTruthy))
        case .all(let operands):
            for operand in operands where !(try operand.evaluate(in: context).isTruthy) { return .bool(false) }
            return .bool(true)
        case .any(let operands):
            for operand in operands where try operand.evaluate(in: context).isTruthy { return .bool(true) }
            return .bool(false)
        case .exists(let segments):
            let value = context.lookup(segments: segments)
            return .bool(value != nil && value != .null)
        case .compare(let op, let leftNode, let rightNode, let column):
            let left = try leftNode.evaluate(in: context)
            let right = try rightNode.evaluate(in: context)
            return .bool(try Self.compare(op, left, right, column: column))
        }
    }

    private static func compare(_ op: String, _ left: TemplateValue, _ right: TemplateValue, column: Int) throws(ConditionError) -> Bool {
        switch op {
        case "==": return left == right
        case "!=": return left != right
        case "<", "<=", ">", ">=":
            let order: ComparisonResult
            switch (left, right) {
            case (.number(let a), .number(let b)):
                order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
                if a.isNaN || b.isNaN { return false }
            case (.string(let a), .string(let b)):
                order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
            default:
                throw .typeMismatch(operator: op, left: left.typeName, right: right.typeName, column: column)
            }
            switch op {
            case "<": return order == .orderedAscending
            case "<=": return order != .orderedDescending
            case ">": return order == .orderedDescending
            default: return order != .orderedAscending
            }
        case "in", "not in":
            let found = try membership(left, in: right, op: op, left: left, right: right, column: column)
            return op == "in" ? found : !found
        default: // contains
            return try membership(right, in: left, op: op, left: left, right: right, column: column)
        }
    }

    private static func membership(
        _ element: TemplateValue, in container: TemplateValue, op: String, left: TemplateValue, right: TemplateValue, column: Int
    ) throws(ConditionError) -> Bool {
        switch (element, container) {
        case (_, .list(let elements)): return elements.contains(element)
        case (.string(let needle), .string(let haystack)): return haystack.contains(needle)
        case (.string(let key), .object(let members)): return members[key] != nil
        default:
            throw .typeMismatch(operator: op, left: left.typeName, right: right.typeName, column: column)
        }
    }
}

// MARK: - Parser

struct ConditionParser {
    let tokens: [ConditionToken]
    let endColumn: Int
    var position = 0
    var depth = 0
    var references: [String] = []

    init(tokens: [ConditionToken], endColumn: Int) {
        self.tokens = tokens
        self.endColumn = endColumn
    }

    mutating func parseCondition() throws(ConditionError) -> ConditionNode {
        guard !tokens.isEmpty else { throw .empty }
        let node = try parseOr()
        if position < tokens.count {
            let token = tokens[position]
            let expected = Self.isComparison(token) ? "'&&' or '||' (comparisons cannot be chained)" : "'&&', '||' or the end"
            throw .unexpectedToken(token.text, expected: expected, column: token.column)
        }
        return node
    }

    private var current: ConditionToken? { position < tokens.count ? tokens[position] : nil }

    private func isSymbol(_ text: String) -> Bool {
        if let current, case .symbol(text) = current.kind { return true }
        return false
    }

    private func isWord(_ text: String, at offset: Int = 0) -> Bool {
        if position + offset < tokens.count, case .word(text) = tokens[position + offset].kind { return true }
        return false
    }

    private static func isComparison(_ token: ConditionToken) -> Bool {
        switch token.kind {
        case .symbol(let text): return ["==", "!=", "<", "<=", ">", ">="].contains(text)
        case .word(let text): return text == "in" || text == "contains"
        default: return false
        }
    }

    private mutating func expect(_ symbol: String, _ expected: String) throws(ConditionError) {
        guard let token = current else { throw .unexpectedEnd(expected: expected, column: endColumn) }
        guard case .symbol(symbol) = token.kind else {
            throw .unexpectedToken(token.text, expected: expected, column: token.column)
        }
        position += 1
    }

    private mutating func descend(_ column: Int) throws(ConditionError) {
        depth += 1
        if depth > Condition.maxDepth { throw .tooDeep(limit: Condition.maxDepth, column: column) }
    }

    private mutating func parseOr() throws(ConditionError) -> ConditionNode {
        var operands = [try parseAnd()]
        while isSymbol("||") || isWord("or") {
            position += 1
            operands.append(try parseAnd())
        }
        return operands.count == 1 ? operands[0] : .any(operands)
    }

    private mutating func parseAnd() throws(ConditionError) -> ConditionNode {
        var operands = [try parseUnary()]
        while isSymbol("&&") || isWord("and") {
            position += 1
            operands.append(try parseUnary())
        }
        return operands.count == 1 ? operands[0] : .all(operands)
    }

    private mutating func parseUnary() throws(ConditionError) -> ConditionNode {
        if let token = current, isSymbol("!") || isWord("not") {
            position += 1
            try descend(token.column)
            defer { depth -= 1 }
            return .not(try parseUnary())
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws(ConditionError) -> ConditionNode {
        let left = try parsePrimary()
        guard let token = current else { return left }
        var op: String
        switch token.kind {
        case .symbol(let text) where ["==", "!=", "<", "<=", ">", ">="].contains(text): op = text
        case .word("in"): op = "in"
        case .word("contains"): op = "contains"
        case .word("not") where isWord("in", at: 1):
            op = "not in"
            position += 1
        default: return left
        }
        position += 1
        let right = try parsePrimary()
        return .compare(op, left, right, column: token.column)
    }

    private mutating func parsePrimary() throws(ConditionError) -> ConditionNode {
        guard let token = current else {
            throw .unexpectedEnd(expected: "a value, a path, '(' or '!'", column: endColumn)
        }
        switch token.kind {
        case .literal(let value):
            position += 1
            return .literal(value)
        case .path(let path, let segments):
            position += 1
            if isSymbol("(") { throw .unknownFunction(token.text, column: token.column) }
            if !references.contains(path) { references.append(path) }
            return .path(path, segments, column: token.column)
        case .symbol("("):
            position += 1
            try descend(token.column)
            defer { depth -= 1 }
            let inner = try parseOr()
            try expect(")", "')' to close the '(' at column \(token.column)")
            return inner
        case .symbol("["):
            position += 1
            try descend(token.column)
            defer { depth -= 1 }
            var elements: [ConditionNode] = []
            if isSymbol("]") { position += 1; return .list(elements) }
            while true {
                elements.append(try parsePrimary())
                if isSymbol(",") { position += 1; continue }
                try expect("]", "',' or ']' to close the list at column \(token.column)")
                return .list(elements)
            }
        case .word("exists"):
            position += 1
            try expect("(", "'(' after exists")
            guard let argument = current else { throw .unexpectedEnd(expected: "a path inside exists( )", column: endColumn) }
            guard case .path(let path, let segments) = argument.kind else {
                throw .unexpectedToken(argument.text, expected: "a path inside exists( )", column: argument.column)
            }
            position += 1
            try expect(")", "')' after the path in exists(")
            if !references.contains(path) { references.append(path) }
            return .exists(segments)
        default:
            throw .unexpectedToken(token.text, expected: "a value, a path, '(' or '!'", column: token.column)
        }
    }
}
