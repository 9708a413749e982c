import Fluent
import Foundation
import NebulaCore

/// A durable unit of background work.
final class JobRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types used inside one task only.
    static let schema = "jobs"

    @ID(key: .id) var id: UUID?
    @Field(key: "type") var type: String
    /// JSON given by whoever queued it; never a secret value (store a secret's name instead).
    @Field(key: "payload") var payload: String
    @Field(key: "status") var status: JobStatus
    @Field(key: "progress") var progress: Double
    @Field(key: "attempts") var attempts: Int
    @Field(key: "max_attempts") var maxAttempts: Int
    /// Not before this time (first run or the next retry).
    @Field(key: "run_at") var runAt: Date
    @OptionalField(key: "lease_owner") var leaseOwner: String?
    @OptionalField(key: "lease_expires_at") var leaseExpiresAt: Date?
    @Field(key: "cancel_requested") var cancelRequested: Bool
    @OptionalField(key: "last_error") var lastError: String?
    @OptionalField(key: "created_by") var createdBy: String?
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "started_at") var startedAt: Date?
    @OptionalField(key: "finished_at") var finishedAt: Date?

    init() {}
}

/// One line of a job's log.
final class JobLogLine: Model, @unchecked Sendable {
    // @unchecked: see `JobRecord`.
    static let schema = "job_log_lines"

    @ID(custom: .id, generatedBy: .database) var id: Int?
    @Field(key: "job_id") var jobID: UUID
    @Field(key: "at") var at: Date
    @Field(key: "line") var line: String

    init() {}

    init(jobID: UUID, at: Date, line: String) {
        self.jobID = jobID
        self.at = at
        self.line = line
    }
}

/// A job as the API shows it.
struct JobDTO: Codable, Sendable, Equatable {
    var id: UUID
    var type: String
    var payload: String
    var status: JobStatus
    var progress: Double
    var attempts: Int
    var maxAttempts: Int
    var runAt: Date
    var lastError: String?
    var createdBy: String?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var cancelRequested: Bool

    init(_ job: JobRecord) {
        id = job.id ?? UUID()
        type = job.type
        payload = job.payload
        status = job.status
        progress = job.progress
        attempts = job.attempts
        maxAttempts = job.maxAttempts
        runAt = job.runAt
        lastError = job.lastError
        createdBy = job.createdBy
        createdAt = job.createdAt
        startedAt = job.startedAt
        finishedAt = job.finishedAt
        cancelRequested = job.cancelRequested
    }
}

struct JobLogLineDTO: Codable, Sendable, Equatable {
    var id: Int
    var at: Date
    var line: String
}

struct CreateJobs: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(JobRecord.schema)
            .id()
            .field("type", .string, .required)
            .field("payload", .string, .required)
            .field("status", .string, .required)
            .field("progress", .double, .required)
            .field("attempts", .int, .required)
            .field("max_attempts", .int, .required)
            .field("run_at", .datetime, .required)
            .field("lease_owner", .string)
            .field("lease_expires_at", .datetime)
            .field("cancel_requested", .bool, .required)
            .field("last_error", .string)
            .field("created_by", .string)
            .field("created_at", .datetime, .required)
            .field("started_at", .datetime)
            .field("finished_at", .datetime)
            .create()
        try await database.schema(JobLogLine.schema)
            .field(.id, .int64, .identifier(auto: true))
            .field("job_id", .uuid, .required, .references(JobRecord.schema, .id, onDelete: .cascade))
            .field("at", .datetime, .required)
            .field("line", .string, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(JobLogLine.schema).delete()
        try await database.schema(JobRecord.schema).delete()
    }
}
