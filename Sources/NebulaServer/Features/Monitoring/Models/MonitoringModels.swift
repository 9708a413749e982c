import Fluent
import Foundation
import NebulaCore

/// What a check probes. The kind decides which fields of ``CheckSpec`` matter.
enum CheckKind: String, Codable, Sendable, CaseIterable {
    case http, tcp, dns, tls, container, metric, heartbeat
}

/// A check's last known state: `unknown` until its first result.
enum CheckStatus: String, Codable, Sendable {
    case unknown, up, down
}

/// How loud an incident of the check is; the notification routing reads it.
enum IncidentSeverity: String, Codable, Sendable, CaseIterable {
    case info, warning, critical
}

enum IncidentStatus: String, Codable, Sendable, CaseIterable {
    case open, acknowledged, resolved
}

/// A configured health check and its live state (status, counters, open incident), updated after
/// every result. The kind-specific settings are one JSON column (``CheckSpec``), so adding a field
/// to one kind needs no migration.
final class CheckRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "checks"

    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    @Field(key: "kind") var kind: CheckKind
    /// ``CheckSpec`` as JSON.
    @Field(key: "spec") var spec: String
    /// A one-line description of what is probed (`https://nas.lan/health`, `nas:22`), for lists.
    @Field(key: "target") var target: String
    @Field(key: "interval_seconds") var intervalSeconds: Int
    @Field(key: "timeout_seconds") var timeoutSeconds: Int
    @Field(key: "enabled") var enabled: Bool
    /// Shown on the public status page (when that is switched on).
    @Field(key: "public") var isPublic: Bool
    @Field(key: "severity") var severity: IncidentSeverity
    @Field(key: "failures_before_incident") var failuresBeforeIncident: Int
    @Field(key: "successes_before_resolve") var successesBeforeResolve: Int
    @Field(key: "status") var status: CheckStatus
    @Field(key: "consecutive_failures") var consecutiveFailures: Int
    @Field(key: "consecutive_successes") var consecutiveSuccesses: Int
    @OptionalField(key: "last_checked_at") var lastCheckedAt: Date?
    @OptionalField(key: "last_latency_ms") var lastLatencyMs: Double?
    @OptionalField(key: "last_message") var lastMessage: String?
    @OptionalField(key: "status_since") var statusSince: Date?
    /// The open (or acknowledged) incident of this check; at most one, also enforced by an index.
    @OptionalField(key: "open_incident_id") var openIncidentID: UUID?
    /// Set when someone resolved an incident by hand while the check still failed: no new incident
    /// opens until the check has succeeded once.
    @Field(key: "incident_suppressed") var incidentSuppressed: Bool
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}

    var decodedSpec: CheckSpec { (try? JSONDecoder().decode(CheckSpec.self, from: Data(spec.utf8))) ?? CheckSpec() }
}

/// One probe's outcome. Compact on purpose (thousands per hour): the message is kept only when
/// the result failed or changed the check's state; a healthy result is its time and latency.
final class CheckResultRecord: Model, @unchecked Sendable {
    // @unchecked: see CheckRecord.
    static let schema = "check_results"

    @ID(custom: .id, generatedBy: .database) var id: Int?
    @Field(key: "check_id") var checkID: UUID
    @Field(key: "at") var at: Date
    @Field(key: "ok") var ok: Bool
    @OptionalField(key: "latency_ms") var latencyMs: Double?
    @OptionalField(key: "message") var message: String?

    init() {}
}

/// One check's results of one hour: kept for ``MonitoringSettingsRecord/rollupRetentionDays``
/// after the raw results are pruned, so uptime over 30 days costs 720 rows, not 86,400.
final class CheckRollupRecord: Model, @unchecked Sendable {
    // @unchecked: see CheckRecord.
    static let schema = "check_rollups"

    @ID(custom: .id, generatedBy: .database) var id: Int?
    @Field(key: "check_id") var checkID: UUID
    @Field(key: "hour_start") var hourStart: Date
    @Field(key: "count") var count: Int
    @Field(key: "failures") var failures: Int
    @Field(key: "latency_sum") var latencySum: Double
    @Field(key: "latency_count") var latencyCount: Int
    @Field(key: "latency_max") var latencyMax: Double

    init() {}
}

final class IncidentRecord: Model, @unchecked Sendable {
    // @unchecked: see CheckRecord.
    static let schema = "incidents"

    @ID(key: .id) var id: UUID?
    @Field(key: "check_id") var checkID: UUID
    /// The check's name when the incident opened (the check may be renamed or deleted later).
    @Field(key: "check_name") var checkName: String
    @Field(key: "kind") var kind: CheckKind
    @Field(key: "status") var status: IncidentStatus
    @Field(key: "severity") var severity: IncidentSeverity
    @Field(key: "message") var message: String
    @Field(key: "opened_at") var openedAt: Date
    @OptionalField(key: "acknowledged_at") var acknowledgedAt: Date?
    @OptionalField(key: "acknowledged_by") var acknowledgedBy: String?
    @OptionalField(key: "resolved_at") var resolvedAt: Date?
    /// `monitoring` when the check recovered, else the person who resolved it.
    @OptionalField(key: "resolved_by") var resolvedBy: String?

    init() {}
}

/// One line of an incident's timeline: a state change, a failure streak, a runbook run or a
/// notification sent about it.
final class IncidentEventRecord: Model, @unchecked Sendable {
    // @unchecked: see CheckRecord.
    static let schema = "incident_events"

    @ID(custom: .id, generatedBy: .database) var id: Int?
    @Field(key: "incident_id") var incidentID: UUID
    @Field(key: "at") var at: Date
    /// `opened`, `acknowledged`, `resolved`, `recovered`, `failing`, `runbook`, `notification`.
    @Field(key: "kind") var kind: String
    @Field(key: "message") var message: String
    @OptionalField(key: "actor") var actor: String?

    init() {}
}

/// Monitoring's own settings (one row): the public status page switch and the retention periods.
final class MonitoringSettingsRecord: Model, @unchecked Sendable {
    // @unchecked: see CheckRecord.
    static let schema = "monitoring_settings"

    @ID(custom: .id, generatedBy: .user) var id: Int?
    @Field(key: "status_page_enabled") var statusPageEnabled: Bool
    @Field(key: "status_page_title") var statusPageTitle: String
    @Field(key: "raw_retention_hours") var rawRetentionHours: Int
    @Field(key: "rollup_retention_days") var rollupRetentionDays: Int
    /// Results before this instant are in the rollups (uptime reads raw results only after it).
    @OptionalField(key: "rolled_until") var rolledUntil: Date?

    init() {}
}
