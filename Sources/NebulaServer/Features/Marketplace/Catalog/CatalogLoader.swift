import Foundation

/// A manifest file that was skipped, and every reason.
public struct CatalogFailure: Codable, Sendable, Equatable {
    /// The file name inside its catalog folder.
    public var file: String
    public var problems: [ManifestProblem]
}

/// What one catalog folder held: the valid packages (with their files) and the skipped files.
public struct CatalogLoad: Sendable {
    public var packages: [(file: String, manifest: AppManifest)]
    public var failures: [CatalogFailure]

    /// One line per skipped file, for a source's `last_error`; nil when nothing was skipped.
    public var failureSummary: String? {
        guard !failures.isEmpty else { return nil }
        let lines = failures.map { failure in
            "\(failure.file): " + failure.problems.prefix(5).map(\.description).joined(separator: "; ")
                + (failure.problems.count > 5 ? "; … \(failure.problems.count - 5) more" : "")
        }
        return "\(failures.count) manifest\(failures.count == 1 ? "" : "s") skipped — " + lines.joined(separator: " | ")
    }
}

/// The checks of one manifest file, for `nebula marketplace validate`.
public struct ManifestFileReport: Sendable {
    public var file: String
    /// The package name when the manifest is valid.
    public var packageName: String?
    public var problems: [ManifestProblem]
}

/// Reads catalog folders: every `*.yaml` / `*.yml` file at the top of a folder is one manifest.
public enum CatalogLoader {
    /// A manifest larger than this is refused rather than parsed (the biggest shipped one is ~4 KiB).
    static let maxManifestBytes = 256 << 10

    /// The catalog shipped inside the binary's resources.
    public static var builtInDirectory: URL? {
        Bundle.module.resourceURL?.appendingPathComponent("Catalog")
    }

    /// The manifest files of a folder, sorted by name, or the file itself when `url` is one.
    public static func manifestFiles(at url: URL) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CatalogError.missing(url.path)
        }
        guard isDirectory.boolValue else { return [url] }
        return try FileManager.default.contentsOfDirectory(atPath: url.path)
            .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
            .sorted()
            .map { url.appendingPathComponent($0) }
    }

    /// Loads a catalog folder. Invalid manifests, unreadable files and repeated package names are
    /// failures of their file; they never stop the others from loading.
    public static func load(directory: URL) throws -> CatalogLoad {
        var load = CatalogLoad(packages: [], failures: [])
        var names: [String: String] = [:]
        for file in try manifestFiles(at: directory) {
            let manifest: AppManifest
            switch parse(file: file) {
            case .success(let parsed): manifest = parsed
            case .failure(let problems):
                load.failures.append(CatalogFailure(file: file.lastPathComponent, problems: problems.problems))
                continue
            }
            if let first = names[manifest.name] {
                load.failures.append(CatalogFailure(file: file.lastPathComponent, problems: [ManifestProblem(path: "name", message: "\(manifest.name) is already defined by \(first)")]))
                continue
            }
            names[manifest.name] = file.lastPathComponent
            load.packages.append((file.lastPathComponent, manifest))
        }
        return load
    }

    /// Checks every manifest under `path` (a folder or one file).
    public static func check(path: String) throws -> [ManifestFileReport] {
        try manifestFiles(at: URL(fileURLWithPath: path)).map(check(file:))
    }

    static func check(file: URL) -> ManifestFileReport {
        switch parse(file: file) {
        case .success(let manifest):
            return ManifestFileReport(file: file.lastPathComponent, packageName: manifest.name, problems: [])
        case .failure(let problems):
            return ManifestFileReport(file: file.lastPathComponent, packageName: nil, problems: problems.problems)
        }
    }

    static func parse(file: URL) -> Result<AppManifest, ManifestProblems> {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            return .failure(ManifestProblems([ManifestProblem(path: "", message: "cannot be read: \(error.localizedDescription)")]))
        }
        guard data.count <= maxManifestBytes else {
            return .failure(ManifestProblems([ManifestProblem(path: "", message: "is larger than \(maxManifestBytes >> 10) KiB")]))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(ManifestProblems([ManifestProblem(path: "", message: "is not UTF-8 text")]))
        }
        return ManifestParser.check(yaml: text)
    }
}

/// Why a catalog folder could not be read at all.
public enum CatalogError: Error, CustomStringConvertible {
    case missing(String)

    public var description: String {
        switch self {
        case .missing(let path): "\(path) does not exist"
        }
    }
}
