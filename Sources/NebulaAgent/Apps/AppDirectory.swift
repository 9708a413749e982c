#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DockerEngine
import Foundation

/// The directory of each installed app on this node: `<appsRoot>/<project>/` with the app's
/// `docker-compose.yml` and `.env`, which ``DefaultComposeRunner`` then runs.
///
/// Project names are checked (``ComposeProject/isValidName(_:)``), so a name can never reach outside
/// `appsRoot`; every file is written to a temporary name and renamed, so compose never reads half a
/// file; `.env` holds secrets and is mode 0600 from the moment it exists. All calls are quick,
/// synchronous file operations.
public struct AppDirectory: Sendable {
    /// The root, symbolic links resolved.
    public let appsRoot: String

    /// Apps under `appsRoot` (an absolute path), which is created (mode 0750) when missing.
    public init(appsRoot: String) throws(AppDirectoryError) {
        guard appsRoot.hasPrefix("/") else { throw .invalidRoot(appsRoot, reason: "it is not an absolute path") }
        do {
            try FileManager.default.createDirectory(atPath: appsRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw .invalidRoot(appsRoot, reason: "it cannot be created: \(error.localizedDescription)")
        }
        do {
            self.appsRoot = try Posix.realPath(appsRoot)
        } catch {
            throw .invalidRoot(appsRoot, reason: error.text)
        }
        guard (try? Posix.statPath(self.appsRoot))?.kind == .directory else { throw .invalidRoot(appsRoot, reason: "it is not a directory") }
    }

    /// What ``write(project:compose:environment:dialect:)`` wrote.
    public struct Files: Sendable, Hashable {
        /// `<appsRoot>/<project>`.
        public var directory: String
        /// `<directory>/docker-compose.yml`.
        public var composeFile: String
        /// `<directory>/.env`.
        public var envFile: String
    }

    /// The compose file's name inside an app's directory.
    public static let composeFileName = "docker-compose.yml"

    /// `<appsRoot>/<project>` (not created).
    public func directory(for project: String) throws(AppDirectoryError) -> String {
        guard ComposeProject.isValidName(project) else { throw .invalidProjectName(project) }
        return appsRoot + "/" + project
    }

    /// Writes `compose` as `docker-compose.yml` (0644) and `environment` as `.env` (0600) into the
    /// app's directory, creating it (0750). `dialect` is the compose that will read `.env`
    /// (``EnvFileDialect/init(_:)`` from the runner's ``ComposeTool``).
    @discardableResult
    public func write(project: String, compose: String, environment: [String: String], dialect: EnvFileDialect) throws(AppDirectoryError) -> Files {
        let directory = try directory(for: project)
        // Encode first: a value that cannot be written must not leave a half-updated app behind.
        let envText = try Self.envFileText(environment, dialect: dialect)
        let root: Int32
        do { root = try Posix.open(appsRoot, Posix.directoryHandleFlags) } catch { throw .io(appsRoot, error.text) }
        defer { close(root) }
        do {
            try Posix.makeDirectoryAt(root, project, mode: 0o750)
        } catch where error.code == EEXIST {
            // Already there: it must be a real directory, not a link to somewhere else.
        } catch {
            throw .io(directory, error.text)
        }
        guard let status = try? Posix.statAt(root, project) else { throw .io(directory, "it vanished while being written") }
        guard status.kind == .directory else {
            throw status.kind == .symlink ? .symlinkRefused(directory) : .io(directory, "it exists and is not a directory")
        }
        let dir: Int32
        do { dir = try Posix.openAt(root, project, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } catch { throw .io(directory, error.text) }
        defer { close(dir) }
        try Self.writeAtomically(dir, name: Self.composeFileName, Data(compose.utf8), mode: 0o644, path: directory)
        try Self.writeAtomically(dir, name: ComposeProject.envFileName, Data(envText.utf8), mode: 0o600, path: directory)
        Posix.syncDirectory(dir)
        return Files(directory: directory, composeFile: directory + "/" + Self.composeFileName,
                     envFile: directory + "/" + ComposeProject.envFileName)
    }

    /// Deletes the app's directory and everything in it (the uninstall that also deletes data).
    /// Returns false when there was nothing to delete. Refuses a directory that is a symbolic link;
    /// links inside are removed, never followed.
    @discardableResult
    public func remove(project: String) throws(AppDirectoryError) -> Bool {
        let directory = try directory(for: project)
        let root: Int32
        do { root = try Posix.open(appsRoot, Posix.directoryHandleFlags) } catch { throw .io(appsRoot, error.text) }
        defer { close(root) }
        let status: FileStatus
        do {
            status = try Posix.statAt(root, project)
        } catch where error.code == ENOENT {
            return false
        } catch {
            throw .io(directory, error.text)
        }
        guard status.kind != .symlink else { throw .symlinkRefused(directory) }
        guard status.kind == .directory else { throw .io(directory, "it is not a directory") }
        try Self.removeTree(root, project, path: directory, depth: 0)
        return true
    }

    // MARK: - .env

    /// The text of a `.env` file holding `environment` (sorted by name) so that `dialect` reads back
    /// exactly the values given — spaces, `#`, quotes, `$` and line breaks included.
    public static func envFileText(_ environment: [String: String], dialect: EnvFileDialect) throws(AppDirectoryError) -> String {
        var text = "# Written by Nebula Command; changes here are replaced on the next install or update.\n"
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            guard isValidVariableName(key) else { throw .invalidVariable(key, reason: "a name is letters, digits and '_', not starting with a digit") }
            guard !value.contains("\0") else { throw .invalidVariable(key, reason: "the value contains a NUL byte") }
            text += "\(key)=\(try quote(value, key: key, dialect: dialect))\n"
        }
        return text
    }

    /// Single quotes where both parsers take the text literally; double quotes with escapes otherwise.
    ///
    /// python-dotenv (compose v1) decodes `\\ \' \"` and `\n`-style escapes in quotes and replaces
    /// `${NAME}` in every value (quoted or not) and offers no escape for it; compose-go (v2) takes
    /// single-quoted text literally and, in double quotes, decodes `\\ \" \n \r` and `\$`.
    static func quote(_ value: String, key: String, dialect: EnvFileDialect) throws(AppDirectoryError) -> String {
        let hasDollarBrace = value.contains("${")
        if dialect == .composeV1, hasDollarBrace {
            throw .invalidVariable(key, reason: "docker-compose v1 replaces '${…}' in .env values and has no escape for it; install the compose plugin (v2) or change the value")
        }
        let needsDouble = value.contains { $0 == "'" || $0 == "\\" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        if !needsDouble { return "'\(value)'" }
        // Both parsers take `\"` at the end of a quoted value for an escaped quote, not the closing one.
        if value.hasSuffix("\\") {
            throw .invalidVariable(key, reason: "a value ending in a backslash cannot be read back by docker compose's .env parser; add a character after it")
        }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "$" where dialect == .composeV2: out += "\\$"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func isValidVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }

    // MARK: - Files

    private static func writeAtomically(_ dir: Int32, name: String, _ data: Data, mode: Int, path: String) throws(AppDirectoryError) {
        let temporary = ".\(name).nebula-\(UUID().uuidString.prefix(8))"
        let fd: Int32
        do {
            // Created with its final mode: the secrets are never readable by others, not even briefly.
            fd = try Posix.openAt(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: mode)
        } catch {
            throw .io(path + "/" + name, error.text)
        }
        do {
            Posix.changeMode(fd, mode)   // the umask may have taken bits away from 0644
            try Posix.writeAt(fd, offset: 0, data)
            try Posix.sync(fd)
            close(fd)
            try Posix.renameAt(dir, temporary, dir, name)
        } catch {
            close(fd)
            try? Posix.unlinkAt(dir, temporary, isDirectory: false)
            throw .io(path + "/" + name, error.text)
        }
    }

    /// Removes `name` in `parent` and, for a directory, everything below it, without following any link.
    private static func removeTree(_ parent: Int32, _ name: String, path: String, depth: Int) throws(AppDirectoryError) {
        guard depth < 256 else { throw .io(path, "directories nested deeper than 256 levels") }
        let status: FileStatus
        do { status = try Posix.statAt(parent, name) } catch { throw .io(path, error.text) }
        if status.kind == .directory {
            let fd: Int32
            do { fd = try Posix.openAt(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } catch { throw .io(path, error.text) }
            defer { close(fd) }
            while true {
                let listing: (names: [(name: String, isDirectory: Bool?)], complete: Bool)
                do { listing = try Posix.directoryEntries(fd, limit: 4096) } catch { throw .io(path, error.text) }
                for entry in listing.names {
                    try removeTree(fd, entry.name, path: path + "/" + entry.name, depth: depth + 1)
                }
                if listing.complete { break }
            }
        }
        do {
            try Posix.unlinkAt(parent, name, isDirectory: status.kind == .directory)
        } catch where error.code == ENOENT {
            return
        } catch {
            throw .io(path, error.text)
        }
    }
}

/// Which compose reads a `.env` file; they disagree on quoting (see ``AppDirectory/envFileText(_:dialect:)``).
public enum EnvFileDialect: String, Sendable, Hashable, Codable {
    /// docker-compose 1.x (Python, python-dotenv).
    case composeV1
    /// Compose 2.x (the Go plugin or standalone binary, compose-go).
    case composeV2

    /// The dialect of `tool`.
    public init(_ tool: ComposeTool) {
        self = tool.isV1 ? .composeV1 : .composeV2
    }
}

/// Why an app's files could not be written or removed. Each case says what to do.
public enum AppDirectoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The apps root cannot be used; configure an absolute, writable directory.
    case invalidRoot(String, reason: String)
    /// The project name is not `^[a-z0-9][a-z0-9_-]{0,62}$`; choose another name (nothing was written).
    case invalidProjectName(String)
    /// A variable's name or value cannot go into `.env` (the reason says which); change it (nothing was written).
    case invalidVariable(String, reason: String)
    /// The app's directory is a symbolic link; Nebula never writes or deletes through one — remove the link by hand.
    case symlinkRefused(String)
    /// A file operation failed (disk full, permissions); the path and the system's reason say which.
    case io(String, String)

    public var description: String {
        switch self {
        case .invalidRoot(let path, let reason):
            return "The apps directory \(path) cannot be used: \(reason). Set it to an absolute, writable directory."
        case .invalidProjectName(let name):
            return "'\(name)' is not a valid app name. Use 1 to 63 lower-case letters, digits, '-' or '_', starting with a letter or digit."
        case .invalidVariable(let name, let reason):
            return "The setting '\(name)' cannot be written to .env: \(reason)."
        case .symlinkRefused(let path):
            return "\(path) is a symbolic link; Nebula does not write or delete through links. Remove the link by hand, then retry."
        case .io(let path, let reason):
            return "Cannot update \(path): \(reason). Check the disk space and the agent's permissions."
        }
    }
}
