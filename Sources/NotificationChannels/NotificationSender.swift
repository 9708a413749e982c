import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore

/// Delivers notifications to configured channels.
public protocol NotificationSender: Sendable {
    /// Delivers `notification` through `channel` once (no retries); returns when the service accepted it.
    func send(_ notification: NotificationMessage, via channel: NotificationChannel) async throws(NotificationError)
}

/// Delivers notifications over HTTP(S) with AsyncHTTPClient, one request per notification, each
/// bounded by `timeout` (connecting included). Redirects are not followed. Email goes over SMTP
/// (``SMTPSettings``), where connecting and every reply are each bounded by `timeout`.
///
/// - Discord: `POST <webhook URL>` with one embed (title, description, color by severity, url,
///   fields, timestamp).
/// - Webhook: `POST <url>` with the notification as JSON plus an ISO 8601 `timestamp`, signed in
///   `X-Nebula-Signature: sha256=<hex HMAC-SHA256 of the body>`, with `X-Nebula-Event: notification`.
/// - ntfy: `POST <server>/<topic>` with the message as the body (fields appended as `name: value`
///   lines) and `Title`, `Priority`, `Tags`, `Click`, `Authorization` headers.
/// - Gotify: `POST <server>/message` with `X-Gotify-Key` and `{"title","message","priority"}`
///   (fields appended to the message as with ntfy; `url` as the click URL in `extras`).
/// - Email: one plain-text UTF-8 message (quoted-printable) to all recipients: the title as the
///   subject (after the channel's prefix), the message, the fields as `name: value` lines and the
///   url; `X-Nebula-Severity` and `X-Nebula-Category` headers for mail filters.
public struct DefaultNotificationSender: NotificationSender {
    private let http: HTTPClient
    private let timeout: Duration
    private let logger: Logger
    private let now: @Sendable () -> Date

    /// A sender giving each request `timeout`. `httpClient` defaults to a process-wide client
    /// that follows no redirects and does not retry refused connections; `now` stamps the
    /// `timestamp` of Discord embeds and webhook bodies.
    public init(timeout: Duration = .seconds(10), httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "nebula.notifications"),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.http = httpClient ?? sharedNotificationHTTPClient
        self.timeout = timeout
        self.logger = logger
        self.now = now
    }

    /// Delivers `notification` through `channel` with one POST; 2xx is success, 429 throws
    /// `rateLimited` (Discord's `retry_after` or `Retry-After`), any other status `rejected`.
    public func send(_ notification: NotificationMessage, via channel: NotificationChannel) async throws(NotificationError) {
        if case .email(let settings) = channel.kind {
            let message = SMTPMessage(settings: settings, notification: notification, date: now()).rendered()
            try await SMTPClient(settings: settings, timeout: timeout, channel: channel, logger: logger).send(message)
            return
        }
        let request = try makeRequest(notification, via: channel)
        let response: HTTPClientResponse
        let body: ByteBuffer
        let deadline = NIODeadline.now() + Self.timeAmount(timeout)
        do {
            response = try await http.execute(request, deadline: deadline, logger: logger)
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw transportError(error, channel: channel)
        }
        logger.debug("notification sent", metadata: [
            "channel": "\(channel)", "status": "\(response.status.code)", "category": "\(notification.category)",
        ])
        let status = Int(response.status.code)
        switch status {
        case 200..<300:
            return
        case 429:
            throw .rateLimited(retryAfter: Self.retryAfter(body: body, header: response.headers.first(name: "Retry-After")),
                               channel: channel.description)
        default:
            throw .rejected(status: status, detail: Self.excerpt(body, redactedFor: channel),
                            channel: channel.description)
        }
    }

    // MARK: - Requests

    func makeRequest(_ notification: NotificationMessage, via channel: NotificationChannel) throws(NotificationError) -> HTTPClientRequest {
        switch channel.kind {
        case .discord(let webhookURL):
            let embed = DiscordEmbed(
                title: String(notification.title.prefix(256)),
                description: String(notification.message.prefix(4096)),
                color: Self.discordColor(notification.severity),
                url: notification.url?.absoluteString,
                fields: notification.fields.prefix(25).map {
                    .init(name: String($0.name.prefix(256)), value: String($0.value.prefix(1024)), inline: false)
                },
                timestamp: Self.iso8601(now()))
            let body = try encode(DiscordWebhookBody(embeds: [embed]), channel: channel)
            return post(webhookURL.absoluteString, body: body, contentType: "application/json", headers: [])

        case .webhook(let url, let secret):
            let payload = WebhookBody(
                title: notification.title, message: notification.message, severity: notification.severity,
                category: notification.category.rawValue, url: notification.url?.absoluteString,
                fields: notification.fields, timestamp: Self.iso8601(now()))
            let body = try encode(payload, channel: channel)
            return post(url.absoluteString, body: body, contentType: "application/json", headers: [
                ("X-Nebula-Event", "notification"),
                ("X-Nebula-Signature", Self.signature(of: body, secret: secret)),
            ])

        case .ntfy(let serverURL, let topic, let token):
            var headers: [(String, String)] = [
                ("Title", Self.headerValue(notification.title)),
                ("Priority", String(Self.ntfyPriority(notification.severity))),
                ("Tags", Self.headerValue(notification.category.rawValue)),
            ]
            if let url = notification.url { headers.append(("Click", url.absoluteString)) }
            if let token { headers.append(("Authorization", "Bearer \(token)")) }
            return post(Self.joined(serverURL, topic), body: Data(Self.plainText(notification).utf8),
                        contentType: "text/plain; charset=utf-8", headers: headers)

        case .gotify(let serverURL, let appToken):
            let extras = notification.url.map {
                GotifyBody.Extras(notification: .init(click: .init(url: $0.absoluteString)))
            }
            let payload = GotifyBody(title: notification.title, message: Self.plainText(notification),
                                     priority: Self.gotifyPriority(notification.severity), extras: extras)
            let body = try encode(payload, channel: channel)
            return post(Self.joined(serverURL, "message"), body: body, contentType: "application/json",
                        headers: [("X-Gotify-Key", appToken)])

        case .email:
            // `send` delivers email over SMTP before ever asking for an HTTP request.
            throw .badResponse(channel.description, detail: "email is delivered over SMTP, not HTTP")
        }
    }

    private func post(_ url: String, body: Data, contentType: String, headers: [(String, String)]) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "User-Agent", value: "nebula-command")
        request.headers.add(name: "Content-Type", value: contentType)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    private func encode(_ value: some Encodable, channel: NotificationChannel) throws(NotificationError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch {
            throw .badResponse(channel.description, detail: "the notification could not be encoded as JSON: \(error)")
        }
    }

    /// A failure to connect, to send, or to read the answer in time.
    private func transportError(_ error: any Error, channel: NotificationChannel) -> NotificationError {
        if let error = error as? HTTPClientError, error == .deadlineExceeded {
            return .timedOut(channel.description, after: timeout)
        }
        return .unreachable(channel.description, detail: channel.redact(String(describing: error)))
    }

    // MARK: - Rendering

    /// `X-Nebula-Signature` for `body`: `sha256=` and the lowercase hex HMAC-SHA256 with `secret`.
    static func signature(of body: Data, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    /// Discord embed colors: blue, amber, red.
    static func discordColor(_ severity: NotificationMessage.Severity) -> Int {
        switch severity {
        case .info: 0x3498DB
        case .warning: 0xF1C40F
        case .critical: 0xE74C3C
        }
    }

    /// ntfy priorities: default (3), high (4), max/urgent (5).
    static func ntfyPriority(_ severity: NotificationMessage.Severity) -> Int {
        switch severity {
        case .info: 3
        case .warning: 4
        case .critical: 5
        }
    }

    /// Gotify priorities: 2 (quiet), 5 (sound), 8 (high, pops up).
    static func gotifyPriority(_ severity: NotificationMessage.Severity) -> Int {
        switch severity {
        case .info: 2
        case .warning: 5
        case .critical: 8
        }
    }

    /// The message, then a blank line and one `name: value` line per field when there are fields.
    static func plainText(_ notification: NotificationMessage) -> String {
        guard !notification.fields.isEmpty else { return notification.message }
        return notification.message + "\n\n" + notification.fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    static func iso8601(_ date: Date) -> String {
        var style = Date.ISO8601FormatStyle()
        style.timeZone = TimeZone(identifier: "UTC") ?? style.timeZone
        return date.formatted(style)
    }

    /// A header value on one line (CR and LF would end the header).
    private static func headerValue(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: " ")
            .replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }

    /// `base` with `component` appended as one more path segment.
    private static func joined(_ base: URL, _ component: String) -> String {
        var string = base.absoluteString
        while string.hasSuffix("/") { string.removeLast() }
        return string + "/" + component
    }

    /// Discord's `retry_after` (seconds, JSON body), else the `Retry-After` header (seconds).
    static func retryAfter(body: ByteBuffer, header: String?) -> Duration? {
        struct RateLimitBody: Decodable { var retry_after: Double? }
        if let seconds = (try? JSONDecoder().decode(RateLimitBody.self, from: Data(body.readableBytesView)))?.retry_after,
           seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        if let header, let seconds = Double(header.trimmingCharacters(in: .whitespaces)),
           seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        return nil
    }

    /// At most 200 characters of the answer on one line, without the channel's secrets.
    static func excerpt(_ body: ByteBuffer, redactedFor channel: NotificationChannel) -> String {
        let text = channel.redact(String(decoding: body.readableBytesView, as: UTF8.self))
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if text.isEmpty { return "(empty answer)" }
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

// MARK: - Wire formats

struct DiscordWebhookBody: Encodable {
    var embeds: [DiscordEmbed]
}

struct DiscordEmbed: Encodable {
    struct Field: Encodable {
        var name: String
        var value: String
        var inline: Bool
    }

    var title: String
    var description: String
    var color: Int
    var url: String?
    var fields: [Field]
    var timestamp: String
}

struct WebhookBody: Encodable {
    var title: String
    var message: String
    var severity: NotificationMessage.Severity
    var category: String
    var url: String?
    var fields: [NotificationMessage.Field]
    var timestamp: String
}

struct GotifyBody: Encodable {
    struct Extras: Encodable {
        struct ClientNotification: Encodable {
            struct Click: Encodable { var url: String }
            var click: Click
        }

        var notification: ClientNotification

        enum CodingKeys: String, CodingKey { case notification = "client::notification" }
    }

    var title: String
    var message: String
    var priority: Int
    var extras: Extras?
}

/// The process-wide HTTP client for notifications: no redirects (a redirect must not carry a signed
/// body or a token elsewhere), refused connections fail at once instead of being retried until the
/// deadline, and no read timeout beyond each request's deadline. Never shut down; lives as long as
/// the process.
private let sharedNotificationHTTPClient: HTTPClient = {
    var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60))
    pool.retryConnectionEstablishment = false
    var configuration = HTTPClient.Configuration(
        redirectConfiguration: .disallow,
        timeout: .init(connect: .seconds(10), read: nil),
        connectionPool: pool,
        proxy: nil,
        ignoreUncleanSSLShutdown: false,
        decompression: .disabled
    )
    configuration.httpVersion = .http1Only
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
}()
