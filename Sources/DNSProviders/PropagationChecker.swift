import Foundation

/// A DNS server to ask: a host (IP address or name) and a UDP port.
public struct DNSServerAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// The server at `host`, `port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 host (`[::1]:53`).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `1.2.3.4`, `1.2.3.4:5300`, `[::1]:53`, `::1`, `ns1.example.com` or `ns1.example.com:53`
    /// (port 53 when left out); nil for anything else.
    public static func parse(_ text: String) -> DNSServerAddress? {
        let text = text.trimmingCharacters(in: .whitespaces)
        var host = text
        var port = 53
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let value = Int(rest.dropFirst()) else { return nil }
                port = value
            } else if !rest.isEmpty {
                return nil
            }
            guard IPAddressText.ipv6Bytes(host) != nil else { return nil }
        } else if text.filter({ $0 == ":" }).count > 1 {
            guard IPAddressText.ipv6Bytes(host) != nil else { return nil }
        } else if let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let value = Int(text[text.index(after: colon)...]) else { return nil }
            port = value
        }
        guard (1...65535).contains(port), !host.isEmpty else { return nil }
        if !host.contains(":"), IPAddressText.ipv4(host) == nil {
            guard let name = try? DNSName.normalise(host), !name.hasPrefix("*") else { return nil }
            host = name
        }
        return DNSServerAddress(host: host, port: port)
    }
}

/// What one server answered for a propagation check.
public struct PropagationResult: Sendable, Codable, Hashable {
    /// The server asked (`host:port`).
    public var server: String
    /// Its answers of the asked type, in Nebula content form.
    public var answers: [String]
    /// True when the answers are exactly the expected contents (order, case of names and trailing
    /// dots do not matter); with no expected contents, when the name has no records of the type.
    public var matches: Bool
    /// Why the server could not be asked or did not answer properly (timeout, SERVFAIL, REFUSED).
    public var error: String?

    /// A result for `server`.
    public init(server: String, answers: [String], matches: Bool, error: String?) {
        self.server = server
        self.answers = answers
        self.matches = matches
        self.error = error
    }
}

/// Propagation: asks each authoritative server for a name and type and compares its answers with
/// the expected contents.
public struct PropagationChecker: Sendable {
    /// How long to wait for each server.
    public var timeout: Duration

    /// A checker waiting `timeout` for each server.
    public init(timeout: Duration = .seconds(5)) {
        self.timeout = timeout
    }

    /// One result per server, in the order of `servers`; the servers are asked in parallel.
    public func check(name: String, type: DNSRecordType, expected: [String], servers: [DNSServerAddress]) async -> [PropagationResult] {
        let timeout = self.timeout
        let wanted = Set(expected.map { Self.comparable(type, $0) })
        return await withTaskGroup(of: (Int, PropagationResult).self) { group in
            for (index, server) in servers.enumerated() {
                group.addTask {
                    (index, await Self.ask(server, name: name, type: type, wanted: wanted, timeout: timeout))
                }
            }
            var results: [(Int, PropagationResult)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    private static func ask(_ server: DNSServerAddress, name: String, type: DNSRecordType, wanted: Set<String>, timeout: Duration) async -> PropagationResult {
        guard let queryType = DNSQuery.RecordType(rawValue: type.rawValue) else {
            return PropagationResult(server: server.description, answers: [], matches: false, error: "cannot ask for \(type.rawValue)")
        }
        do {
            let response = try await DNSQuery.resolve(name, type: queryType, server: server, timeout: timeout)
            switch response.rcode {
            case 0, 3:
                let answers = response.answers.filter { $0.type == queryType.code }.map { nebulaForm(type, $0.value) }
                let matches = Set(answers.map { comparable(type, $0) }) == wanted
                return PropagationResult(server: server.description, answers: answers, matches: matches, error: nil)
            default:
                return PropagationResult(server: server.description, answers: [], matches: false,
                                         error: "\(server) answered \(response.rcodeName) for \(name) \(type.rawValue); is it authoritative for the zone?")
            }
        } catch let error as DNSQuery.QueryError {
            let text = if case .timeout = error { "no answer from \(server) within \(ProviderHTTP.format(timeout))" } else { error.description }
            return PropagationResult(server: server.description, answers: [], matches: false, error: text)
        } catch {
            return PropagationResult(server: server.description, answers: [], matches: false, error: "\(server): \(error)")
        }
    }

    private static func nebulaForm(_ type: DNSRecordType, _ value: String) -> String {
        (try? DNSRecordValidator.normaliseContent(type, value)) ?? value
    }

    private static func comparable(_ type: DNSRecordType, _ value: String) -> String {
        let normal = nebulaForm(type, value)
        return type == .TXT ? normal : normal.lowercased()
    }
}
