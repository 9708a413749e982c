import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Accepted HTTP status codes, written as users write them: `200-299`, `200,301-302`, `404`.
struct StatusRanges: Sendable, Equatable, CustomStringConvertible {
    var ranges: [ClosedRange<Int>]

    static let success = StatusRanges(ranges: [200...299])

    init(ranges: [ClosedRange<Int>]) { self.ranges = ranges }

    /// Nil when the text is not a list of codes or ranges between 100 and 599.
    init?(parsing raw: String) {
        var ranges: [ClosedRange<Int>] = []
        for part in raw.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds.last ?? ""),
                  (100...599).contains(low), (100...599).contains(high), low <= high else { return nil }
            ranges.append(low...high)
        }
        guard !ranges.isEmpty else { return nil }
        self.ranges = ranges
    }

    func contains(_ code: Int) -> Bool { ranges.contains { $0.contains(code) } }

    var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }
}

/// An HTTP(S) health probe: the status must be in `expectedStatus`, the body must contain (or,
/// with `keywordAbsent`, must not contain) `keyword`, and the answer must come within
/// `maxLatencyMs`. Redirects are followed by the probe itself (at most 10), so one shared
/// `HTTPClient` serves every check whatever its redirect choice. Automation's `health_check`
/// action reuses it.
struct HTTPProbe: Sendable {
    enum Method: String, Codable, Sendable, CaseIterable { case GET, HEAD }

    var url: String
    var method: Method = .GET
    var expectedStatus: StatusRanges = .success
    var keyword: String?
    var keywordAbsent = false
    var maxLatencyMs: Int?
    var followRedirects = true
    /// Accept any certificate (self-signed lab services). Off by default.
    var ignoreTLSErrors = false
    var timeout: Duration = .seconds(10)

    /// The most body read when looking for the keyword.
    static let maxBodyBytes = 1 << 20
    static let maxRedirects = 10

    /// Nil when `raw` is not an absolute http(s) URL with a host.
    static func validURL(_ raw: String) -> URL? {
        guard let url = URL(string: raw.trimmingCharacters(in: .whitespaces)), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty, raw.count <= 2048 else { return nil }
        return url
    }

    /// Probes once. Never throws: every failure is a ``ProbeOutcome`` saying what went wrong.
    func run(using client: HTTPClient) async -> ProbeOutcome {
        let start = ContinuousClock.now
        do {
            return try await withProbeTimeout(timeout) { try await self.attempt(client: client, start: start) }
        } catch let timeout as ProbeTimeout {
            return .down(timeout.description, latencyMs: elapsedMs(since: start))
        } catch {
            return .down(Self.describe(error), latencyMs: elapsedMs(since: start))
        }
    }

    private func attempt(client: HTTPClient, start: ContinuousClock.Instant) async throws -> ProbeOutcome {
        guard var current = Self.validURL(url) else { return .down("not an http(s) URL: \(url)") }
        var hops = 0
        while true {
            var request = HTTPClientRequest(url: current.absoluteString)
            request.method = method == .HEAD ? .HEAD : .GET
            request.headers.add(name: "User-Agent", value: "NebulaCommand-Monitor/1")
            if ignoreTLSErrors {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.certificateVerification = .none
                request.tlsConfiguration = tls
            }
            let response = try await client.execute(request, timeout: .milliseconds(timeout.milliseconds))
            let code = Int(response.status.code)
            if followRedirects, (300...399).contains(code), code != 304, let location = response.headers.first(name: "Location") {
                try await Self.discard(response.body)
                hops += 1
                guard hops <= Self.maxRedirects else { return .down("more than \(Self.maxRedirects) redirects", latencyMs: elapsedMs(since: start)) }
                guard let next = URL(string: location, relativeTo: current)?.absoluteURL, Self.validURL(next.absoluteString) != nil else {
                    return .down("redirect to an unusable location: \(location.prefix(200))", latencyMs: elapsedMs(since: start))
                }
                current = next
                continue
            }
            var body: String?
            if keyword != nil, method == .GET {
                body = String(buffer: try await Self.collectPrefix(response.body, limit: Self.maxBodyBytes))
            } else {
                try await Self.discard(response.body)
            }
            let latency = elapsedMs(since: start)
            guard expectedStatus.contains(code) else {
                return .down("HTTP \(code), expected \(expectedStatus)", latencyMs: latency)
            }
            if let keyword, !keyword.isEmpty {
                let found = body?.contains(keyword) ?? false
                if keywordAbsent && found { return .down("HTTP \(code), but the body contains “\(keyword)”", latencyMs: latency) }
                if !keywordAbsent && !found { return .down("HTTP \(code), but “\(keyword)” is not in the body", latencyMs: latency) }
            }
            if let maxLatencyMs, latency > Double(maxLatencyMs) {
                return .down("HTTP \(code) in \(Int(latency)) ms, slower than \(maxLatencyMs) ms", latencyMs: latency)
            }
            return .up("HTTP \(code) in \(Int(latency.rounded())) ms", latencyMs: latency)
        }
    }

    private static func discard(_ body: HTTPClientResponse.Body) async throws {
        for try await _ in body {}
    }

    /// The first `limit` bytes of the body; a larger body is cut there (the rest is not read).
    private static func collectPrefix(_ body: HTTPClientResponse.Body, limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        for try await var chunk in body {
            let room = limit - collected.readableBytes
            if chunk.readableBytes >= room {
                if let slice = chunk.readSlice(length: room) { collected.writeImmutableBuffer(slice) }
                break
            }
            collected.writeBuffer(&chunk)
        }
        return collected
    }

    /// A short, secret-free description of a transport error.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connection timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .deadlineExceeded: return "no answer in time"
            default: return "HTTP error: \(error)"
            }
        }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return "connection refused" }
        if String(describing: error).contains("Connection refused") { return "connection refused" }
        if let error = error as? NIOSSLError { return "TLS error: \(error)" }
        if let error = error as? BoringSSLError { return "TLS error: \(error)" }
        if let error = error as? NIOConnectionError {
            return "cannot connect to \(error.host):\(error.port)" + (error.connectionErrors.first.map { " (\($0.error))" } ?? "")
        }
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}
