/// Why a notification could not be delivered. Each case says what went wrong and what to do.
///
/// `code` is stable (snake_case raw values suit API responses and audit records); `channel` is the
/// channel's redacted description; `detail` is the reason or the service's answer, with the
/// channel's secrets removed. No part of this error ever holds a secret, a token, a password or a
/// Discord webhook's token.
public struct NotificationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, Codable, CaseIterable {
        /// The channel's settings cannot be used (bad URL, empty secret or token, bad topic).
        case invalidChannel = "invalid_channel"
        /// No connection could be made, or it broke before an answer came.
        case unreachable
        /// The service did not answer within the sender's timeout.
        case timedOut = "timed_out"
        /// The service answered with a non-2xx status other than 429, or the mail server refused the
        /// sender, a recipient or the message (``NotificationError/replyCode``).
        case rejected
        /// The service answered 429: too many notifications; wait `retryAfter` before the next one.
        case rateLimited = "rate_limited"
        /// The service's answer could not be read, or the notification could not be encoded.
        case badResponse = "bad_response"
        /// The mail server refused the username and password, or offers no way to log in that can be used.
        case authenticationFailed = "authentication_failed"
        /// The TLS connection to the mail server failed: untrusted or mismatched certificate, no
        /// STARTTLS offered, or a failed handshake.
        case tlsFailed = "tls_failed"
    }

    /// What kind of failure this is.
    public var code: Code
    /// The channel concerned, without secrets (``NotificationChannel/description``); empty for `invalidChannel`.
    public var channel: String
    /// The reason, or an excerpt of the service's answer, without secrets.
    public var detail: String?
    /// The HTTP status the service answered with, for `rejected` and `rateLimited`.
    public var status: Int?
    /// How long to wait before sending again, for `rateLimited` when the service said so.
    public var retryAfter: Duration?
    /// The timeout that elapsed, for `timedOut`.
    public var timeout: Duration?
    /// The SMTP reply code the mail server answered with (e.g. 550), for email channels' `rejected`
    /// and `authenticationFailed`.
    public var replyCode: Int?

    /// A failure of kind `code` on `channel`.
    public init(code: Code, channel: String, detail: String? = nil, status: Int? = nil,
                retryAfter: Duration? = nil, timeout: Duration? = nil, replyCode: Int? = nil) {
        self.code = code
        self.channel = channel
        self.detail = detail
        self.status = status
        self.retryAfter = retryAfter
        self.timeout = timeout
        self.replyCode = replyCode
    }

    /// The channel's settings are wrong: fix them as `reason` says (it never repeats a secret).
    public static func invalidChannel(_ reason: String) -> Self {
        .init(code: .invalidChannel, channel: "", detail: reason)
    }
    /// The service could not be reached: check its URL, DNS, that it is running, and the firewall.
    public static func unreachable(_ channel: String, detail: String? = nil) -> Self {
        .init(code: .unreachable, channel: channel, detail: detail)
    }
    /// No answer within `timeout`: the service is overloaded or a firewall drops the traffic.
    public static func timedOut(_ channel: String, after timeout: Duration) -> Self {
        .init(code: .timedOut, channel: channel, timeout: timeout)
    }
    /// The service refused the notification with `status`; `detail` is an excerpt of its answer.
    public static func rejected(status: Int, detail: String, channel: String = "") -> Self {
        .init(code: .rejected, channel: channel, detail: detail, status: status)
    }
    /// The service is rate limiting; wait `retryAfter` (when known) before sending again.
    public static func rateLimited(retryAfter: Duration?, channel: String = "") -> Self {
        .init(code: .rateLimited, channel: channel, status: 429, retryAfter: retryAfter)
    }
    /// The mail server refused a command with SMTP reply `code`; `detail` says which and quotes the server.
    public static func smtpRejected(code: Int, detail: String, channel: String) -> Self {
        .init(code: .rejected, channel: channel, detail: detail, replyCode: code)
    }
    /// The mail server refused the login (`code` when it answered one), or no usable login method exists.
    public static func authenticationFailed(_ channel: String, code: Int? = nil, detail: String) -> Self {
        .init(code: .authenticationFailed, channel: channel, detail: detail, replyCode: code)
    }
    /// TLS with the mail server failed as `detail` says.
    public static func tlsFailed(_ channel: String, detail: String) -> Self {
        .init(code: .tlsFailed, channel: channel, detail: detail)
    }
    /// The service's answer (or the request) could not be made sense of.
    public static func badResponse(_ channel: String, detail: String? = nil) -> Self {
        .init(code: .badResponse, channel: channel, detail: detail)
    }

    /// One or two sentences: what failed, the service's answer, and what to do about it.
    public var description: String {
        let on = channel.isEmpty ? "" : " (\(channel))"
        let why = detail.map { ": \($0)" } ?? ""
        switch code {
        case .invalidChannel:
            return "The notification channel's settings cannot be used\(why). Fix them in Settings → Notifications and save again."
        case .unreachable:
            return "The notification service\(on) is unreachable\(why). Check the server URL, that the service is running, and DNS and firewall rules from this host."
        case .timedOut:
            let after = timeout.map { " within \($0)" } ?? ""
            return "The notification service\(on) did not answer\(after). It may be overloaded or a firewall may drop the traffic; retry later or raise the timeout."
        case .rejected where replyCode != nil:
            let code = replyCode ?? 0
            let advice: String
            switch code {
            case 400..<500: advice = "This is temporary (greylisting, a full queue, a rate limit); it is retried later."
            case 530: advice = "The server requires a login; set a username and password."
            case 550, 551, 553: advice = "A mailbox does not exist or the server does not relay for it; check the from and to addresses and the server's relay rules."
            case 552: advice = "The message is too large for the server."
            case 554: advice = "The server refused the transaction (often a spam or policy rule); check the sender address and its SPF/DKIM setup."
            default: advice = "The server refused this mail; check the channel's addresses and the server's logs."
            }
            return "The mail server\(on) answered SMTP \(code)\(why). \(advice)"
        case .rejected:
            let status = status ?? 0
            let advice: String
            switch status {
            case 401, 403: advice = "The secret or token is wrong or revoked; set it again."
            case 404: advice = "The webhook, topic or endpoint does not exist (a deleted Discord webhook answers 404); recreate it and update the channel."
            case 500...: advice = "The service failed; retry later and check its logs."
            default: advice = "The service refused this notification; check the channel's settings and the message's size."
            }
            return "The notification service\(on) answered HTTP \(status)\(why). \(advice)"
        case .rateLimited:
            let wait = retryAfter.map { "wait \($0)" } ?? "wait a little"
            return "The notification service\(on) is rate limiting (HTTP 429); \(wait) before sending again, and send fewer notifications."
        case .badResponse:
            return "The notification service's answer\(on) could not be read\(why). Is the URL really that kind of service?"
        case .authenticationFailed:
            let code = replyCode.map { " (SMTP \($0))" } ?? ""
            return "The mail server\(on) refused the login\(code)\(why). Check the username and password (some providers need an app password) and set them again."
        case .tlsFailed:
            return "The TLS connection to the mail server\(on) failed\(why). Check the host name matches the server's certificate, the security mode (STARTTLS on 587, TLS on 465), and add the issuing CA's certificate for a private CA."
        }
    }
}
