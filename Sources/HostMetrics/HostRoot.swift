import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine a sampler reads, as a tree of files: a directory treated as `/` (the real root on a
/// host, `/host` in a container that bind-mounts the host, a fixture tree in tests), or files held
/// in memory (collected from a remote machine, see `RemoteCollection`). All paths below are
/// relative to it, and every reader of `/proc` and `/sys` goes through it, so local and remote
/// machines are read by the same code.
struct HostRoot: Sendable, Equatable {
    private enum Storage: Sendable, Equatable {
        case directory(prefix: String)
        case memory(HostFiles)
    }

    private let storage: Storage

    /// A directory treated as `/`.
    init(_ root: String) {
        var trimmed = root
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        storage = .directory(prefix: trimmed)
    }

    /// Files held in memory, by absolute path on the machine they came from.
    init(files: HostFiles) {
        storage = .memory(files)
    }

    /// True for the real root directory of this machine (`/`).
    var isThisMachinesRoot: Bool {
        storage == .directory(prefix: "")
    }

    /// The absolute path of `relative` (`"proc/stat"` or `"/proc/stat"`): under the root directory,
    /// or on the remote machine for files held in memory.
    func path(_ relative: String) -> String {
        let tail = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
        switch storage {
        case .directory(let prefix): return prefix + "/" + tail
        case .memory: return "/" + tail
        }
    }

    /// The whole text of a file under this root; `/proc` and `/sys` files report a size of 0 or 4096,
    /// so this reads until end of file rather than trusting `stat`.
    func read(_ relative: String) throws(HostMetricsError) -> String {
        switch storage {
        case .directory: return try readTextFile(atPath: path(relative))
        case .memory(let files): return try files.read(path(relative))
        }
    }

    /// The text of the first of `candidates` that can be read, or the error of the last one.
    func readFirst(_ candidates: [String]) throws(HostMetricsError) -> String {
        var lastError = HostMetricsError.unreadable(candidates.first.map(path) ?? path(""), reason: "no candidate path")
        for candidate in candidates {
            do { return try read(candidate) } catch { lastError = error }
        }
        throw lastError
    }

    /// The trimmed text of a file, or nil when it is missing, unreadable or empty.
    func readValue(_ relative: String) -> String? {
        guard let text = try? read(relative) else { return nil }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    /// The names in a directory (symlinks included, `.` and `..` excluded), sorted so that numbered
    /// names come in numeric order (`hwmon2` before `hwmon10`); empty when the directory is missing.
    func list(_ relative: String) -> [String] {
        switch storage {
        case .directory:
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []
            return names.sorted(by: naturalOrder)
        case .memory(let files):
            return files.list(path(relative))
        }
    }
}

/// Files of a machine held in memory: their text by absolute path, and the files that exist but
/// could not be read, with the reason. Directories are implied by the paths, so listing a directory
/// gives the names of the files (and folders of files) collected under it.
struct HostFiles: Sendable, Equatable {
    /// Text by absolute path (`/proc/stat`).
    let contents: [String: String]
    /// Why a file could not be read (`Permission denied`), by absolute path.
    let failures: [String: String]
    /// The sorted names under each directory (`/sys/class/hwmon` → `hwmon0`, `hwmon1`).
    private let children: [String: [String]]

    init(contents: [String: String], failures: [String: String] = [:]) {
        self.contents = contents
        self.failures = failures
        var names: [String: Set<String>] = [:]
        for path in Set(contents.keys).union(failures.keys) {
            var components = path.split(separator: "/", omittingEmptySubsequences: true)
            while let name = components.popLast() {
                names["/" + components.joined(separator: "/"), default: []].insert(String(name))
            }
        }
        children = names.mapValues { $0.sorted(by: naturalOrder) }
    }

    /// The text of the file at `path`.
    /// - Throws: `.unreadable` naming the file, with the remote reason or "not in the collected output".
    func read(_ path: String) throws(HostMetricsError) -> String {
        if let text = contents[path] { return text }
        throw .unreadable(path, reason: failures[path] ?? "not in the collected output")
    }

    /// The names directly under the directory `path`, in natural order.
    func list(_ path: String) -> [String] {
        var directory = path
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        return children[directory.isEmpty ? "/" : directory] ?? []
    }
}

/// Reads a whole file with POSIX calls, so the error carries the real `errno` text.
func readTextFile(atPath path: String) throws(HostMetricsError) -> String {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw .unreadable(path, reason: systemErrorText(errno)) }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16_384)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            let code = errno
            if code == EINTR { continue }
            throw .unreadable(path, reason: systemErrorText(code))
        }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The C library's text for an `errno` value ("No such file or directory").
func systemErrorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// `a < b` comparing runs of digits as numbers: `cpu2 < cpu10`, `temp9_input < temp10_input`.
func naturalOrder(_ a: String, _ b: String) -> Bool {
    a.compare(b, options: [.numeric]) == .orderedAscending
}

extension StringProtocol {
    /// The whitespace-separated fields of a line (spaces and tabs, runs collapsed).
    var fields: [SubSequence] {
        split(whereSeparator: { $0 == " " || $0 == "\t" })
    }

    /// The non-empty lines of a text.
    var nonEmptyLines: [SubSequence] {
        split(whereSeparator: \.isNewline)
    }
}

extension UInt64 {
    /// `self - earlier`, or 0 when the counter went backwards (wrapped or was reset).
    func delta(since earlier: UInt64) -> UInt64 {
        self >= earlier ? self - earlier : 0
    }
}

extension Duration {
    /// This duration in seconds, as a `Double`.
    var inSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
