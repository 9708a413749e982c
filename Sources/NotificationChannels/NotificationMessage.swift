import Foundation

/// Something worth telling a person about: an incident opened, a runbook finished, a deploy failed.
///
/// A notification is channel-neutral; ``DefaultNotificationSender`` renders it for each
/// ``NotificationChannel`` (a Discord embed, a signed JSON webhook, an ntfy or Gotify message).
public struct NotificationMessage: Sendable, Codable, Equatable {
    /// How urgent the notification is; channels map it to a color or a priority.
    public enum Severity: String, Sendable, Codable, Equatable, CaseIterable {
        /// For the record: something happened and nothing needs doing.
        case info
        /// Someone should look soon: something degraded or needs attention.
        case warning
        /// Someone should act now: something is down or failing.
        case critical
    }

    /// What area of Nebula Command the notification is about, e.g. `incident`, `runbook`, `deploy`.
    public struct Category: RawRepresentable, Sendable, Codable, Hashable, ExpressibleByStringLiteral,
        CustomStringConvertible
    {
        /// The category's name as sent to channels (ntfy `Tags`, the webhook's `category`).
        public var rawValue: String
        /// A category named `rawValue`.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A category named by a string literal.
        public init(stringLiteral value: String) { self.rawValue = value }
        /// The category's name.
        public var description: String { rawValue }

        /// An incident was opened, escalated or resolved.
        public static let incident: Category = "incident"
        /// A runbook run started, finished or failed.
        public static let runbook: Category = "runbook"
        /// A deploy started, finished or failed.
        public static let deploy: Category = "deploy"
    }

    /// One labelled value shown with the notification (a Discord embed field, a line of text elsewhere).
    public struct Field: Sendable, Codable, Equatable {
        /// The label, e.g. `Server`.
        public var name: String
        /// The value, e.g. `nas-01`.
        public var value: String

        /// A field labelled `name` showing `value`.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// A short headline.
    public var title: String
    /// The body text.
    public var message: String
    /// How urgent this is.
    public var severity: Severity
    /// What area this is about.
    public var category: Category
    /// A page with more detail (the incident, the run, the deploy), when there is one.
    public var url: URL?
    /// Extra labelled values, in display order; empty when there are none.
    public var fields: [Field]

    /// A notification; `url` and `fields` are optional.
    public init(title: String, message: String, severity: Severity, category: Category,
                url: URL? = nil, fields: [Field] = []) {
        self.title = title
        self.message = message
        self.severity = severity
        self.category = category
        self.url = url
        self.fields = fields
    }

    private enum CodingKeys: String, CodingKey {
        case title, message, severity, category, url, fields
    }

    /// Decodes a notification; a missing `url` or `fields` means none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        title = try container.decode(String.self, forKey: .title)
        message = try container.decode(String.self, forKey: .message)
        severity = try container.decode(Severity.self, forKey: .severity)
        category = try container.decode(Category.self, forKey: .category)
        url = try container.decodeIfPresent(URL.self, forKey: .url)
        fields = try container.decodeIfPresent([Field].self, forKey: .fields) ?? []
    }
}
