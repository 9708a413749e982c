import Foundation
import NebulaAgent
import NebulaSSH

/// The file browser for a server reached over SSH: the same wire requests and error codes as the
/// local ``FileAccess``, carried out with SFTP on an open ``SFTPSession``.
///
/// Confinement over SFTP:
/// 1. The lexical rules of ``ClientPath/components()`` (no `..`, not absolute, no NUL or control
///    characters, no backslash, no encoded or Unicode-normalised traversal).
/// 2. `realpath` of the root on the server, which must be a directory; then `realpath` of the entry's
///    parent directory, which must be the root's realpath or below it (bytewise, on a `/` boundary:
///    `/srv2` is not inside `/srv`). For operations that follow the final name (list, read, write,
///    upload), a final symbolic link is resolved too and must stay inside; otherwise `outside_root`.
///    Stat, rename and delete act on a link itself.
/// 3. Every request then names the *resolved* path (no links in it at check time). A configured root
///    is never renamed or deleted; recursive deletion never follows links and re-checks with
///    `realpath` that each directory is still itself before listing and emptying it.
///
/// What SFTP version 3 cannot make race-free (the local ``FileAccess`` walks descriptors with
/// `O_NOFOLLOW`; SFTP has only path-based requests, no `openat`, no `O_NOFOLLOW` and no device ids):
/// - Between the check and the request, someone who can write inside the root *on that server* could
///   replace a checked directory (or the final name) with a symbolic link, and the request would then
///   follow it. The windows are a few round trips long; an upload's temporary file is `lstat`ed before
///   every chunk and its directory re-resolved before the upload is finished, which narrows but does
///   not close them. Exclusive creation (`SSH_FXF_EXCL`) never follows a link.
/// - Replacing a file (`overwrite`) removes the old one and then renames the new one into place: for a
///   moment the name is missing, and a file created there meanwhile is refused (`exists`), not replaced.
///   OpenSSH renames regular files without replacing atomically (`link` + `unlink`); directories are
///   checked and then renamed.
/// - A file's kind is checked with `lstat` before it is opened, so a FIFO swapped in afterwards can
///   still block the server's sftp-server process (bounded by the session's request timeout).
/// - Mount points cannot be detected (SFTP reports no device), so recursive deletion descends into
///   file systems mounted below the directory.
/// - Replaced files keep their permission bits, not their owner; new files get `rw-r--r--` (the
///   server's umask may remove more). Names that are not valid UTF-8 are shown with U+FFFD and cannot
///   be used in later requests.
/// Messages never contain a resolved path or a link's target: only the root and the relative path.
struct SFTPFileAccess: FileOperations {
    /// The entries one listing returns, like ``FileAccess/defaultMaxListEntries``.
    static let maxListEntries = FileAccess.defaultMaxListEntries
    /// One read answers at most one wire chunk.
    let maxReadBytes = FileRequest.maxChunkBytes

    /// The open session to the server.
    let session: SFTPSession
    /// The directories the browser may touch on that server.
    let roots: FileRoots
    /// The largest file a write or a chunked upload may create.
    let maxUploadBytes: Int64
    /// Chunked uploads in progress. Pass the same registry for every session to one server, so an
    /// upload can begin on one session and continue on the next.
    let uploads: SFTPUploadRegistry

    /// The browser for `roots` over `session`; uploads larger than `maxUploadBytes` are refused.
    init(session: SFTPSession, roots: FileRoots, maxUploadBytes: Int64, uploads: SFTPUploadRegistry = SFTPUploadRegistry()) {
        self.session = session
        self.roots = roots
        self.maxUploadBytes = max(0, maxUploadBytes)
        self.uploads = uploads
    }

    // MARK: Reading

    /// Directories first, then the rest, each group by name; links listed as links. Listing through a
    /// link is allowed only when it stays inside the root.
    func list(_ path: ClientPath) async throws(FileAccessError) -> Listing {
        let target = try await confine(path, followFinal: true)
        switch target.final {
        case .missing: throw .notFound(target.display)
        case .present(let attributes) where attributes.fileType != .directory: throw .notADirectory(target.display)
        default: break
        }
        let directory = target.realPath
        let scanned: SFTPDirectoryListing
        do { scanned = try await session.listDirectory(directory, limit: Self.maxListEntries * 20) } catch { throw failure(error, target.display) }
        let sorted = scanned.entries.sorted { left, right in
            let leftIsDirectory = left.attributes.fileType == .directory, rightIsDirectory = right.attributes.fileType == .directory
            if leftIsDirectory != rightIsDirectory { return leftIsDirectory }
            return Self.namePrecedes(left.name, right.name)
        }
        var entries: [FileEntry] = []
        for item in sorted.prefix(Self.maxListEntries) {
            var linkTarget: String?
            if item.attributes.fileType == .symlink { linkTarget = try? await session.readlink(Self.join(directory, item.name)) }
            entries.append(Self.entry(named: item.name, item.attributes, linkTarget: linkTarget))
        }
        return Listing(path: path, entries: entries, truncated: !scanned.complete || sorted.count > Self.maxListEntries)
    }

    /// One entry; a final link is described, not followed.
    func stat(_ path: ClientPath) async throws(FileAccessError) -> FileEntry {
        let target = try await confine(path, followFinal: false)
        return try await entry(named: shownName(path), at: target.realPath, target.display)
    }

    /// Up to `length` bytes (at most 1 MiB) of a regular file from `offset`.
    func read(_ path: ClientPath, offset: Int64, length: Int) async throws(FileAccessError) -> Data {
        guard offset >= 0, length >= 0 else { throw .invalidRequest("offset and length must not be negative", path: display(path)) }
        let target = try await confine(path, followFinal: true)
        guard target.name != nil else { throw .isADirectory(target.display) }
        switch target.final {
        case .missing: throw .notFound(target.display)
        case .present(let attributes):
            switch attributes.fileType {
            case .regular: break
            case .directory: throw .isADirectory(target.display)
            default: throw .invalidPath(target.display, "this is not a regular file (a device, FIFO or socket); it cannot be read")
            }
        case .unchecked: break
        }
        do {
            return try await session.read(target.realPath, offset: UInt64(offset), length: min(length, SFTPSession.maxReadLength))
        } catch { throw failure(error, target.display) }
    }

    // MARK: Writing

    /// Creates (or, with `overwrite`, replaces) a regular file: the bytes go to a hidden temporary
    /// file in the same directory, which is then renamed onto the name.
    func write(_ path: ClientPath, data: Data, overwrite: Bool) async throws(FileAccessError) -> FileEntry {
        guard Int64(data.count) <= maxUploadBytes else { throw .tooLarge(display(path), limit: maxUploadBytes) }
        let target = try await confine(path, followFinal: true)
        guard let name = target.name else { throw .isADirectory(target.display) }
        _ = try await checkWritable(Self.join(target.directoryReal, name), overwrite: overwrite, target.display)
        let temporary = Self.join(target.directoryReal, Self.temporaryName(UUID().uuidString.lowercased()))
        do {
            try await session.write(temporary, data: data, options: [.create, .exclusive], permissions: 0o600)
        } catch {
            try? await session.remove(temporary)
            throw failure(error, target.display)
        }
        try await commit(temporary, as: name, in: target.directoryReal, overwrite: overwrite, target.display)
        return try await entry(named: shownName(path), at: Self.join(target.directoryReal, name), target.display)
    }

    /// Starts a chunked upload: checks the destination and creates the empty temporary file
    /// `.nebula-upload-<id>.part` next to it.
    func beginUpload(_ path: ClientPath, overwrite: Bool, expectedSize: Int64?) async throws(FileAccessError) -> UploadID {
        if let expectedSize {
            guard expectedSize >= 0 else { throw .invalidRequest("the upload size must not be negative", path: display(path)) }
            guard expectedSize <= maxUploadBytes else { throw .tooLarge(display(path), limit: maxUploadBytes) }
        }
        await removeTemporaries(await uploads.expired())
        let target = try await confine(path, followFinal: true)
        guard let name = target.name else { throw .isADirectory(target.display) }
        _ = try await checkWritable(Self.join(target.directoryReal, name), overwrite: overwrite, target.display)
        let id = UUID().uuidString.lowercased()
        let temporary = Self.join(target.directoryReal, Self.temporaryName(id))
        do {
            try await session.write(temporary, data: Data(), options: [.create, .exclusive], permissions: 0o600)
        } catch { throw failure(error, target.display) }
        let upload = SFTPPendingUpload(
            display: target.display, shownName: shownName(path), rootReal: target.rootReal, directory: target.directoryReal,
            temporaryPath: temporary, name: name, overwrite: overwrite, expectedSize: expectedSize
        )
        do {
            try await uploads.add(upload, id: UploadID(rawValue: id))
        } catch {
            try? await session.remove(temporary)
            throw error
        }
        return UploadID(rawValue: id)
    }

    /// Appends one chunk at `offset` (the bytes received so far); returns the bytes received.
    func appendUpload(_ id: UploadID, offset: Int64, data: Data) async throws(FileAccessError) -> Int64 {
        await removeTemporaries(await uploads.expired())
        let upload = try await uploads.checkOut(id, offset: offset)
        let received = upload.received + Int64(data.count)
        if received > maxUploadBytes {
            await drop(id, upload)
            throw .tooLarge(upload.display, limit: maxUploadBytes)
        }
        if let expected = upload.expectedSize, received > expected {
            await drop(id, upload)
            throw .invalidRequest("the upload is larger than the \(expected) bytes announced when it began", path: upload.display)
        }
        do {
            // Narrows (does not close) the window in which the temporary file could be swapped for a link.
            guard try await session.lstat(upload.temporaryPath).fileType == .regular else {
                await drop(id, upload)
                throw FileAccessError.outsideRoot(upload.display, Self.changedWhileOpening)
            }
            try await session.write(upload.temporaryPath, data: data, offset: UInt64(offset), options: [])
        } catch let error as FileAccessError {
            throw error
        } catch let error as SFTPError {
            await drop(id, upload)
            throw failure(error, upload.display)
        } catch {
            await drop(id, upload)
            throw .ioError(upload.display, "the upload could not be written")
        }
        await uploads.checkIn(id, received: received)
        return received
    }

    /// Renames the uploaded file into place (replacing an existing file only if the upload began with
    /// `overwrite`). The id is spent either way.
    func finishUpload(_ id: UploadID) async throws(FileAccessError) -> FileEntry {
        let upload = try await uploads.take(id)
        if let expected = upload.expectedSize, expected != upload.received {
            try? await session.remove(upload.temporaryPath)
            throw .invalidRequest("the upload has \(upload.received) bytes but \(expected) were announced", path: upload.display)
        }
        // The directory was checked when the upload began; make sure it is still the same real directory.
        let directoryNow = try? await session.realpath(upload.directory)
        guard let directoryNow, Self.same(directoryNow, upload.directory), Self.isInside(directoryNow, root: upload.rootReal) else {
            throw .outsideRoot(upload.display, Self.changedWhileOpening)
        }
        try await commit(upload.temporaryPath, as: upload.name, in: upload.directory, overwrite: upload.overwrite, upload.display)
        return try await entry(named: upload.shownName, at: Self.join(upload.directory, upload.name), upload.display)
    }

    /// Drops an upload and deletes its temporary file.
    func abortUpload(_ id: UploadID) async throws(FileAccessError) {
        let upload = try await uploads.take(id)
        try? await session.remove(upload.temporaryPath)
    }

    // MARK: Changing

    /// Renames or moves an entry within one root; the destination must not exist.
    func rename(_ source: ClientPath, to destination: ClientPath) async throws(FileAccessError) -> FileEntry {
        guard source.root == destination.root else {
            throw .invalidPath(display(destination), "an entry can only be renamed or moved within its own root")
        }
        let from = try await confine(source, followFinal: false)
        let to = try await confine(destination, followFinal: false)
        guard from.name != nil else { throw .invalidPath(from.display, "a root cannot be renamed") }
        guard to.name != nil else { throw .exists(to.display) }
        try await refuseConfiguredRoot(from)
        let status: SFTPAttributes
        do { status = try await session.lstat(from.realPath) } catch { throw failure(error, from.display) }
        if status.fileType == .directory, Self.isInside(to.realPath, root: from.realPath) {
            throw .invalidPath(to.display, "a directory cannot be moved into itself")
        }
        do {
            try await session.rename(from.realPath, to: to.realPath)
        } catch {
            switch error.code {
            case .noSuchFile: throw .notFound(from.display)
            case .failure, .badMessage:
                if (try? await session.lstat(to.realPath)) != nil { throw .exists(to.display) }
                throw failure(error, to.display)
            default: throw failure(error, to.display)
            }
        }
        return try await entry(named: shownName(destination), at: to.realPath, to.display)
    }

    /// Deletes a file, link or (with `recursive`, non-empty) directory. A link is deleted itself;
    /// recursive deletion never follows links. No root can be deleted.
    func delete(_ path: ClientPath, recursive: Bool) async throws(FileAccessError) {
        let target = try await confine(path, followFinal: false)
        guard target.name != nil else { throw .invalidPath(target.display, "the root itself cannot be deleted") }
        try await refuseConfiguredRoot(target)
        let status: SFTPAttributes
        do { status = try await session.lstat(target.realPath) } catch { throw failure(error, target.display) }
        if status.fileType != .directory {
            do { try await session.remove(target.realPath) } catch { throw failure(error, target.display) }
        } else if recursive {
            try await removeTree(target.realPath, depth: 0, target.display)
        } else {
            try await removeDirectory(target.realPath, target.display)
        }
    }

    /// Creates one directory (`rwxr-xr-x`, minus the server's umask); its parent must exist.
    func makeDirectory(_ path: ClientPath) async throws(FileAccessError) -> FileEntry {
        let target = try await confine(path, followFinal: false)
        guard target.name != nil else { throw .exists(target.display) }
        do {
            try await session.mkdir(target.realPath, permissions: 0o755)
        } catch {
            if error.code == .failure, (try? await session.lstat(target.realPath)) != nil { throw .exists(target.display) }
            throw failure(error, target.display)
        }
        return try await entry(named: shownName(path), at: target.realPath, target.display)
    }
}

// MARK: - Confinement

extension SFTPFileAccess {
    /// What `confine` learned about the final name (when it followed it).
    enum FinalState: Sendable {
        /// Not looked at (`followFinal == false`), or the root itself.
        case unchecked
        /// Nothing there yet.
        case missing
        /// There, with these `lstat` attributes (of the link's target when the name was a link).
        case present(SFTPAttributes)
    }

    /// A client path after the checks: the real directory holding the entry and its name.
    struct RemotePath: Sendable {
        /// The path as the user sees it.
        let display: String
        /// `realpath` of the root on the server.
        let rootReal: String
        /// `realpath` of the directory holding ``name`` (``rootReal`` when ``name`` is `nil`).
        let directoryReal: String
        /// The final name; `nil` means the root itself.
        let name: String?
        let final: FinalState

        var realPath: String { name.map { SFTPFileAccess.join(directoryReal, $0) } ?? rootReal }
    }

    /// The lexical checks, then `realpath` confinement on the server (see the type's documentation).
    func confine(_ path: ClientPath, followFinal: Bool) async throws(FileAccessError) -> RemotePath {
        let shown = display(path)
        guard let root = roots.root(at: path.root) else { throw .noSuchRoot(path.root, count: roots.count) }
        let names: [String]
        do { names = try path.components() } catch { throw .invalidPath(shown, error.rule) }

        let rootShown = FileAccessError.printable(root)
        let rootReal: String
        do {
            rootReal = try await session.realpath(root)
            // OpenSSH's realpath accepts a missing last name: check that the root exists and is a directory.
            guard try await session.stat(rootReal).fileType == .directory else { throw FileAccessError.notADirectory(rootShown) }
        } catch let error as FileAccessError {
            throw error
        } catch let error as SFTPError {
            throw error.code == .noSuchFile ? .notFound(rootShown, "this root does not exist on the server") : failure(error, rootShown)
        } catch {
            throw .ioError(rootShown, "the root could not be resolved")
        }
        guard let last = names.last else {
            return RemotePath(display: shown, rootReal: rootReal, directoryReal: rootReal, name: nil, final: .unchecked)
        }

        let parentLexical = names.dropLast().reduce(rootReal) { Self.join($0, $1) }
        let parentReal: String
        do { parentReal = try await session.realpath(parentLexical) } catch { throw failure(error, shown) }
        guard Self.isInside(parentReal, root: rootReal) else { throw .outsideRoot(shown) }
        let parentStatus: SFTPAttributes
        do { parentStatus = try await session.stat(parentReal) } catch { throw failure(error, shown) }
        guard parentStatus.fileType == .directory else { throw .notADirectory(shown) }
        let here = RemotePath(display: shown, rootReal: rootReal, directoryReal: parentReal, name: last, final: .unchecked)
        guard followFinal else { return here }

        let status: SFTPAttributes
        do { status = try await session.lstat(here.realPath) } catch {
            if error.code == .noSuchFile { return RemotePath(display: shown, rootReal: rootReal, directoryReal: parentReal, name: last, final: .missing) }
            throw failure(error, shown)
        }
        guard status.fileType == .symlink else {
            return RemotePath(display: shown, rootReal: rootReal, directoryReal: parentReal, name: last, final: .present(status))
        }
        let dangling = FileAccessError.notFound(shown, "this is a symbolic link to something that does not exist")
        let targetReal: String
        do { targetReal = try await session.realpath(here.realPath) } catch {
            throw error.code == .noSuchFile ? dangling : failure(error, shown)
        }
        guard Self.isInside(targetReal, root: rootReal) else { throw .outsideRoot(shown) }
        // OpenSSH resolves a link to a missing name too; like the local browser, refuse a dangling link.
        let targetStatus: SFTPAttributes
        do { targetStatus = try await session.lstat(targetReal) } catch {
            throw error.code == .noSuchFile ? dangling : failure(error, shown)
        }
        if Self.same(targetReal, rootReal) {
            return RemotePath(display: shown, rootReal: rootReal, directoryReal: rootReal, name: nil, final: .present(targetStatus))
        }
        // realpath output is absolute without a trailing slash, so the last `/` splits it.
        let bytes = Array(targetReal.utf8)
        guard let slash = bytes.lastIndex(of: 0x2F) else { throw .outsideRoot(shown) }
        let directory = slash == 0 ? "/" : String(decoding: bytes[..<slash], as: UTF8.self)
        let name = String(decoding: bytes[(slash + 1)...], as: UTF8.self)
        return RemotePath(display: shown, rootReal: rootReal, directoryReal: directory, name: name, final: .present(targetStatus))
    }

    /// Refuses to delete or rename a path that is one of the configured roots (roots may nest).
    func refuseConfiguredRoot(_ path: RemotePath) async throws(FileAccessError) {
        for root in roots.paths {
            if let real = try? await session.realpath(root), Self.same(real, path.realPath) {
                throw .invalidPath(path.display, "this is one of the configured roots; it cannot be renamed or deleted")
            }
        }
    }

    /// `child` is `root` or below it, compared as bytes with a `/` boundary: `/srv2` is not inside `/srv`.
    static func isInside(_ child: String, root: String) -> Bool {
        let child = Array(child.utf8), root = Array(root.utf8)
        if child == root { return true }
        if root == [0x2F] { return child.first == 0x2F }
        return child.count > root.count && child.starts(with: root) && child[root.count] == 0x2F
    }

    static func same(_ left: String, _ right: String) -> Bool {
        Array(left.utf8) == Array(right.utf8)
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }

    static let changedWhileOpening = "a part of this path was replaced by a symbolic link while it was being used"
}

// MARK: - Helpers

extension SFTPFileAccess {
    /// The path the user sees in messages: the configured root, then the relative path.
    func display(_ path: ClientPath) -> String {
        let relative = path.path == "." ? "" : path.path
        guard let root = roots.root(at: path.root) else { return FileAccessError.printable("root #\(path.root)/\(relative)") }
        return FileAccessError.printable(relative.isEmpty ? root : Self.join(root, relative))
    }

    /// The name the user gave for the entry (for a root: the root's last component).
    func shownName(_ path: ClientPath) -> String {
        let relative = path.path == "." ? "" : path.path
        if let last = relative.split(separator: "/").last { return String(last) }
        let root = roots.root(at: path.root) ?? ""
        return root.split(separator: "/").last.map(String.init) ?? "/"
    }

    static func temporaryName(_ id: String) -> String {
        FileAccess.temporaryFilePrefix + id + ".part"
    }

    /// What is at `path` now, if anything, and whether a file may be written there.
    func checkWritable(_ path: String, overwrite: Bool, _ display: String) async throws(FileAccessError) -> SFTPAttributes? {
        let status: SFTPAttributes
        do { status = try await session.lstat(path) } catch {
            if error.code == .noSuchFile { return nil }
            throw failure(error, display)
        }
        switch status.fileType {
        case .directory: throw .isADirectory(display)
        case _ where !overwrite: throw .exists(display)
        case .symlink: throw .outsideRoot(display, Self.changedWhileOpening)   // confine() resolved links; one appeared since
        case .regular: return status
        case .other, .unknown: throw .invalidPath(display, "this is a device, FIFO or socket; it cannot be overwritten")
        }
    }

    /// Gives the temporary file its final mode and renames it onto `name` (removing an existing file
    /// first when `overwrite`). The temporary file is removed when this fails.
    func commit(_ temporary: String, as name: String, in directory: String, overwrite: Bool, _ display: String) async throws(FileAccessError) {
        let final = Self.join(directory, name)
        do throws(FileAccessError) {
            let existing = try await checkWritable(final, overwrite: overwrite, display)
            let mode = existing.flatMap(\.mode).map { $0 & 0o1777 } ?? 0o644   // never carry set-user/group-ID onto new content
            do throws(SFTPError) {
                try await session.setPermissions(temporary, mode)
                if existing != nil { try await session.remove(final) }
                try await session.rename(temporary, to: final)
            } catch {
                if error.code == .failure, (try? await session.lstat(final)) != nil { throw FileAccessError.exists(display) }
                throw failure(error, display)
            }
        } catch {
            try? await session.remove(temporary)
            throw error
        }
    }

    /// Removes an empty directory; a non-empty one is `directory_not_empty`.
    func removeDirectory(_ path: String, _ display: String) async throws(FileAccessError) {
        do { try await session.rmdir(path) } catch {
            if error.code == .failure, let left = try? await session.listDirectory(path, limit: 1), !left.entries.isEmpty {
                throw .directoryNotEmpty(display)
            }
            throw failure(error, display)
        }
    }

    /// Deletes the directory `path` and everything below it without following links.
    func removeTree(_ path: String, depth: Int, _ display: String) async throws(FileAccessError) {
        guard depth < 256 else { throw .ioError(display, "the directory is nested more than 256 levels deep") }
        while true {
            // Before listing (and emptying) it: is it still this real directory, not a link swapped in?
            let real: String
            do { real = try await session.realpath(path) } catch { throw failure(error, display) }
            guard Self.same(real, path) else { throw .outsideRoot(display, Self.changedWhileOpening) }
            let batch: SFTPDirectoryListing
            do { batch = try await session.listDirectory(path, limit: 10_000) } catch { throw failure(error, display) }
            for item in batch.entries {
                let child = Self.join(path, item.name)
                if item.attributes.fileType == .directory {
                    try await removeTree(child, depth: depth + 1, display)
                } else {
                    do { try await session.remove(child) } catch {
                        if error.code != .noSuchFile { throw failure(error, display) }
                    }
                }
            }
            if batch.complete { break }
        }
        try await removeDirectory(path, display)
    }

    /// An entry for `path` (`lstat`; a link's target text is read, not followed).
    func entry(named shown: String, at path: String, _ display: String) async throws(FileAccessError) -> FileEntry {
        let status: SFTPAttributes
        do { status = try await session.lstat(path) } catch { throw failure(error, display) }
        var target: String?
        if status.fileType == .symlink { target = try? await session.readlink(path) }
        return Self.entry(named: shown, status, linkTarget: target)
    }

    static func entry(named name: String, _ attributes: SFTPAttributes, linkTarget: String?) -> FileEntry {
        let kind: FileKind
        switch attributes.fileType {
        case .regular: kind = .file
        case .directory: kind = .directory
        case .symlink: kind = .symlink
        case .other, .unknown: kind = .other
        }
        let mode = Int(attributes.mode ?? 0)
        return FileEntry(
            name: name, kind: kind, size: Int64(clamping: attributes.size ?? 0),
            modified: Date(timeIntervalSince1970: TimeInterval(attributes.modificationTime ?? 0)),
            permissions: FileEntry.permissionString(mode: mode), mode: mode, symlinkTarget: linkTarget
        )
    }

    static func namePrecedes(_ left: String, _ right: String) -> Bool {
        let l = left.lowercased(), r = right.lowercased()
        if l != r { return l < r }
        return Array(left.utf8).lexicographicallyPrecedes(Array(right.utf8))
    }

    func drop(_ id: UploadID, _ upload: SFTPPendingUpload) async {
        await uploads.remove(id)
        try? await session.remove(upload.temporaryPath)
    }

    func removeTemporaries(_ expired: [SFTPPendingUpload]) async {
        for upload in expired { try? await session.remove(upload.temporaryPath) }
    }

    /// Maps an SFTP failure to the error the user sees. Never includes a resolved path.
    func failure(_ error: SFTPError, _ shown: String) -> FileAccessError {
        switch error.code {
        case .noSuchFile:
            return .notFound(shown)
        case .permissionDenied:
            return FileAccessError(code: .permissionDenied, path: shown, description: "\(shown): permission denied. The SSH user of this server may not do this here.")
        case .failure, .badMessage, .unsupported:
            return .ioError(shown, "the server's SFTP service could not do this (SFTP status \(error.status ?? 4))")
        case .invalidArgument:
            return .invalidRequest("the request cannot be sent over SFTP", path: shown)
        case .connection, .sessionClosed, .protocolError, .cancelled:
            let reason = error.connectionError?.description ?? error.code.rawValue.replacingOccurrences(of: "_", with: " ")
            return .ioError(shown, "the SFTP session to the server failed: \(reason)")
        }
    }
}

// MARK: - Uploads

/// One chunked upload over SFTP: a hidden temporary file next to its destination.
struct SFTPPendingUpload: Sendable {
    let display: String
    let shownName: String
    /// `realpath` of the root when the upload began.
    let rootReal: String
    /// The real directory holding both files.
    let directory: String
    let temporaryPath: String
    let name: String
    let overwrite: Bool
    let expectedSize: Int64?
    var received: Int64 = 0
    var busy = false
    var lastUsed = ContinuousClock.now
}

/// The SFTP uploads in progress for one server.
typealias SFTPUploadRegistry = UploadBook<SFTPPendingUpload>

extension SFTPPendingUpload: TrackedUpload {}
