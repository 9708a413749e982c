import DockerEngine
import Foundation

/// One step of installing, upgrading or removing an app (a Compose project) on a node, as the
/// control plane asks for it. Handled by ``NodeApps`` on the node (in-process for the control
/// plane's own machine, over the agent's WebSocket for the others).
public enum AppCall: Codable, Sendable, Equatable {
    /// The TCP and UDP ports something on the node listens on.
    case listeningPorts
    /// Writes the project's `docker-compose.yml` and `.env` into the node's apps directory and
    /// runs `compose up -d` (pulling first when `pull`).
    case up(project: String, compose: String, environment: [String: String], pull: Bool, timeoutSeconds: Int)
    /// One round of the app's health checks, run on the node against 127.0.0.1.
    case probe(checks: [HealthCheck])
    /// The project's containers with state and health.
    case status(project: String)
    /// The last `tail` lines of every container of the project.
    case logs(project: String, tail: Int)
    /// `compose down`; with `removeData` also its named volumes and its folder (relative data).
    case down(project: String, removeData: Bool, timeoutSeconds: Int)
    /// Runs a command in the running container of `service` (a post-install hook).
    case exec(project: String, service: String, command: [String], timeoutSeconds: Int)

    /// What the job log calls it.
    public var name: String {
        switch self {
        case .listeningPorts: "listening ports"
        case .up(let project, _, _, _, _): "compose up \(project)"
        case .probe: "health check"
        case .status(let project): "status of \(project)"
        case .logs(let project, _): "logs of \(project)"
        case .down(let project, _, _): "compose down \(project)"
        case .exec(let project, let service, _, _): "command in \(project)/\(service)"
        }
    }

    /// How long the control plane waits for the node's answer.
    public var timeout: Duration {
        switch self {
        case .up(_, _, _, _, let seconds), .down(_, _, let seconds), .exec(_, _, _, let seconds): .seconds(max(30, seconds) + 15)
        case .probe: .seconds(30)
        default: .seconds(30)
        }
    }
}

/// What an ``AppCall`` produced.
public struct AppResult: Codable, Sendable, Equatable {
    /// Whether the step succeeded; `message` says why not.
    public var ok: Bool
    public var message: String
    /// Compose's output (the last lines), for the job log.
    public var output: [String]
    public var ports: [ListeningPort]?
    /// For `probe`: one failure reason per failing check (empty when all pass).
    public var failures: [String]?
    public var containers: [ComposeContainer]?
    public var logs: [AppLogLine]?

    public init(ok: Bool, message: String = "", output: [String] = [], ports: [ListeningPort]? = nil, failures: [String]? = nil,
                containers: [ComposeContainer]? = nil, logs: [AppLogLine]? = nil) {
        self.ok = ok
        self.message = message
        self.output = output
        self.ports = ports
        self.failures = failures
        self.containers = containers
        self.logs = logs
    }
}

/// A log line of one container of an app.
public struct AppLogLine: Codable, Sendable, Equatable {
    public var container: String
    public var line: LogLine

    public init(container: String, line: LogLine) {
        self.container = container
        self.line = line
    }
}
