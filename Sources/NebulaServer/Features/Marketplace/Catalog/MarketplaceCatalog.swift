import Foundation

/// The parsed catalogs, kept in memory: the built-in one is read once per process, a source's
/// until it is refreshed or removed. Parsing ~50 manifests costs tens of milliseconds, far too
/// much for every page view.
actor MarketplaceCatalog {
    private let builtInDirectory: URL?
    private var builtIn: CatalogLoad?
    private var sources: [UUID: CatalogLoad] = [:]

    init(builtInDirectory: URL?) {
        self.builtInDirectory = builtInDirectory
    }

    /// The shipped catalog; empty (with a failure) when the resource folder is missing.
    func builtInCatalog() -> CatalogLoad {
        if let builtIn { return builtIn }
        let load: CatalogLoad
        if let builtInDirectory {
            do {
                load = try CatalogLoader.load(directory: builtInDirectory)
            } catch {
                load = CatalogLoad(packages: [], failures: [CatalogFailure(file: builtInDirectory.path, problems: [ManifestProblem(path: "", message: "\(error)")])])
            }
        } else {
            load = CatalogLoad(packages: [], failures: [CatalogFailure(file: "Catalog", problems: [ManifestProblem(path: "", message: "the built-in catalog is missing from this build")])])
        }
        builtIn = load
        return load
    }

    /// A source's catalog: the cached one, or read now from `directory` (after a restart the
    /// checkout or folder is still there; nothing is fetched here).
    func catalog(of source: UUID, directory: URL) -> CatalogLoad {
        if let cached = sources[source] { return cached }
        let load = (try? CatalogLoader.load(directory: directory)) ?? CatalogLoad(packages: [], failures: [])
        sources[source] = load
        return load
    }

    /// What this process last loaded for `source`, if anything.
    func cached(_ source: UUID) -> CatalogLoad? { sources[source] }

    func store(_ load: CatalogLoad, for source: UUID) {
        sources[source] = load
    }

    func invalidate(_ source: UUID) {
        sources[source] = nil
    }
}
