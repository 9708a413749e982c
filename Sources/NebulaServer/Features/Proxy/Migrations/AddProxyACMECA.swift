import Fluent

/// `proxy_settings.acme_ca`: the ACME directory for `auto` routes (nil = Let's Encrypt).
struct AddProxyACMECA: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(ProxySettingsRecord.schema).field("acme_ca", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(ProxySettingsRecord.schema).deleteField("acme_ca").update()
    }
}
