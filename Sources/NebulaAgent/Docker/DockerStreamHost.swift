import DockerEngine
import Foundation

/// The agent's side of streamed Docker answers (followed logs, live stats): one task per stream
/// the control plane opens, its chunks sent back as frames until the stream ends or is closed.
public actor DockerStreamHost {
    /// More would only mean a runaway client (each open stream holds an Engine connection).
    public static let maximumStreams = 64

    private var streams: [String: Task<Void, Never>] = [:]
    private let docker: NodeDocker
    private let send: @Sendable (StreamFrame) async -> Void

    /// - Parameter send: delivers a frame to the control plane.
    public init(docker: NodeDocker, send: @escaping @Sendable (StreamFrame) async -> Void) {
        self.docker = docker
        self.send = send
    }

    public func handle(_ frame: StreamFrame) {
        switch frame.op {
        case .open:
            open(frame)
        case .close:
            streams.removeValue(forKey: frame.stream)?.cancel()
        case .data, .end:
            break
        }
    }

    /// Stops every stream (the connection to the control plane is gone).
    public func closeAll() {
        for task in streams.values { task.cancel() }
        streams.removeAll()
    }

    public var count: Int { streams.count }

    private func open(_ frame: StreamFrame) {
        let id = frame.stream
        guard streams[id] == nil, !id.isEmpty, id.count <= 64 else { return }
        let send = send
        guard let call = frame.call else {
            Task { await send(StreamFrame(stream: id, op: .end, error: DockerError(code: .badRequest, detail: "stream", message: "no operation given"))) }
            return
        }
        guard streams.count < Self.maximumStreams else {
            Task { await send(StreamFrame(stream: id, op: .end, error: DockerError(code: .conflict, detail: "stream", message: "this node already has \(Self.maximumStreams) streams open"))) }
            return
        }
        let source = docker.stream(call)
        streams[id] = Task {
            var failure: DockerError?
            do {
                for try await chunk in source { await send(StreamFrame(stream: id, op: .data, chunk: chunk)) }
            } catch {
                failure = NodeDocker.dockerError(error, call.container)
            }
            await send(StreamFrame(stream: id, op: .end, error: Task.isCancelled ? nil : failure))
            self.forget(id)
        }
    }

    private func forget(_ id: String) {
        streams.removeValue(forKey: id)
    }
}
