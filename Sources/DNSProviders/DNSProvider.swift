import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A DNS hosting provider. Implementations: ``DefaultPowerDNSClient``, ``DefaultCloudflareClient``.
///
/// Zone and record names are given and returned in Nebula form (lowercase, no trailing dot);
/// contents as described on ``DNSRecord``.
public protocol DNSProvider: Sendable {
    /// Every record of the zone whose type is a ``DNSRecordType``. SOA, NS and other types the
    /// provider holds are left out (use ``DNSQuery`` with `.NS` to find a zone's nameservers).
    /// PowerDNS's disabled records are left out too.
    func records(zone: String) async throws(DNSProviderError) -> [DNSRecord]

    /// Replaces each RRset (an empty `contents` deletes it) in one request where the provider allows
    /// it, so nothing is applied half-way when the provider refuses. Contents are sent as given:
    /// validate them first with ``DNSRecordValidator``.
    func replace(_ rrsets: [DNSRRSet], zone: String) async throws(DNSProviderError)

    /// Makes sure the zone exists: PowerDNS creates a Native zone (with `nameservers`, which may be
    /// empty) unless it exists; Cloudflare only checks it exists (`zone_not_found` otherwise).
    func ensureZone(_ zone: String, nameservers: [String]) async throws(DNSProviderError)
}

/// Why a provider call failed. `message` says what went wrong and what to do; it never contains
/// the API key or token.
public struct DNSProviderError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; the raw values are stable (snake_case) for API responses.
    public enum Code: String, Sendable {
        /// The API could not be reached (connection refused, DNS failure, TLS failure, broken connection).
        case unreachable
        /// The API key or token was refused.
        case authenticationFailed = "authentication_failed"
        /// The provider does not host this zone.
        case zoneNotFound = "zone_not_found"
        /// The provider refused the change (its own message is included).
        case rejected
        /// Too many requests; try again later (Cloudflare says when).
        case rateLimited = "rate_limited"
        /// The answer could not be read.
        case invalidResponse = "invalid_response"
        /// No answer within the configured timeout.
        case timedOut = "timed_out"
    }

    /// What kind of failure this is.
    public var code: Code
    /// One or two sentences: what failed, the provider's own words when it gave any, and what to do.
    public var message: String

    /// An error of kind `code`.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// One JSON-over-HTTP exchange with a provider, with the timeout applied and transport failures
/// mapped to ``DNSProviderError``. `secret` is scrubbed from every message it produces.
struct ProviderHTTP: Sendable {
    var client: HTTPClient
    var timeout: Duration
    /// "PowerDNS" or "Cloudflare", for messages.
    var provider: String
    var secret: String
    var headers: [(String, String)]

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
    }

    static let maxBody = 32 << 20

    func send(_ method: HTTPMethod, _ url: String, json body: Data? = nil) async throws(DNSProviderError) -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let target = Self.redactedTarget(url)
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.nanosecondsClamped)))
            let bytes = try await response.body.collect(upTo: Self.maxBody)
            return Reply(status: Int(response.status.code), headers: response.headers, body: Data(buffer: bytes))
        } catch {
            throw scrub(Self.transportError(error, provider: provider, target: target, timeout: timeout))
        }
    }

    /// The error with `secret` replaced by `***` wherever it appears.
    func scrub(_ error: DNSProviderError) -> DNSProviderError {
        guard secret.count >= 4 else { return error }
        return DNSProviderError(code: error.code, message: error.message.replacingOccurrences(of: secret, with: "***"))
    }

    static func redactedTarget(_ url: String) -> String {
        guard let components = URLComponents(string: url), let host = components.host else { return "the API" }
        return components.port.map { "\(host):\($0)" } ?? host
    }

    static func transportError(_ error: any Error, provider: String, target: String, timeout: Duration) -> DNSProviderError {
        if let client = error as? HTTPClientError {
            switch client {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .getConnectionFromPoolTimeout, .writeTimeout:
                return DNSProviderError(code: .timedOut, message: "\(provider) at \(target) did not answer within \(format(timeout)). Check that it is running and reachable from this server, or raise the timeout.")
            case .bodyLengthMismatch:
                return DNSProviderError(code: .invalidResponse, message: "\(provider) at \(target) sent an answer that could not be read (\(client)).")
            default:
                break
            }
        }
        let text = String(describing: error)
        let lower = text.lowercased()
        let why = lower.contains("refused") ? "connection refused" : text.prefix(300).description
        return DNSProviderError(code: .unreachable, message: "\(provider) at \(target) could not be reached (\(why)). Check the API URL and that the service is running and reachable from this server.")
    }

    static func format(_ duration: Duration) -> String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}

extension Duration {
    /// Nanoseconds, clamped to `Int64`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? Int64.min : Int64.max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

/// Reads JSON without a fixed model (provider answers vary by record type).
enum JSONValue {
    static func object(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    static func encode(_ value: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    static func int(_ value: Any?) -> Int? {
        if let number = value as? Int { return number }
        if let number = value as? Double, number.rounded() == number { return Int(number) }
        if let number = value as? NSNumber { return number.intValue }
        if let text = value as? String { return Int(text) }
        return nil
    }
}

/// The process-wide HTTP client for DNS provider and public-IP calls: a refused connection fails at
/// once (instead of being retried until the request's deadline, which made a stopped PowerDNS look
/// like a slow one), redirects are not followed (an API key must not travel elsewhere). Never shut
/// down; it lives as long as the process.
public enum DNSProviderHTTP {
    public static let client: HTTPClient = {
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60))
        pool.retryConnectionEstablishment = false
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(60)),
            connectionPool: pool,
            proxy: nil,
            ignoreUncleanSSLShutdown: false,
            decompression: .enabled(limit: .ratio(20))
        )
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
