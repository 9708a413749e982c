import Foundation

/// Why a Docker Compose operation failed. Each case says what went wrong and what the user can do.
///
/// `code` is stable (snake_case raw values suit API responses and job logs); `detail` names the
/// project or operation; `message` is the one-line reason; `output` holds compose's last output
/// lines (at most 50), which usually say exactly what failed (a missing image, a port in use).
public struct ComposeError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, Codable, CaseIterable {
        /// Neither the `docker compose` plugin nor a standalone `docker-compose` is installed.
        case notInstalled = "not_installed"
        /// The project name is not `^[a-z0-9][a-z0-9_-]{0,62}$`.
        case invalidProjectName = "invalid_project_name"
        /// The project directory or its `docker-compose.yml` does not exist.
        case missingComposeFile = "missing_compose_file"
        /// The compose program could not be started (permissions, a broken installation).
        case launchFailed = "launch_failed"
        /// Compose ran and exited with a non-zero status; `output` says why.
        case failed
        /// Compose ran longer than the operation's timeout and was stopped.
        case timedOut = "timed_out"
        /// The job that ran compose was cancelled, and compose was stopped.
        case cancelled
    }

    /// What kind of failure this is.
    public var code: Code
    /// The project, or the operation (`up app-1`), concerned.
    public var detail: String
    /// A short reason, when there is one beyond the output.
    public var message: String?
    /// Compose's exit status, for ``Code/failed``.
    public var exitStatus: Int32?
    /// Compose's last output lines (oldest first).
    public var output: [String]

    /// A failure of kind `code` about `detail`.
    public init(code: Code, detail: String, message: String? = nil, exitStatus: Int32? = nil, output: [String] = []) {
        self.code = code
        self.detail = detail
        self.message = message
        self.exitStatus = exitStatus
        self.output = output
    }

    /// No compose implementation on this node.
    public static func notInstalled(_ message: String) -> Self { .init(code: .notInstalled, detail: "docker compose", message: message) }
    /// The name cannot be a compose project name.
    public static func invalidProjectName(_ name: String) -> Self { .init(code: .invalidProjectName, detail: name) }

    /// One paragraph: what failed, why, what to do, then the last output lines.
    public var description: String {
        let why = message.map { ": \($0)" } ?? ""
        let sentence: String
        switch code {
        case .notInstalled:
            sentence = "Docker Compose is not installed on this node\(why). Install the compose plugin (apt-get install docker-compose-plugin) or the standalone docker-compose."
        case .invalidProjectName:
            sentence = "'\(detail)' is not a valid project name. Use 1 to 63 lower-case letters, digits, '-' or '_', starting with a letter or digit."
        case .missingComposeFile:
            sentence = "No compose file for \(detail)\(why). Write the app's files (AppDirectory) before running compose."
        case .launchFailed:
            sentence = "Docker Compose could not be started for \(detail)\(why). Check the installation and that the agent may execute it."
        case .failed:
            let status = exitStatus.map { " with status \($0)" } ?? ""
            sentence = "docker compose \(detail) failed\(status)\(why). The output below says why; fix the compose file or the node (image, port, disk) and retry."
        case .timedOut:
            sentence = "docker compose \(detail) did not finish in time\(why) and was stopped. Check the output below (a slow pull, a container that ignores SIGTERM) and retry with a longer timeout."
        case .cancelled:
            sentence = "docker compose \(detail) was cancelled and stopped\(why). The project may be half up; run it again or take it down."
        }
        guard !output.isEmpty else { return sentence }
        return sentence + "\n" + output.joined(separator: "\n")
    }
}
