import Fluent
import Foundation
import NebulaCore

/// Stores, lists, reveals and deletes named secrets. Values are sealed before they touch the
/// database and never leave this type except through ``reveal(name:by:)``.
struct SecretsService: Sendable {
    let db: any Database
    let vault: Vault
    let audit: AuditLog
    let events: EventBus

    static let maxValueBytes = 64 * 1024

    /// Names are what other features refer to (`DB_PASSWORD`, `ssh.node1`): letters, digits, `_ . -`.
    static func validate(name: String) throws(NebulaError) {
        guard (1...100).contains(name.count),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
            throw .unprocessable("A secret name is 1–100 letters, digits, '_', '.' or '-'.", code: "invalid_secret_name")
        }
    }

    func list(by actor: Actor) async throws -> ListPage<SecretSummary> {
        try actor.require(.viewer)
        let secrets = try await StoredSecret.query(on: db).sort(\.$name).all()
        return ListPage(items: secrets.map(SecretSummary.init), total: secrets.count)
    }

    /// Creates the secret, or replaces its value when `replace` is true.
    func store(name: String, value: String, description: String?, replace: Bool, by actor: Actor) async throws -> (SecretSummary, created: Bool) {
        try actor.require(.operator)
        try Self.validate(name: name)
        guard !value.isEmpty, value.utf8.count <= Self.maxValueBytes else {
            throw NebulaError.unprocessable("A secret value is 1 byte to 64 KiB.", code: "invalid_secret_value")
        }
        let sealed = try vault.seal(Data(value.utf8), boundTo: name)
        if let existing = try await StoredSecret.query(on: db).filter(\.$name == name).first() {
            guard replace else {
                try await audit.record("secret.create", target: "secret:\(name)", outcome: .failure, by: actor, detail: "already exists")
                throw NebulaError.conflict("A secret named '\(name)' already exists; use PUT to replace its value.", code: "secret_exists")
            }
            existing.sealed = sealed
            existing.updatedBy = actor.username
            if let description { existing.description = description }
            try await existing.update(on: db)
            try await audit.record("secret.update", target: "secret:\(name)", by: actor)
            await events.publish(.secretUpdated, actor: actor.username, subject: "secret:\(name)")
            return (SecretSummary(existing), false)
        }
        let secret = StoredSecret()
        secret.name = name
        secret.sealed = sealed
        secret.description = description
        secret.createdBy = actor.username
        secret.updatedBy = actor.username
        do {
            try await secret.create(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw NebulaError.conflict("A secret named '\(name)' already exists.", code: "secret_exists")
        }
        try await audit.record("secret.create", target: "secret:\(name)", by: actor)
        await events.publish(.secretCreated, actor: actor.username, subject: "secret:\(name)")
        return (SecretSummary(secret), true)
    }

    /// The plaintext value. Admins only; every attempt, allowed or not, is audited.
    func reveal(name: String, by actor: Actor) async throws -> String {
        do {
            try actor.require(.admin)
        } catch {
            try await audit.record("secret.reveal", target: "secret:\(name)", outcome: .denied, by: actor)
            throw error
        }
        guard let secret = try await StoredSecret.query(on: db).filter(\.$name == name).first() else {
            throw NebulaError.notFound("Secret '\(name)'")
        }
        let value = try vault.open(secret.sealed, boundTo: secret.name)
        try await audit.record("secret.reveal", target: "secret:\(name)", by: actor)
        await events.publish(.secretRevealed, actor: actor.username, subject: "secret:\(name)")
        return String(decoding: value, as: UTF8.self)
    }

    /// For other features that need a secret's value to do their work (not for showing it).
    func value(of name: String) async throws -> String {
        guard let secret = try await StoredSecret.query(on: db).filter(\.$name == name).first() else {
            throw NebulaError.notFound("Secret '\(name)'")
        }
        return String(decoding: try vault.open(secret.sealed, boundTo: secret.name), as: UTF8.self)
    }

    func delete(name: String, by actor: Actor) async throws {
        try actor.require(.operator)
        guard let secret = try await StoredSecret.query(on: db).filter(\.$name == name).first() else {
            throw NebulaError.notFound("Secret '\(name)'")
        }
        try await secret.delete(on: db)
        try await audit.record("secret.delete", target: "secret:\(name)", by: actor)
        await events.publish(.secretDeleted, actor: actor.username, subject: "secret:\(name)")
    }
}
