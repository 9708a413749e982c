import Foundation
import NebulaCore

/// A user as the API shows it (never the password hash).
struct UserDTO: Codable, Sendable, Equatable {
    var id: UUID
    var username: String
    var role: Role
    var disabled: Bool
    var createdAt: Date?

    init(_ user: User) {
        id = user.id ?? UUID()
        username = user.username
        role = user.role
        disabled = user.disabled
        createdAt = user.createdAt
    }
}

/// An API token as lists show it: never the token itself, only its first characters.
struct TokenDTO: Codable, Sendable, Equatable {
    var id: UUID
    var name: String
    var role: Role
    var owner: String
    var prefix: String
    var createdAt: Date?
    var expiresAt: Date?
    var revokedAt: Date?
    var lastUsedAt: Date?
    var status: String

    init(_ token: APIToken, owner: String, now: Date = Date()) {
        id = token.id ?? UUID()
        name = token.name
        role = token.role
        self.owner = owner
        prefix = token.prefix
        createdAt = token.createdAt
        expiresAt = token.expiresAt
        revokedAt = token.revokedAt
        lastUsedAt = token.lastUsedAt
        status = token.revokedAt != nil ? "revoked" : (token.expiresAt.map { $0 <= now } ?? false) ? "expired" : "active"
    }
}

/// The answer to creating a token: the token's summary plus the token itself, shown this once.
struct CreatedToken: Codable, Sendable {
    var id: UUID
    var name: String
    var role: Role
    var owner: String
    var prefix: String
    var expiresAt: Date?
    /// The bearer token. It is not stored and cannot be shown again.
    var token: String
}
