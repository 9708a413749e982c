import Fluent

/// `app_installs.domain`: the host name an app is published under.
struct AddAppInstallDomain: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(AppInstall.schema).field("domain", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AppInstall.schema).deleteField("domain").update()
    }
}
