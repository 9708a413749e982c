import Foundation
import NebulaAgent
@testable import NebulaServer
import Testing

/// `GET /api/v1/servers`.
struct ServerListBody: Decodable { var items: [ServerDTO]; var total: Int }
/// `POST /api/v1/servers/{id}/join-token`.
struct IssuedTokenBody: Decodable { var token: String; var expiresAt: Date; var command: String }

/// Polls `condition` every 100 ms until it holds (true) or `timeout` passes (false).
func waitUntil(timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}

extension TestApp {
    /// The machine running the control plane, once the embedded agent registered it
    /// (needs `config.measuresLocalHost = true`).
    func localServer(token: String) async throws -> ServerDTO {
        var local: ServerDTO?
        _ = try await waitUntil {
            local = try await request(.GET, "/api/v1/servers", token: token).decode(ServerListBody.self).items.first { $0.connection == .local }
            return local != nil
        }
        return try #require(local, "the local node was registered")
    }

    /// An agent server made through the API (`extra` JSON members are added to the request) and a
    /// join token for it.
    func agentServer(token: String, name: String, extra: String = "") async throws -> (ServerDTO, String) {
        let server = try await request(.POST, "/api/v1/servers", token: token,
                                       json: #"{"name":"\#(name)","connection":"agent"\#(extra.isEmpty ? "" : "," + extra)}"#).decode(ServerDTO.self)
        let issued = try await request(.POST, "/api/v1/servers/\(server.id)/join-token", token: token).decode(IssuedTokenBody.self)
        return (server, issued.token)
    }

    /// An in-process `NodeAgent` joined with `joinToken`, running until the task is cancelled;
    /// returns once it is connected.
    func startAgent(for server: UUID, joinToken: String) async throws -> Task<Void, any Error> {
        let agent = NodeAgent(options: AgentOptions(serverURL: baseURL, joinToken: joinToken,
                                                    credentialFile: directory.appendingPathComponent("agent-\(server)/credential.json").path,
                                                    interval: .seconds(1)),
                              actions: NodeActions(docker: TestEngine.node, apps: TestEngine.apps))
        let running = Task { try await agent.run() }
        let connections = try services.agents.connections
        let connected = try await waitUntil { await connections.isConnected(server) }
        #expect(connected, "the agent connected")
        return running
    }
}
