import Foundation
import NebulaCore
import Vapor

/// The kind-specific settings of a check, stored as JSON and sent flat in the API next to the
/// common fields. Only the fields of the check's kind are kept.
struct CheckSpec: Codable, Sendable, Equatable {
    // http
    var url: String?
    var method: String?
    var expectedStatus: String?
    var keyword: String?
    var keywordAbsent: Bool?
    var maxLatencyMs: Int?
    var followRedirects: Bool?
    var ignoreTLSErrors: Bool?
    // tcp, tls
    var host: String?
    var port: Int?
    var warnDays: Int?
    // dns
    var recordName: String?
    var recordType: String?
    var expected: [String]?
    var resolver: String?
    // container, metric, heartbeat
    var serverId: UUID?
    var container: String?
    var metric: String?
    var mount: String?
    var comparison: String?
    var threshold: Double?
    var sustainedMinutes: Int?
    var maxSilenceSeconds: Int?

    static let fieldNames = ["url", "method", "expectedStatus", "keyword", "keywordAbsent", "maxLatencyMs", "followRedirects", "ignoreTLSErrors",
                             "host", "port", "warnDays", "recordName", "recordType", "expected", "resolver", "serverId", "container",
                             "metric", "mount", "comparison", "threshold", "sustainedMinutes", "maxSilenceSeconds"]

    /// `other`'s fields where it has them, this one's elsewhere (a partial update).
    func merged(with other: CheckSpec) -> CheckSpec {
        CheckSpec(url: other.url ?? url, method: other.method ?? method, expectedStatus: other.expectedStatus ?? expectedStatus,
                  keyword: other.keyword ?? keyword, keywordAbsent: other.keywordAbsent ?? keywordAbsent, maxLatencyMs: other.maxLatencyMs ?? maxLatencyMs,
                  followRedirects: other.followRedirects ?? followRedirects, ignoreTLSErrors: other.ignoreTLSErrors ?? ignoreTLSErrors,
                  host: other.host ?? host, port: other.port ?? port, warnDays: other.warnDays ?? warnDays,
                  recordName: other.recordName ?? recordName, recordType: other.recordType ?? recordType, expected: other.expected ?? expected,
                  resolver: other.resolver ?? resolver, serverId: other.serverId ?? serverId, container: other.container ?? container,
                  metric: other.metric ?? metric, mount: other.mount ?? mount, comparison: other.comparison ?? comparison,
                  threshold: other.threshold ?? threshold, sustainedMinutes: other.sustainedMinutes ?? sustainedMinutes,
                  maxSilenceSeconds: other.maxSilenceSeconds ?? maxSilenceSeconds)
    }
}

/// What `POST /api/v1/checks` and `PUT /api/v1/checks/{id}` take: the common fields and the
/// kind's fields (``CheckSpec``) side by side. In an update, absent fields keep their value.
struct CheckInput: Codable, Sendable {
    var name: String?
    var kind: String?
    var intervalSeconds: Int?
    var timeoutSeconds: Int?
    var enabled: Bool?
    var `public`: Bool?
    var severity: String?
    var failuresBeforeIncident: Int?
    var successesBeforeResolve: Int?
    var spec: CheckSpec

    static let commonFields = ["name", "kind", "intervalSeconds", "timeoutSeconds", "enabled", "public", "severity",
                               "failuresBeforeIncident", "successesBeforeResolve"]
    static var allowedKeys: Set<String> { Set(commonFields + CheckSpec.fieldNames) }

    enum CodingKeys: String, CodingKey {
        case name, kind, intervalSeconds, timeoutSeconds, enabled, `public`, severity, failuresBeforeIncident, successesBeforeResolve
    }

    init(name: String? = nil, kind: String? = nil, intervalSeconds: Int? = nil, timeoutSeconds: Int? = nil, enabled: Bool? = nil, public: Bool? = nil,
         severity: String? = nil, failuresBeforeIncident: Int? = nil, successesBeforeResolve: Int? = nil, spec: CheckSpec = CheckSpec()) {
        self.name = name
        self.kind = kind
        self.intervalSeconds = intervalSeconds
        self.timeoutSeconds = timeoutSeconds
        self.enabled = enabled
        self.public = `public`
        self.severity = severity
        self.failuresBeforeIncident = failuresBeforeIncident
        self.successesBeforeResolve = successesBeforeResolve
        self.spec = spec
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        intervalSeconds = try container.decodeIfPresent(Int.self, forKey: .intervalSeconds)
        timeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .timeoutSeconds)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled)
        `public` = try container.decodeIfPresent(Bool.self, forKey: .public)
        severity = try container.decodeIfPresent(String.self, forKey: .severity)
        failuresBeforeIncident = try container.decodeIfPresent(Int.self, forKey: .failuresBeforeIncident)
        successesBeforeResolve = try container.decodeIfPresent(Int.self, forKey: .successesBeforeResolve)
        spec = try CheckSpec(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(kind, forKey: .kind)
        try container.encodeIfPresent(intervalSeconds, forKey: .intervalSeconds)
        try container.encodeIfPresent(timeoutSeconds, forKey: .timeoutSeconds)
        try container.encodeIfPresent(enabled, forKey: .enabled)
        try container.encodeIfPresent(`public`, forKey: .public)
        try container.encodeIfPresent(severity, forKey: .severity)
        try container.encodeIfPresent(failuresBeforeIncident, forKey: .failuresBeforeIncident)
        try container.encodeIfPresent(successesBeforeResolve, forKey: .successesBeforeResolve)
        try spec.encode(to: encoder)
    }
}

/// Uptime percentages (0–100) over the last 24 hours, 7 days and 30 days; nil without results.
struct UptimeDTO: Content, Equatable {
    var day: Double?
    var week: Double?
    var month: Double?
}

/// A check as the API and pages show it: settings, live state and uptime.
struct CheckDTO: Content {
    var id: UUID
    var name: String
    var kind: CheckKind
    var target: String
    var intervalSeconds: Int
    var timeoutSeconds: Int
    var enabled: Bool
    var `public`: Bool
    var severity: IncidentSeverity
    var failuresBeforeIncident: Int
    var successesBeforeResolve: Int
    var status: CheckStatus
    var statusSince: Date?
    var lastCheckedAt: Date?
    var lastLatencyMs: Double?
    var lastMessage: String?
    var openIncidentId: UUID?
    var uptime: UptimeDTO
    var spec: CheckSpec
    var createdBy: String
    var createdAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, name, kind, target, intervalSeconds, timeoutSeconds, enabled, `public`, severity, failuresBeforeIncident, successesBeforeResolve
        case status, statusSince, lastCheckedAt, lastLatencyMs, lastMessage, openIncidentId, uptime, createdBy, createdAt
    }

    init(_ record: CheckRecord, uptime: UptimeDTO) {
        id = record.id ?? UUID()
        name = record.name
        kind = record.kind
        target = record.target
        intervalSeconds = record.intervalSeconds
        timeoutSeconds = record.timeoutSeconds
        enabled = record.enabled
        `public` = record.isPublic
        severity = record.severity
        failuresBeforeIncident = record.failuresBeforeIncident
        successesBeforeResolve = record.successesBeforeResolve
        status = record.status
        statusSince = record.statusSince
        lastCheckedAt = record.lastCheckedAt
        lastLatencyMs = record.lastLatencyMs
        lastMessage = record.lastMessage
        openIncidentId = record.openIncidentID
        self.uptime = uptime
        spec = record.decodedSpec
        createdBy = record.createdBy
        createdAt = record.createdAt
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(UUID.self, forKey: .id)
        name = try container.decode(String.self, forKey: .name)
        kind = try container.decode(CheckKind.self, forKey: .kind)
        target = try container.decode(String.self, forKey: .target)
        intervalSeconds = try container.decode(Int.self, forKey: .intervalSeconds)
        timeoutSeconds = try container.decode(Int.self, forKey: .timeoutSeconds)
        enabled = try container.decode(Bool.self, forKey: .enabled)
        `public` = try container.decode(Bool.self, forKey: .public)
        severity = try container.decode(IncidentSeverity.self, forKey: .severity)
        failuresBeforeIncident = try container.decode(Int.self, forKey: .failuresBeforeIncident)
        successesBeforeResolve = try container.decode(Int.self, forKey: .successesBeforeResolve)
        status = try container.decode(CheckStatus.self, forKey: .status)
        statusSince = try container.decodeIfPresent(Date.self, forKey: .statusSince)
        lastCheckedAt = try container.decodeIfPresent(Date.self, forKey: .lastCheckedAt)
        lastLatencyMs = try container.decodeIfPresent(Double.self, forKey: .lastLatencyMs)
        lastMessage = try container.decodeIfPresent(String.self, forKey: .lastMessage)
        openIncidentId = try container.decodeIfPresent(UUID.self, forKey: .openIncidentId)
        uptime = try container.decode(UptimeDTO.self, forKey: .uptime)
        createdBy = try container.decode(String.self, forKey: .createdBy)
        createdAt = try container.decodeIfPresent(Date.self, forKey: .createdAt)
        spec = try CheckSpec(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(kind, forKey: .kind)
        try container.encode(target, forKey: .target)
        try container.encode(intervalSeconds, forKey: .intervalSeconds)
        try container.encode(timeoutSeconds, forKey: .timeoutSeconds)
        try container.encode(enabled, forKey: .enabled)
        try container.encode(`public`, forKey: .public)
        try container.encode(severity, forKey: .severity)
        try container.encode(failuresBeforeIncident, forKey: .failuresBeforeIncident)
        try container.encode(successesBeforeResolve, forKey: .successesBeforeResolve)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(statusSince, forKey: .statusSince)
        try container.encodeIfPresent(lastCheckedAt, forKey: .lastCheckedAt)
        try container.encodeIfPresent(lastLatencyMs, forKey: .lastLatencyMs)
        try container.encodeIfPresent(lastMessage, forKey: .lastMessage)
        try container.encodeIfPresent(openIncidentId, forKey: .openIncidentId)
        try container.encode(uptime, forKey: .uptime)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encodeIfPresent(createdAt, forKey: .createdAt)
        try spec.encode(to: encoder)
    }
}

/// One probe result. `ok`, `message` and `latencyMs` are what Automation's `health_check` reads.
struct CheckResultDTO: Content, Equatable {
    var checkId: UUID
    var check: String
    var at: Date
    var ok: Bool
    var latencyMs: Double?
    var message: String
    /// The check's status after this result.
    var status: CheckStatus
}

/// A stored result (a healthy result repeating the previous one has no message).
struct CheckResultRowDTO: Content {
    var at: Date
    var ok: Bool
    var latencyMs: Double?
    var message: String?
}

/// Uptime and hourly history of one check.
struct CheckUptimeDTO: Content {
    var checkId: UUID
    var uptime: UptimeDTO
    /// Hourly rollups of the last `hours`, oldest first.
    var hours: [HourDTO]

    struct HourDTO: Content {
        var start: Date
        var count: Int
        var failures: Int
        var avgLatencyMs: Double?
        var maxLatencyMs: Double?
    }
}

struct IncidentEventDTO: Content {
    var at: Date
    var kind: String
    var message: String
    var actor: String?
}

struct IncidentDTO: Content {
    var id: UUID
    var checkId: UUID
    var check: String
    var kind: CheckKind
    var status: IncidentStatus
    var severity: IncidentSeverity
    var message: String
    var openedAt: Date
    var acknowledgedAt: Date?
    var acknowledgedBy: String?
    var resolvedAt: Date?
    var resolvedBy: String?
    /// Only in `GET /api/v1/incidents/{id}`: every entry, oldest first.
    var timeline: [IncidentEventDTO]?

    init(_ record: IncidentRecord, timeline: [IncidentEventRecord]? = nil) {
        id = record.id ?? UUID()
        checkId = record.checkID
        check = record.checkName
        kind = record.kind
        status = record.status
        severity = record.severity
        message = record.message
        openedAt = record.openedAt
        acknowledgedAt = record.acknowledgedAt
        acknowledgedBy = record.acknowledgedBy
        resolvedAt = record.resolvedAt
        resolvedBy = record.resolvedBy
        self.timeline = timeline?.map { IncidentEventDTO(at: $0.at, kind: $0.kind, message: $0.message, actor: $0.actor) }
    }
}

/// Monitoring's settings: the public status page and the retention of results.
struct MonitoringSettingsDTO: Content, Equatable {
    var statusPageEnabled: Bool
    var statusPageTitle: String
    var rawRetentionHours: Int
    var rollupRetentionDays: Int
}

/// What `PUT /api/v1/monitoring/settings` takes; absent fields keep their value.
struct MonitoringSettingsInput: Content {
    var statusPageEnabled: Bool?
    var statusPageTitle: String?
    var rawRetentionHours: Int?
    var rollupRetentionDays: Int?
}
