/// Why a notification could not be delivered. Each case says what went wrong and what to do.
///
/// `code` is stable (snake_case raw values suit API responses and audit records); `channel` is the
/// channel's redacted description; `detail` is the reason or the service's answer, with the
/// channel's secrets removed. No part of this error ever holds a secret, a token or a Discord
/// webhook's token.
public struct NotificationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, Codable, CaseIterable {
        /// The channel's settings cannot be used (bad URL, empty secret or token, bad topic).
        case invalidChannel = "invalid_channel"
        /// No connection could be made, or it broke before an answer came.
        case unreachable
        /// The service did not answer within the sender's timeout.
        case timedOut = "timed_out"
        /// The service answered with a non-2xx status other than 429.
        case rejected
        /// The service answered 429: too many notifications; wait `retryAfter` before the next one.
        case rateLimited = "rate_limited"
        /// The service's answer could not be read, or the notification could not be encoded.
        case badResponse = "bad_response"
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

    /// A failure of kind `code` on `channel`.
    public init(code: Code, channel: String, detail: String? = nil, status: Int? = nil,
                retryAfter: Duration? = nil, timeout: Duration? = nil) {
        self.code = code
        self.channel = channel
        self.detail = detail
        self.status = status
        self.retryAfter = retryAfter
        self.timeout = timeout
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
        }
    }
}
