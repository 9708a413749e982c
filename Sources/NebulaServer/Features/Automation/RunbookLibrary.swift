import Foundation

/// The runbooks shipped in `Resources/Runbooks` (YAML), read once at start-up. A file that does
/// not parse is left out and reported in `problems` (a test checks there are none).
struct RunbookLibrary: Sendable {
    struct Entry: Sendable {
        var file: String
        var yaml: String
        var document: RunbookDocument
    }

    let entries: [Entry]
    let problems: [String]

    static var builtInDirectory: URL? {
        Bundle.module.resourceURL?.appendingPathComponent("Runbooks")
    }

    static func load(from directory: URL? = RunbookLibrary.builtInDirectory) -> RunbookLibrary {
        guard let directory, let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else {
            return RunbookLibrary(entries: [], problems: ["the runbook library folder is missing"])
        }
        var entries: [Entry] = []
        var problems: [String] = []
        for file in files.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(file).path) else { continue }
            let yaml = String(decoding: data, as: UTF8.self)
            switch RunbookParser.check(yaml: yaml) {
            case .success(let document): entries.append(Entry(file: file, yaml: yaml, document: document))
            case .failure(let found): problems.append("\(file): \(found.description)")
            }
        }
        return RunbookLibrary(entries: entries, problems: problems)
    }
}
