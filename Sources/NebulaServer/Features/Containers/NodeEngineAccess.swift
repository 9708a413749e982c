import DockerEngine
import Foundation
import NebulaAgent

/// The Docker Engine of one server, reached the way that server is reached: in-process for the
/// control plane's own machine, through the agent's WebSocket for agent nodes. Both run the same
/// ``NodeDocker`` code on the node.
protocol NodeEngineAccess: Sendable {
    /// Runs `call` on the node. Throws a `NebulaError` when the node cannot be asked (offline, no
    /// answer); a Docker failure comes back as the result's `error`.
    func perform(_ call: DockerCall) async throws -> DockerResult
    /// Opens a streamed answer on the node.
    func stream(_ call: DockerStreamCall) async throws -> AsyncThrowingStream<DockerStreamChunk, any Error>
    /// Runs a step of an app's install, upgrade or removal on the node.
    func apps(_ call: AppCall) async throws -> AppResult
}

/// The control plane's own machine: the embedded agent's engine, called directly.
struct LocalEngineAccess: NodeEngineAccess {
    let docker: NodeDocker
    let nodeApps: NodeApps

    func apps(_ call: AppCall) async throws -> AppResult {
        await nodeApps.perform(call)
    }

    func perform(_ call: DockerCall) async throws -> DockerResult {
        await docker.perform(call)
    }

    func stream(_ call: DockerStreamCall) async throws -> AsyncThrowingStream<DockerStreamChunk, any Error> {
        docker.stream(call)
    }
}

/// An agent node: the call travels as an ``AgentRequest`` and its ``AgentReply`` carries the result.
struct AgentEngineAccess: NodeEngineAccess {
    let serverID: UUID
    let connections: AgentConnections

    func perform(_ call: DockerCall) async throws -> DockerResult {
        let reply = try await connections.call(serverID, AgentRequest(action: .docker, docker: call), timeout: call.timeout)
        guard let result = reply.docker else {
            throw NebulaError.badGateway("The node's agent does not support containers (\(reply.message)); update it.", code: "agent_outdated")
        }
        return result
    }

    func stream(_ call: DockerStreamCall) async throws -> AsyncThrowingStream<DockerStreamChunk, any Error> {
        try await connections.openStream(on: serverID, call)
    }

    func apps(_ call: AppCall) async throws -> AppResult {
        let reply = try await connections.call(serverID, AgentRequest(action: .apps, apps: call), timeout: call.timeout)
        guard let result = reply.apps else {
            throw NebulaError.badGateway("The node's agent does not support apps (\(reply.message)); update it.", code: "agent_outdated")
        }
        return result
    }
}
