import Fluent
import Foundation
import NebulaCore

/// A persisted event. The integer id orders events and is what SSE clients resume after.
final class EventRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types used inside one task only.
    static let schema = "events"

    @ID(custom: .id, generatedBy: .database) var id: Int?
    @Field(key: "type") var type: String
    @Field(key: "occurred_at") var occurredAt: Date
    @OptionalField(key: "actor") var actor: String?
    @OptionalField(key: "subject") var subject: String?
    /// JSON object of string facts.
    @Field(key: "data") var data: String

    init() {}

    var envelope: EventEnvelope {
        let facts = (try? JSONDecoder().decode([String: String].self, from: Data(data.utf8))) ?? [:]
        return EventEnvelope(id: Int64(id ?? 0), type: EventType(type), occurredAt: occurredAt, actor: actor, subject: subject, data: facts)
    }
}

struct CreateEvents: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(EventRecord.schema)
            .field(.id, .int64, .identifier(auto: true))
            .field("type", .string, .required)
            .field("occurred_at", .datetime, .required)
            .field("actor", .string)
            .field("subject", .string)
            .field("data", .string, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(EventRecord.schema).delete()
    }
}
