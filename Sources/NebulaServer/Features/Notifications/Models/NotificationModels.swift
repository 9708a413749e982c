import Fluent
import Foundation

/// A place notifications are delivered to. Settings that are not secret live in `settings` (JSON);
/// the one sensitive value of each kind (a Discord webhook URL, a webhook's HMAC key, an ntfy or
/// Gotify token, an SMTP password) is in the vault as `notify.<name>`.
final class NotificationChannelRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "notification_channels"

    @ID(key: .id) var id: UUID?
    /// A slug (`discord`, `ops-email`), unique; runbooks name channels by it.
    @Field(key: "name") var name: String
    @Field(key: "kind") var kind: String
    /// The kind's non-secret settings as JSON (``ChannelSettings``).
    @Field(key: "settings") var settings: String
    /// Whether the vault holds a secret for this channel.
    @Field(key: "has_secret") var hasSecret: Bool
    @Field(key: "enabled") var enabled: Bool
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// Which notifications go to which channels: by category and minimum severity, with optional
/// quiet hours and a de-duplication window.
final class NotificationRuleRecord: Model, @unchecked Sendable {
    // @unchecked: see NotificationChannelRecord.
    static let schema = "notification_rules"

    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    /// JSON array of categories; empty matches every category.
    @Field(key: "categories") var categories: String
    @Field(key: "min_severity") var minSeverity: String
    /// JSON array of channel names.
    @Field(key: "channels") var channels: String
    /// `HH:MM` local time when quiet hours start and end, or nil for none.
    @OptionalField(key: "quiet_start") var quietStart: String?
    @OptionalField(key: "quiet_end") var quietEnd: String?
    @OptionalField(key: "quiet_time_zone") var quietTimeZone: String?
    /// Whether critical notifications still go out during quiet hours.
    @Field(key: "quiet_allows_critical") var quietAllowsCritical: Bool
    /// The same notification to the same channel within this many minutes is recorded, not sent.
    @Field(key: "dedup_minutes") var dedupMinutes: Int
    @Field(key: "enabled") var enabled: Bool
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// One notification on its way to one channel, and what became of it: the delivery log.
final class NotificationDeliveryRecord: Model, @unchecked Sendable {
    // @unchecked: see NotificationChannelRecord.
    static let schema = "notification_deliveries"

    @ID(key: .id) var id: UUID?
    @OptionalField(key: "channel_id") var channelID: UUID?
    /// Kept so the log still reads after the channel is deleted.
    @Field(key: "channel_name") var channelName: String
    @Field(key: "category") var category: String
    @Field(key: "severity") var severity: String
    @Field(key: "title") var title: String
    @Field(key: "body") var body: String
    /// JSON array of `{name, value}`.
    @Field(key: "fields") var fields: String
    @OptionalField(key: "url") var url: String?
    @OptionalField(key: "incident_id") var incidentID: UUID?
    @Field(key: "dedup_key") var dedupKey: String
    /// The event that caused it; unique per channel so two replicas never both send it.
    @OptionalField(key: "source_event") var sourceEvent: Int64?
    @Field(key: "status") var status: String
    @Field(key: "attempts") var attempts: Int
    @OptionalField(key: "last_error") var lastError: String?
    @OptionalField(key: "job_id") var jobID: UUID?
    /// When the next attempt is due (the end of quiet hours for a held one).
    @OptionalField(key: "deliver_at") var deliverAt: Date?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @OptionalField(key: "sent_at") var sentAt: Date?

    init() {}
}
