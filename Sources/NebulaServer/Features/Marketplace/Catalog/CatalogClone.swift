import Foundation
import NebulaAgent

/// Fetches a git catalog with the `git` program: a shallow clone into a fresh folder that then
/// replaces the previous checkout, so a failed refresh leaves the last good one in place.
/// Arguments go to git directly (no shell), the URL after `--`, prompts are off, and the whole
/// clone has a deadline.
struct CatalogClone: Sendable {
    var timeout: Duration = .seconds(120)

    /// Why a clone failed, in git's words.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func fetch(url: String, branch: String?, into destination: URL) async throws {
        let parent = destination.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let staging = parent.appendingPathComponent(".\(destination.lastPathComponent)-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: staging) }
        // GIT_TERMINAL_PROMPT=0: a repository that wants a password fails at once instead of
        // waiting on a terminal nobody watches. ext:: transports (which run commands) stay off.
        var arguments = ["GIT_TERMINAL_PROMPT=0", "git", "-c", "protocol.ext.allow=never", "clone", "--quiet", "--depth", "1", "--single-branch"]
        if let branch { arguments += ["--branch", branch] }
        arguments += ["--", url, staging.path]
        let result: CommandRunner.Result
        do {
            result = try await CommandRunner.run(arguments, timeout: timeout)
        } catch {
            throw Failure(description: "git could not run: \(error)")
        }
        guard result.status == 0 else {
            let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "git clone failed (exit \(result.status))" + (output.isEmpty ? "" : ": \(output.suffix(500))"))
        }
        if FileManager.default.fileExists(atPath: destination.path) {
            try FileManager.default.removeItem(at: destination)
        }
        try FileManager.default.moveItem(at: staging, to: destination)
    }

    /// Whether `url` is a git URL this control plane clones: https, http, ssh, git or file URLs,
    /// or scp-like `user@host:path`. Never an option (`-…`), never a password in the URL.
    static func isAcceptableURL(_ url: String) -> Bool {
        guard !url.hasPrefix("-"), !url.contains(where: { $0.isWhitespace || $0.isNewline }), url.count <= 2048 else { return false }
        if let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
           ["https", "http", "ssh", "git", "file"].contains(scheme) {
            guard components.password == nil else { return false }
            return scheme == "file" ? !components.path.isEmpty : !(components.host ?? "").isEmpty
        }
        // scp-like syntax: git@github.com:me/catalog.git
        let parts = url.split(separator: ":", maxSplits: 1)
        return parts.count == 2 && parts[0].contains("@") && !parts[0].contains("/") && !parts[1].isEmpty
    }

    /// Whether `branch` is a plain branch or tag name.
    static func isAcceptableBranch(_ branch: String) -> Bool {
        !branch.isEmpty && branch.count <= 200 && !branch.hasPrefix("-") && !branch.contains("..")
            && branch.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._/-".contains($0)) }
    }
}
