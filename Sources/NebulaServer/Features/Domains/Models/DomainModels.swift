import Fluent
import Foundation

/// A DNS zone Nebula manages, and where it is hosted. The provider's API key or token is in the
/// vault as `dns.<name>`; everything else about the provider is in `settings` (JSON).
final class DomainRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "domains"

    @ID(key: .id) var id: UUID?
    /// The zone's name, lowercase, no trailing dot (`example.com`).
    @Field(key: "name") var name: String
    /// `manual`, `powerdns` or `cloudflare`.
    @Field(key: "provider") var provider: String
    /// ``DomainSettings`` as JSON.
    @Field(key: "settings") var settings: String
    @Field(key: "has_secret") var hasSecret: Bool
    @Field(key: "default_ttl") var defaultTTL: Int
    /// JSON array of `name|TYPE` keys Nebula pushed last time: a later push deletes those sets
    /// when their records are gone, and leaves sets it never managed alone.
    @Field(key: "pushed_sets") var pushedSets: String
    @OptionalField(key: "last_pushed_at") var lastPushedAt: Date?
    @OptionalField(key: "last_push_error") var lastPushError: String?
    /// Bumped on every record change; a push remembers the revision it sent.
    @Field(key: "revision") var revision: Int
    @Field(key: "pushed_revision") var pushedRevision: Int
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// One DNS record of a domain as Nebula wants it to be.
final class DNSRecordRow: Model, @unchecked Sendable {
    // @unchecked: see DomainRecord.
    static let schema = "dns_records"

    @ID(key: .id) var id: UUID?
    @Parent(key: "domain_id") var domain: DomainRecord
    /// Fully qualified, lowercase, no trailing dot.
    @Field(key: "name") var name: String
    @Field(key: "type") var type: String
    /// Presentation form (see `DNSRecord.content`).
    @Field(key: "content") var content: String
    @Field(key: "ttl") var ttl: Int
    /// Kept up to date with the public IP by dynamic DNS (A: IPv4, AAAA: IPv6).
    @Field(key: "dynamic") var dynamic: Bool
    @OptionalField(key: "comment") var comment: String?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// Dynamic DNS: one row (id ``DynamicDNSSettingsRecord/singleton``) with where to ask for the
/// public IP, how often, and what was found last.
final class DynamicDNSSettingsRecord: Model, @unchecked Sendable {
    // @unchecked: see DomainRecord.
    static let schema = "dns_dynamic_settings"
    static let singleton = UUID(uuidString: "00000000-0000-0000-0000-0000000000d5") ?? UUID()

    @ID(key: .id) var id: UUID?
    @Field(key: "enabled") var enabled: Bool
    /// JSON array of URLs that answer with the caller's public IP.
    @Field(key: "endpoints") var endpoints: String
    @Field(key: "interval_minutes") var intervalMinutes: Int
    @OptionalField(key: "last_ipv4") var lastIPv4: String?
    @OptionalField(key: "last_ipv6") var lastIPv6: String?
    @OptionalField(key: "last_checked_at") var lastCheckedAt: Date?
    @OptionalField(key: "last_changed_at") var lastChangedAt: Date?
    @OptionalField(key: "last_error") var lastError: String?

    init() {}
}
