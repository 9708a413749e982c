import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The directory a sampler treats as `/`: the real root on a host, `/host` in a container that
/// bind-mounts the host, or a fixture tree in tests. All paths below are relative to it.
struct HostRoot: Sendable, Equatable {
    /// Absolute path of the root directory, without a trailing slash (empty for `/`).
    let prefix: String

    init(_ root: String) {
        var trimmed = root
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        prefix = trimmed
    }

    /// The absolute path of `relative` (`"proc/stat"` or `"/proc/stat"`) under this root.
    func path(_ relative: String) -> String {
        let tail = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
        return prefix + "/" + tail
    }

    /// The whole text of a file under this root; `/proc` and `/sys` files report a size of 0 or 4096,
    /// so this reads until end of file rather than trusting `stat`.
    func read(_ relative: String) throws(HostMetricsError) -> String {
        try readTextFile(atPath: path(relative))
    }

    /// The text of the first of `candidates` that can be read, or the error of the last one.
    func readFirst(_ candidates: [String]) throws(HostMetricsError) -> String {
        var lastError = HostMetricsError.unreadable(candidates.first.map(path) ?? prefix, reason: "no candidate path")
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
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []
        return names.sorted(by: naturalOrder)
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
