import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Talks to a running Caddy through its admin API.
public protocol CaddyAdminClient: Sendable {
    /// `POST /load`: Caddy validates and starts the new config atomically, or refuses it and keeps the
    /// old one running — then this throws `.rejected` with Caddy's error text.
    func load(_ config: Data) async throws(CaddyAdminError)
    /// `GET /config/`: the running config as JSON (`null` when Caddy runs without one).
    func currentConfig() async throws(CaddyAdminError) -> Data
}

/// Why a call to Caddy's admin API failed. `code` is stable; the message says what to do.
public struct CaddyAdminError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Nothing answers at the admin address: is Caddy running, and does its `admin.listen` match?
        case unreachable
        /// Caddy refused the request (for `load`: the new config; the old one keeps running).
        case rejected
        /// Caddy answered something that is not what its admin API returns.
        case invalidResponse = "invalid_response"
        /// Caddy did not answer in time (starting a config with many certificates can take a while).
        case timedOut = "timed_out"
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "caddy admin \(code.rawValue): \(message)" }
}

/// ``CaddyAdminClient`` over HTTP with AsyncHTTPClient. Sends a `Host` header matching the admin
/// address (as AsyncHTTPClient does from the URL) and no `Origin`, which is what Caddy's admin
/// endpoint accepts.
public struct DefaultCaddyAdminClient: CaddyAdminClient {
    /// A client that fails at once when a connection is refused, instead of retrying until the
    /// request's deadline as `HTTPClient.shared` does; never shut down, like `HTTPClient.shared`.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public let adminURL: URL
    public let timeout: Duration
    private let httpClient: HTTPClient

    /// - Parameters:
    ///   - adminURL: Caddy's admin endpoint, e.g. `http://127.0.0.1:2019`.
    ///   - httpClient: defaults to ``sharedHTTPClient``, which reports a stopped Caddy immediately
    ///     (`HTTPClient.shared` works too, but keeps retrying a refused connection until `timeout`).
    ///   - timeout: per request, including Caddy starting the new config.
    public init(adminURL: URL, httpClient: HTTPClient = DefaultCaddyAdminClient.sharedHTTPClient, timeout: Duration = .seconds(30)) {
        self.adminURL = adminURL
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// Waits before each repeated `/load` after Caddy read a certificate that was still being written.
    public static let storageRaceRetryDelays: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2)]

    public func load(_ config: Data) async throws(CaddyAdminError) {
        var request = HTTPClientRequest(url: endpoint("load"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: config))
        var delays = Self.storageRaceRetryDelays[...]
        while true {
            let (status, body) = try await send(request)
            if status == .ok { return }
            let reason = Self.errorText(body)
            // Caddy (2.6) reads each managed certificate from storage while starting a config, and the
            // previous config may still be writing ones it is issuing in the background: a half-written
            // metadata file makes the load fail. Nothing is wrong with the config; a moment later the
            // same load succeeds (measured: one retry after 0.5 s was always enough).
            guard Self.isStorageRace(reason), let delay = delays.popFirst() else {
                throw CaddyAdminError(code: .rejected, message: "Caddy refused the config (HTTP \(status.code)) and keeps running the previous one: \(reason)")
            }
            try? await Task.sleep(for: delay)
        }
    }

    /// True for Caddy's refusal when it read a certificate file another of its tasks was writing.
    static func isStorageRace(_ reason: String) -> Bool {
        reason.contains("caching certificate") && reason.contains("unexpected end of JSON input")
    }

    public func currentConfig() async throws(CaddyAdminError) -> Data {
        let (status, body) = try await send(HTTPClientRequest(url: endpoint("config/")))
        guard status == .ok else {
            throw CaddyAdminError(code: .rejected, message: "GET /config/ answered HTTP \(status.code): \(Self.errorText(body))")
        }
        guard (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) != nil else {
            throw CaddyAdminError(code: .invalidResponse, message: "GET /config/ did not return JSON; is \(adminURL.absoluteString) Caddy's admin endpoint?")
        }
        return body
    }

    // MARK: - Transport

    private func endpoint(_ path: String) -> String {
        var base = adminURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/\(path)"
    }

    private func send(_ request: HTTPClientRequest) async throws(CaddyAdminError) -> (HTTPResponseStatus, Data) {
        let (seconds, attoseconds) = timeout.components
        let deadline = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        do {
            let response = try await httpClient.execute(request, timeout: deadline)
            let body = try await response.body.collect(upTo: 64 << 20)
            return (response.status, Data(buffer: body))
        } catch {
            throw classify(error, request: request)
        }
    }

    private func classify(_ error: any Error, request: HTTPClientRequest) -> CaddyAdminError {
        let target = "\(request.method.rawValue) \(request.url)"
        if let clientError = error as? HTTPClientError {
            if [.deadlineExceeded, .readTimeout, .writeTimeout].contains(clientError) {
                return CaddyAdminError(code: .timedOut, message: "\(target) got no answer within \(timeout); Caddy may be busy obtaining certificates — retry, or raise the timeout")
            }
            if [.connectTimeout, .getConnectionFromPoolTimeout, .remoteConnectionClosed].contains(clientError) {
                return unreachable(target, clientError)
            }
            return CaddyAdminError(code: .invalidResponse, message: "\(target) failed: \(clientError); check that \(adminURL.absoluteString) is Caddy's admin endpoint")
        }
        if error is NIOTooManyBytesError {
            return CaddyAdminError(code: .invalidResponse, message: "\(target) returned more than 64 MiB; is \(adminURL.absoluteString) Caddy's admin endpoint?")
        }
        // Connection refused / no route / DNS failure arrive as NIO or POSIX errors.
        return unreachable(target, error)
    }

    private func unreachable(_ target: String, _ error: any Error) -> CaddyAdminError {
        CaddyAdminError(code: .unreachable, message: "\(target): nothing answers at \(adminURL.absoluteString) (\(error)); is Caddy running with admin.listen set to that address?")
    }

    /// Caddy's `{"error": "..."}` text, or the raw body.
    private static func errorText(_ body: Data) -> String {
        struct CaddyError: Decodable { var error: String }
        if let decoded = try? JSONDecoder().decode(CaddyError.self, from: body) { return decoded.error }
        let text = String(decoding: body.prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(no details)" : text
    }
}
