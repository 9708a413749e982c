import Fluent
import Foundation
import NebulaCore
import SQLKit

extension EventType {
    public static let marketplaceSourceAdded: EventType = "marketplace.source.added"
    public static let marketplaceSourceRefreshed: EventType = "marketplace.source.refreshed"
    public static let marketplaceSourceRemoved: EventType = "marketplace.source.removed"
}

/// A package and the catalog it came from.
struct CatalogPackage: Sendable {
    /// The name of the source that holds the package.
    static let builtInSource = "built-in"

    var manifest: AppManifest
    /// `built-in`, or the private source's name.
    var source: String
    var sourceID: UUID?
}

/// The marketplace: the built-in catalog plus private catalogs (folders and git repositories).
/// The API and the pages both call it. Reading needs the viewer role; changing sources needs
/// the operator role, and every change is audited and published.
struct MarketplaceService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let catalog: MarketplaceCatalog
    /// Where git sources are cloned: `<data dir>/catalogs`.
    let checkoutsDirectory: URL
    let git: CatalogClone

    /// What a new source is.
    struct NewSource: Codable, Sendable {
        var name: String
        var kind: CatalogSourceKind
        var location: String
        var branch: String?
    }

    // MARK: Packages

    /// Every package: the built-in ones first, then each source's (a name already taken is skipped),
    /// filtered by `category` and a case-insensitive `search` over name, title and description.
    func packages(category: AppCategory? = nil, search: String? = nil, by actor: Actor) async throws -> [CatalogPackage] {
        try actor.require(.viewer)
        var packages = await catalog.builtInCatalog().packages.map { CatalogPackage(manifest: $0.manifest, source: CatalogPackage.builtInSource, sourceID: nil) }
        var names = Set(packages.map(\.manifest.name))
        for source in try await store().all() {
            for entry in await catalog.catalog(of: source.id, directory: directory(of: source)).packages where !names.contains(entry.manifest.name) {
                names.insert(entry.manifest.name)
                packages.append(CatalogPackage(manifest: entry.manifest, source: source.name, sourceID: source.id))
            }
        }
        let needle = search?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return packages.filter { package in
            (category == nil || package.manifest.category == category)
                && (needle.isEmpty || [package.manifest.name, package.manifest.title, package.manifest.description]
                    .contains { $0.lowercased().contains(needle) })
        }
    }

    func package(name: String, by actor: Actor) async throws -> CatalogPackage {
        guard let package = try await packages(by: actor).first(where: { $0.manifest.name == name }) else {
            throw NebulaError.notFound("Package \(name)")
        }
        return package
    }

    /// Parses and checks a manifest; a 422 `invalid_manifest` error lists every problem.
    func validate(yaml: String) throws -> AppManifest {
        switch ManifestParser.check(yaml: yaml) {
        case .success(let manifest):
            return manifest
        case .failure(let problems):
            var error = NebulaError.unprocessable("The manifest has \(problems.problems.count) problem\(problems.problems.count == 1 ? "" : "s").", code: "invalid_manifest")
            error.problems = problems.problems.map { FieldProblem(path: $0.path, message: $0.message) }
            throw error
        }
    }

    // MARK: Sources

    func sources(by actor: Actor) async throws -> [CatalogSourceDTO] {
        try actor.require(.viewer)
        var result: [CatalogSourceDTO] = []
        for row in try await store().all() {
            result.append(CatalogSourceDTO(row, failures: await catalog.cached(row.id)?.failures ?? []))
        }
        return result
    }

    func source(_ id: UUID, by actor: Actor) async throws -> CatalogSourceDTO {
        try actor.require(.viewer)
        let row = try await row(id)
        return CatalogSourceDTO(row, failures: await catalog.cached(row.id)?.failures ?? [])
    }

    /// Adds a source and loads it at once. A folder that does not exist yet or a clone that fails
    /// is not refused: the source is kept with the reason in `lastError`, to refresh later.
    func addSource(_ input: NewSource, by actor: Actor) async throws -> CatalogSourceDTO {
        try actor.require(.operator)
        let name = input.name.trimmingCharacters(in: .whitespaces)
        let location = input.location.trimmingCharacters(in: .whitespaces)
        let branch = input.branch?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        guard ManifestParser.isPackageName(name) else {
            throw NebulaError.unprocessable("A source name is 2–63 lower-case letters, digits and '-' (got '\(name.prefix(80))').", code: "invalid_name")
        }
        guard name != CatalogPackage.builtInSource else {
            throw NebulaError.conflict("'\(name)' is the name of the shipped catalog; choose another.", code: "source_exists")
        }
        switch input.kind {
        case .folder:
            guard location.hasPrefix("/"), !location.contains("\0"), location.count <= 4096 else {
                throw NebulaError.unprocessable("A folder source needs an absolute path such as /srv/nebula-catalog.", code: "invalid_location")
            }
            guard branch == nil else {
                throw NebulaError.unprocessable("Only git sources have a branch.", code: "invalid_branch")
            }
        case .git:
            guard CatalogClone.isAcceptableURL(location) else {
                throw NebulaError.unprocessable("A git source needs an https://, ssh://, git://, file:// or user@host:path URL without a password in it (use a credential helper or a deploy key).", code: "invalid_location")
            }
            if let branch, !CatalogClone.isAcceptableBranch(branch) {
                throw NebulaError.unprocessable("'\(branch.prefix(80))' is not a branch or tag name.", code: "invalid_branch")
            }
        }
        let store = try store()
        if try await store.find(name: name) != nil {
            throw NebulaError.conflict("A catalog source named \(name) already exists.", code: "source_exists")
        }
        let row = CatalogSourceRow(id: UUID(), name: name, kind: input.kind, location: location, branch: branch,
                                   lastRefreshedAt: nil, lastError: nil, packageCount: 0, createdAt: Date())
        try await store.insert(row)
        let refreshed = try await load(row)
        try await audit.record("marketplace.source.add", target: "catalog:\(name)", outcome: .success, by: actor,
                               detail: "\(input.kind.rawValue) \(location)" + (refreshed.lastError.map { " — \($0.prefix(300))" } ?? ""))
        await events.publish(.marketplaceSourceAdded, actor: actor.username, subject: "catalog:\(name)",
                             data: ["id": row.id.uuidString, "packages": String(refreshed.packageCount)])
        return refreshed
    }

    /// Fetches a source again (git) or re-reads it (folder), and replaces its cached packages.
    func refreshSource(_ id: UUID, by actor: Actor) async throws -> CatalogSourceDTO {
        try actor.require(.operator)
        let row = try await row(id)
        let refreshed = try await load(row)
        try await audit.record("marketplace.source.refresh", target: "catalog:\(row.name)", outcome: refreshed.status == "ok" ? .success : .failure,
                               by: actor, detail: refreshed.lastError.map { String($0.prefix(300)) } ?? "\(refreshed.packageCount) packages")
        await events.publish(.marketplaceSourceRefreshed, actor: actor.username, subject: "catalog:\(row.name)",
                             data: ["id": id.uuidString, "packages": String(refreshed.packageCount), "status": refreshed.status])
        return refreshed
    }

    func removeSource(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let row = try await row(id)
        try await store().delete(id)
        await catalog.invalidate(id)
        if row.kind == .git {
            try? FileManager.default.removeItem(at: checkout(of: id))
        }
        try await audit.record("marketplace.source.remove", target: "catalog:\(row.name)", by: actor, detail: "\(row.kind.rawValue) \(row.location)")
        await events.publish(.marketplaceSourceRemoved, actor: actor.username, subject: "catalog:\(row.name)", data: ["id": id.uuidString])
    }

    // MARK: Loading

    /// Fetches (git), reads and checks a source, caches its packages and records the outcome.
    private func load(_ row: CatalogSourceRow) async throws -> CatalogSourceDTO {
        await catalog.invalidate(row.id)
        var fetchError: String?
        if row.kind == .git {
            do {
                try await git.fetch(url: row.location, branch: row.branch, into: checkout(of: row.id))
            } catch {
                fetchError = "\(error)"
            }
        }
        var load = CatalogLoad(packages: [], failures: [])
        var readError: String?
        let directory = directory(of: row)
        if fetchError == nil || FileManager.default.fileExists(atPath: directory.path) {
            do {
                load = try CatalogLoader.load(directory: directory)
            } catch {
                readError = row.kind == .folder ? "the folder \(row.location) does not exist or cannot be read" : "\(error)"
            }
        }
        // A package the shipped catalog already has keeps the shipped version.
        let builtInNames = Set(await catalog.builtInCatalog().packages.map(\.manifest.name))
        let shadowed = load.packages.filter { builtInNames.contains($0.manifest.name) }
        load.packages.removeAll { builtInNames.contains($0.manifest.name) }
        load.failures += shadowed.map { CatalogFailure(file: $0.file, problems: [ManifestProblem(path: "name", message: "\($0.manifest.name) is a built-in package; choose another name")]) }
        await catalog.store(load, for: row.id)
        let error = [fetchError, readError, load.failureSummary].compactMap { $0 }.joined(separator: "; ").nilIfEmpty
        try await store().recordRefresh(row.id, at: Date(), packageCount: load.packages.count, error: error.map { String($0.prefix(4000)) })
        return CatalogSourceDTO(try await self.row(row.id), failures: load.failures)
    }

    private func row(_ id: UUID) async throws -> CatalogSourceRow {
        guard let row = try await store().find(id) else { throw NebulaError.notFound("Catalog source \(id)") }
        return row
    }

    private func store() throws -> CatalogSourceStore {
        guard let sql = db as? any SQLDatabase else { throw NebulaError.misconfigured("the marketplace needs an SQL database") }
        return CatalogSourceStore(sql: sql)
    }

    private func checkout(of id: UUID) -> URL {
        checkoutsDirectory.appendingPathComponent(id.uuidString.lowercased(), isDirectory: true)
    }

    private func directory(of row: CatalogSourceRow) -> URL {
        row.kind == .git ? checkout(of: row.id) : URL(fileURLWithPath: row.location, isDirectory: true)
    }
}

private extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
