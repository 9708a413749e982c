import DockerEngine
import Fluent
import Foundation
import NebulaAgent
import NebulaCore
import Vapor

/// Containers, images, volumes and networks on every node. Reading needs the viewer role (logs
/// the operator role: they often hold tokens); every change needs the operator role, is audited
/// with its outcome and published as an event. The API and the pages both call this.
struct ContainersService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let connections: AgentConnections
    /// The control plane's own machine.
    let local: NodeDocker
    let localApps: NodeApps

    /// A server and the way to reach its engine, looked up once per operation.
    struct Node: Sendable {
        let id: UUID
        let server: ServerRecord
        let engine: any NodeEngineAccess
        var name: String { server.name }
    }

    /// The server `id` and its engine, or a clear error when it has none Nebula can reach.
    func node(_ id: UUID) async throws -> Node {
        guard let server = try await ServerRecord.find(id, on: db) else { throw NebulaError.notFound("Server \(id)") }
        return Node(id: try server.requireID(), server: server, engine: try engine(for: server))
    }

    func engine(for server: ServerRecord) throws -> any NodeEngineAccess {
        switch server.connection {
        case .local:
            return LocalEngineAccess(docker: local, nodeApps: localApps)
        case .agent:
            return AgentEngineAccess(serverID: try server.requireID(), connections: connections)
        case .ssh:
            throw NebulaError.conflict("Containers on \(server.name) need the Nebula agent: agentless (SSH) servers cannot reach Docker yet. Install the agent on it.",
                                       code: "containers_need_agent")
        }
    }

    // MARK: Reading

    func containers(on id: UUID, all: Bool = true, by actor: Actor) async throws -> [ContainerSummary] {
        try actor.require(.viewer)
        return try await read(.containers(all: all), on: id).containers ?? []
    }

    func inspect(_ container: String, on id: UUID, by actor: Actor) async throws -> ContainerDetails {
        try actor.require(.viewer)
        guard let details = try await read(.inspect(container: try Self.containerReference(container)), on: id).container else {
            throw NebulaError.badGateway("The node answered without the container.", code: "bad_node_answer")
        }
        return details
    }

    func logs(_ container: String, on id: UUID, tail: Int?, since: Date?, timestamps: Bool, by actor: Actor) async throws -> [LogLine] {
        try actor.require(.operator)
        return try await read(.logs(container: try Self.containerReference(container), tail: tail, since: since, timestamps: timestamps), on: id).logs ?? []
    }

    func stats(_ container: String, on id: UUID, by actor: Actor) async throws -> ContainerStats {
        try actor.require(.viewer)
        guard let stats = try await read(.stats(container: try Self.containerReference(container)), on: id).stats else {
            throw NebulaError.badGateway("The node answered without a measurement.", code: "bad_node_answer")
        }
        return stats
    }

    func images(on id: UUID, by actor: Actor) async throws -> [ImageSummary] {
        try actor.require(.viewer)
        return try await read(.images, on: id).images ?? []
    }

    func volumes(on id: UUID, by actor: Actor) async throws -> [VolumeSummary] {
        try actor.require(.viewer)
        return try await read(.volumes, on: id).volumes ?? []
    }

    func networks(on id: UUID, by actor: Actor) async throws -> [NetworkSummary] {
        try actor.require(.viewer)
        return try await read(.networks, on: id).networks ?? []
    }

    /// Followed logs or live stats. Logs need the operator role, stats the viewer role.
    func stream(_ call: DockerStreamCall, on id: UUID, by actor: Actor) async throws -> AsyncThrowingStream<DockerStreamChunk, any Error> {
        if case .logs = call { try actor.require(.operator) } else { try actor.require(.viewer) }
        _ = try Self.containerReference(call.container)
        return try await node(id).engine.stream(call)
    }

    private func read(_ call: DockerCall, on id: UUID) async throws -> DockerResult {
        let result = try await node(id).engine.perform(call)
        if let error = result.error { throw Self.apiError(error) }
        return result
    }

    // MARK: Changing

    /// A change to a container, image or volume, as the API and pages name it.
    enum Change: Sendable {
        case start, stop(timeoutSeconds: Int), restart(timeoutSeconds: Int), kill(signal: String), remove(force: Bool, volumes: Bool)
    }

    /// Starts, stops, restarts, kills or removes `container` on server `id`.
    func change(_ container: String, on id: UUID, _ change: Change, by actor: Actor) async throws {
        try actor.require(.operator)
        let reference = try Self.containerReference(container)
        let call: DockerCall = switch change {
        case .start: .start(container: reference)
        case .stop(let seconds): .stop(container: reference, timeoutSeconds: try Self.grace(seconds))
        case .restart(let seconds): .restart(container: reference, timeoutSeconds: try Self.grace(seconds))
        case .kill(let signal): .kill(container: reference, signal: try Self.signal(signal))
        case .remove(let force, let volumes): .remove(container: reference, force: force, volumes: volumes)
        }
        _ = try await apply(call, subject: "container:\(reference)", on: id, by: actor)
    }

    func removeImage(_ image: String, on id: UUID, force: Bool, by actor: Actor) async throws {
        try actor.require(.operator)
        let reference = try Self.imageReference(image)
        _ = try await apply(.removeImage(image: reference, force: force), subject: "image:\(reference)", on: id, by: actor)
    }

    /// Removes unused images Nebula built; never an image it did not create.
    func pruneImages(on id: UUID, by actor: Actor) async throws -> ImagePruneReport {
        try actor.require(.operator)
        let result = try await apply(.pruneImages, subject: "images", on: id, by: actor)
        return result.pruned ?? ImagePruneReport(deleted: [], spaceReclaimed: 0)
    }

    func removeVolume(_ name: String, on id: UUID, force: Bool, by actor: Actor) async throws {
        try actor.require(.operator)
        let reference = try Self.volumeName(name)
        _ = try await apply(.removeVolume(name: reference, force: force), subject: "volume:\(reference)", on: id, by: actor)
    }

    /// Runs a change, audits it (also when it fails) and publishes `container.changed`.
    private func apply(_ call: DockerCall, subject: String, on id: UUID, by actor: Actor) async throws -> DockerResult {
        let node = try await node(id)
        let target = "server:\(node.name)/\(subject)"
        let result: DockerResult
        do {
            result = try await node.engine.perform(call)
        } catch {
            try await audit.record(call.name, target: target, outcome: .failure, by: actor, detail: String(describing: error).prefix(300).description)
            throw error
        }
        if let error = result.error {
            try await audit.record(call.name, target: target, outcome: .failure, by: actor, detail: error.description.prefix(300).description)
            throw Self.apiError(error)
        }
        try await audit.record(call.name, target: target, by: actor)
        await events.publish(.containerChanged, actor: actor.username, subject: target,
                             data: ["server": node.id.uuidString, "action": call.name, "target": subject])
        return result
    }

    // MARK: Validation and errors

    /// A container id or name as Docker allows it; anything else never reaches the engine.
    static func containerReference(_ raw: String) throws -> String {
        guard (1...128).contains(raw.count), raw.first.map({ $0.isASCII && ($0.isLetter || $0.isNumber) }) == true,
              raw.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
            throw NebulaError.invalid("'\(raw.prefix(64))' is not a container id or name.", code: "invalid_container")
        }
        return raw
    }

    /// An image id (`sha256:…`), short id or `repository[:tag]`.
    static func imageReference(_ raw: String) throws -> String {
        guard (1...256).contains(raw.count), raw.first.map({ $0.isASCII && ($0.isLetter || $0.isNumber) }) == true,
              raw.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.:/@-".contains($0)) }), !raw.contains("..") else {
            throw NebulaError.invalid("'\(raw.prefix(64))' is not an image id or name.", code: "invalid_image")
        }
        return raw
    }

    static func volumeName(_ raw: String) throws -> String {
        guard (1...255).contains(raw.count), raw.first.map({ $0.isASCII && ($0.isLetter || $0.isNumber) }) == true,
              raw.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
            throw NebulaError.invalid("'\(raw.prefix(64))' is not a volume name.", code: "invalid_volume")
        }
        return raw
    }

    static func grace(_ seconds: Int) throws -> Int {
        guard (0...600).contains(seconds) else { throw NebulaError.invalid("The stop timeout must be 0–600 seconds.", code: "invalid_timeout") }
        return seconds
    }

    static func signal(_ raw: String) throws -> String {
        let name = raw.uppercased()
        guard (2...12).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw NebulaError.invalid("'\(raw.prefix(16))' is not a signal name such as SIGKILL or SIGHUP.", code: "invalid_signal")
        }
        return name
    }

    /// The API error for a Docker failure on a node.
    static func apiError(_ error: DockerError) -> NebulaError {
        switch error.code {
        case .noSuchContainer, .noSuchImage, .notFound:
            NebulaError(.notFound, code: error.code.rawValue, error.description)
        case .conflict, .notModified:
            NebulaError(.conflict, code: "docker_conflict", error.description)
        case .badRequest:
            NebulaError(.badRequest, code: "docker_bad_request", error.description)
        case .unreachable, .invalidEndpoint, .apiVersion:
            NebulaError(.badGateway, code: "docker_unavailable", error.description)
        case .serverError, .badResponse:
            NebulaError(.badGateway, code: "docker_error", error.description)
        }
    }
}

extension EventType {
    /// A container, image or volume was started, stopped, removed … by someone.
    public static let containerChanged: EventType = "container.changed"
}
