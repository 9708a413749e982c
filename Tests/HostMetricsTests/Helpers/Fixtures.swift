import Foundation
@testable import HostMetrics

/// Why a test helper could not prepare its input.
struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// The files in `Tests/HostMetricsTests/Fixtures`, copied into the test bundle.
enum Fixture {
    /// The `Fixtures` folder inside the test bundle.
    static func directory() throws -> URL {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw FixtureError(description: "the Fixtures folder is missing from the test bundle")
        }
        return url
    }

    /// The text of a fixture file, e.g. `text("host-a/proc/stat")`.
    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: directory().appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// The fake root of host A at its first sample (`host-a/proc/…`, `host-a/sys/…`, `host-a/etc/…`).
    static func hostA() throws -> String {
        try directory().appendingPathComponent("host-a").path
    }

    /// The files of host A that change by its second sample, five seconds later.
    static func hostALater() throws -> URL {
        try directory().appendingPathComponent("host-a-later")
    }
}

/// A directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("hostmetrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// A writable copy of host A's fake root, so a test can change files between two samples.
    static func copyOfHostA() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        let source = URL(fileURLWithPath: try Fixture.hostA())
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: directory.url.appendingPathComponent(name))
        }
        return directory
    }

    /// Copies every file of `source` over this directory, keeping its relative path.
    func overlay(_ source: URL) throws {
        let manager = FileManager.default
        guard let files = manager.enumerator(at: source, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw FixtureError(description: "cannot list \(source.path)")
        }
        let base = source.standardizedFileURL.path
        for case let file as URL in files where (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            let relative = String(file.standardizedFileURL.path.dropFirst(base.count + 1))
            let target = url.appendingPathComponent(relative)
            try manager.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            if manager.fileExists(atPath: target.path) { try manager.removeItem(at: target) }
            try manager.copyItem(at: file, to: target)
        }
    }

    /// Writes `text` to `relativePath`, creating folders on the way.
    func write(_ text: String, to relativePath: String) throws {
        let target = url.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: target, atomically: true, encoding: .utf8)
    }

    /// Writes an executable shell script to `name` in this directory and returns its path.
    @discardableResult
    func script(_ name: String, _ body: String) throws -> String {
        let target = url.appendingPathComponent(name)
        try ("#!/bin/sh\n" + body + "\n").write(to: target, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target.path)
        return target.path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// True when `a` and `b` differ by at most `tolerance` (for values computed through division).
func isClose(_ a: Double, _ b: Double, tolerance: Double = 1e-9) -> Bool {
    abs(a - b) <= tolerance
}
