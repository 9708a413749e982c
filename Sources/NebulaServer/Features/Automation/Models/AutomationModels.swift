import Fluent
import Foundation
import SQLKit

/// A runbook or workflow: its YAML as written, and what the control plane derived from it.
final class RunbookRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "runbooks"

    @ID(key: .id) var id: UUID?
    /// A slug, unique among runbooks and workflows.
    @Field(key: "name") var name: String
    /// `runbook` or `workflow`.
    @Field(key: "kind") var kind: String
    @OptionalField(key: "description") var summary: String?
    @OptionalField(key: "tier") var tier: String?
    /// alert, event, schedule or manual (for listing and the trigger lookups).
    @Field(key: "trigger_type") var triggerType: String
    /// The event type an event trigger reacts to (`incident.opened` for alerts).
    @OptionalField(key: "trigger_event") var triggerEvent: String?
    @Field(key: "yaml") var yaml: String
    @Field(key: "enabled") var enabled: Bool
    /// 1, 2, 3 … one more on every change; a run keeps the YAML of the version it started with.
    @Field(key: "version") var version: Int
    /// The library runbook it was installed from, if any.
    @OptionalField(key: "library_name") var libraryName: String?
    @Field(key: "created_by") var createdBy: String
    @Field(key: "updated_by") var updatedBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// Where a run is in its life.
enum RunStatus: String, Codable, Sendable, CaseIterable {
    /// Waiting for its job, or (concurrency `queue`) for the run holding its key to end.
    case queued
    case running
    /// Parked at an approval step until someone decides (or the approval times out).
    case waitingApproval = "waiting_approval"
    /// Stopped before its next step because automation is paused; continues when unpaused.
    case paused
    case succeeded, failed, cancelled
    /// Never started: automation was paused, or another run held the concurrency key.
    case skipped

    var isFinal: Bool { [.succeeded, .failed, .cancelled, .skipped].contains(self) }
    /// Holds its concurrency key.
    var isActive: Bool { [.queued, .running, .waitingApproval, .paused].contains(self) }
}

/// One run of a runbook, with the YAML it ran (so editing the runbook never changes a run).
final class RunbookRun: Model, @unchecked Sendable {
    // @unchecked: see `RunbookRecord`.
    static let schema = "runbook_runs"

    @ID(key: .id) var id: UUID?
    @Field(key: "runbook_id") var runbookID: UUID
    @Field(key: "runbook_name") var runbookName: String
    @Field(key: "version") var version: Int
    @Field(key: "yaml") var yaml: String
    /// alert, event, schedule or manual.
    @Field(key: "trigger") var trigger: String
    /// The trigger's facts (JSON object): the incident, the event, the fire time.
    @Field(key: "context") var context: String
    /// The resolved inputs (JSON object).
    @Field(key: "inputs") var inputs: String
    /// Variables from `set` steps (JSON object).
    @Field(key: "vars") var vars: String
    @Field(key: "dry_run") var dryRun: Bool
    @Field(key: "status") var status: RunStatus
    @OptionalField(key: "error") var error: String?
    @OptionalField(key: "concurrency_key") var concurrencyKey: String?
    @OptionalField(key: "incident_id") var incidentID: UUID?
    /// The event that triggered it; unique per runbook, so replicas that all see the event start one run.
    @OptionalField(key: "source_event") var sourceEvent: Int64?
    /// The job running it now (or last).
    @OptionalField(key: "job_id") var jobID: UUID?
    @Field(key: "cancel_requested") var cancelRequested: Bool
    /// The approval step it waits at, and until when.
    @OptionalField(key: "approval_step") var approvalStep: String?
    @OptionalField(key: "approval_deadline") var approvalDeadline: Date?
    @Field(key: "created_by") var createdBy: String
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "started_at") var startedAt: Date?
    @OptionalField(key: "finished_at") var finishedAt: Date?

    init() {}
}

/// Where one step of a run is.
enum RunStepStatus: String, Codable, Sendable, CaseIterable {
    case pending, running, succeeded, failed, skipped

    var isDone: Bool { self == .succeeded || self == .failed || self == .skipped }
}

/// The journal: one row per step of a run, written before the step starts and after it ends, so a
/// run found after a crash knows exactly what had happened.
final class RunStepRecord: Model, @unchecked Sendable {
    // @unchecked: see `RunbookRecord`.
    static let schema = "runbook_run_steps"

    @ID(key: .id) var id: UUID?
    @Field(key: "run_id") var runID: UUID
    @Field(key: "step_id") var stepID: String
    @Field(key: "position") var position: Int
    @Field(key: "name") var name: String
    @Field(key: "action") var action: String
    /// The attempt running or last run (1-based; 0 before the first).
    @Field(key: "attempt") var attempt: Int
    @Field(key: "status") var status: RunStepStatus
    /// The rendered parameters, secrets masked (JSON object).
    @OptionalField(key: "params") var params: String?
    /// The result (JSON), secrets masked.
    @OptionalField(key: "output") var output: String?
    @OptionalField(key: "error") var error: String?
    /// Why it was skipped, or what a dry run would have done.
    @OptionalField(key: "note") var note: String?
    @OptionalField(key: "started_at") var startedAt: Date?
    @OptionalField(key: "finished_at") var finishedAt: Date?

    init() {}
}

/// One line of a run's log.
final class RunLogLine: Model, @unchecked Sendable {
    // @unchecked: see `RunbookRecord`.
    static let schema = "runbook_run_log"

    @ID(custom: .id, generatedBy: .database) var id: Int?
    @Field(key: "run_id") var runID: UUID
    @Field(key: "at") var at: Date
    @OptionalField(key: "step_id") var stepID: String?
    @Field(key: "line") var line: String

    init() {}
}

/// The next fire time of a scheduled runbook, persisted so that a restart neither forgets nor
/// repeats a fire, and claimed atomically so two replicas never both fire it.
final class AutomationSchedule: Model, @unchecked Sendable {
    // @unchecked: see `RunbookRecord`.
    static let schema = "automation_schedules"

    @ID(key: .id) var id: UUID?
    /// The runbook (or workflow) it fires.
    @Field(key: "runbook_id") var runbookID: UUID
    @Field(key: "cron") var cron: String
    @Field(key: "timezone") var timezone: String
    /// skip or run_once.
    @Field(key: "misfire") var misfire: String
    @OptionalField(key: "next_fire_at") var nextFireAt: Date?
    @OptionalField(key: "last_fired_at") var lastFiredAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// The runbook tables.
struct CreateAutomation: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(RunbookRecord.schema)
            .id()
            .field("name", .string, .required)
            .field("kind", .string, .required)
            .field("description", .string)
            .field("tier", .string)
            .field("trigger_type", .string, .required)
            .field("trigger_event", .string)
            .field("yaml", .string, .required)
            .field("enabled", .bool, .required)
            .field("version", .int, .required)
            .field("library_name", .string)
            .field("created_by", .string, .required)
            .field("updated_by", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "name")
            .create()
        try await database.schema(RunbookRun.schema)
            .id()
            .field("runbook_id", .uuid, .required, .references(RunbookRecord.schema, .id, onDelete: .cascade))
            .field("runbook_name", .string, .required)
            .field("version", .int, .required)
            .field("yaml", .string, .required)
            .field("trigger", .string, .required)
            .field("context", .string, .required)
            .field("inputs", .string, .required)
            .field("vars", .string, .required)
            .field("dry_run", .bool, .required)
            .field("status", .string, .required)
            .field("error", .string)
            .field("concurrency_key", .string)
            .field("incident_id", .uuid)
            .field("source_event", .int64)
            .field("job_id", .uuid)
            .field("cancel_requested", .bool, .required)
            .field("approval_step", .string)
            .field("approval_deadline", .datetime)
            .field("created_by", .string, .required)
            .field("created_at", .datetime, .required)
            .field("started_at", .datetime)
            .field("finished_at", .datetime)
            .unique(on: "runbook_id", "source_event")
            .create()
        try await database.schema(RunStepRecord.schema)
            .id()
            .field("run_id", .uuid, .required, .references(RunbookRun.schema, .id, onDelete: .cascade))
            .field("step_id", .string, .required)
            .field("position", .int, .required)
            .field("name", .string, .required)
            .field("action", .string, .required)
            .field("attempt", .int, .required)
            .field("status", .string, .required)
            .field("params", .string)
            .field("output", .string)
            .field("error", .string)
            .field("note", .string)
            .field("started_at", .datetime)
            .field("finished_at", .datetime)
            .unique(on: "run_id", "step_id")
            .create()
        try await database.schema(RunLogLine.schema)
            .field(.id, .int64, .identifier(auto: true))
            .field("run_id", .uuid, .required, .references(RunbookRun.schema, .id, onDelete: .cascade))
            .field("at", .datetime, .required)
            .field("step_id", .string)
            .field("line", .string, .required)
            .create()
        try await database.schema(AutomationSchedule.schema)
            .id()
            .field("runbook_id", .uuid, .required, .references(RunbookRecord.schema, .id, onDelete: .cascade))
            .field("cron", .string, .required)
            .field("timezone", .string, .required)
            .field("misfire", .string, .required)
            .field("next_fire_at", .datetime)
            .field("last_fired_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "runbook_id")
            .create()
        guard let sql = database as? any SQLDatabase else { return }
        for statement in Self.indexes { try await sql.raw(SQLQueryString(statement)).run() }
    }

    /// Fixed statements written here, never built from input: runs by runbook, by status, by key; log by run.
    static let indexes = [
        "CREATE INDEX runbook_runs_runbook ON runbook_runs (runbook_id, created_at)",
        "CREATE INDEX runbook_runs_status ON runbook_runs (status)",
        "CREATE INDEX runbook_runs_key ON runbook_runs (concurrency_key, status)",
        "CREATE INDEX runbook_run_log_run ON runbook_run_log (run_id, id)",
    ]

    func revert(on database: any Database) async throws {
        try await database.schema(AutomationSchedule.schema).delete()
        try await database.schema(RunLogLine.schema).delete()
        try await database.schema(RunStepRecord.schema).delete()
        try await database.schema(RunbookRun.schema).delete()
        try await database.schema(RunbookRecord.schema).delete()
    }
}
