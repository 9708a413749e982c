import Fluent
import Foundation

/// A one-time token that lets a new agent join as a given server. Only its SHA-256 is stored.
final class JoinToken: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types used inside one task only.
    static let schema = "join_tokens"

    @ID(key: .id) var id: UUID?
    @Field(key: "server_id") var serverID: UUID
    @Field(key: "token_hash") var tokenHash: String
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "used_at") var usedAt: Date?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}
}

/// Join tokens, and the per-node credential an agent receives for one.
struct CreateAgentAccess: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(JoinToken.schema)
            .id()
            .field("server_id", .uuid, .required, .references(ServerRecord.schema, .id, onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .field("created_by", .string, .required)
            .field("created_at", .datetime)
            .unique(on: "token_hash")
            .create()
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for column in ["agent_credential_hash", "agent_version", "hardware"] {
            try await database.schema(ServerRecord.schema).field(.string(column), .string).update()
        }
    }

    func revert(on database: any Database) async throws {
        for column in ["agent_credential_hash", "agent_version", "hardware"] {
            try await database.schema(ServerRecord.schema).deleteField(.string(column)).update()
        }
        try await database.schema(JoinToken.schema).delete()
    }
}
