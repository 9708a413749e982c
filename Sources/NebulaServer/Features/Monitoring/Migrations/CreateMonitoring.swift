import Fluent
import SQLKit

/// `checks`, `check_results`, `check_rollups`, `incidents`, `incident_events` and
/// `monitoring_settings`, with the indexes the scheduler, the pages and retention need.
struct CreateMonitoring: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(CheckRecord.schema)
            .id()
            .field("name", .string, .required)
            .field("kind", .string, .required)
            .field("spec", .string, .required)
            .field("target", .string, .required)
            .field("interval_seconds", .int, .required)
            .field("timeout_seconds", .int, .required)
            .field("enabled", .bool, .required)
            .field("public", .bool, .required)
            .field("severity", .string, .required)
            .field("failures_before_incident", .int, .required)
            .field("successes_before_resolve", .int, .required)
            .field("status", .string, .required)
            .field("consecutive_failures", .int, .required)
            .field("consecutive_successes", .int, .required)
            .field("last_checked_at", .datetime)
            .field("last_latency_ms", .double)
            .field("last_message", .string)
            .field("status_since", .datetime)
            .field("open_incident_id", .uuid)
            .field("incident_suppressed", .bool, .required)
            .field("created_by", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "name")
            .create()
        try await database.schema(CheckResultRecord.schema)
            .field(.id, .int64, .identifier(auto: true))
            .field("check_id", .uuid, .required)
            .field("at", .datetime, .required)
            .field("ok", .bool, .required)
            .field("latency_ms", .double)
            .field("message", .string)
            .create()
        try await database.schema(CheckRollupRecord.schema)
            .field(.id, .int64, .identifier(auto: true))
            .field("check_id", .uuid, .required)
            .field("hour_start", .datetime, .required)
            .field("count", .int, .required)
            .field("failures", .int, .required)
            .field("latency_sum", .double, .required)
            .field("latency_count", .int, .required)
            .field("latency_max", .double, .required)
            .unique(on: "check_id", "hour_start")
            .create()
        try await database.schema(IncidentRecord.schema)
            .id()
            .field("check_id", .uuid, .required)
            .field("check_name", .string, .required)
            .field("kind", .string, .required)
            .field("status", .string, .required)
            .field("severity", .string, .required)
            .field("message", .string, .required)
            .field("opened_at", .datetime, .required)
            .field("acknowledged_at", .datetime)
            .field("acknowledged_by", .string)
            .field("resolved_at", .datetime)
            .field("resolved_by", .string)
            .create()
        try await database.schema(IncidentEventRecord.schema)
            .field(.id, .int64, .identifier(auto: true))
            .field("incident_id", .uuid, .required, .references(IncidentRecord.schema, .id, onDelete: .cascade))
            .field("at", .datetime, .required)
            .field("kind", .string, .required)
            .field("message", .string, .required)
            .field("actor", .string)
            .create()
        try await database.schema(MonitoringSettingsRecord.schema)
            .field(.id, .int, .identifier(auto: false))
            .field("status_page_enabled", .bool, .required)
            .field("status_page_title", .string, .required)
            .field("raw_retention_hours", .int, .required)
            .field("rollup_retention_days", .int, .required)
            .field("rolled_until", .datetime)
            .create()
        guard let sql = database as? any SQLDatabase else { return }
        for statement in Self.indexes { try await sql.raw(SQLQueryString(statement)).run() }
    }

    /// Fixed statements, never built from input. The partial unique index is the database's
    /// guarantee of "one open incident per check" (SQLite and PostgreSQL both have them).
    static let indexes = [
        "CREATE INDEX check_results_check_at ON check_results (check_id, at)",
        "CREATE INDEX check_results_at ON check_results (at)",
        "CREATE INDEX check_rollups_hour ON check_rollups (hour_start)",
        "CREATE UNIQUE INDEX incidents_one_open_per_check ON incidents (check_id) WHERE resolved_at IS NULL",
        "CREATE INDEX incidents_opened ON incidents (opened_at)",
        "CREATE INDEX incident_events_incident ON incident_events (incident_id, id)",
    ]

    func revert(on database: any Database) async throws {
        try await database.schema(MonitoringSettingsRecord.schema).delete()
        try await database.schema(IncidentEventRecord.schema).delete()
        try await database.schema(IncidentRecord.schema).delete()
        try await database.schema(CheckRollupRecord.schema).delete()
        try await database.schema(CheckResultRecord.schema).delete()
        try await database.schema(CheckRecord.schema).delete()
    }
}
