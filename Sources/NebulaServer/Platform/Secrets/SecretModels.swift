import Fluent
import Foundation

/// A named secret, stored only in sealed form.
final class StoredSecret: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types used inside one task only.
    static let schema = "secrets"

    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    @Field(key: "sealed") var sealed: String
    @OptionalField(key: "description") var description: String?
    @Field(key: "created_by") var createdBy: String
    @Field(key: "updated_by") var updatedBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// Small key/value state of the vault: the key check that detects a wrong master key.
final class VaultState: Model, @unchecked Sendable {
    // @unchecked: see `StoredSecret`.
    static let schema = "vault_state"

    @ID(custom: "name", generatedBy: .user) var id: String?
    @Field(key: "value") var value: String

    init() {}

    init(name: String, value: String) {
        id = name
        self.value = value
    }

    static let keyCheckName = "key_check"
    static let keyCheckPlaintext = Data("nebula-command-key-check-v1".utf8)
}

/// What the API and pages show of a secret: never its value.
struct SecretSummary: Codable, Sendable, Equatable {
    var id: UUID
    var name: String
    var description: String?
    var createdBy: String
    var updatedBy: String
    var createdAt: Date?
    var updatedAt: Date?

    init(_ secret: StoredSecret) {
        id = secret.id ?? UUID()
        name = secret.name
        description = secret.description
        createdBy = secret.createdBy
        updatedBy = secret.updatedBy
        createdAt = secret.createdAt
        updatedAt = secret.updatedAt
    }
}

struct CreateSecrets: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(StoredSecret.schema)
            .id()
            .field("name", .string, .required)
            .field("sealed", .string, .required)
            .field("description", .string)
            .field("created_by", .string, .required)
            .field("updated_by", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "name")
            .create()
        try await database.schema(VaultState.schema)
            .field("name", .string, .identifier(auto: false))
            .field("value", .string, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(VaultState.schema).delete()
        try await database.schema(StoredSecret.schema).delete()
    }
}
