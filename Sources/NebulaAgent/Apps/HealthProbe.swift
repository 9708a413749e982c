#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

/// One thing that must answer for an app to count as up, always on this machine (127.0.0.1).
public enum HealthCheck: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `GET path` over plain HTTP answers 200–399, or exactly `expectStatus` when given.
    case http(port: Int, path: String = "/", expectStatus: Int? = nil)
    /// A TCP connection to the port is accepted.
    case tcp(port: Int)

    public var description: String {
        switch self {
        case .http(let port, let path, let expect):
            return "HTTP GET 127.0.0.1:\(port)\(path.hasPrefix("/") ? path : "/" + path)" + (expect.map { " = \($0)" } ?? "")
        case .tcp(let port):
            return "TCP 127.0.0.1:\(port)"
        }
    }
}

/// Where ``HealthProbe/waitUntilHealthy(checks:interval:timeout:progress:)`` stands.
public struct HealthReport: Sendable, Hashable {
    /// Every check passed in the same round.
    public var healthy: Bool
    /// The last reason each still failing check gave ("connection refused", "HTTP 503", "timed out");
    /// empty when healthy.
    public var failures: [HealthCheck: String]
    /// Rounds of checks run so far.
    public var rounds: Int
    /// Time since waiting began.
    public var elapsed: Duration
}

/// Probes an app's ports on this machine after an install or deploy.
///
/// Each attempt is a non-blocking socket driven by `poll()` with a short deadline, run on a Dispatch
/// worker thread, never on Swift's cooperative pool.
public struct HealthProbe: Sendable {
    /// The most one attempt (connect, send, first response line) may take.
    public var attemptTimeout: Duration
    /// The address probed (IPv4 literal).
    public var host: String

    public init(attemptTimeout: Duration = .seconds(2), host: String = "127.0.0.1") {
        self.attemptTimeout = attemptTimeout
        self.host = host
    }

    /// One attempt of `check`: nil when it passes, else why not.
    public func probe(_ check: HealthCheck) async -> String? {
        let host = self.host
        let timeout = attemptTimeout
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(returning: Self.attempt(check, host: host, timeout: timeout))
            }
        }
    }

    /// Runs every check each `interval` until all pass in the same round or `timeout` has passed;
    /// `progress` hears each round's report. Throws `CancellationError` when the task is cancelled.
    public func waitUntilHealthy(checks: [HealthCheck], interval: Duration = .seconds(1), timeout: Duration,
                                 progress: (@Sendable (HealthReport) -> Void)? = nil) async throws -> HealthReport {
        let clock = ContinuousClock()
        let started = clock.now
        var report = HealthReport(healthy: checks.isEmpty, failures: [:], rounds: 0, elapsed: .zero)
        guard !checks.isEmpty else { return report }
        while true {
            try Task.checkCancellation()
            let results = await withTaskGroup(of: (HealthCheck, String?).self) { group in
                for check in Set(checks) { group.addTask { (check, await probe(check)) } }
                var results: [HealthCheck: String] = [:]
                for await (check, failure) in group { if let failure { results[check] = failure } }
                return results
            }
            report.rounds += 1
            report.failures = results
            report.healthy = results.isEmpty
            report.elapsed = clock.now - started
            progress?(report)
            if report.healthy { return report }
            let remaining = timeout - (clock.now - started)
            if remaining <= .zero { return report }
            try await Task.sleep(for: min(interval, remaining))
        }
    }

    // MARK: - One attempt (blocking, on a Dispatch thread)

    static func attempt(_ check: HealthCheck, host: String, timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        let port: Int
        switch check {
        case .http(let p, _, _), .tcp(let p): port = p
        }
        guard (1...65535).contains(port) else { return "port \(port) is not 1–65535" }
        let fd: Int32
        switch connect(host: host, port: port, deadline: deadline) {
        case .failure(let reason): return reason
        case .success(let socket): fd = socket
        }
        defer { close(fd) }
        guard case .http(_, let rawPath, let expect) = check else { return nil }
        let path = rawPath.hasPrefix("/") ? rawPath : "/" + rawPath
        guard !path.contains(where: { $0 == "\r" || $0 == "\n" || $0 == " " }) else { return "the path contains spaces or line breaks" }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: nebula-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        if let failure = send(fd, Array(request.utf8), deadline: deadline) { return failure }
        let statusLine: String
        switch readStatusLine(fd, deadline: deadline) {
        case .failure(let reason): return reason
        case .success(let line): statusLine = line
        }
        // "HTTP/1.1 200 OK"
        let words = statusLine.split(separator: " ", maxSplits: 2)
        guard words.count >= 2, words[0].hasPrefix("HTTP/"), let status = Int(words[1]) else {
            return "not an HTTP answer: \(statusLine.prefix(60))"
        }
        if let expect {
            return status == expect ? nil : "HTTP \(status) (expected \(expect))"
        }
        return (200...399).contains(status) ? nil : "HTTP \(status)"
    }

    private enum Step<T> {
        case success(T)
        case failure(String)
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let left = deadline - .now
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }

    private static func connect(host: String, port: Int, deadline: ContinuousClock.Instant) -> Step<Int32> {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return .failure("\(host) is not an IPv4 address") }
        #if canImport(Glibc) || canImport(Musl)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        #endif
        guard fd >= 0 else { return .failure("no socket: \(String(cString: strerror(errno)))") }
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if started != 0 && errno != EINPROGRESS {
            let reason = describe(errno)
            close(fd)
            return .failure(reason)
        }
        if started != 0 {
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = waitFor(&poller, deadline: deadline)
            guard ready > 0 else {
                close(fd)
                return .failure("timed out")
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                close(fd)
                return .failure(describe(error))
            }
        }
        return .success(fd)
    }

    private static func waitFor(_ poller: inout pollfd, deadline: ContinuousClock.Instant) -> Int32 {
        while true {
            let wait = milliseconds(until: deadline)
            if wait <= 0 { return 0 }
            let ready = poll(&poller, 1, wait)
            if ready < 0 && errno == EINTR { continue }
            return ready
        }
    }

    private static func send(_ fd: Int32, _ bytes: [UInt8], deadline: ContinuousClock.Instant) -> String? {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 { offset += written; continue }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if waitFor(&poller, deadline: deadline) <= 0 { return "timed out" }
                continue
            }
            return describe(errno)
        }
        return nil
    }

    private static func readStatusLine(_ fd: Int32, deadline: ContinuousClock.Instant) -> Step<String> {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while received.count < 8192 {
            if let end = received.firstIndex(of: UInt8(ascii: "\n")) {
                return .success(String(decoding: received[..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if waitFor(&poller, deadline: deadline) <= 0 { return .failure("timed out") }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer[0..<count]
            } else if count == 0 {
                return received.isEmpty ? .failure("connection closed before a response")
                    : .success(String(decoding: received, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                return .failure(describe(errno))
            }
        }
        return .failure("not an HTTP answer: no status line in the first 8 KiB")
    }

    private static func describe(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "connection reset"
        case ETIMEDOUT: return "timed out"
        case EHOSTUNREACH, ENETUNREACH: return "unreachable"
        default: return String(cString: strerror(code)).lowercased()
        }
    }
}
