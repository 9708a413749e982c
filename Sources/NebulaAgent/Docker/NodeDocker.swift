import DockerEngine
import Foundation
import Synchronization

/// Carries out ``DockerCall``s and ``DockerStreamCall``s on this node's Docker Engine. The agent
/// uses it for requests that arrive over its WebSocket; the control plane uses the same value
/// in-process for its own machine.
public struct NodeDocker: Sendable {
    public let engine: any DockerEngineClient
    /// The apps directory deploy checkouts go into (`NEBULA_APPS_DIR`, the same as ``NodeApps``'s);
    /// without it (and a builder) this node refuses deploy builds.
    public let appsRoot: String?
    /// Builds deploy images on this node's engine.
    public let builder: (any ImageBuilder)?
    /// Log lines are sent in batches: at most this many lines …
    static let batchLines = 500
    /// … or this many bytes of text, or whatever arrived within ``batchDelay``.
    static let batchBytes = 64 << 10
    static let batchDelay: Duration = .milliseconds(50)

    public init(engine: any DockerEngineClient, appsRoot: String? = nil, builder: (any ImageBuilder)? = nil) {
        self.engine = engine
        self.appsRoot = appsRoot
        self.builder = builder
    }

    /// The engine at `endpoint`, deploy builds on it with checkouts under `appsRoot`.
    public init(endpoint: DockerEndpoint, appsRoot: String) {
        self.init(engine: DefaultDockerEngineClient(endpoint: endpoint), appsRoot: appsRoot, builder: DefaultImageBuilder(endpoint: endpoint))
    }

    /// The engine named by `DOCKER_HOST` in `environment`, else the default socket, and
    /// `NEBULA_APPS_DIR` (default `/var/lib/nebula/apps`) for deploy checkouts. A malformed
    /// `DOCKER_HOST` yields a node whose every call answers with that error.
    public static func fromEnvironment(_ environment: [String: String]) -> NodeDocker {
        let root = environment["NEBULA_APPS_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/nebula/apps"
        do {
            let engine = try DefaultDockerEngineClient(environment: environment)
            let endpoint = (try? DockerEndpoint.fromEnvironment(environment)) ?? .default
            return NodeDocker(engine: engine, appsRoot: root, builder: DefaultImageBuilder(endpoint: endpoint, environment: environment))
        } catch {
            return NodeDocker(engine: DefaultDockerEngineClient(endpoint: .default))
        }
    }

    /// Runs `call`; a Docker failure is the result's `error`, never a thrown error.
    public func perform(_ call: DockerCall) async -> DockerResult {
        do throws(DockerError) {
            switch call {
            case .containers(let all):
                return DockerResult(containers: try await engine.containers(all: all))
            case .inspect(let id):
                return DockerResult(container: try await engine.inspect(ContainerID(id)))
            case .start(let id):
                try await engine.start(ContainerID(id))
            case .stop(let id, let seconds):
                try await engine.stop(ContainerID(id), timeout: .seconds(max(0, seconds)))
            case .restart(let id, let seconds):
                try await engine.restart(ContainerID(id), timeout: .seconds(max(0, seconds)))
            case .kill(let id, let signal):
                try await engine.kill(ContainerID(id), signal: signal)
            case .remove(let id, let force, let volumes):
                try await engine.remove(ContainerID(id), force: force, removeVolumes: volumes)
            case .logs(let id, let tail, let since, let timestamps):
                var lines: [LogLine] = []
                do {
                    for try await line in engine.logs(ContainerID(id), follow: false, tail: tail, since: since, timestamps: timestamps) {
                        lines.append(line)
                    }
                } catch {
                    throw Self.dockerError(error, id)
                }
                return DockerResult(logs: lines)
            case .stats(let id):
                return DockerResult(stats: try await engine.stats(ContainerID(id)))
            case .images:
                return DockerResult(images: try await engine.images())
            case .removeImage(let id, let force):
                try await engine.removeImage(ImageID(id), force: force)
            case .pruneImages:
                // Deploy images (`dev.nebula.deploy`) are never pruned: every release keeps its image for rollbacks.
                return DockerResult(pruned: try await engine.pruneImages(labels: ImageLabelFilter.nebulaManaged.excluding(Self.deployLabel)))
            case .volumes:
                return DockerResult(volumes: try await engine.volumes())
            case .removeVolume(let name, let force):
                try await engine.removeVolume(name: name, force: force)
            case .networks:
                return DockerResult(networks: try await engine.networks())
            }
            return .done
        } catch {
            return DockerResult(error: error)
        }
    }

    /// The chunks of `call` until the container stops, the engine fails or the consumer stops
    /// reading. Log lines come in batches (see ``batchLines``) so a chatty container costs one
    /// message per batch rather than one per line.
    public func stream(_ call: DockerStreamCall) -> AsyncThrowingStream<DockerStreamChunk, any Error> {
        switch call {
        case .build(let request):
            guard let appsRoot, let builder else {
                return AsyncThrowingStream { $0.finish(throwing: DockerError(code: .badRequest, detail: "deploy build",
                                                                             message: "this node has no apps directory or image builder configured")) }
            }
            return NodeDeploys(appsRoot: appsRoot, builder: builder).build(request)
        case .stats(let id):
            let source = engine.statsStream(ContainerID(id))
            return AsyncThrowingStream { continuation in
                let task = Task {
                    do {
                        for try await stats in source { continuation.yield(.stats(stats)) }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: Self.dockerError(error, id))
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        case .logs(let id, let tail, let since, let timestamps):
            let source = engine.logs(ContainerID(id), follow: true, tail: tail, since: since, timestamps: timestamps)
            return AsyncThrowingStream { continuation in
                let batcher = LineBatcher(continuation: continuation)
                let task = Task {
                    do {
                        for try await line in source { batcher.add(line) }
                        batcher.flush()
                        continuation.finish()
                    } catch {
                        batcher.flush()
                        continuation.finish(throwing: Self.dockerError(error, id))
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }

    /// The label every deploy image carries (its project's name).
    public static let deployLabel = "dev.nebula.deploy"

    static func dockerError(_ error: any Error, _ container: String) -> DockerError {
        (error as? DockerError) ?? DockerError(code: .badResponse, detail: "container \(container)", message: String(describing: error))
    }
}

/// Gathers log lines and hands them on in batches: when a batch is full, or when
/// ``NodeDocker/batchDelay`` passed since its first line (so a quiet container's line still shows at
/// once). A lock rather than an actor: adding a line is a few instructions, with no task hop per line.
final class LineBatcher: Sendable {
    private struct State {
        var lines: [LogLine] = []
        var bytes = 0
        var timer: Task<Void, Never>?
    }

    private let continuation: AsyncThrowingStream<DockerStreamChunk, any Error>.Continuation
    private let state = Mutex(State())

    init(continuation: AsyncThrowingStream<DockerStreamChunk, any Error>.Continuation) {
        self.continuation = continuation
    }

    func add(_ line: LogLine) {
        let full: [LogLine]? = state.withLock { state in
            state.lines.append(line)
            state.bytes += line.text.utf8.count
            if state.lines.count >= NodeDocker.batchLines || state.bytes >= NodeDocker.batchBytes {
                return take(&state)
            }
            if state.timer == nil {
                state.timer = Task { [weak self] in
                    try? await Task.sleep(for: NodeDocker.batchDelay)
                    self?.flush()
                }
            }
            return nil
        }
        if let full { continuation.yield(.lines(full)) }
    }

    func flush() {
        let lines = state.withLock { take(&$0) }
        if !lines.isEmpty { continuation.yield(.lines(lines)) }
    }

    private func take(_ state: inout State) -> [LogLine] {
        state.timer?.cancel()
        state.timer = nil
        defer {
            state.lines = []
            state.bytes = 0
        }
        return state.lines
    }
}
