#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A client path after the confinement checks: the real (symlink-free) directory that holds the
/// entry, and the entry's name in it — or no name for the root itself.
struct ConfinedPath: Sendable {
    /// The path as the user sees it, for messages.
    let display: String
    /// `realpath` of the configured root.
    let rootReal: String
    /// `realpath` of the directory holding ``name``; equals ``rootReal`` when ``name`` is `nil`.
    let directoryReal: String
    /// The final name, never `.`/`..`/empty; `nil` means the root itself.
    let name: String?

    var realPath: String { name.map { Self.join(directoryReal, $0) } ?? rootReal }

    static func join(_ directory: String, _ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }

    /// `child` is `root` or below it, compared as bytes with a `/` boundary: `/srv2` is not inside `/srv`.
    static func isInside(_ child: String, root: String) -> Bool {
        let child = Array(child.utf8), root = Array(root.utf8)
        if child == root { return true }
        if root == [0x2F] { return child.first == 0x2F }
        return child.count > root.count && child.starts(with: root) && child[root.count] == 0x2F
    }
}

extension FileAccess {
    /// The path the user sees in messages: the configured root, then the relative path.
    public func display(_ path: ClientPath) -> String {
        let relative = path.path == "." ? "" : path.path
        guard let root = roots.root(at: path.root) else {
            return FileAccessError.printable("root #\(path.root)/\(relative)")
        }
        if relative.isEmpty { return FileAccessError.printable(root) }
        return FileAccessError.printable(ConfinedPath.join(root, relative))
    }

    /// The lexical checks, then `realpath` confinement.
    ///
    /// The parent directory is always resolved and must be the root or inside it. With
    /// `followFinal`, a final symbolic link is resolved too and its target must be inside the root
    /// (read, write, list); without it the final name is used as it is, so a link itself can be
    /// deleted, renamed or inspected.
    func confine(_ path: ClientPath, followFinal: Bool) throws(FileAccessError) -> ConfinedPath {
        let shown = display(path)
        guard let root = roots.root(at: path.root) else { throw .noSuchRoot(path.root, count: roots.count) }
        let names: [String]
        do { names = try path.components() } catch { throw .invalidPath(shown, error.rule) }

        let rootShown = FileAccessError.printable(root)
        let rootReal: String
        do { rootReal = try Posix.realPath(root) } catch {
            throw error.code == ENOENT ? .notFound(rootShown, "this root does not exist on the server") : failure(error, rootShown)
        }
        guard (try? Posix.statPath(rootReal))?.kind == .directory else { throw .notADirectory(rootShown) }
        guard let last = names.last else {
            return ConfinedPath(display: shown, rootReal: rootReal, directoryReal: rootReal, name: nil)
        }

        let parentLexical = names.dropLast().reduce(rootReal) { ConfinedPath.join($0, $1) }
        let parentReal: String
        do { parentReal = try Posix.realPath(parentLexical) } catch { throw resolutionFailure(error, shown) }
        guard ConfinedPath.isInside(parentReal, root: rootReal) else { throw .outsideRoot(shown) }
        guard (try? Posix.statPath(parentReal))?.kind == .directory else { throw .notADirectory(shown) }
        let here = ConfinedPath(display: shown, rootReal: rootReal, directoryReal: parentReal, name: last)
        guard followFinal else { return here }

        let status: FileStatus
        do { status = try Posix.statPath(here.realPath) } catch {
            if error.code == ENOENT { return here }   // not there yet: a new file
            throw failure(error, shown)
        }
        guard status.kind == .symlink else { return here }
        let targetReal: String
        do { targetReal = try Posix.realPath(here.realPath) } catch {
            if error.code == ENOENT { throw .notFound(shown, "this is a symbolic link to something that does not exist") }
            throw resolutionFailure(error, shown)
        }
        guard ConfinedPath.isInside(targetReal, root: rootReal) else { throw .outsideRoot(shown) }
        let bytes = Array(targetReal.utf8)
        if bytes == Array(rootReal.utf8) {
            return ConfinedPath(display: shown, rootReal: rootReal, directoryReal: rootReal, name: nil)
        }
        // realpath output is absolute and has no trailing slash, so the last `/` splits it.
        guard let slash = bytes.lastIndex(of: 0x2F) else { throw .outsideRoot(shown) }
        let directory = slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
        let name = String(decoding: bytes[(slash + 1)...], as: UTF8.self)
        return ConfinedPath(display: shown, rootReal: rootReal, directoryReal: directory, name: name)
    }

    /// Opens the directory that holds `path.name` by walking from the root one name at a time with
    /// `O_NOFOLLOW`. The walk follows the real path `confine` checked, which has no links in it, so a
    /// folder that was swapped for a link after the check (a TOCTOU attack) makes the walk fail
    /// instead of leaving the root.
    func openDirectory(_ path: ConfinedPath) throws(FileAccessError) -> Int32 {
        beforeOpen?()
        var fd: Int32
        do { fd = try Posix.open(path.rootReal, Posix.directoryHandleFlags) } catch { throw failure(error, path.display) }
        let relative = String(decoding: Array(path.directoryReal.utf8).dropFirst(path.rootReal.utf8.count), as: UTF8.self)
        for name in relative.split(separator: "/") {
            do {
                let next = try Posix.openAt(fd, String(name), Posix.directoryHandleFlags | O_NOFOLLOW)
                close(fd)
                fd = next
            } catch {
                close(fd)
                if error.code == ELOOP || error.code == ENOTDIR { throw .outsideRoot(path.display, Self.changedWhileOpening) }
                throw failure(error, path.display)
            }
        }
        return fd
    }

    /// Refuses to delete or rename a path that is one of the configured roots (roots may nest).
    func refuseConfiguredRoot(_ path: ConfinedPath) throws(FileAccessError) {
        let real = Array(path.realPath.utf8)
        for root in roots.paths {
            if let rootReal = try? Posix.realPath(root), Array(rootReal.utf8) == real {
                throw .invalidPath(path.display, "this is one of the configured roots; it cannot be renamed or deleted")
            }
        }
    }

    static let changedWhileOpening = "a part of this path was replaced by a symbolic link while it was being opened"

    /// Maps a failed path resolution (`realpath`).
    func resolutionFailure(_ error: Errno, _ shown: String) -> FileAccessError {
        switch error.code {
        case ELOOP: .invalidPath(shown, "too many levels of symbolic links (a link loop)")
        case ENAMETOOLONG: .invalidPath(shown, "the path resolves to one that is too long")
        default: failure(error, shown)
        }
    }

    /// Maps `errno` to the error the user sees. Never includes a resolved path.
    func failure(_ error: Errno, _ shown: String) -> FileAccessError {
        Self.failure(error, shown)
    }

    static func failure(_ error: Errno, _ shown: String) -> FileAccessError {
        switch error.code {
        case ENOENT: .notFound(shown)
        case EEXIST: .exists(shown)
        case ENOTDIR: .notADirectory(shown)
        case EISDIR: .isADirectory(shown)
        case ENOTEMPTY: .directoryNotEmpty(shown)
        case EACCES, EPERM: .permissionDenied(shown)
        case EROFS: .permissionDenied(shown, "the file system is read-only")
        case ELOOP: .outsideRoot(shown, changedWhileOpening)
        case ENAMETOOLONG: .invalidPath(shown, "the name is too long for this file system")
        case ENOSPC: .ioError(shown, "no space left on the device")
        case EDQUOT: .ioError(shown, "the disk quota is exhausted")
        case EFBIG: .ioError(shown, "the file is too large for this file system")
        case EXDEV: .ioError(shown, "this would cross into another file system (a mount point); that is not supported")
        case EBUSY: .ioError(shown, "it is in use (perhaps a mount point)")
        default: .ioError(shown, "the operating system reported: \(error.text)")
        }
    }
}
