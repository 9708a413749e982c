import Foundation

/// A configured place to deliver notifications: a Discord webhook, a signed generic webhook, an
/// ntfy topic, a Gotify application or email through an SMTP server.
///
/// Build one with ``discord(webhookURL:)``, ``webhook(url:secret:)``, ``ntfy(serverURL:topic:token:)``
/// ``gotify(serverURL:appToken:)`` or ``email(host:port:security:username:password:from:to:heloName:trustedCAPEM:subjectPrefix:allowInsecureAuthentication:)``;
/// each checks its input (http/https URLs only) and throws
/// ``NotificationError/Code/invalidChannel`` otherwise, so a value of this type is always usable.
/// Its `description` never shows a secret, token, password or a Discord webhook's token.
public struct NotificationChannel: Sendable, Equatable, CustomStringConvertible {
    /// Where the channel delivers, with the values it needs.
    public enum Kind: Sendable, Equatable {
        /// A Discord webhook (`https://discord.com/api/webhooks/<id>/<token>`); the URL holds its token.
        case discord(webhookURL: URL)
        /// Any HTTP endpoint; each body is signed with HMAC-SHA256 using `secret`.
        case webhook(url: URL, secret: String)
        /// An ntfy server's topic, with an access token when the topic is protected.
        case ntfy(serverURL: URL, topic: String, token: String?)
        /// A Gotify server, posting as the application whose token is `appToken`.
        case gotify(serverURL: URL, appToken: String)
        /// Email through an SMTP server (see ``SMTPSettings``).
        case email(SMTPSettings)
    }

    /// Where the channel delivers.
    public let kind: Kind

    init(kind: Kind) { self.kind = kind }

    /// A Discord webhook. `webhookURL` is the URL Discord shows under Server Settings → Integrations
    /// → Webhooks → Copy Webhook URL: `https://discord.com/api/webhooks/<id>/<token>`.
    public static func discord(webhookURL: String) throws(NotificationError) -> NotificationChannel {
        let url = try httpURL(webhookURL, role: "Discord webhook URL")
        let parts = url.path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 4, parts[0] == "api", parts[1] == "webhooks",
              parts[2].allSatisfy(\.isNumber), !parts[3].isEmpty else {
            throw .invalidChannel("the Discord webhook URL must look like https://discord.com/api/webhooks/<id>/<token>; copy it again from the channel's Integrations → Webhooks")
        }
        return .init(kind: .discord(webhookURL: url))
    }

    /// A generic webhook at `url`. Every request carries
    /// `X-Nebula-Signature: sha256=<hex HMAC-SHA256 of the body with secret>`; `secret` must not be empty.
    public static func webhook(url: String, secret: String) throws(NotificationError) -> NotificationChannel {
        let url = try httpURL(url, role: "webhook URL")
        guard !secret.isEmpty else {
            throw .invalidChannel("the webhook secret is empty; set a long random secret and configure the same one on the receiver")
        }
        return .init(kind: .webhook(url: url, secret: secret))
    }

    /// An ntfy topic on `serverURL` (e.g. `https://ntfy.sh`). `topic` is 1–64 letters, digits, `_`
    /// or `-`; `token` is an ntfy access token (`tk_…`) for protected topics.
    public static func ntfy(serverURL: String, topic: String, token: String? = nil) throws(NotificationError) -> NotificationChannel {
        let url = try httpURL(serverURL, role: "ntfy server URL")
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        guard (1...64).contains(topic.count), topic.allSatisfy(allowed.contains) else {
            throw .invalidChannel("the ntfy topic must be 1 to 64 letters, digits, '_' or '-'")
        }
        if let token, token.isEmpty || token.contains(where: \.isWhitespace) {
            throw .invalidChannel("the ntfy access token is empty or contains spaces; leave it out for an open topic or paste the whole tk_… token")
        }
        return .init(kind: .ntfy(serverURL: url, topic: topic, token: token))
    }

    /// A Gotify server at `serverURL`, posting with the application token `appToken`
    /// (Gotify → Apps → the app's token).
    public static func gotify(serverURL: String, appToken: String) throws(NotificationError) -> NotificationChannel {
        let url = try httpURL(serverURL, role: "Gotify server URL")
        guard !appToken.isEmpty, !appToken.contains(where: \.isWhitespace) else {
            throw .invalidChannel("the Gotify application token is empty or contains spaces; copy it from Gotify → Apps")
        }
        return .init(kind: .gotify(serverURL: url, appToken: appToken))
    }

    /// The channel without its secrets, e.g. `discord discord.com/api/webhooks/<id>/…`,
    /// `webhook https://hooks.example.com/…`, `ntfy https://ntfy.sh topic ab…`, `gotify https://push.example.com`.
    public var description: String {
        switch kind {
        case .discord(let url):
            let id = url.path.split(separator: "/")[2]
            return "discord \(Self.hostAndPort(url))/api/webhooks/\(id)/…"
        case .webhook(let url, _):
            return "webhook \(Self.origin(url))\(url.path.isEmpty || url.path == "/" ? "" : "/…")"
        case .ntfy(let url, let topic, _):
            return "ntfy \(Self.origin(url)) topic \(topic.count >= 6 ? String(topic.prefix(2)) : "")…"
        case .gotify(let url, _):
            return "gotify \(Self.origin(url))"
        case .email(let smtp):
            let host = smtp.host.contains(":") ? "[\(smtp.host)]" : smtp.host
            let recipients = smtp.to.count == 1 ? "1 recipient" : "\(smtp.to.count) recipients"
            return "email \(host):\(smtp.port) \(smtp.security.rawValue) to \(recipients)"
        }
    }

    /// Every value of this channel that must never be shown: secrets, tokens, the Discord token, the
    /// webhook URL's path and query (which often hold tokens), the ntfy topic.
    var secrets: [String] {
        switch kind {
        case .discord(let url):
            return [url.absoluteString, String(url.path.split(separator: "/")[3])]
        case .webhook(let url, let secret):
            var secrets = [url.absoluteString, secret]
            if url.path.count > 1 { secrets.append(url.path) }
            if let query = url.query, !query.isEmpty { secrets.append(query) }
            return secrets
        case .ntfy(_, let topic, let token):
            return [topic] + (token.map { [$0] } ?? [])
        case .gotify(_, let appToken):
            return [appToken]
        case .email(let smtp):
            // The password, and the base64 forms AUTH PLAIN and AUTH LOGIN send, in case a server echoes them.
            guard let password = smtp.password else { return [] }
            let plain = Data("\0\(smtp.username ?? "")\0\(password)".utf8).base64EncodedString()
            return [password, Data(password.utf8).base64EncodedString(), plain]
        }
    }

    /// `text` with every secret of this channel replaced by `…`.
    func redact(_ text: String) -> String {
        secrets.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
            .reduce(text) { $0.replacingOccurrences(of: $1, with: "…") }
    }

    /// `scheme://host[:port]` of `url`: no user info, path or query.
    static func origin(_ url: URL) -> String {
        "\(url.scheme?.lowercased() ?? "http")://\(hostAndPort(url))"
    }

    private static func hostAndPort(_ url: URL) -> String {
        (url.host ?? "") + (url.port.map { ":\($0)" } ?? "")
    }

    /// Parses an absolute http(s) URL with a host; the error never repeats the input, which may hold a token.
    private static func httpURL(_ string: String, role: String) throws(NotificationError) -> URL {
        let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased() else {
            throw .invalidChannel("the \(role) is not a URL; use http://host/… or https://host/…")
        }
        guard scheme == "http" || scheme == "https" else {
            throw .invalidChannel("the \(role) uses '\(scheme.prefix(10))'; only http:// and https:// URLs can be used")
        }
        guard let host = url.host, !host.isEmpty else {
            throw .invalidChannel("the \(role) has no host; use http://host/… or https://host/…")
        }
        return url
    }
}
