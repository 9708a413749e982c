import Foundation
import NotificationChannels
import Vapor

/// How urgent a notification is (info < warning < critical).
typealias NotificationSeverity = NotificationMessage.Severity

extension NotificationMessage.Severity {
    /// info 0, warning 1, critical 2: rules match this severity and above.
    var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }
}

/// The kinds of channel Nebula delivers to.
enum NotificationChannelKind: String, Codable, Sendable, CaseIterable {
    case discord, webhook, ntfy, gotify, email

    var label: String {
        switch self {
        case .discord: "Discord webhook"
        case .webhook: "Webhook (signed JSON)"
        case .ntfy: "ntfy"
        case .gotify: "Gotify"
        case .email: "Email (SMTP)"
        }
    }

    /// What the channel's vault secret holds, for forms and docs.
    var secretRole: String {
        switch self {
        case .discord: "webhook URL"
        case .webhook: "HMAC signing secret"
        case .ntfy: "access token"
        case .gotify: "application token"
        case .email: "SMTP password"
        }
    }
}

/// A channel's settings that are not secret, stored as JSON and shown in the API.
struct ChannelSettings: Codable, Sendable, Equatable {
    /// Webhook URL; ntfy or Gotify server URL; for Discord the webhook URL with its token hidden.
    var url: String?
    var topic: String?
    var host: String?
    var port: Int?
    /// `starttls`, `tls` or `none`.
    var security: String?
    var username: String?
    var from: String?
    var to: [String]?
    /// Extra PEM CA certificates trusted for this SMTP server (a self-hosted mail server's own CA).
    var caCertificate: String?
    /// Log in although `security` is `none` (the password crosses the network in clear text):
    /// only for a relay on a trusted LAN.
    var allowInsecureAuthentication: Bool?
}

/// What `POST /api/v1/notifications/channels` and `PUT …/{id}` take. `secret` is the kind's
/// sensitive value (see ``NotificationChannelKind/secretRole``; for Discord the webhook URL itself,
/// given as `url` or `secret`). On update, a missing `secret` keeps the stored one.
struct ChannelInput: Codable, Sendable {
    var name: String?
    var kind: NotificationChannelKind?
    var enabled: Bool?
    var url: String?
    var topic: String?
    var secret: String?
    var host: String?
    var port: Int?
    var security: String?
    var username: String?
    var from: String?
    var to: [String]?
    var caCertificate: String?
    var allowInsecureAuthentication: Bool?

    static let keys = ["name", "kind", "enabled", "url", "topic", "secret", "host", "port", "security", "username", "from", "to", "caCertificate",
                       "allowInsecureAuthentication"]
}

/// A channel as the API and pages show it: never its secret.
struct NotificationChannelDTO: Content, Equatable {
    var id: UUID
    var name: String
    var kind: NotificationChannelKind
    var enabled: Bool
    var settings: ChannelSettings
    var hasSecret: Bool
    var lastStatus: String?
    var lastDeliveryAt: Date?
    var createdAt: Date?
}

/// Quiet hours as the API takes and shows them.
struct QuietHoursDTO: Codable, Sendable, Equatable {
    var start: String
    var end: String
    var timeZone: String
    /// Critical notifications still go out during quiet hours (default true).
    var allowCritical: Bool?
}

/// What `POST /api/v1/notifications/rules` and `PUT …/{id}` take.
struct RuleInput: Codable, Sendable {
    var name: String?
    /// Categories matched (`incident`, `runbook`, `deploy`, `server`, …); empty or absent: all.
    var categories: [String]?
    var minSeverity: NotificationSeverity?
    var channels: [String]?
    var quietHours: QuietHoursDTO?
    var dedupMinutes: Int?
    var enabled: Bool?

    static let keys = ["name", "categories", "minSeverity", "channels", "quietHours", "dedupMinutes", "enabled"]
}

/// A routing rule.
struct NotificationRuleDTO: Content, Equatable {
    var id: UUID
    var name: String
    var categories: [String]
    var minSeverity: NotificationSeverity
    var channels: [String]
    var quietHours: QuietHoursDTO?
    var dedupMinutes: Int
    var enabled: Bool
}

/// The states of a delivery in the log.
enum DeliveryStatus: String, Codable, Sendable, CaseIterable {
    /// Queued, first attempt not made yet.
    case pending
    /// Waiting for quiet hours to end.
    case held
    /// An attempt failed; another is scheduled.
    case retrying
    case sent
    /// Every attempt failed.
    case failed
    /// Not sent: the same notification went to this channel within the de-duplication window.
    case suppressed
}

/// One line of the delivery log.
struct NotificationDeliveryDTO: Content, Equatable {
    var id: UUID
    var channel: String
    var category: String
    var severity: NotificationSeverity
    var title: String
    var body: String
    var status: DeliveryStatus
    var attempts: Int
    var lastError: String?
    var incidentId: UUID?
    var jobId: UUID?
    var deliverAt: Date?
    var createdAt: Date?
    var sentAt: Date?
}

/// A notification to route or send: from an event, a runbook's `notify` step, escalation or the API.
struct NotifyRequest: Codable, Sendable {
    var category: String
    var severity: NotificationSeverity
    var title: String
    var body: String
    /// Channel names to send to directly; nil routes by the rules.
    var channels: [String]?
    /// Same key to the same channel within the window is recorded as suppressed; default category + title.
    var dedupKey: String?
    var incidentID: UUID?
    var fields: [String: String]
    /// A page with details (absolute URL).
    var url: String?
    /// The event it came from, so it is delivered once however many replicas route it.
    var sourceEvent: Int64?

    init(category: String, severity: NotificationSeverity, title: String, body: String, channels: [String]? = nil,
         dedupKey: String? = nil, incidentID: UUID? = nil, fields: [String: String] = [:], url: String? = nil, sourceEvent: Int64? = nil) {
        self.category = category
        self.severity = severity
        self.title = title
        self.body = body
        self.channels = channels
        self.dedupKey = dedupKey
        self.incidentID = incidentID
        self.fields = fields
        self.url = url
        self.sourceEvent = sourceEvent
    }
}

/// The outcome of "send test".
struct ChannelTestOutcome: Content {
    var ok: Bool
    var delivery: NotificationDeliveryDTO
}
