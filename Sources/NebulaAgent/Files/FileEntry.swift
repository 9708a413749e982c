import Foundation

/// What a directory entry is. Symbolic links are reported as links, never as what they point to.
public enum FileKind: String, Sendable, Codable, CaseIterable {
    /// A regular file.
    case file
    /// A directory.
    case directory
    /// A symbolic link (see ``FileEntry/symlinkTarget``).
    case symlink
    /// A device, FIFO or socket: listed, but never read or written.
    case other
}

/// One file, directory or link as the browser shows it.
public struct FileEntry: Sendable, Codable, Equatable {
    /// The name inside its directory (for a root: the root's last path component).
    public var name: String
    /// What it is; links are not followed.
    public var kind: FileKind
    /// Size in bytes (for a link: the length of its target text).
    public var size: Int64
    /// Last modification, in whole seconds (so it survives ISO 8601 JSON unchanged).
    public var modified: Date
    /// Permission bits as `ls` shows them, such as `rwxr-xr-x` (with `s`/`S`/`t`/`T` for the special bits).
    public var permissions: String
    /// The permission bits as a number, such as `0o755`.
    public var mode: Int
    /// For a link: the target text exactly as stored, not resolved and not followed.
    public var symlinkTarget: String?

    /// Creates an entry.
    public init(name: String, kind: FileKind, size: Int64, modified: Date, permissions: String, mode: Int, symlinkTarget: String? = nil) {
        self.name = name
        self.kind = kind
        self.size = size
        self.modified = modified
        self.permissions = permissions
        self.mode = mode
        self.symlinkTarget = symlinkTarget
    }

    /// `rwxr-xr-x`-style text for the low 12 mode bits.
    public static func permissionString(mode: Int) -> String {
        func triplet(_ bits: Int, special: Bool, set: Character, unset: Character) -> String {
            let read: Character = bits & 4 != 0 ? "r" : "-"
            let write: Character = bits & 2 != 0 ? "w" : "-"
            let execute: Character = special ? (bits & 1 != 0 ? set : unset) : (bits & 1 != 0 ? "x" : "-")
            return String([read, write, execute])
        }
        return triplet(mode >> 6 & 7, special: mode & 0o4000 != 0, set: "s", unset: "S")
            + triplet(mode >> 3 & 7, special: mode & 0o2000 != 0, set: "s", unset: "S")
            + triplet(mode & 7, special: mode & 0o1000 != 0, set: "t", unset: "T")
    }
}

/// The entries of one directory: directories first, then everything else, each group by name.
public struct Listing: Sendable, Codable, Equatable {
    /// The directory that was listed, as the client named it.
    public var path: ClientPath
    /// At most ``FileAccess/maxListEntries`` entries.
    public var entries: [FileEntry]
    /// `true` when the directory has more entries than were returned.
    public var truncated: Bool

    /// Creates a listing.
    public init(path: ClientPath, entries: [FileEntry], truncated: Bool) {
        self.path = path
        self.entries = entries
        self.truncated = truncated
    }
}

/// Names one chunked upload between ``FileAccess/beginUpload(_:overwrite:expectedSize:)`` and
/// ``FileAccess/finishUpload(_:)``. Encoded as a plain string.
public struct UploadID: RawRepresentable, Sendable, Codable, Hashable, CustomStringConvertible {
    /// The id text (a random UUID when made by ``FileAccess``).
    public let rawValue: String
    /// Wraps an id text.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The id text.
    public var description: String { rawValue }

    /// Decodes from a plain string.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes as a plain string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
