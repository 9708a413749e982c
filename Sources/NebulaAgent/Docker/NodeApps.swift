import DockerEngine
import Foundation
import Synchronization

/// Carries out ``AppCall``s on this node: writes an app's files under the apps directory, runs
/// Docker Compose, probes health on 127.0.0.1 and reports the listening ports. The agent uses it
/// for requests over its WebSocket; the control plane in-process for its own machine.
public struct NodeApps: Sendable {
    /// `NEBULA_APPS_DIR` (default `/var/lib/nebula/apps` for the agent).
    public let appsRoot: String
    public let compose: any ComposeRunner
    public let engine: any DockerEngineClient
    public let probe: HealthProbe

    public init(appsRoot: String, compose: any ComposeRunner, engine: any DockerEngineClient, probe: HealthProbe = HealthProbe()) {
        self.appsRoot = appsRoot
        self.compose = compose
        self.engine = engine
        self.probe = probe
    }

    /// The engine and compose of `endpoint`, apps under `appsRoot`.
    public init(appsRoot: String, endpoint: DockerEndpoint) {
        let engine = DefaultDockerEngineClient(endpoint: endpoint)
        self.init(appsRoot: appsRoot, compose: DefaultComposeRunner(endpoint: endpoint, docker: engine), engine: engine)
    }

    /// `DOCKER_HOST` and `NEBULA_APPS_DIR` from `environment`.
    public static func fromEnvironment(_ environment: [String: String]) -> NodeApps {
        let endpoint = (try? DockerEndpoint.fromEnvironment(environment)) ?? .default
        let root = environment["NEBULA_APPS_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/nebula/apps"
        return NodeApps(appsRoot: root, endpoint: endpoint)
    }

    /// Runs `call`; every failure is the result's `message`, never a thrown error.
    public func perform(_ call: AppCall) async -> AppResult {
        switch call {
        case .listeningPorts:
            do {
                return AppResult(ok: true, ports: try ListeningPorts.current().sorted())
            } catch {
                return AppResult(ok: false, message: error.description)
            }
        case .up(let project, let text, let environment, let pull, let seconds):
            let output = OutputTail()
            do {
                let tool = try await compose.tool()
                let directory = try AppDirectory(appsRoot: appsRoot)
                let files = try directory.write(project: project, compose: text, environment: environment, dialect: EnvFileDialect(tool))
                let run = try await compose.up(project: project, directory: files.directory, pull: pull, timeout: .seconds(max(30, seconds))) { output.add($0) }
                return AppResult(ok: true, message: "\(project) is up", output: run.tail.isEmpty ? output.lines : run.tail)
            } catch let error as ComposeError {
                return AppResult(ok: false, message: error.description, output: error.output.isEmpty ? output.lines : error.output)
            } catch {
                return AppResult(ok: false, message: String(describing: error), output: output.lines)
            }
        case .probe(let checks):
            var failures: [String] = []
            for check in checks {
                if let reason = await probe.probe(check) { failures.append("\(check): \(reason)") }
            }
            return AppResult(ok: failures.isEmpty, message: failures.joined(separator: "; "), failures: failures)
        case .status(let project):
            do {
                return AppResult(ok: true, containers: try await compose.containers(project: project))
            } catch {
                return AppResult(ok: false, message: error.description)
            }
        case .logs(let project, let tail):
            do {
                var lines: [AppLogLine] = []
                for member in try await compose.containers(project: project) {
                    for try await line in engine.logs(member.container.id, follow: false, tail: max(1, min(tail, 5000)), since: nil, timestamps: false) {
                        lines.append(AppLogLine(container: member.container.name, line: line))
                    }
                }
                return AppResult(ok: true, logs: lines)
            } catch {
                return AppResult(ok: false, message: String(describing: error))
            }
        case .exec(let project, let service, let command, let seconds):
            do {
                guard let member = try await compose.containers(project: project).first(where: { $0.service == service && $0.state == .running }) else {
                    return AppResult(ok: false, message: "no running container of the service '\(service)' in \(project)")
                }
                let result = try await engine.exec(member.container.id, command: command, timeout: .seconds(max(1, seconds)))
                let lines = result.output.map { ($0.stream == .stderr ? "! " : "") + $0.text }
                return AppResult(ok: result.exitCode == 0, message: result.exitCode == 0 ? "done" : "exited with status \(result.exitCode)",
                                 output: Array(lines.suffix(OutputTail.limit)))
            } catch {
                return AppResult(ok: false, message: error.description)
            }
        case .down(let project, let removeData, let seconds):
            let output = OutputTail()
            do {
                let directory = try AppDirectory(appsRoot: appsRoot)
                let folder = try directory.directory(for: project)
                var run: ComposeRun?
                if FileManager.default.fileExists(atPath: folder + "/" + AppDirectory.composeFileName) {
                    run = try await compose.down(project: project, directory: folder, removeVolumes: removeData, stopTimeout: .seconds(5),
                                                 timeout: .seconds(max(30, seconds))) { output.add($0) }
                }
                if removeData { try directory.remove(project: project) }
                return AppResult(ok: true, message: removeData ? "\(project) and its data are removed" : "\(project) is removed; its data is kept in \(folder)",
                                 output: run?.tail ?? output.lines)
            } catch let error as ComposeError {
                return AppResult(ok: false, message: error.description, output: error.output.isEmpty ? output.lines : error.output)
            } catch {
                return AppResult(ok: false, message: String(describing: error), output: output.lines)
            }
        }
    }
}

/// The last lines of a program's output, gathered from the thread that reads it.
final class OutputTail: Sendable {
    private let buffer = Mutex<[String]>([])
    static let limit = 200

    func add(_ line: String) {
        buffer.withLock { lines in
            lines.append(line)
            if lines.count > Self.limit { lines.removeFirst(lines.count - Self.limit) }
        }
    }

    var lines: [String] { buffer.withLock { $0 } }
}
