#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A failed system call's `errno`.
struct Errno: Error, Equatable {
    let code: Int32

    static var current: Errno { Errno(code: errno) }

    var text: String { String(cString: strerror(code)) }
}

/// What the file browser needs from `struct stat`.
struct FileStatus: Equatable {
    var kind: FileKind
    var mode: Int
    var size: Int64
    var modifiedSeconds: Int
    var device: UInt64
    var owner: UInt32
    var group: UInt32

    init(_ raw: stat) {
        switch Int(raw.st_mode) & 0o170000 {
        case 0o040000: kind = .directory
        case 0o100000: kind = .file
        case 0o120000: kind = .symlink
        default: kind = .other
        }
        mode = Int(raw.st_mode) & 0o7777
        size = Int64(raw.st_size)
        #if canImport(Darwin)
        modifiedSeconds = Int(raw.st_mtimespec.tv_sec)
        #else
        modifiedSeconds = Int(raw.st_mtim.tv_sec)
        #endif
        device = UInt64(raw.st_dev)
        owner = UInt32(raw.st_uid)
        group = UInt32(raw.st_gid)
    }
}

/// Thin, `errno`-throwing wrappers over the descriptor-relative (`…at`) system calls the file browser
/// uses. Descriptors are plain `Int32`s; callers close them with `defer`.
enum Posix {
    /// Flags for a descriptor that only names a directory for `…at` calls. On Linux this is `O_PATH`
    /// (works on directories the process may search but not read); elsewhere `O_RDONLY`.
    static var directoryHandleFlags: Int32 {
        #if os(Linux) && (arch(x86_64) || arch(arm64) || arch(arm) || arch(i386))
        return 0o10000000 | O_DIRECTORY | O_CLOEXEC   // O_PATH, which the Glibc module does not export
        #else
        return O_RDONLY | O_DIRECTORY | O_CLOEXEC
        #endif
    }

    static func realPath(_ path: String) throws(Errno) -> String {
        guard let resolved = realpath(path, nil) else { throw Errno.current }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func open(_ path: String, _ flags: Int32) throws(Errno) -> Int32 {
        let fd = path.withCString { openat(AT_FDCWD, $0, flags) }
        guard fd >= 0 else { throw Errno.current }
        return fd
    }

    static func openAt(_ directory: Int32, _ name: String, _ flags: Int32, mode: Int = 0) throws(Errno) -> Int32 {
        let fd = name.withCString { openat(directory, $0, flags, mode_t(mode)) }
        guard fd >= 0 else { throw Errno.current }
        return fd
    }

    /// `fstatat`; never follows a final symbolic link.
    static func statAt(_ directory: Int32, _ name: String) throws(Errno) -> FileStatus {
        var raw = stat()
        guard name.withCString({ fstatat(directory, $0, &raw, AT_SYMLINK_NOFOLLOW) }) == 0 else { throw Errno.current }
        return FileStatus(raw)
    }

    /// `lstat` by path.
    static func statPath(_ path: String) throws(Errno) -> FileStatus {
        try statAt(AT_FDCWD, path)
    }

    static func statDescriptor(_ fd: Int32) throws(Errno) -> FileStatus {
        var raw = stat()
        guard fstat(fd, &raw) == 0 else { throw Errno.current }
        return FileStatus(raw)
    }

    static func readLinkAt(_ directory: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = name.withCString { readlinkat(directory, $0, &buffer, buffer.count - 1) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func makeDirectoryAt(_ directory: Int32, _ name: String, mode: Int) throws(Errno) {
        guard name.withCString({ mkdirat(directory, $0, mode_t(mode)) }) == 0 else { throw Errno.current }
    }

    static func unlinkAt(_ directory: Int32, _ name: String, isDirectory: Bool) throws(Errno) {
        guard name.withCString({ unlinkat(directory, $0, isDirectory ? AT_REMOVEDIR : 0) }) == 0 else { throw Errno.current }
    }

    static func renameAt(_ fromDirectory: Int32, _ from: String, _ toDirectory: Int32, _ to: String) throws(Errno) {
        let result = from.withCString { source in to.withCString { target in renameat(fromDirectory, source, toDirectory, target) } }
        guard result == 0 else { throw Errno.current }
    }

    /// Renames only if `to` does not exist, atomically where the kernel and file system allow
    /// (`renameat2(RENAME_NOREPLACE)`, or `link` + `unlink` for files). Where neither works (old
    /// kernels, FAT/exFAT, some network file systems) it checks first and then renames, which leaves a
    /// short window in which a concurrent writer's file could be replaced.
    static func renameNoReplace(_ fromDirectory: Int32, _ from: String, _ toDirectory: Int32, _ to: String, isDirectory: Bool) throws(Errno) {
        let unsupported: Set<Int32> = [EINVAL, ENOSYS, ENOTSUP, EOPNOTSUPP]
        if let result = renameExclusive(fromDirectory, from, toDirectory, to) {
            if result == 0 { return }
            let failure = Errno.current
            if !unsupported.contains(failure.code) { throw failure }
        }
        if !isDirectory {
            let linked = from.withCString { source in to.withCString { target in linkat(fromDirectory, source, toDirectory, target, 0) } }
            if linked == 0 {
                try? unlinkAt(fromDirectory, from, isDirectory: false)
                return
            }
            let failure = Errno.current
            if failure.code == EEXIST { throw failure }
        }
        do throws(Errno) {
            _ = try statAt(toDirectory, to)
            throw Errno(code: EEXIST)
        } catch where error.code == ENOENT {
            try renameAt(fromDirectory, from, toDirectory, to)
        }
    }

    /// `nil` when the platform has no exclusive rename; else the call's result (`errno` set on -1).
    private static func renameExclusive(_ fromDirectory: Int32, _ from: String, _ toDirectory: Int32, _ to: String) -> Int32? {
        #if os(Linux)
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
        guard let address = UnsafeRawPointer(bitPattern: renameat2Address) else { return nil }
        let renameat2 = unsafeBitCast(address, to: RenameAt2.self)
        return from.withCString { source in to.withCString { target in renameat2(fromDirectory, source, toDirectory, target, 1) } }  // RENAME_NOREPLACE
        #elseif canImport(Darwin)
        return from.withCString { source in to.withCString { target in renameatx_np(fromDirectory, source, toDirectory, target, UInt32(RENAME_EXCL)) } }
        #else
        return nil
        #endif
    }

    #if os(Linux)
    /// glibc has had `renameat2` since 2.28, but the Swift Glibc module does not export it.
    private static let renameat2Address: Int = Int(bitPattern: dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2"))
    #endif

    static func readAt(_ fd: Int32, offset: Int64, count: Int) throws(Errno) -> Data {
        var data = Data(count: count)
        var filled = 0
        while filled < count {
            let got = data.withUnsafeMutableBytes { buffer in
                pread(fd, buffer.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw Errno.current
            }
            if got == 0 { break }
            filled += got
        }
        data.count = filled
        return data
    }

    static func writeAt(_ fd: Int32, offset: Int64, _ data: Data) throws(Errno) {
        var written = 0
        while written < data.count {
            let put = data.withUnsafeBytes { buffer in
                pwrite(fd, buffer.baseAddress! + written, data.count - written, off_t(offset) + off_t(written))
            }
            if put < 0 {
                if errno == EINTR { continue }
                throw Errno.current
            }
            written += put
        }
    }

    static func sync(_ fd: Int32) throws(Errno) {
        guard fsync(fd) == 0 else { throw Errno.current }
    }

    /// Flushes a directory's entries (after a rename). Best effort: some file systems refuse.
    static func syncDirectory(_ directory: Int32) {
        guard let fd = try? openAt(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func changeMode(_ fd: Int32, _ mode: Int) {
        _ = fchmod(fd, mode_t(mode))
    }

    static func changeOwner(_ fd: Int32, owner: UInt32, group: UInt32) {
        _ = fchown(fd, uid_t(owner), gid_t(group))
    }

    /// The names in the directory open as `fd` (not `.` and `..`), each with the kind the directory
    /// entry reports (`nil` when the file system does not say). Stops after `limit` names and then
    /// reports `complete == false`.
    static func directoryEntries(_ fd: Int32, limit: Int) throws(Errno) -> (names: [(name: String, isDirectory: Bool?)], complete: Bool) {
        let copy = dup(fd)
        guard copy >= 0 else { throw Errno.current }
        guard let stream = fdopendir(copy) else {
            let failure = Errno.current
            close(copy)
            throw failure
        }
        defer { closedir(stream) }
        rewinddir(stream)   // the copy shares the offset with `fd`; always start at the beginning
        var names: [(name: String, isDirectory: Bool?)] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw Errno.current }
                return (names, true)
            }
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            if names.count == limit { return (names, false) }
            let type = Int(entry.pointee.d_type)
            names.append((name, type == Int(DT_UNKNOWN) ? nil : type == Int(DT_DIR)))
        }
    }
}
