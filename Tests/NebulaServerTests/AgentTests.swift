import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing
import WebSocketKit
import NIOPosix
import NIOHTTP1

@Suite struct AgentTests {


    @Test(arguments: TestDatabase.all)
    func anAgentJoinsOnceReportsLiveAndIsRefusedAfterRevoke(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "pi")
            let credentialFile = app.directory.appendingPathComponent("agent/credential.json").path
            let agent = NodeAgent(options: AgentOptions(serverURL: app.baseURL + "/", joinToken: joinToken, credentialFile: credentialFile, interval: .seconds(1)))
            // act
            let running = Task { try await agent.run() }
            let online = try await waitUntil { try await app.services.fleet.find(server.id, by: .system()).latest != nil }
            let reuse = try await app.request(.POST, "/api/v1/agent/join", json: #"{"token":"\#(joinToken)","hostname":"thief"}"#)
            let revoked = try await app.request(.POST, "/api/v1/servers/\(server.id)/revoke", token: token)
            let ended = await Task { await running.result }.value
            // verify
            #expect(online, "the agent's samples reached the server")
            let stored = try await app.services.fleet.find(server.id, by: .system())
            #expect(stored.status == .online && (stored.latest?.memoryTotalBytes ?? 0) > 0)
            let mode = try FileManager.default.attributesOfItem(atPath: credentialFile)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(!(try String(contentsOfFile: credentialFile, encoding: .utf8)).contains(joinToken))
            #expect(reuse.status == .unauthorized && reuse.errorCode == "join_token_used")
            #expect(revoked.status == .ok)
            #expect(throws: AgentError.revoked) { try ended.get() }
            let record = try #require(try await ServerRecord.find(server.id, on: app.app.db))
            #expect(record.agentVersion == NebulaAgentVersion.current && record.hardware?.contains("logicalCores") == true)
            #expect(try await app.auditEntries(action: "agent.join").map(\.outcome).sorted { $0.rawValue < $1.rawValue } == [.failure, .success])
            #expect(try await app.auditEntries(action: "server.revoke_agent").count == 1)
        }
    }

    /// Revokes the server's agent and waits for the agent process to give up.
    func revoke(_ server: UUID, on app: TestApp, andWaitFor agent: SpawnedNebula) async throws -> (HTTPResponseStatus, Int32?) {
        let token = try await app.token(role: .operator)
        let revoked = try await app.request(.POST, "/api/v1/servers/\(server)/revoke", token: token)
        return (revoked.status, await agent.exitStatusOrStop(within: .seconds(60)))
    }

    @Test(arguments: TestDatabase.all)
    func theRealAgentProcessReconnectsAfterTheControlPlaneRestartsAndStopsWhenRevoked(_ database: TestDatabase) async throws {
        try await withApp(database) { first in
            // setup: a real `nebula agent` process
            let token = try await first.token(role: .operator)
            let (server, joinToken) = try await first.agentServer(token: token, name: "pi")
            let agent = try SpawnedNebula(["agent", "--server", first.baseURL, "--token", joinToken,
                                           "--credential-file", first.directory.appendingPathComponent("credential.json").path, "--interval", "1"])
            let fleet = try first.services.fleet
            let joined = try await waitUntil { try await fleet.find(server.id, by: .system()).latest != nil }
            let port = try #require(Int(first.baseURL.split(separator: ":").last ?? ""))
            // act: the control plane goes away and comes back on the same address
            await first.stop()
            try await Task.sleep(for: .seconds(2))
            let second = try await TestApp.start(config: first.config, directory: first.directory, port: port)
            let restartedAt = Date()
            let secondFleet = try second.services.fleet
            let resumed = try await waitUntil {
                (try await secondFleet.find(server.id, by: .system()).lastSeenAt ?? .distantPast) > restartedAt
            }
            // act: revoked, the agent is refused and gives up
            let (revoked, status) = try await revoke(server.id, on: second, andWaitFor: agent)
            await second.stop()
            // verify
            #expect(joined, "the agent process joined and reported")
            #expect(resumed, "the agent process reconnected and reported to the restarted control plane")
            #expect(revoked == .ok)
            #expect(status == 1, "a revoked agent stops with a failure status instead of retrying forever")
        }
    }

    @Test(arguments: TestDatabase.all)
    func badCredentialsAndMalformedMessagesAreRefusedWithoutHarm(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "pi")
            let joined = try await app.request(.POST, "/api/v1/agent/join", json: #"{"token":"\#(joinToken)","hostname":"x"}"#)
                .decode(AgentWire.JoinResponse.self)
            let url = app.baseURL.replacingOccurrences(of: "http://", with: "ws://") + "/api/v1/agent/connect"
            // act
            let unknown = try await app.request(.GET, "/api/v1/agent/connect", headers: [("Authorization", "Bearer nbn_forged")])
            let badToken = try await app.request(.POST, "/api/v1/agent/join", json: #"{"token":"nbj_nope","hostname":"x"}"#)
            let ssh = try await app.request(.POST, "/api/v1/servers", token: token, json: #"{"name":"box","connection":"ssh","address":"192.0.2.3"}"#).decode(ServerDTO.self)
            let wrongKind = try await app.request(.POST, "/api/v1/servers/\(ssh.id)/join-token", token: token)
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(joined.credential)")
            let (closed, closing) = AsyncStream<Void>.makeStream()
            try await WebSocket.connect(to: url, headers: headers, on: MultiThreadedEventLoopGroup.singleton) { socket in
                try? await socket.send("{ this is not json")
                try? await socket.onClose.get()
                closing.finish()
            }
            let didClose = await Task {
                await withTaskGroup(of: Bool.self) { group in
                    group.addTask { for await _ in closed {}; return true }
                    group.addTask { try? await Task.sleep(for: .seconds(10)); return false }
                    let first = await group.next() ?? false
                    group.cancelAll()
                    return first
                }
            }.value
            // verify
            #expect(unknown.status == .unauthorized && unknown.errorCode == "invalid_node_credential")
            #expect(badToken.status == .unauthorized && badToken.errorCode == "invalid_join_token")
            #expect(wrongKind.status == .conflict && wrongKind.errorCode == "not_an_agent_server")
            #expect(didClose, "a malformed message closes that connection")
            #expect(try await app.request(.GET, "/healthz").status == .ok)
            #expect(try await app.services.fleet.find(server.id, by: .system()).latest == nil)
        }
    }

    @Test(arguments: TestDatabase.all)
    func theRealAgentProcessJoinsAndReports(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "real-node")
            let credentialFile = app.directory.appendingPathComponent("real-agent/credential.json").path
            // act
            let agent = try CLI.spawn(["agent", "--server", app.baseURL, "--token", joinToken, "--credential-file", credentialFile, "--interval", "1"])
            let online = try await waitUntil { try await app.services.fleet.find(server.id, by: .system()).latest != nil }
            await CLI.stop(agent)
            // verify
            #expect(online, "the nebula agent process joined and reported")
            #expect(FileManager.default.fileExists(atPath: credentialFile))
            #expect(try await app.auditEntries(action: "agent.join").contains { $0.outcome == .success && $0.target == "server:real-node" })
        }
    }
}
