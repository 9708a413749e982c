import Fluent

/// Private catalogs: a folder on the control plane's machine or a git repository of manifests.
struct CreateCatalogSources: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(CatalogSourceRow.table)
            .id()
            .field("name", .string, .required)
            .field("kind", .string, .required)
            .field("location", .string, .required)
            .field("branch", .string)
            .field("last_refreshed_at", .datetime)
            .field("last_error", .string)
            .field("package_count", .int, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "name")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(CatalogSourceRow.table).delete()
    }
}
