import Foundation

/// What one probe found: whether the target is healthy, how long it took, and a sentence a person
/// can act on ("HTTP 503, expected 200-299", "certificate expires in 5 days").
struct ProbeOutcome: Sendable, Equatable {
    var ok: Bool
    var latencyMs: Double?
    var message: String

    static func up(_ message: String, latencyMs: Double? = nil) -> Self { .init(ok: true, latencyMs: latencyMs, message: message) }
    static func down(_ message: String, latencyMs: Double? = nil) -> Self { .init(ok: false, latencyMs: latencyMs, message: message) }
}

/// The probe did not finish in its time.
struct ProbeTimeout: Error, CustomStringConvertible {
    var duration: Duration
    var description: String { "no answer within \(Self.format(duration))" }

    static func format(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// Runs `body`, or throws ``ProbeTimeout`` after `duration` (cancelling `body`).
func withProbeTimeout<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: duration)
            throw ProbeTimeout(duration: duration)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw ProbeTimeout(duration: duration) }
        return first
    }
}

/// Milliseconds since `start` (a `ContinuousClock` instant), rounded to 0.1 ms.
func elapsedMs(since start: ContinuousClock.Instant) -> Double {
    let ms = Double((ContinuousClock.now - start).milliseconds) + Double((ContinuousClock.now - start).components.attoseconds % 1_000_000_000_000_000) / 1e15
    return (ms * 10).rounded() / 10
}

/// A `host:port` pair as users type it (`nas.lan:443`, `[fd00::1]:53`, `10.0.0.2:22`).
struct HostPort: Sendable, Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host:port`; `defaultPort` applies when the port is left out.
    init?(parsing raw: String, defaultPort: Int? = nil) {
        let text = raw.trimmingCharacters(in: .whitespaces)
        var host = text
        var portText: String?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { portText = String(rest.dropFirst()) } else if !rest.isEmpty { return nil }
        } else if let colon = text.lastIndex(of: ":"), text.filter({ $0 == ":" }).count == 1 {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard HostPort.isValidHost(host) else { return nil }
        let parsed: Int? = portText.map { Int($0) } ?? defaultPort
        guard let port = parsed, (1...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
    }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// A DNS name or an IP address: no spaces, no scheme, no path.
    static func isValidHost(_ host: String) -> Bool {
        !host.isEmpty && host.count <= 253 && host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) }
    }
}
