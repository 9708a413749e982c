import Fluent
import Foundation
import NebulaCore

/// One change (or refused attempt) in the audit trail.
final class AuditEntry: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types used inside one task only.
    static let schema = "audit_entries"

    @ID(key: .id) var id: UUID?
    @Field(key: "at") var at: Date
    @OptionalField(key: "actor_id") var actorID: UUID?
    @Field(key: "actor") var actor: String
    @Field(key: "action") var action: String
    @OptionalField(key: "target") var target: String?
    @Field(key: "outcome") var outcome: AuditOutcome
    @OptionalField(key: "ip") var ip: String?
    @OptionalField(key: "detail") var detail: String?

    init() {}
}

/// How an audited action ended.
enum AuditOutcome: String, Codable, Sendable, CaseIterable {
    case success, failure, denied
}

/// Writes and reads the audit trail. Callers pass names and ids, never secret values.
struct AuditLog: Sendable {
    let db: any Database

    func record(_ action: String, target: String? = nil, outcome: AuditOutcome = .success, by actor: Actor, detail: String? = nil, on database: (any Database)? = nil) async throws {
        let entry = AuditEntry()
        entry.at = Date()
        entry.actorID = actor.userID
        entry.actor = actor.username
        entry.action = action
        entry.target = target
        entry.outcome = outcome
        entry.ip = actor.ip
        entry.detail = detail
        try await entry.create(on: database ?? db)
    }

    /// Filters; every field is optional. `actor`, `action` and `target` match exactly, except that an
    /// `action` ending in `.` or `*` matches a prefix (`secret.*`).
    struct Query: Sendable {
        var actor: String?
        var action: String?
        var target: String?
        var outcome: AuditOutcome?
        var since: Date?
        var until: Date?
        var limit = 50
        var offset = 0
    }

    func search(_ query: Query, by viewer: Actor) async throws -> ListPage<AuditEntryDTO> {
        try viewer.require(.viewer)
        let builder = AuditEntry.query(on: db)
        if let actor = query.actor { builder.filter(\.$actor == actor) }
        if let action = query.action {
            if action.hasSuffix("*") || action.hasSuffix(".") {
                let prefix = action.hasSuffix("*") ? String(action.dropLast()) : action
                builder.filter(\.$action, .custom("LIKE"), Self.likePrefix(prefix))
            } else {
                builder.filter(\.$action == action)
            }
        }
        if let target = query.target { builder.filter(\.$target == target) }
        if let outcome = query.outcome { builder.filter(\.$outcome == outcome) }
        if let since = query.since { builder.filter(\.$at >= since) }
        if let until = query.until { builder.filter(\.$at <= until) }
        let total = try await builder.count()
        let entries = try await builder.sort(\.$at, .descending).sort(\.$id).range(query.offset..<(query.offset + query.limit)).all()
        return ListPage(items: entries.map(AuditEntryDTO.init), total: total)
    }

    /// `LIKE` pattern for a literal prefix; `%` and `_` in the prefix are not wildcards here
    /// because audit actions only use `[a-z0-9._-]`, and anything else is refused at the edge.
    static func likePrefix(_ prefix: String) -> String { prefix + "%" }

    func deleteOlder(than cutoff: Date) async throws -> Int {
        let count = try await AuditEntry.query(on: db).filter(\.$at < cutoff).count()
        try await AuditEntry.query(on: db).filter(\.$at < cutoff).delete()
        return count
    }
}

/// An audit entry as the API shows it.
struct AuditEntryDTO: Codable, Sendable {
    var id: UUID
    var at: Date
    var actor: String
    var action: String
    var target: String?
    var outcome: AuditOutcome
    var ip: String?
    var detail: String?

    init(_ entry: AuditEntry) {
        id = entry.id ?? UUID()
        at = entry.at
        actor = entry.actor
        action = entry.action
        target = entry.target
        outcome = entry.outcome
        ip = entry.ip
        detail = entry.detail
    }
}

struct CreateAuditEntries: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(AuditEntry.schema)
            .id()
            .field("at", .datetime, .required)
            .field("actor_id", .uuid)
            .field("actor", .string, .required)
            .field("action", .string, .required)
            .field("target", .string)
            .field("outcome", .string, .required)
            .field("ip", .string)
            .field("detail", .string)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AuditEntry.schema).delete()
    }
}
