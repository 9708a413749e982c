import Foundation

/// A path as a client names it: which configured root (by index into ``FileRoots/paths``) and a
/// path relative to that root, with `/` between names — for example root 0, `"media/movies"`.
/// `""` (or `"."`) is the root itself. See ``ClientPath/components()`` for what is refused.
public struct ClientPath: Sendable, Codable, Hashable, CustomStringConvertible {
    /// Index into the server's ``FileRoots``.
    public var root: Int
    /// Relative path inside the root.
    public var path: String

    /// A path inside root number `root`.
    public init(root: Int, path: String) {
        self.root = root
        self.path = path
    }

    /// `root #N:path`, with control characters replaced; for logs.
    public var description: String {
        "root #\(root):\(FileAccessError.printable(path, limit: 512))"
    }

    /// The names along the path after the lexical checks; empty for the root itself.
    ///
    /// Refused (``FileAccessError/Code/invalidPath``):
    /// - absolute paths, and more than 4095 bytes in all or 255 in one name;
    /// - NUL and other control characters (U+0000–U+001F, U+007F);
    /// - any backslash, so no layer that treats `\` as a separator can turn `..\..` into `../..`;
    /// - empty names (`a//b`, a leading or trailing `/`), `.` and `..`;
    /// - names that become `.` or `..`, or contain `/`, `\`, NUL or a control byte, or are not valid
    ///   UTF-8 (overlong forms such as `%c0%ae`), when percent-decoded once, twice, three or four times
    ///   (`%2e%2e`, `..%2f`, `%252e%252e`);
    /// - names whose Unicode compatibility form (NFKC) is `.` or `..` or contains `/` or `\`
    ///   (`‥`, `．．`, `／`).
    ///
    /// Nothing here ever percent-decodes a name: the HTTP layer decodes once, and whatever remains is
    /// the literal name on disk. So `100% done.txt` and `a%20b` are ordinary names, while a name that
    /// would become traversal after a further decoding is refused rather than trusted.
    public func components() throws(PathRuleViolation) -> [String] {
        try PathRules.components(of: path)
    }
}

/// Which lexical rule a client path breaks; becomes ``FileAccessError/invalidPath(_:_:)``.
public struct PathRuleViolation: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rule, as a sentence fragment such as "contains `..`".
    public let rule: String
    /// The rule.
    public var description: String { rule }
}

enum PathRules {
    static let maxPathBytes = 4095
    static let maxNameBytes = 255
    static let decodingRounds = 4

    static func components(of path: String) throws(PathRuleViolation) -> [String] {
        if path.isEmpty || path == "." { return [] }
        guard path.utf8.count <= maxPathBytes else { throw PathRuleViolation(rule: "the path is longer than \(maxPathBytes) bytes") }
        guard !path.utf8.contains(0) else { throw PathRuleViolation(rule: "the path contains a NUL byte") }
        guard !path.unicodeScalars.contains(where: isControl) else { throw PathRuleViolation(rule: "the path contains a control character") }
        guard !path.utf8.contains(UInt8(ascii: "\\")) else {
            throw PathRuleViolation(rule: "the path contains a backslash; separate folders with /")
        }
        guard !path.hasPrefix("/") else {
            throw PathRuleViolation(rule: "the path is absolute; give a path relative to the root")
        }
        var names: [String] = []
        for name in path.split(separator: "/", omittingEmptySubsequences: false) {
            let name = String(name)
            try check(name: name)
            names.append(name)
        }
        return names
    }

    static func check(name: String) throws(PathRuleViolation) {
        guard !name.isEmpty else { throw PathRuleViolation(rule: "the path contains an empty name (// or a leading or trailing /)") }
        guard Array(name.utf8) != [0x2E, 0x2E] else { throw PathRuleViolation(rule: "the path contains `..`") }
        guard Array(name.utf8) != [0x2E] else { throw PathRuleViolation(rule: "the path contains `.` as a name") }
        guard name.utf8.count <= maxNameBytes else { throw PathRuleViolation(rule: "a name is longer than \(maxNameBytes) bytes") }
        try checkCompatibilityForm(name)
        try checkPercentDecodings(name)
    }

    /// NFKC turns `‥` into `..` and `／` into `/`; refuse names some later layer could normalise into traversal.
    static func checkCompatibilityForm(_ name: String) throws(PathRuleViolation) {
        let folded = Array(name.precomposedStringWithCompatibilityMapping.utf8)
        if folded == [0x2E] || folded == [0x2E, 0x2E] || folded.contains(0x2F) || folded.contains(0x5C) {
            throw PathRuleViolation(rule: "a name turns into `.`, `..` or a separator under Unicode normalisation")
        }
    }

    static func checkPercentDecodings(_ name: String) throws(PathRuleViolation) {
        var bytes = Array(name.utf8)
        for _ in 0..<decodingRounds {
            guard let decoded = percentDecoded(bytes) else { return }
            let encodedTraversal = PathRuleViolation(rule: "a name contains percent-encoded traversal (such as %2e%2e or %2f); names are never decoded here")
            if decoded == [0x2E] || decoded == [0x2E, 0x2E] { throw encodedTraversal }
            if decoded.contains(where: { $0 == 0x2F || $0 == 0x5C || $0 < 0x20 || $0 == 0x7F }) { throw encodedTraversal }
            guard let text = String(validating: decoded, as: UTF8.self) else {
                throw PathRuleViolation(rule: "a name contains percent-encoded bytes that are not valid UTF-8 (such as %c0%ae)")
            }
            try checkCompatibilityForm(text)
            bytes = decoded
        }
    }

    /// One round of percent-decoding, or `nil` when there is no `%XX` to decode.
    static func percentDecoded(_ bytes: [UInt8]) -> [UInt8]? {
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var changed = false
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
                changed = true
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return changed ? out : nil
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }
}
