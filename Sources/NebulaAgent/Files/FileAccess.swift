#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOPosix

/// The disk side of a server's file browser: list, stat, read, write, upload in chunks, rename,
/// delete and make directories — only inside the configured ``FileRoots``.
///
/// The agent calls it when the control plane asks (through ``handle(_:)``), and the control plane
/// calls it in-process for its own machine. Authorisation and auditing are the caller's job; this type
/// enforces confinement:
///
/// 1. Lexical checks on the relative path (see ``ClientPath/components()``).
/// 2. `realpath` of the parent directory (and, for operations that follow links, of the entry) must
///    be the root's `realpath` or below it, compared bytewise on a `/` boundary. A link that leads
///    out of the root is refused (`outside_root`) for list, read and write; a link itself can be
///    stat'ed, renamed and deleted.
/// 3. The checked real directory is then opened from the root one name at a time with `O_NOFOLLOW`,
///    and the final entry is used through `…at` calls on that handle (`O_NOFOLLOW` on open, no-follow
///    stat, rename and unlink), so swapping any part of the path for a link after the check fails
///    instead of escaping.
///
/// Blocking system calls run on NIO's blocking thread pool, never on the caller's executor.
public struct FileAccess: Sendable {
    /// 512 MiB.
    public static let defaultMaxUploadBytes: Int64 = 512 * 1024 * 1024
    /// 1 MiB, the largest chunk one agent message carries.
    public static let defaultMaxReadBytes = FileRequest.maxChunkBytes
    /// Entries returned by one listing.
    public static let defaultMaxListEntries = 5000
    /// Prefix of the hidden temporary files that writes and uploads create next to their destination.
    public static let temporaryFilePrefix = ".nebula-upload-"

    /// The directories this instance may touch.
    public let roots: FileRoots
    /// The largest file ``write(_:data:overwrite:)`` or a chunked upload may create.
    public let maxUploadBytes: Int64
    /// The most bytes one ``read(_:offset:length:)`` returns.
    public let maxReadBytes: Int
    /// The most entries one ``list(_:)`` returns; more set ``Listing/truncated``.
    public let maxListEntries: Int

    let uploads: UploadBook<PendingUpload>
    let pool: NIOThreadPool
    /// Tests only: runs after a path was checked and before it is opened, to stage a race.
    let beforeOpen: (@Sendable () -> Void)?

    /// - Parameters:
    ///   - roots: the directories the browser may touch.
    ///   - maxUploadBytes: the largest file a write or upload may create.
    ///   - maxReadBytes: the most bytes one read returns (larger requests are shortened).
    ///   - maxListEntries: the most entries one listing returns.
    ///   - uploadIdleTimeout: a chunked upload with no chunk for this long is dropped and its temporary file deleted.
    ///   - maxConcurrentUploads: how many chunked uploads may be open at once.
    public init(roots: FileRoots, maxUploadBytes: Int64 = defaultMaxUploadBytes, maxReadBytes: Int = defaultMaxReadBytes,
                maxListEntries: Int = defaultMaxListEntries, uploadIdleTimeout: Duration = .seconds(15 * 60), maxConcurrentUploads: Int = 16) {
        self.init(roots: roots, maxUploadBytes: maxUploadBytes, maxReadBytes: maxReadBytes, maxListEntries: maxListEntries,
                  uploadIdleTimeout: uploadIdleTimeout, maxConcurrentUploads: maxConcurrentUploads, beforeOpen: nil)
    }

    init(roots: FileRoots, maxUploadBytes: Int64 = defaultMaxUploadBytes, maxReadBytes: Int = defaultMaxReadBytes,
         maxListEntries: Int = defaultMaxListEntries, uploadIdleTimeout: Duration = .seconds(15 * 60), maxConcurrentUploads: Int = 16,
         beforeOpen: (@Sendable () -> Void)?) {
        self.roots = roots
        self.maxUploadBytes = max(0, maxUploadBytes)
        self.maxReadBytes = max(1, maxReadBytes)
        self.maxListEntries = max(1, maxListEntries)
        self.uploads = UploadBook(idleTimeout: uploadIdleTimeout, maxConcurrent: maxConcurrentUploads)
        self.pool = .singleton
        self.beforeOpen = beforeOpen
    }

    // MARK: Reading

    /// The entries of a directory: directories first, then the rest, each group by name
    /// (case-insensitively). Links are listed as links with their target text, not followed; listing
    /// *through* a link to a directory inside the root is allowed, outside it is `outside_root`.
    /// At most ``maxListEntries`` entries; ``Listing/truncated`` says there were more (directories
    /// with over 20 × that many entries are sorted from the first 20 × ``maxListEntries`` read).
    public func list(_ path: ClientPath) async throws(FileAccessError) -> Listing {
        try await run { () throws(FileAccessError) -> Listing in
            let target = try confine(path, followFinal: true)
            let parent = try openDirectory(target)
            defer { close(parent) }
            let fd: Int32
            do throws(Errno) { fd = try Posix.openAt(parent, target.name ?? ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } catch {
                throw failure(error, target.display)
            }
            defer { close(fd) }
            let scanned: (names: [(name: String, isDirectory: Bool?)], complete: Bool)
            do throws(Errno) { scanned = try Posix.directoryEntries(fd, limit: maxListEntries * 20) } catch { throw failure(error, target.display) }
            let classified = scanned.names.map { item in
                (name: item.name, isDirectory: item.isDirectory ?? ((try? Posix.statAt(fd, item.name))?.kind == .directory))
            }
            let sorted = classified.sorted { left, right in
                if left.isDirectory != right.isDirectory { return left.isDirectory }
                return Self.namePrecedes(left.name, right.name)
            }
            var entries: [FileEntry] = []
            for item in sorted.prefix(maxListEntries) {
                guard let status = try? Posix.statAt(fd, item.name) else { continue }   // vanished meanwhile
                entries.append(entry(named: item.name, status, in: fd))
            }
            return Listing(path: path, entries: entries, truncated: !scanned.complete || sorted.count > maxListEntries)
        }
    }

    /// One entry's details. A final link is not followed: the entry describes the link.
    public func stat(_ path: ClientPath) async throws(FileAccessError) -> FileEntry {
        try await run { () throws(FileAccessError) -> FileEntry in
            let target = try confine(path, followFinal: false)
            let parent = try openDirectory(target)
            defer { close(parent) }
            do throws(Errno) {
                return entry(named: shownName(path), try Posix.statAt(parent, target.name ?? "."), in: parent, as: target.name)
            } catch { throw failure(error, target.display) }
        }
    }

    /// Up to `length` bytes (at most ``maxReadBytes``) of a regular file from `offset`; fewer at the
    /// end of the file, none past it. Follows a final link only if it stays inside the root. Devices,
    /// FIFOs and sockets are refused, so a FIFO in the root cannot hang the agent.
    public func read(_ path: ClientPath, offset: Int64, length: Int) async throws(FileAccessError) -> Data {
        guard offset >= 0, length >= 0 else { throw .invalidRequest("offset and length must not be negative", path: display(path)) }
        return try await run { () throws(FileAccessError) -> Data in
            let target = try confine(path, followFinal: true)
            guard let name = target.name else { throw .isADirectory(target.display) }
            let parent = try openDirectory(target)
            defer { close(parent) }
            let fd: Int32
            do throws(Errno) { fd = try Posix.openAt(parent, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) } catch { throw failure(error, target.display) }
            defer { close(fd) }
            let status: FileStatus
            do throws(Errno) { status = try Posix.statDescriptor(fd) } catch { throw failure(error, target.display) }
            switch status.kind {
            case .file: break
            case .directory: throw .isADirectory(target.display)
            case .symlink, .other: throw .invalidPath(target.display, "this is not a regular file (a device, FIFO or socket); it cannot be read")
            }
            do throws(Errno) { return try Posix.readAt(fd, offset: offset, count: min(length, maxReadBytes)) } catch { throw failure(error, target.display) }
        }
    }

    // MARK: Writing

    /// Creates (or, with `overwrite`, replaces) a regular file with `data`, atomically: the bytes go to
    /// a hidden temporary file in the same directory, which is synced and then renamed over the name,
    /// so readers see the old file or the new one, never half of it. Without `overwrite` an existing
    /// name is refused (`exists`), also when it appears while writing. A final link is followed only
    /// if it stays inside the root, and then its target is replaced. A replaced file keeps its
    /// permissions (minus set-user/group-ID) and, when allowed, its owner; new files get `rw-r--r--`.
    @discardableResult
    public func write(_ path: ClientPath, data: Data, overwrite: Bool = false) async throws(FileAccessError) -> FileEntry {
        guard Int64(data.count) <= maxUploadBytes else { throw .tooLarge(display(path), limit: maxUploadBytes) }
        return try await run { () throws(FileAccessError) -> FileEntry in
            let target = try confine(path, followFinal: true)
            guard let name = target.name else { throw .isADirectory(target.display) }
            let parent = try openDirectory(target)
            defer { close(parent) }
            _ = try checkWritable(parent, name, overwrite: overwrite, target.display)   // fail before writing anything
            let temporary = try createTemporary(in: parent, target.display)
            do throws(FileAccessError) {
                do throws(Errno) { try Posix.writeAt(temporary.fd, offset: 0, data) } catch {
                    close(temporary.fd)
                    throw failure(error, target.display)
                }
                try commit(temporary.fd, temporary.name, as: name, in: parent, overwrite: overwrite, target.display)
            } catch {
                try? Posix.unlinkAt(parent, temporary.name, isDirectory: false)
                throw error
            }
            return try entryAfterChange(named: shownName(path), name, in: parent, target.display)
        }
    }

    /// Starts a chunked upload to `path` and returns its id. Checks the destination now (and again
    /// when finishing); `expectedSize`, when given, is checked against ``maxUploadBytes`` at once and
    /// against the bytes received at the end. Send chunks with
    /// ``appendUpload(_:offset:data:)``, then ``finishUpload(_:)`` or ``abortUpload(_:)``.
    public func beginUpload(_ path: ClientPath, overwrite: Bool = false, expectedSize: Int64? = nil) async throws(FileAccessError) -> UploadID {
        if let expectedSize {
            guard expectedSize >= 0 else { throw .invalidRequest("the upload size must not be negative", path: display(path)) }
            guard expectedSize <= maxUploadBytes else { throw .tooLarge(display(path), limit: maxUploadBytes) }
        }
        let upload = try await run { () throws(FileAccessError) -> PendingUpload in
            let target = try confine(path, followFinal: true)
            guard let name = target.name else { throw .isADirectory(target.display) }
            let parent = try openDirectory(target)
            do throws(FileAccessError) {
                _ = try checkWritable(parent, name, overwrite: overwrite, target.display)
                let temporary = try createTemporary(in: parent, target.display)
                return PendingUpload(display: target.display, shownName: shownName(path), directory: parent, file: temporary.fd,
                                     temporaryName: temporary.name, name: name, overwrite: overwrite, expectedSize: expectedSize)
            } catch {
                close(parent)
                throw error
            }
        }
        return try await uploads.add(upload)
    }

    /// Appends one chunk, which must start where the previous one ended (`offset` = bytes received so
    /// far), and returns the bytes received. Going over ``maxUploadBytes`` (or the announced size)
    /// drops the upload and deletes its temporary file.
    @discardableResult
    public func appendUpload(_ id: UploadID, offset: Int64, data: Data) async throws(FileAccessError) -> Int64 {
        await uploads.sweep()
        let upload = try await uploads.checkOut(id, offset: offset)
        let received = upload.received + Int64(data.count)
        if received > maxUploadBytes {
            await uploads.discard(id)
            throw .tooLarge(upload.display, limit: maxUploadBytes)
        }
        if let expected = upload.expectedSize, received > expected {
            await uploads.discard(id)
            throw .invalidRequest("the upload is larger than the \(expected) bytes announced when it began", path: upload.display)
        }
        do throws(FileAccessError) {
            try await run { () throws(FileAccessError) in
                do throws(Errno) { try Posix.writeAt(upload.file, offset: offset, data) } catch { throw failure(error, upload.display) }
            }
        } catch {
            await uploads.discard(id)
            throw error
        }
        await uploads.checkIn(id, received: received)
        return received
    }

    /// Syncs the uploaded file and renames it into place (refusing an existing name unless the upload
    /// began with `overwrite`). The id is spent either way.
    @discardableResult
    public func finishUpload(_ id: UploadID) async throws(FileAccessError) -> FileEntry {
        let upload = try await uploads.take(id)
        if let expected = upload.expectedSize, expected != upload.received {
            upload.discard()
            throw .invalidRequest("the upload has \(upload.received) bytes but \(expected) were announced", path: upload.display)
        }
        return try await run { () throws(FileAccessError) -> FileEntry in
            defer { close(upload.directory) }
            do throws(FileAccessError) {
                try commit(upload.file, upload.temporaryName, as: upload.name, in: upload.directory, overwrite: upload.overwrite, upload.display)
            } catch {
                try? Posix.unlinkAt(upload.directory, upload.temporaryName, isDirectory: false)
                throw error
            }
            return try entryAfterChange(named: upload.shownName, upload.name, in: upload.directory, upload.display)
        }
    }

    /// Drops an upload and deletes its temporary file.
    public func abortUpload(_ id: UploadID) async throws(FileAccessError) {
        let upload = try await uploads.take(id)
        try await run { () throws(FileAccessError) in upload.discard() }
    }

    // MARK: Changing

    /// Renames or moves an entry within one root. The destination must not exist (`exists`), also
    /// atomically where the file system supports it. Links are renamed themselves, not followed; but
    /// both parent directories must lie inside the root. A configured root cannot be renamed.
    @discardableResult
    public func rename(_ source: ClientPath, to destination: ClientPath) async throws(FileAccessError) -> FileEntry {
        guard source.root == destination.root else {
            throw .invalidPath(display(destination), "an entry can only be renamed or moved within its own root")
        }
        return try await run { () throws(FileAccessError) -> FileEntry in
            let from = try confine(source, followFinal: false)
            let to = try confine(destination, followFinal: false)
            guard let fromName = from.name else { throw .invalidPath(from.display, "a root cannot be renamed") }
            guard let toName = to.name else { throw .exists(to.display) }
            try refuseConfiguredRoot(from)
            let fromDirectory = try openDirectory(from)
            defer { close(fromDirectory) }
            let toDirectory = try openDirectory(to)
            defer { close(toDirectory) }
            let status: FileStatus
            do throws(Errno) { status = try Posix.statAt(fromDirectory, fromName) } catch { throw failure(error, from.display) }
            do throws(Errno) {
                try Posix.renameNoReplace(fromDirectory, fromName, toDirectory, toName, isDirectory: status.kind == .directory)
            } catch {
                switch error.code {
                case EEXIST, ENOTEMPTY: throw .exists(to.display)
                case EINVAL: throw .invalidPath(to.display, "a directory cannot be moved into itself")
                case ENOENT: throw .notFound(from.display)
                default: throw failure(error, to.display)
                }
            }
            Posix.syncDirectory(fromDirectory)
            Posix.syncDirectory(toDirectory)
            return try entryAfterChange(named: shownName(destination), toName, in: toDirectory, to.display)
        }
    }

    /// Deletes a file, link or directory. A link is deleted itself, never what it points to. A
    /// directory with entries needs `recursive`; recursive deletion never follows links and stops at
    /// mount points. The root itself, and any configured root, cannot be deleted.
    public func delete(_ path: ClientPath, recursive: Bool = false) async throws(FileAccessError) {
        try await run { () throws(FileAccessError) in
            let target = try confine(path, followFinal: false)
            guard let name = target.name else { throw .invalidPath(target.display, "the root itself cannot be deleted") }
            try refuseConfiguredRoot(target)
            let parent = try openDirectory(target)
            defer { close(parent) }
            let status: FileStatus
            do throws(Errno) { status = try Posix.statAt(parent, name) } catch { throw failure(error, target.display) }
            if status.kind == .directory && recursive {
                let device: UInt64
                do throws(Errno) { device = try Posix.statDescriptor(parent).device } catch { throw failure(error, target.display) }
                try removeTree(name, in: parent, device: device, depth: 0, target.display)
            } else {
                do throws(Errno) { try Posix.unlinkAt(parent, name, isDirectory: status.kind == .directory) } catch {
                    throw error.code == EEXIST ? .directoryNotEmpty(target.display) : failure(error, target.display)
                }
            }
            Posix.syncDirectory(parent)
        }
    }

    /// Creates one directory (`rwxr-xr-x`); its parent must exist.
    @discardableResult
    public func makeDirectory(_ path: ClientPath) async throws(FileAccessError) -> FileEntry {
        try await run { () throws(FileAccessError) -> FileEntry in
            let target = try confine(path, followFinal: false)
            guard let name = target.name else { throw .exists(target.display) }
            let parent = try openDirectory(target)
            defer { close(parent) }
            do throws(Errno) { try Posix.makeDirectoryAt(parent, name, mode: 0o755) } catch { throw failure(error, target.display) }
            Posix.syncDirectory(parent)
            return try entryAfterChange(named: shownName(path), name, in: parent, target.display)
        }
    }
}

// MARK: - Helpers

extension FileAccess {
    /// Runs blocking file-system work on NIO's blocking pool.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(FileAccessError) -> T) async throws(FileAccessError) -> T {
        let outcome: Result<T, FileAccessError>
        do {
            outcome = try await pool.runIfActive { () -> Result<T, FileAccessError> in
                do throws(FileAccessError) { return .success(try body()) } catch { return .failure(error) }
            }
        } catch {
            throw .ioError("", "the file operation could not run (the server is shutting down or the request was cancelled)")
        }
        return try outcome.get()
    }

    /// The name the user gave for the entry (for a root: the root's last component).
    func shownName(_ path: ClientPath) -> String {
        let relative = path.path == "." ? "" : path.path
        if let last = relative.split(separator: "/").last { return String(last) }
        let root = roots.root(at: path.root) ?? ""
        return root.split(separator: "/").last.map(String.init) ?? "/"
    }

    static func namePrecedes(_ left: String, _ right: String) -> Bool {
        let l = left.lowercased(), r = right.lowercased()
        if l != r { return l < r }
        return Array(left.utf8).lexicographicallyPrecedes(Array(right.utf8))
    }

    /// An entry for `status`; `fileName` is the name inside `directory` (for reading a link's target).
    func entry(named name: String, _ status: FileStatus, in directory: Int32, as fileName: String? = nil) -> FileEntry {
        let target = status.kind == .symlink ? Posix.readLinkAt(directory, fileName ?? name) : nil
        return FileEntry(name: name, kind: status.kind, size: status.size, modified: Date(timeIntervalSince1970: TimeInterval(status.modifiedSeconds)),
                         permissions: FileEntry.permissionString(mode: status.mode), mode: status.mode, symlinkTarget: target)
    }

    func entryAfterChange(named shown: String, _ name: String, in directory: Int32, _ display: String) throws(FileAccessError) -> FileEntry {
        do { return entry(named: shown, try Posix.statAt(directory, name), in: directory, as: name) } catch { throw failure(error, display) }
    }

    /// What is at `name` now, if anything, and whether a file may be written there.
    func checkWritable(_ directory: Int32, _ name: String, overwrite: Bool, _ display: String) throws(FileAccessError) -> FileStatus? {
        let status: FileStatus
        do { status = try Posix.statAt(directory, name) } catch {
            if error.code == ENOENT { return nil }
            throw failure(error, display)
        }
        switch status.kind {
        case .directory: throw .isADirectory(display)
        case _ where !overwrite: throw .exists(display)
        case .symlink: throw .outsideRoot(display, Self.changedWhileOpening)   // confine() resolved links; one appeared since
        case .other: throw .invalidPath(display, "this is a device, FIFO or socket; it cannot be overwritten")
        case .file: return status
        }
    }

    func createTemporary(in directory: Int32, _ display: String) throws(FileAccessError) -> (fd: Int32, name: String) {
        let name = Self.temporaryFilePrefix + UUID().uuidString.lowercased() + ".part"
        do {
            return (try Posix.openAt(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600), name)
        } catch { throw failure(error, display) }
    }

    /// Sets the final mode (and owner), syncs and closes the temporary file (always, even on failure),
    /// and renames it to `name`.
    func commit(_ fd: Int32, _ temporaryName: String, as name: String, in directory: Int32, overwrite: Bool, _ display: String) throws(FileAccessError) {
        var open = true
        defer { if open { close(fd) } }
        let existing = try checkWritable(directory, name, overwrite: overwrite, display)
        if let existing {
            Posix.changeOwner(fd, owner: existing.owner, group: existing.group)   // best effort; only root may give files away
            Posix.changeMode(fd, existing.mode & 0o1777)                          // never carry set-user/group-ID onto new content
        } else {
            Posix.changeMode(fd, 0o644)
        }
        do { try Posix.sync(fd) } catch { throw failure(error, display) }
        close(fd)
        open = false
        do {
            if overwrite {
                try Posix.renameAt(directory, temporaryName, directory, name)
            } else {
                try Posix.renameNoReplace(directory, temporaryName, directory, name, isDirectory: false)
            }
        } catch { throw failure(error, display) }
        Posix.syncDirectory(directory)
    }

    /// Deletes `name` (a directory) and everything below it without following links, refusing to
    /// descend into another file system.
    func removeTree(_ name: String, in parent: Int32, device: UInt64, depth: Int, _ display: String) throws(FileAccessError) {
        guard depth < 256 else { throw .ioError(display, "the directory is nested more than 256 levels deep") }
        let fd: Int32
        do throws(Errno) { fd = try Posix.openAt(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } catch {
            throw failure(error, display)
        }
        defer { close(fd) }
        let status: FileStatus
        do throws(Errno) { status = try Posix.statDescriptor(fd) } catch { throw failure(error, display) }
        guard status.device == device else {
            throw .ioError(display, "it contains a mount point (another file system); unmount that first")
        }
        while true {
            let batch: (names: [(name: String, isDirectory: Bool?)], complete: Bool)
            do throws(Errno) { batch = try Posix.directoryEntries(fd, limit: 10_000) } catch { throw failure(error, display) }
            for item in batch.names {
                let status: FileStatus
                do throws(Errno) { status = try Posix.statAt(fd, item.name) } catch {
                    if error.code == ENOENT { continue }   // gone already
                    throw failure(error, display)
                }
                if status.kind == .directory {
                    try removeTree(item.name, in: fd, device: device, depth: depth + 1, display)
                } else {
                    do throws(Errno) { try Posix.unlinkAt(fd, item.name, isDirectory: false) } catch {
                        if error.code != ENOENT { throw failure(error, display) }
                    }
                }
            }
            if batch.complete { break }
        }
        do throws(Errno) { try Posix.unlinkAt(parent, name, isDirectory: true) } catch {
            throw error.code == EEXIST ? .directoryNotEmpty(display) : failure(error, display)
        }
    }
}
