import Fluent
import SQLKit

/// Every migration, in the order it runs. Append; never reorder or edit a shipped one.
enum Migrations {
    static let ordered: [any Migration] = [
        CreateIdentityTables(),
        CreateAuditEntries(),
        CreateSecrets(),
        CreateSettings(),
        CreateEvents(),
        CreateJobs(),
        CreatePlatformIndexes(),
        CreateFleet(),
        CreateAgentAccess(),
        CreateMetricRollups(),
        AddWakeOnLAN(),
        AddSSHAccess(),
        CreateCatalogSources(),
        CreateAppInstalls(),
        CreateDeploys(),
        CreateNotifications(),
        CreateAutomation(),
        CreateMonitoring(),
        CreateDomains(),
        CreateProxy(),
        AddAppInstallDomain(),
        CreateAI(),
        CreateAIAgents(),
        AddProxyACMECA(),
    ]
}

/// Indexes the hot queries need: the job claim, event replay and the audit search.
struct CreatePlatformIndexes: AsyncMigration {
    /// Fixed statements written here, never built from input.
    static let statements: [(name: String, sql: String)] = [
        ("jobs_due", "CREATE INDEX jobs_due ON jobs (status, run_at)"),
        ("jobs_type", "CREATE INDEX jobs_type ON jobs (type, status)"),
        ("job_log_lines_job", "CREATE INDEX job_log_lines_job ON job_log_lines (job_id, id)"),
        ("events_type", "CREATE INDEX events_type ON events (type, id)"),
        ("events_occurred", "CREATE INDEX events_occurred ON events (occurred_at)"),
        ("audit_at", "CREATE INDEX audit_at ON audit_entries (at)"),
        ("audit_action", "CREATE INDEX audit_action ON audit_entries (action, at)"),
        ("login_attempts_user", "CREATE INDEX login_attempts_user ON login_attempts (username, at)"),
        ("login_attempts_ip", "CREATE INDEX login_attempts_ip ON login_attempts (ip, at)"),
    ]

    func prepare(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        for statement in Self.statements { try await sql.raw(SQLQueryString(statement.sql)).run() }
    }

    func revert(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        for statement in Self.statements { try await sql.raw(SQLQueryString("DROP INDEX " + statement.name)).run() }
    }
}
