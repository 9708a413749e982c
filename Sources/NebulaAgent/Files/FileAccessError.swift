import Foundation

/// Why a file-browser operation was refused or failed. Every case has a stable ``Code`` (what the
/// dashboard and the agent protocol switch on) and a ``description`` that names the path the way the
/// user typed it — the configured root plus the relative path — and says what to do. Messages never
/// contain a resolved path, a symbolic link's target or any other path outside the roots.
public struct FileAccessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable, machine-readable reason. The raw values are part of the agent protocol.
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The path leads out of its root (through a symbolic link, or something changed while it was opened).
        case outsideRoot = "outside_root"
        /// The relative path breaks a rule (`..`, absolute, NUL, backslash, encoded traversal, …).
        case invalidPath = "invalid_path"
        /// Nothing exists at that path.
        case notFound = "not_found"
        /// Something already exists where a new entry was to be created.
        case exists
        /// A directory was expected.
        case notADirectory = "not_a_directory"
        /// A file was expected but this is a directory.
        case isADirectory = "is_a_directory"
        /// The directory has entries; deleting it needs `recursive`.
        case directoryNotEmpty = "directory_not_empty"
        /// The upload is larger than the configured limit.
        case tooLarge = "too_large"
        /// The operating system refused (permissions, read-only file system).
        case permissionDenied = "permission_denied"
        /// Any other failure of the disk or file system.
        case ioError = "io_error"
        /// The root index is not one of the configured roots.
        case noSuchRoot = "no_such_root"
        /// The upload id is unknown, finished, aborted or expired.
        case unknownUpload = "unknown_upload"
        /// The request itself is malformed (missing field, bad base64, wrong offset, unknown operation).
        case invalidRequest = "invalid_request"
    }

    /// The stable reason.
    public let code: Code
    /// The path as the user sees it (root + relative path), already made safe to print; empty when none applies.
    public let path: String
    /// A sentence for people: what went wrong with which path, and what to do.
    public let description: String

    /// Creates an error; prefer the named factories below.
    public init(code: Code, path: String, description: String) {
        self.code = code
        self.path = path
        self.description = description
    }

    private static func make(_ code: Code, _ path: String, _ text: String) -> FileAccessError {
        FileAccessError(code: code, path: path, description: path.isEmpty ? text : "\(path): \(text)")
    }

    /// The path leads out of its root. `why` must not contain a path.
    public static func outsideRoot(_ path: String, _ why: String = "it leads outside its root through a symbolic link") -> Self {
        make(.outsideRoot, path, "\(why). Only files inside the configured roots can be used.")
    }
    /// The relative path breaks a rule; `rule` says which.
    public static func invalidPath(_ path: String, _ rule: String) -> Self {
        make(.invalidPath, path, "\(rule).")
    }
    /// Nothing at that path.
    public static func notFound(_ path: String, _ what: String = "no such file or directory") -> Self {
        make(.notFound, path, "\(what). Refresh the listing; it may have been moved or deleted.")
    }
    /// Something already exists there.
    public static func exists(_ path: String) -> Self {
        make(.exists, path, "something with this name already exists. Choose another name, or ask to overwrite a file.")
    }
    /// A directory was expected.
    public static func notADirectory(_ path: String) -> Self {
        make(.notADirectory, path, "this is not a directory (or a part of the path is a file).")
    }
    /// A file was expected.
    public static func isADirectory(_ path: String) -> Self {
        make(.isADirectory, path, "this is a directory; the operation needs a file.")
    }
    /// The directory is not empty.
    public static func directoryNotEmpty(_ path: String) -> Self {
        make(.directoryNotEmpty, path, "the directory is not empty. Delete it recursively to remove everything in it.")
    }
    /// Larger than the limit.
    public static func tooLarge(_ path: String, limit: Int64) -> Self {
        make(.tooLarge, path, "the upload is larger than the limit of \(limit) bytes.")
    }
    /// The operating system refused.
    public static func permissionDenied(_ path: String, _ why: String = "permission denied") -> Self {
        make(.permissionDenied, path, "\(why). The \(processUserDescription) may not do this here.")
    }
    /// Any other I/O failure.
    public static func ioError(_ path: String, _ why: String) -> Self {
        make(.ioError, path, "\(why).")
    }
    /// The root index is not configured.
    public static func noSuchRoot(_ index: Int, count: Int) -> Self {
        make(.noSuchRoot, "root #\(index)", count == 0
             ? "no file roots are configured for this server."
             : "there is no such root; this server has \(count) root(s), numbered from 0.")
    }
    /// The upload id is unknown.
    public static func unknownUpload(_ id: String) -> Self {
        make(.unknownUpload, "", "upload \(Self.printable(id, limit: 64)) is unknown, finished, aborted or expired. Start the upload again.")
    }
    /// The request is malformed.
    public static func invalidRequest(_ why: String, path: String = "") -> Self {
        make(.invalidRequest, path, "\(why).")
    }

    private static var processUserDescription: String { "user running Nebula Command" }

    /// `text` with control characters replaced by `?` and cut to `limit` characters, so a hostile
    /// name cannot forge log lines or flood a message.
    public static func printable(_ text: String, limit: Int = 512) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit { out += "…"; break }
            out.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) ? "?" : scalar)
            count += 1
        }
        return out
    }
}
