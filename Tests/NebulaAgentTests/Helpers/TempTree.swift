import Foundation
@testable import NebulaAgent
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the system temporary directory for one test, addressed by relative
/// paths. ``withTempTree(_:)`` removes it afterwards (restoring permissions first).
struct TempTree: Sendable {
    /// The tree's real path (symlinks in the temporary directory resolved).
    let base: String

    init() throws {
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-files-tests-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: raw, withIntermediateDirectories: true)
        base = try Posix.realPath(raw)
    }

    func path(_ relative: String) -> String { relative.isEmpty ? base : base + "/" + relative }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(relative)))
    }

    /// A symbolic link at `relative` whose target text is exactly `target`.
    func symlink(_ relative: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path(relative), withDestinationPath: target)
    }

    func text(_ relative: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: path(relative)))).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether anything (even a dangling link) is at `relative`; does not follow links.
    func exists(_ relative: String) -> Bool {
        (try? Posix.statPath(path(relative))) != nil
    }

    func isSymlink(_ relative: String) -> Bool {
        (try? Posix.statPath(path(relative)))?.kind == .symlink
    }

    func names(_ relative: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []).sorted()
    }

    func chmod(_ relative: String, _ mode: Int) {
        #if canImport(Glibc)
        _ = Glibc.chmod(path(relative), mode_t(mode))
        #else
        _ = Darwin.chmod(path(relative), mode_t(mode))
        #endif
    }

    func remove() {
        // Give back any permissions a test took away, without following links out of the tree.
        if let walker = FileManager.default.enumerator(atPath: base) {
            for case let relative as String in walker where !isSymlink(relative) {
                chmod(relative, 0o755)
            }
        }
        try? FileManager.default.removeItem(atPath: base)
    }
}

/// Runs `body` with a fresh ``TempTree`` and removes it afterwards.
func withTempTree<T>(_ body: (TempTree) async throws -> T) async throws -> T {
    let tree = try TempTree()
    defer { tree.remove() }
    return try await body(tree)
}

/// The ``FileAccessError`` `body` throws, or `nil` when it succeeds. Any other error is a test failure.
func failure<T>(_ body: () async throws -> T, sourceLocation: SourceLocation = #_sourceLocation) async -> FileAccessError? {
    do {
        _ = try await body()
        return nil
    } catch let error as FileAccessError {
        return error
    } catch {
        Issue.record("expected a FileAccessError, got \(error)", sourceLocation: sourceLocation)
        return FileAccessError(code: .ioError, path: "", description: "unexpected \(error)")
    }
}

extension FileAccess {
    /// A `FileAccess` over `relativeRoots` of `tree` (created if missing).
    static func over(_ tree: TempTree, roots relativeRoots: [String] = ["srv"], maxUploadBytes: Int64 = defaultMaxUploadBytes,
                     maxListEntries: Int = defaultMaxListEntries, uploadIdleTimeout: Duration = .seconds(900),
                     beforeOpen: (@Sendable () -> Void)? = nil) throws -> FileAccess {
        for root in relativeRoots { try tree.mkdir(root) }
        let roots = try FileRoots(relativeRoots.map(tree.path))
        return FileAccess(roots: roots, maxUploadBytes: maxUploadBytes, maxListEntries: maxListEntries,
                          uploadIdleTimeout: uploadIdleTimeout, beforeOpen: beforeOpen)
    }
}

/// Shorthand for a path in root 0.
func p(_ path: String, root: Int = 0) -> ClientPath { ClientPath(root: root, path: path) }
