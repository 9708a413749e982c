import Fluent
import Foundation
import NebulaCore

/// A person who can sign in to the dashboard.
final class User: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types by design; a model instance is only
    // used inside the single task that fetched it and is never shared across tasks.
    static let schema = "users"

    @ID(key: .id) var id: UUID?
    @Field(key: "username") var username: String
    @Field(key: "password_hash") var passwordHash: String
    @Field(key: "role") var role: Role
    @Field(key: "disabled") var disabled: Bool
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}

    init(username: String, passwordHash: String, role: Role) {
        self.username = username
        self.passwordHash = passwordHash
        self.role = role
        disabled = false
    }
}

/// A signed-in browser. The cookie holds a random token; only its SHA-256 is stored.
final class UserSession: Model, @unchecked Sendable {
    // @unchecked: see `User`.
    static let schema = "user_sessions"

    @ID(key: .id) var id: UUID?
    @Field(key: "token_hash") var tokenHash: String
    @Parent(key: "user_id") var user: User
    @OptionalField(key: "ip") var ip: String?
    @Field(key: "expires_at") var expiresAt: Date
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}

    init(tokenHash: String, userID: UUID, ip: String?, expiresAt: Date) {
        self.tokenHash = tokenHash
        $user.id = userID
        self.ip = ip
        self.expiresAt = expiresAt
    }
}

/// A bearer token for the CLI, agents and scripts, acting as its owner with at most `role`.
final class APIToken: Model, @unchecked Sendable {
    // @unchecked: see `User`.
    static let schema = "api_tokens"

    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    @Field(key: "role") var role: Role
    @Parent(key: "user_id") var user: User
    @Field(key: "token_hash") var tokenHash: String
    /// The first characters of the token, to tell tokens apart in lists.
    @Field(key: "prefix") var prefix: String
    @OptionalField(key: "expires_at") var expiresAt: Date?
    @OptionalField(key: "revoked_at") var revokedAt: Date?
    @OptionalField(key: "last_used_at") var lastUsedAt: Date?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}

    init(name: String, role: Role, userID: UUID, tokenHash: String, prefix: String, expiresAt: Date?) {
        self.name = name
        self.role = role
        $user.id = userID
        self.tokenHash = tokenHash
        self.prefix = prefix
        self.expiresAt = expiresAt
    }
}

/// One login attempt, kept for brute-force protection.
final class LoginAttempt: Model, @unchecked Sendable {
    // @unchecked: see `User`.
    static let schema = "login_attempts"

    @ID(key: .id) var id: UUID?
    @Field(key: "username") var username: String
    @Field(key: "ip") var ip: String
    @Field(key: "succeeded") var succeeded: Bool
    @Field(key: "at") var at: Date

    init() {}

    init(username: String, ip: String, succeeded: Bool, at: Date) {
        self.username = username
        self.ip = ip
        self.succeeded = succeeded
        self.at = at
    }
}

struct CreateIdentityTables: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(User.schema)
            .id()
            .field("username", .string, .required)
            .field("password_hash", .string, .required)
            .field("role", .string, .required)
            .field("disabled", .bool, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "username")
            .create()
        try await database.schema(UserSession.schema)
            .id()
            .field("token_hash", .string, .required)
            .field("user_id", .uuid, .required, .references(User.schema, .id, onDelete: .cascade))
            .field("ip", .string)
            .field("expires_at", .datetime, .required)
            .field("created_at", .datetime)
            .unique(on: "token_hash")
            .create()
        try await database.schema(APIToken.schema)
            .id()
            .field("name", .string, .required)
            .field("role", .string, .required)
            .field("user_id", .uuid, .required, .references(User.schema, .id, onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("prefix", .string, .required)
            .field("expires_at", .datetime)
            .field("revoked_at", .datetime)
            .field("last_used_at", .datetime)
            .field("created_at", .datetime)
            .unique(on: "token_hash")
            .create()
        try await database.schema(LoginAttempt.schema)
            .id()
            .field("username", .string, .required)
            .field("ip", .string, .required)
            .field("succeeded", .bool, .required)
            .field("at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        for schema in [LoginAttempt.schema, APIToken.schema, UserSession.schema, User.schema] {
            try await database.schema(schema).delete()
        }
    }
}
