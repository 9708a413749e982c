import DNSProviders
import Foundation
import Vapor

/// Where a domain's records are hosted.
enum DNSProviderKind: String, Codable, Sendable, CaseIterable {
    /// Records are tracked (and checked for propagation) but pushed nowhere.
    case manual
    /// A PowerDNS authoritative server, through its HTTP API.
    case powerdns
    /// Cloudflare, through API v4 with an API token.
    case cloudflare

    var label: String {
        switch self {
        case .manual: "Manual (tracked only)"
        case .powerdns: "PowerDNS"
        case .cloudflare: "Cloudflare"
        }
    }

    /// What the domain's vault secret holds, for forms and docs.
    var secretRole: String? {
        switch self {
        case .manual: nil
        case .powerdns: "API key (X-API-Key)"
        case .cloudflare: "API token with Zone.DNS edit permission"
        }
    }
}

/// A domain's provider settings that are not secret, stored as JSON and shown in the API.
struct DomainSettings: Codable, Sendable, Equatable {
    /// PowerDNS: the API's base URL (`http://ns1.lan:8081`). Cloudflare: only to use another
    /// endpoint than `https://api.cloudflare.com/client/v4`.
    var apiURL: String?
    /// PowerDNS server id, `localhost` unless the server says otherwise.
    var serverID: String?
    /// The zone's authoritative servers (`host` or `host:port`) that propagation checks ask;
    /// when empty, the zone's own NS records (port 53).
    var nameservers: [String]?
}

/// Create or change a domain. Absent fields keep their value on update.
struct DomainInput: Codable, Sendable {
    var name: String?
    var provider: DNSProviderKind?
    var apiURL: String?
    var serverID: String?
    var nameservers: [String]?
    /// The provider's API key or token; stored in the vault, never returned.
    var secret: String?
    var defaultTTL: Int?
    /// On create: copy the records the provider already has into Nebula.
    var importExisting: Bool?

    static let keys = ["name", "provider", "apiURL", "serverID", "nameservers", "secret", "defaultTTL", "importExisting"]
}

struct DomainDTO: Content, Equatable {
    var id: UUID
    var name: String
    var provider: DNSProviderKind
    var settings: DomainSettings
    var hasSecret: Bool
    var defaultTTL: Int
    var recordCount: Int
    /// Records changed since the last push (for a manual domain: since the owner marked them
    /// as published at the DNS host).
    var pendingChanges: Bool
    var lastPushedAt: Date?
    var lastPushError: String?
    var createdAt: Date?
}

/// A record to add or change. `name` may be relative to the zone (`www`, `@` for the apex) or
/// fully qualified (`www.example.com`).
struct DNSRecordInput: Codable, Sendable {
    var name: String?
    var type: DNSRecordType?
    var content: String?
    var ttl: Int?
    var dynamic: Bool?
    var comment: String?

    static let keys = ["name", "type", "content", "ttl", "dynamic", "comment"]
}

struct DNSRecordDTO: Content, Equatable {
    var id: UUID
    var domainID: UUID
    var name: String
    var type: DNSRecordType
    var content: String
    var ttl: Int
    var dynamic: Bool
    var comment: String?
    var updatedAt: Date?
}

/// One record set (all records of one name and type) as it appears in a drift report.
struct RecordSetDTO: Content, Equatable {
    var name: String
    var type: DNSRecordType
    var ttl: Int
    var contents: [String]

    init(_ set: DNSRRSet) {
        name = set.name
        type = set.type
        ttl = set.ttl
        contents = set.contents
    }
}

/// A set Nebula and the provider both have, but with different records or TTL.
struct RecordSetDifference: Content, Equatable {
    var nebula: RecordSetDTO
    var provider: RecordSetDTO
}

/// How Nebula's records compare with what the provider serves.
struct DriftReport: Content {
    var domain: String
    var checkedAt: Date
    var inSync: Bool
    /// Sets a push would create at the provider.
    var onlyInNebula: [RecordSetDTO]
    /// Sets the provider has and Nebula does not (left alone by a push unless Nebula created them).
    var onlyAtProvider: [RecordSetDTO]
    var different: [RecordSetDifference]
}

struct PushOutcome: Content {
    var domain: DomainDTO
    /// Sets created or replaced at the provider.
    var replaced: Int
    /// Sets deleted at the provider because their records were removed in Nebula.
    var deleted: Int
    /// True when the provider already matched and nothing was sent.
    var upToDate: Bool
}

/// What each authoritative server answers for one record set.
struct PropagationReport: Content {
    var name: String
    var type: DNSRecordType
    var expected: [String]
    var propagated: Bool
    var results: [PropagationResult]
}

extension PropagationResult: Content {}

/// A file of records to bring in (JSON as exported, or CSV with a header row).
struct RecordsImportInput: Codable, Sendable {
    /// `json`, `csv`, or `provider` (copy what the provider already has; `data` is not used).
    var format: String?
    var data: String?
    /// `merge` (default: add what is new, keep the rest) or `replace` (the file becomes the zone).
    var mode: String?
    /// Only report what would happen.
    var dryRun: Bool?

    static let keys = ["format", "data", "mode", "dryRun"]
}

struct ImportProblem: Content, Equatable {
    /// The record's line in a CSV file (the header is line 1) or index in a JSON file (from 1).
    var row: Int
    var message: String
}

struct RecordsImportOutcome: Content {
    var applied: Bool
    var dryRun: Bool
    var added: Int
    var removed: Int
    var unchanged: Int
    var problems: [ImportProblem]
    var conflicts: [DNSConflict]
}

extension DNSConflict: Content {}

/// One exported or imported record.
struct PortableRecord: Codable, Sendable, Equatable {
    var name: String
    var type: String
    var content: String
    var ttl: Int?
    var dynamic: Bool?
    var comment: String?
}

struct PortableZone: Codable, Sendable {
    var domain: String
    var exportedAt: Date?
    var records: [PortableRecord]
}

/// Dynamic DNS: where to find the public IP and how often.
struct DynamicDNSSettingsDTO: Content, Equatable {
    var enabled: Bool
    var endpoints: [String]
    var intervalMinutes: Int
    var lastIPv4: String?
    var lastIPv6: String?
    var lastCheckedAt: Date?
    var lastChangedAt: Date?
    var lastError: String?
    /// How many records follow the public IP.
    var dynamicRecords: Int
}

struct DynamicDNSInput: Codable, Sendable {
    var enabled: Bool?
    var endpoints: [String]?
    var intervalMinutes: Int?

    static let keys = ["enabled", "endpoints", "intervalMinutes"]
}

/// What one dynamic DNS run found and changed.
struct DynamicDNSRunOutcome: Content {
    var ipv4: String?
    var ipv6: String?
    /// Records whose content changed to the new address.
    var updated: [DNSRecordDTO]
    /// Domains pushed because of it, and push errors by domain.
    var pushed: [String]
    var errors: [String]
}
