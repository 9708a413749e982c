import Foundation

/// The directories a server's file browser may touch, such as `/srv` and `/home/pi`. A client names a
/// root by its index in ``paths``, so the order is part of the configuration.
///
/// Every root is absolute and normalised (no `//`, no `.` components, no trailing `/`), never contains
/// `..` or control characters, and appears once; at most ``maxCount`` roots. A root may itself be or
/// contain a symbolic link: it is resolved when used, because the administrator chose it. An empty
/// list means the file browser is off.
public struct FileRoots: Sendable, Codable, Hashable {
    /// The most roots one server may have.
    public static let maxCount = 20
    /// No roots: every operation answers `no_such_root`.
    public static let none = FileRoots(validated: [])

    /// The normalised absolute roots, in the order clients index them.
    public let paths: [String]

    /// Validates and normalises `paths`.
    public init(_ paths: [String]) throws(FileRootsError) {
        guard paths.count <= Self.maxCount else {
            throw FileRootsError(root: "", reason: "at most \(Self.maxCount) roots can be configured (got \(paths.count))")
        }
        var normalised: [String] = []
        for path in paths {
            let root = try Self.normalise(path)
            guard !normalised.contains(where: { Array($0.utf8) == Array(root.utf8) }) else {
                throw FileRootsError(root: root, reason: "is listed twice")
            }
            normalised.append(root)
        }
        self.paths = normalised
    }

    /// Parses a comma-separated setting such as `"/srv, /home/pi"`. Blanks around entries are ignored,
    /// and so are empty entries; an empty string means no roots. A root containing a comma cannot be
    /// given this way (use the array form).
    public init(setting: String) throws(FileRootsError) {
        let entries = setting.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        try self.init(entries)
    }

    private init(validated: [String]) {
        self.paths = validated
    }

    /// Decodes from a JSON array of strings, validating like ``init(_:)``.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let paths = try container.decode([String].self)
        do {
            try self.init(paths)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes as a JSON array of strings.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(paths)
    }

    /// How many roots there are.
    public var count: Int { paths.count }

    /// The root at `index`, or `nil` when there is none.
    public func root(at index: Int) -> String? {
        paths.indices.contains(index) ? paths[index] : nil
    }

    static func normalise(_ raw: String) throws(FileRootsError) -> String {
        let shown = FileAccessError.printable(raw, limit: 200)
        guard !raw.isEmpty else { throw FileRootsError(root: shown, reason: "is empty") }
        guard raw.utf8.count < 4096 else { throw FileRootsError(root: shown, reason: "is longer than 4095 bytes") }
        guard !raw.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw FileRootsError(root: shown, reason: "contains a NUL or control character")
        }
        guard raw.hasPrefix("/") else {
            throw FileRootsError(root: shown, reason: "is not absolute; give the full path, such as /srv")
        }
        var components: [Substring] = []
        for component in raw.split(separator: "/") where component != "." {
            guard component != ".." else { throw FileRootsError(root: shown, reason: "contains `..`; give the real directory") }
            components.append(component)
        }
        return "/" + components.joined(separator: "/")
    }
}

/// A configured file root is not acceptable. Names the root and the rule it breaks.
public struct FileRootsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The offending root as given (control characters replaced), or empty for list-wide problems.
    public let root: String
    /// Which rule it breaks.
    public let reason: String

    /// What to fix in the setting.
    public var description: String {
        root.isEmpty ? "File roots: \(reason)." : "File root \"\(root)\" \(reason)."
    }
}
