import Foundation

/// Why reading a host metric failed. Every error names the file or command (`source`) and says,
/// in `reason`, what went wrong, so an operator can act on it without reading the code.
///
/// A *missing optional* source — no thermal zones, no hwmon chips, no `nvidia-smi` — is not an
/// error: it is simply an empty list. Errors are for sources that exist but could not be used.
public struct HostMetricsError: Error, Hashable, Codable, Sendable, CustomStringConvertible {
    /// The kind of failure, stable for code to switch on.
    public enum Code: String, Codable, Sendable, CaseIterable {
        /// The file could not be opened or read.
        case unreadable
        /// The file (or command output) was read but does not have the shape the kernel writes.
        case malformed
        /// The command could not be started or exited with a failure.
        case commandFailed
        /// The command (or a system call such as `statvfs`) did not finish in time.
        case timedOut
    }

    /// What kind of failure this is.
    public var code: Code
    /// The file or command involved, e.g. `/proc/stat` or `nvidia-smi`.
    public var source: String
    /// What exactly went wrong, for people: the system error, the offending line, the exit status.
    public var reason: String

    public init(code: Code, source: String, reason: String) {
        self.code = code
        self.source = source
        self.reason = reason
    }

    /// The file at `path` could not be opened or read (`reason` is the system error, e.g.
    /// "No such file or directory" or "Permission denied"). Is `/proc` (or `/sys`) mounted in this
    /// container, does the sampler's root directory point at the host, may this user read the file?
    public static func unreadable(_ path: String, reason: String) -> Self {
        .init(code: .unreadable, source: path, reason: reason)
    }

    /// `source` was read but a line or field is not what the kernel (or `nvidia-smi`) writes;
    /// `reason` quotes it. Usually a wrong file, or a kernel/driver format this version does not know.
    public static func malformed(_ source: String, reason: String) -> Self {
        .init(code: .malformed, source: source, reason: reason)
    }

    /// `command` could not be started, or it exited with a failure status; `reason` carries the status
    /// and what the command printed (for `nvidia-smi`, typically "couldn't communicate with the NVIDIA driver").
    public static func commandFailed(_ command: String, reason: String) -> Self {
        .init(code: .commandFailed, source: command, reason: reason)
    }

    /// `source` (a command, or `statvfs` on a mount point) did not finish within `seconds` and was
    /// abandoned: a wedged GPU driver or a stale network mount is the usual cause.
    public static func timedOut(_ source: String, after seconds: Double) -> Self {
        .init(code: .timedOut, source: source, reason: "no answer within \(String(format: "%g", seconds)) s")
    }

    /// One line for logs and the dashboard, e.g. "cannot read /proc/stat: Permission denied".
    public var description: String {
        switch code {
        case .unreadable: "cannot read \(source): \(reason)"
        case .malformed: "unexpected content in \(source): \(reason)"
        case .commandFailed: "\(source) failed: \(reason)"
        case .timedOut: "\(source) timed out: \(reason)"
        }
    }
}
