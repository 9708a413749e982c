import Foundation
import NebulaCore
import SQLKit

/// Where a private catalog's manifests come from.
enum CatalogSourceKind: String, Codable, Sendable, CaseIterable {
    /// A folder on the control plane's machine, read as it is.
    case folder
    /// A git repository, cloned (shallow) into `<data dir>/catalogs/<source id>/`.
    case git
}

/// One row of `catalog_sources`, read and written with SQLKit (bound parameters only). A plain
/// value rather than a Fluent model, so it is `Sendable` without an unchecked promise.
struct CatalogSourceRow: Codable, Sendable, Equatable {
    static let table = "catalog_sources"

    var id: UUID
    var name: String
    var kind: CatalogSourceKind
    /// A folder path, or a git URL (never one with a password in it).
    var location: String
    var branch: String?
    var lastRefreshedAt: Date?
    /// Why the last refresh failed, or which manifests it skipped; nil when all was well.
    var lastError: String?
    var packageCount: Int
    var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, kind, location, branch
        case lastRefreshedAt = "last_refreshed_at"
        case lastError = "last_error"
        case packageCount = "package_count"
        case createdAt = "created_at"
    }
}

/// A private catalog as the API and the pages show it.
struct CatalogSourceDTO: Codable, Sendable, Equatable {
    var id: UUID
    var name: String
    var kind: CatalogSourceKind
    var location: String
    var branch: String?
    var lastRefreshedAt: Date?
    var lastError: String?
    var packageCount: Int
    var createdAt: Date
    /// `ok`, `error` (see lastError) or `pending` (never refreshed).
    var status: String
    /// The manifests the last load in this process skipped, with every problem.
    var failures: [CatalogFailure]

    init(_ row: CatalogSourceRow, failures: [CatalogFailure]) {
        id = row.id
        name = row.name
        kind = row.kind
        location = row.location
        branch = row.branch
        lastRefreshedAt = row.lastRefreshedAt
        lastError = row.lastError
        packageCount = row.packageCount
        createdAt = row.createdAt
        status = row.lastRefreshedAt == nil ? "pending" : (row.lastError == nil ? "ok" : "error")
        self.failures = failures
    }
}

/// Reads and writes `catalog_sources`.
struct CatalogSourceStore: Sendable {
    let sql: any SQLDatabase

    func all() async throws -> [CatalogSourceRow] {
        try await sql.select().columns("*").from(CatalogSourceRow.table).orderBy("name").all(decoding: CatalogSourceRow.self)
    }

    func find(_ id: UUID) async throws -> CatalogSourceRow? {
        try await sql.select().columns("*").from(CatalogSourceRow.table).where("id", .equal, id).first(decoding: CatalogSourceRow.self)
    }

    func find(name: String) async throws -> CatalogSourceRow? {
        try await sql.select().columns("*").from(CatalogSourceRow.table).where("name", .equal, name).first(decoding: CatalogSourceRow.self)
    }

    func insert(_ row: CatalogSourceRow) async throws {
        try await sql.insert(into: CatalogSourceRow.table).model(row).run()
    }

    /// Records the outcome of a refresh.
    func recordRefresh(_ id: UUID, at date: Date, packageCount: Int, error: String?) async throws {
        try await sql.update(CatalogSourceRow.table)
            .set("last_refreshed_at", to: SQLBind(date))
            .set("package_count", to: SQLBind(packageCount))
            .set("last_error", to: SQLBind(error))
            .where("id", .equal, id)
            .run()
    }

    func delete(_ id: UUID) async throws {
        try await sql.delete(from: CatalogSourceRow.table).where("id", .equal, id).run()
    }
}
