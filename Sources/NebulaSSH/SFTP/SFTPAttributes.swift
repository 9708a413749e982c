import Foundation

/// What kind of file the permission bits of ``SFTPAttributes`` describe.
public enum SFTPFileType: String, Sendable, Equatable {
    /// A regular file.
    case regular
    /// A directory.
    case directory
    /// A symbolic link (only ever reported by `lstat` and directory listings, which do not follow links).
    case symlink
    /// A device, FIFO or socket.
    case other
    /// The server sent no permission bits.
    case unknown
}

/// File attributes as SFTP version 3 carries them (`ATTRS`). Every field is optional: the server
/// sends only what it has.
public struct SFTPAttributes: Sendable, Equatable {
    /// Size in bytes (for a link from `lstat`: the length of its target text).
    public var size: UInt64?
    /// Numeric owner.
    public var userID: UInt32?
    /// Numeric group.
    public var groupID: UInt32?
    /// The whole `st_mode`: type bits (`0o170000`) and permission bits (`0o7777`).
    public var permissions: UInt32?
    /// Last access, seconds since 1970.
    public var accessTime: UInt32?
    /// Last modification, seconds since 1970.
    public var modificationTime: UInt32?

    /// Attributes with the given fields.
    public init(size: UInt64? = nil, userID: UInt32? = nil, groupID: UInt32? = nil, permissions: UInt32? = nil,
                accessTime: UInt32? = nil, modificationTime: UInt32? = nil) {
        self.size = size
        self.userID = userID
        self.groupID = groupID
        self.permissions = permissions
        self.accessTime = accessTime
        self.modificationTime = modificationTime
    }

    /// The file type from the type bits of ``permissions``.
    public var fileType: SFTPFileType {
        guard let permissions else { return .unknown }
        switch permissions & 0o170000 {
        case 0o100000: return .regular
        case 0o040000: return .directory
        case 0o120000: return .symlink
        default: return .other
        }
    }

    /// The permission bits alone (`0o7777`), such as `0o644`.
    public var mode: UInt32? { permissions.map { $0 & 0o7777 } }

    /// ``modificationTime`` as a date.
    public var modified: Date? { modificationTime.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
}

/// One name in a directory listing.
public struct SFTPDirectoryEntry: Sendable, Equatable {
    /// The name inside the directory (never `.` or `..`). Bytes that are not UTF-8 are replaced by U+FFFD.
    public var name: String
    /// The entry's attributes, not following links (OpenSSH `lstat`s each entry).
    public var attributes: SFTPAttributes

    /// An entry.
    public init(name: String, attributes: SFTPAttributes) {
        self.name = name
        self.attributes = attributes
    }
}

/// The names of one directory, in the server's order.
public struct SFTPDirectoryListing: Sendable, Equatable {
    /// The entries, at most the requested limit.
    public var entries: [SFTPDirectoryEntry]
    /// `false` when the directory has more entries than the limit.
    public var complete: Bool

    /// A listing.
    public init(entries: [SFTPDirectoryEntry], complete: Bool) {
        self.entries = entries
        self.complete = complete
    }
}

/// How ``SFTPSession/write(_:data:offset:options:permissions:)`` opens the file (always for writing).
public struct SFTPWriteOptions: OptionSet, Sendable, Hashable {
    /// The raw `SSH_FXF_*` bits.
    public let rawValue: UInt32
    /// Options from raw `SSH_FXF_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `SSH_FXF_CREAT`: create the file if it does not exist.
    public static let create = SFTPWriteOptions(rawValue: 0x08)
    /// `SSH_FXF_TRUNC`: cut an existing file to zero bytes first.
    public static let truncate = SFTPWriteOptions(rawValue: 0x10)
    /// `SSH_FXF_EXCL` (with `create`): fail if the name exists — also if it is a symbolic link.
    public static let exclusive = SFTPWriteOptions(rawValue: 0x20)
}
