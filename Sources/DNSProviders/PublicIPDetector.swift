import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// An IP address family.
public enum IPFamily: String, Sendable, Codable {
    case v4, v6
}

/// Finds the public IP for dynamic DNS: asks each endpoint in order until one answers with a valid
/// address of the wanted family. An endpoint answers plain text (`203.0.113.7\n`) or JSON
/// `{"ip": "..."}` (HTTP 200).
public struct PublicIPDetector: Sendable {
    /// The endpoints, asked in this order.
    public var endpoints: [URL]
    private let client: HTTPClient
    private let timeout: Duration

    /// A detector asking `endpoints`, waiting `timeout` for each.
    public init(endpoints: [URL], httpClient: HTTPClient = DNSProviderHTTP.client, timeout: Duration = .seconds(10)) {
        self.endpoints = endpoints
        self.client = httpClient
        self.timeout = timeout
    }

    /// The first valid address of `family` an endpoint answers (IPv6 in canonical form). Throws
    /// `unreachable` when no endpoint could be reached, `invalid_response` when some answered but
    /// none with a usable address; the message lists each endpoint's problem.
    public func detect(_ family: IPFamily) async throws(DNSProviderError) -> String {
        let wanted = family == .v4 ? "IPv4" : "IPv6"
        guard !endpoints.isEmpty else {
            throw DNSProviderError(code: .invalidResponse, message: "No endpoints are configured to find the public \(wanted) address; add one such as https://api.ipify.org.")
        }
        var problems: [String] = []
        var anyAnswered = false
        for endpoint in endpoints {
            let shown = Self.shown(endpoint)
            let http = ProviderHTTP(client: client, timeout: timeout, provider: shown, secret: "", headers: [])
            let reply: ProviderHTTP.Reply
            do {
                reply = try await http.send(.GET, endpoint.absoluteString)
            } catch {
                problems.append("\(shown): \(error.code == .timedOut ? "no answer within \(ProviderHTTP.format(timeout))" : "not reachable")")
                continue
            }
            anyAnswered = true
            guard reply.status == 200 else {
                problems.append("\(shown): HTTP \(reply.status)")
                continue
            }
            let text = Self.addressText(reply.body)
            if let address = family == .v4 ? IPAddressText.ipv4(text) : IPAddressText.ipv6(text.lowercased()) {
                return address
            }
            let kind = IPAddressText.ipv4(text) != nil ? "an IPv4 address" : IPAddressText.ipv6(text.lowercased()) != nil ? "an IPv6 address" : "\"\(text.prefix(40))\""
            problems.append("\(shown): answered \(kind), not an \(wanted) address")
        }
        throw DNSProviderError(code: anyAnswered ? .invalidResponse : .unreachable,
                               message: "Could not find the public \(wanted) address: \(problems.joined(separator: "; ")). Check this server's internet connection (and \(wanted) connectivity) or configure other endpoints.")
    }

    /// The address in a plain-text or `{"ip": …}` answer (trimmed), or the trimmed text.
    static func addressText(_ body: Data) -> String {
        let text = String(decoding: body.prefix(4096), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{"), let object = JSONValue.object(body), let ip = object["ip"] as? String {
            return ip.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return text
    }

    /// The endpoint without user info or query (which might hold a key).
    static func shown(_ url: URL) -> String {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "endpoint" }
        components.user = nil
        components.password = nil
        components.query = nil
        return components.string ?? "endpoint"
    }
}
