import DNSProviders
import Foundation

/// The `dns` check: `name` must resolve (type `type`) and, when `expected` is given, the answers
/// must include every expected value (case and a trailing dot do not matter).
struct DNSProbe: Sendable {
    var name: String
    var type: DNSQuery.RecordType
    var expected: [String]
    var resolver: HostPort?
    var timeout: Duration

    /// The record types a `dns` check may ask for (``DNSQuery`` knows more).
    static let checkableTypes: [DNSQuery.RecordType] = [.A, .AAAA, .CNAME, .TXT, .MX]

    func run() async -> ProbeOutcome {
        let start = ContinuousClock.now
        let server = resolver.map { DNSServerAddress(host: $0.host, port: $0.port) } ?? DNSQuery.systemResolver()
        do {
            let response = try await DNSQuery.resolve(name, type: type, server: server, timeout: timeout)
            let latency = elapsedMs(since: start)
            guard response.rcode == 0 else { return .down("\(name) \(type.rawValue): \(response.rcodeName) from \(server)", latencyMs: latency) }
            let values = response.answers.filter { $0.type == type.code }.map { Self.normalise($0.value) }
            guard !values.isEmpty else { return .down("\(name) has no \(type.rawValue) record (asked \(server))", latencyMs: latency) }
            let missing = expected.map(Self.normalise).filter { !values.contains($0) }
            guard missing.isEmpty else {
                return .down("\(name) \(type.rawValue) is \(values.joined(separator: ", ")); expected \(missing.joined(separator: ", "))", latencyMs: latency)
            }
            return .up("\(name) \(type.rawValue) → \(values.prefix(5).joined(separator: ", "))", latencyMs: latency)
        } catch let error as DNSQuery.QueryError {
            return .down("\(name) \(type.rawValue): \(error.description)", latencyMs: elapsedMs(since: start))
        } catch {
            return .down("\(name) \(type.rawValue): \(TCPProbe.describe(error))", latencyMs: elapsedMs(since: start))
        }
    }

    static func normalise(_ value: String) -> String {
        var text = value.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
