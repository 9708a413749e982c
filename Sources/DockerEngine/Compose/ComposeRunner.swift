import Foundation
import Logging

/// Runs Docker Compose for one project directory on this node: `up`, `down`, `pull`, `config`,
/// and lists the project's containers through the Engine API.
///
/// Every operation hands compose's output to `output`, line by line, as it comes (on a reading
/// thread, in order), and throws a ``ComposeError`` holding the last 50 lines when compose fails.
/// A cancelled task stops compose (and what it started). ``ChildProcess/lines(of:)`` turns any of
/// these calls into an `AsyncThrowingStream` of lines.
public protocol ComposeRunner: Sendable {
    /// Which compose this node has (found once, on first use).
    func tool() async throws(ComposeError) -> ComposeTool

    /// `up -d --remove-orphans`: creates and starts the project's containers; pulls first when `pull`.
    func up(project: String, directory: String, pull: Bool, timeout: Duration,
            output: @escaping @Sendable (String) -> Void) async throws(ComposeError) -> ComposeRun
    /// `down --remove-orphans -t stopTimeout`: stops (SIGTERM, SIGKILL after `stopTimeout`) and
    /// removes the containers and networks; named volumes too when `removeVolumes` (app data is lost).
    func down(project: String, directory: String, removeVolumes: Bool, stopTimeout: Duration, timeout: Duration,
              output: @escaping @Sendable (String) -> Void) async throws(ComposeError) -> ComposeRun
    /// `pull`: fetches the images of every service.
    func pull(project: String, directory: String, timeout: Duration,
              output: @escaping @Sendable (String) -> Void) async throws(ComposeError) -> ComposeRun
    /// Validates the compose file (with its `.env`); an invalid file is ``ComposeConfigCheck/invalid(_:)``
    /// with compose's explanation, not an error.
    func config(project: String, directory: String, timeout: Duration) async throws(ComposeError) -> ComposeConfigCheck

    /// The project's containers (running or not) with state and health, from the Engine API.
    func containers(project: String) async throws(DockerError) -> [ComposeContainer]
}

/// Which Docker Compose implementation runs the projects.
public struct ComposeTool: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The `docker compose` CLI plugin, or a standalone `docker-compose` program.
    public enum Kind: String, Sendable, Hashable, Codable {
        case plugin, standalone
    }

    public var kind: Kind
    /// Its version, e.g. `2.24.5` or `1.29.2`.
    public var version: String
    /// The program and the words before compose's own options: `[/usr/bin/docker, compose]` or `[/usr/bin/docker-compose]`.
    public var command: [String]

    public init(kind: Kind, version: String, command: [String]) {
        self.kind = kind
        self.version = version
        self.command = command
    }

    /// The major version (1 for the Python docker-compose, 2 for the Go rewrite).
    public var majorVersion: Int {
        Int(version.drop { !$0.isNumber }.prefix { $0.isNumber }) ?? 0
    }

    /// Compose v1 (Python) reads `.env` with python-dotenv; v2 with compose-go. They differ in quoting.
    public var isV1: Bool { majorVersion == 1 }

    public var description: String {
        kind == .plugin ? "docker compose \(version)" : "docker-compose \(version)"
    }
}

/// A finished, successful compose operation.
public struct ComposeRun: Sendable, Hashable {
    /// `up`, `down`, `pull`.
    public var operation: String
    public var project: String
    /// How long compose ran (for `up` with `pull`, both runs).
    public var duration: Duration
    /// Compose's last output lines.
    public var tail: [String]
}

/// What `config` found.
public enum ComposeConfigCheck: Sendable, Hashable {
    /// The file is valid; it defines these services. `warnings` are compose's (e.g. an unset variable).
    case valid(services: [String], warnings: [String])
    /// The file is invalid; compose's explanation.
    case invalid(String)

    public var isValid: Bool {
        if case .valid = self { return true }
        return false
    }
}

/// One container of a compose project.
public struct ComposeContainer: Sendable, Hashable, Codable {
    /// The service it runs (label `com.docker.compose.service`).
    public var service: String
    /// Its replica number (label `com.docker.compose.container-number`).
    public var number: Int?
    /// The Engine API's row: name, state, health, status text, ports.
    public var container: ContainerSummary

    public var state: ContainerState { container.state }
    public var health: ContainerHealth? { container.health }
}

/// File names inside a project directory.
public enum ComposeProject {
    /// The compose file names compose itself looks for, in its order; the first that exists is used.
    public static let composeFileNames = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
    /// The variables file read for `${VAR}` substitution in the compose file.
    public static let envFileName = ".env"
    /// The label compose puts on every container of a project.
    public static let projectLabel = "com.docker.compose.project"

    /// Whether `name` is a project name Nebula uses: `^[a-z0-9][a-z0-9_-]{0,62}$` (also a safe directory name).
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        guard alnum(bytes[0]) else { return false }
        return bytes.dropFirst().allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }
}

/// The ``ComposeRunner`` that runs the `docker compose` plugin or, without it, `docker-compose`.
///
/// Compose targets the engine at `endpoint` (`DOCKER_HOST`); it runs with a small clean environment
/// (see ``ChildProcess/baseEnvironment(from:)``) so the agent's own variables neither leak into the
/// containers nor override the project's `.env`.
public struct DefaultComposeRunner: ComposeRunner {
    /// The engine compose talks to.
    public let endpoint: DockerEndpoint
    private let docker: any DockerEngineClient
    private let environment: [String: String]
    private let detection = ComposeToolDetection()
    private let logger: Logger

    /// A runner for the engine at `endpoint`; `docker` lists containers (default: a client for the
    /// same endpoint); `environment` supplies `PATH` and `HOME` for finding and running compose.
    public init(endpoint: DockerEndpoint = .default, docker: (any DockerEngineClient)? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger = Logger(label: "nebula.compose")) {
        self.endpoint = endpoint
        self.docker = docker ?? DefaultDockerEngineClient(endpoint: endpoint)
        self.environment = environment
        self.logger = logger
    }

    /// A runner for `host` (`unix:///…` or `tcp://…`).
    public init(host: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(DockerError) {
        self.init(endpoint: try DockerEndpoint(parsing: host), environment: environment)
    }

    public func tool() async throws(ComposeError) -> ComposeTool {
        let environment = childEnvironment(v1: false)
        let result = await detection.tool { await Self.detect(environment: environment) }
        return try result.get()
    }

    public func up(project: String, directory: String, pull: Bool, timeout: Duration,
                   output: @escaping @Sendable (String) -> Void) async throws(ComposeError) -> ComposeRun {
        let started = ContinuousClock.now
        if pull {
            _ = try await run("pull", project: project, directory: directory, arguments: ["pull"], timeout: timeout, output: output)
        }
        let remaining = max(timeout - (.now - started), .seconds(1))
        var run = try await run("up", project: project, directory: directory, arguments: ["up", "-d", "--remove-orphans"],
                                timeout: remaining, output: output)
        run.duration = .now - started
        return run
    }

    public func down(project: String, directory: String, removeVolumes: Bool, stopTimeout: Duration, timeout: Duration,
                     output: @escaping @Sendable (String) -> Void) async throws(ComposeError) -> ComposeRun {
        var arguments = ["down", "--remove-orphans", "-t", String(max(stopTimeout.components.seconds, 0))]
        if removeVolumes { arguments.append("-v") }
        return try await run("down", project: project, directory: directory, arguments: arguments, timeout: timeout, output: output)
    }

    public func pull(project: String, directory: String, timeout: Duration,
                     output: @escaping @Sendable (String) -> Void) async throws(ComposeError) -> ComposeRun {
        try await run("pull", project: project, directory: directory, arguments: ["pull"], timeout: timeout, output: output)
    }

    public func config(project: String, directory: String, timeout: Duration) async throws(ComposeError) -> ComposeConfigCheck {
        do {
            let run = try await run("config", project: project, directory: directory, arguments: ["config", "--services"],
                                    timeout: timeout, tailLimit: 1000, output: { _ in })
            // Output and errors share one pipe: service names are single words, the rest is compose talking.
            var services: [String] = []
            var warnings: [String] = []
            for line in run.tail where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                if line.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) {
                    services.append(line)
                } else {
                    warnings.append(line)
                }
            }
            return .valid(services: services, warnings: warnings)
        } catch where error.code == .failed {
            return .invalid(error.output.joined(separator: "\n"))
        }
    }

    public func containers(project: String) async throws(DockerError) -> [ComposeContainer] {
        let rows = try await docker.containers(all: true, labels: [ComposeProject.projectLabel: project])
        return rows.map { row in
            ComposeContainer(service: row.labels["com.docker.compose.service"] ?? row.name,
                             number: row.labels["com.docker.compose.container-number"].flatMap { Int($0) },
                             container: row)
        }
        .sorted { ($0.service, $0.number ?? 0) < ($1.service, $1.number ?? 0) }
    }

    // MARK: - Running compose

    private func run(_ operation: String, project: String, directory: String, arguments: [String], timeout: Duration,
                     tailLimit: Int = 50, output: @escaping @Sendable (String) -> Void) async throws(ComposeError) -> ComposeRun {
        guard ComposeProject.isValidName(project) else { throw .invalidProjectName(project) }
        let subject = "\(operation) \(project)"
        guard directory.hasPrefix("/") else {
            throw ComposeError(code: .missingComposeFile, detail: project, message: "the project directory '\(directory)' is not an absolute path")
        }
        let directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        guard let file = ComposeProject.composeFileNames.lazy.map({ "\(directory)/\($0)" }).first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw ComposeError(code: .missingComposeFile, detail: project, message: "no docker-compose.yml in \(directory)")
        }
        let tool = try await tool()
        // Global options before the command; each word its own argument. The env file is given
        // explicitly (both v1 and v2 accept --env-file) so it never depends on the working directory.
        var argv = Array(tool.command.dropFirst())
        argv += ["--ansi", "never", "-p", project, "-f", file, "--project-directory", directory]
        let envFile = "\(directory)/\(ComposeProject.envFileName)"
        if FileManager.default.fileExists(atPath: envFile) { argv += ["--env-file", envFile] }
        argv += arguments

        var child = ChildProcess(executable: tool.command[0], arguments: argv, environment: childEnvironment(v1: tool.isV1), timeout: timeout)
        child.tailLimit = tailLimit
        logger.debug("compose \(operation)", metadata: ["project": "\(project)", "tool": "\(tool)"])
        let outcome: ChildProcess.Outcome
        do {
            outcome = try await child.run(output: output)
        } catch {
            throw ComposeError(code: .launchFailed, detail: subject, message: error.reason)
        }
        if outcome.cancelled {
            throw ComposeError(code: .cancelled, detail: subject, output: outcome.tail)
        }
        if outcome.timedOut {
            throw ComposeError(code: .timedOut, detail: subject, message: "limit \(timeout)", output: outcome.tail)
        }
        guard outcome.succeeded else {
            throw ComposeError(code: .failed, detail: subject, exitStatus: outcome.status, output: outcome.tail)
        }
        return ComposeRun(operation: operation, project: project, duration: outcome.duration, tail: outcome.tail)
    }

    private func childEnvironment(v1: Bool) -> [String: String] {
        var result = ChildProcess.baseEnvironment(from: environment)
        result["DOCKER_HOST"] = endpoint.description
        // Python block-buffers a pipe: without this, v1's lines would arrive in bursts.
        if v1 { result["PYTHONUNBUFFERED"] = "1" }
        return result
    }

    /// The plugin when `docker compose version` answers, else a standalone `docker-compose`.
    static func detect(environment: [String: String]) async -> Result<ComposeTool, ComposeError> {
        let path = environment["PATH"]
        var tried: [String] = []
        if let docker = ChildProcess.find("docker", path: path) {
            if let version = await version(docker, ["compose", "version", "--short"], environment) {
                return .success(ComposeTool(kind: .plugin, version: version, command: [docker, "compose"]))
            }
            tried.append("`docker compose version` failed (no compose plugin)")
        } else {
            tried.append("no `docker` on PATH")
        }
        if let standalone = ChildProcess.find("docker-compose", path: path) {
            if let version = await version(standalone, ["version", "--short"], environment) {
                return .success(ComposeTool(kind: .standalone, version: version, command: [standalone]))
            }
            tried.append("`\(standalone) version` failed")
        } else {
            tried.append("no `docker-compose` on PATH")
        }
        return .failure(.notInstalled(tried.joined(separator: "; ")))
    }

    private static func version(_ executable: String, _ arguments: [String], _ environment: [String: String]) async -> String? {
        let child = ChildProcess(executable: executable, arguments: arguments, environment: environment, timeout: .seconds(20))
        guard let outcome = try? await child.run(), outcome.succeeded else { return nil }
        // `--short` prints just the version (v2 may prefix a `v`); take the last line that has a digit.
        guard let line = outcome.tail.last(where: { $0.contains { $0.isNumber } }) else { return nil }
        let word = line.split(separator: " ").last.map(String.init) ?? line
        return word.hasPrefix("v") ? String(word.dropFirst()) : word
    }
}

/// Finds the compose tool once per runner (and its copies); a failure is not remembered, so
/// compose installed later is found on the next call.
actor ComposeToolDetection {
    private var found: ComposeTool?
    private var pending: Task<Result<ComposeTool, ComposeError>, Never>?

    func tool(_ detect: @escaping @Sendable () async -> Result<ComposeTool, ComposeError>) async -> Result<ComposeTool, ComposeError> {
        if let found { return .success(found) }
        if let pending { return await pending.value }
        let task = Task { await detect() }
        pending = task
        let result = await task.value
        pending = nil
        if case .success(let tool) = result { found = tool }
        return result
    }
}

extension ChildProcess {
    /// Runs `operation` (any call that takes an `output` callback, such as ``ComposeRunner/up(project:directory:pull:timeout:output:)``)
    /// and returns its output as a stream of lines that finishes when it succeeds and throws its error
    /// when it fails. Dropping or cancelling the stream cancels the operation.
    public static func lines<T: Sendable>(
        of operation: @escaping @Sendable (_ output: @escaping @Sendable (String) -> Void) async throws -> T
    ) -> AsyncThrowingStream<String, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    _ = try await operation { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
