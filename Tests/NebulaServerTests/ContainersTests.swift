import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing

/// Containers on the local node (in-process) and on an agent node (over its WebSocket), against
/// the real dockerd `make test` starts.
@Suite(.enabled(if: TestEngine.enabled, "NEBULA_TEST_DOCKER_HOST is not set: run with `make test`"))
struct ContainersTests {
    struct ContainerList: Decodable { var items: [ContainerSummary] }
    struct LogList: Decodable { var items: [LogLine] }
    struct Named: Decodable { var items: [NamedItem] }
    struct NamedItem: Decodable { var name: String }
    struct ImageList: Decodable { var items: [ImageSummary] }

    /// Busybox `sh` as PID 1 ignores SIGTERM: stop with a short grace period.
    static let chatty = ["sh", "-c", "echo hello-out; echo hello-err >&2; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"]

    @Test(arguments: TestDatabase.all)
    func everyContainerActionOnTheLocalNodeWorksAndIsAudited(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            try await TestEngine.withContainer(Self.chatty) { name in
                // setup
                let token = try await app.token(role: .operator)
                let node = try await app.localServer(token: token)
                let base = "/api/v1/servers/\(node.id)/containers"
                let events = try await SSEReader.open(app.baseURL + "/api/v1/events/stream?types=container.changed", token: token)
                defer { events.close() }
                // act: list, inspect and logs
                let listed = try await app.request(.GET, base, token: token).decode(ContainerList.self).items.first { $0.name == name }
                let inspected = try await app.request(.GET, "\(base)/\(name)", token: token).decode(ContainerDetails.self)
                var logs: [LogLine] = []
                _ = try await waitUntil {
                    logs = try await app.request(.GET, "\(base)/\(name)/logs?tail=1000", token: token).decode(LogList.self).items
                    return logs.contains { $0.text == "hello-err" }
                }
                // verify
                #expect(listed?.state == .running)
                #expect(listed?.image == TestEngine.image.rawValue)
                #expect(inspected.running && inspected.name == name)
                #expect(logs.first { $0.text == "hello-out" }?.stream == .stdout)
                #expect(logs.first { $0.text == "hello-err" }?.stream == .stderr, "stdout and stderr are told apart")
                // act: stop, start, restart, kill, remove
                let stopped = try await app.request(.POST, "\(base)/\(name)/stop", token: token, json: #"{"timeout":1}"#)
                let afterStop = try await app.request(.GET, "\(base)/\(name)", token: token).decode(ContainerDetails.self)
                let started = try await app.request(.POST, "\(base)/\(name)/start", token: token)
                let restarted = try await app.request(.POST, "\(base)/\(name)/restart", token: token, json: #"{"timeout":1}"#)
                let afterRestart = try await app.request(.GET, "\(base)/\(name)", token: token).decode(ContainerDetails.self)
                let killed = try await app.request(.POST, "\(base)/\(name)/kill", token: token)
                let afterKill = try await app.request(.GET, "\(base)/\(name)", token: token).decode(ContainerDetails.self)
                let removed = try await app.request(.DELETE, "\(base)/\(name)", token: token)
                let gone = try await app.request(.GET, "\(base)/\(name)", token: token)
                // verify
                #expect(stopped.status == .ok && !afterStop.running)
                #expect(started.status == .ok && restarted.status == .ok && afterRestart.running)
                #expect(killed.status == .ok && !afterKill.running && afterKill.exitCode == 137)
                #expect(removed.status == .ok)
                #expect(gone.status == .notFound && gone.errorCode == "no_such_container", "\(gone.body)")
                for action in ["container.stop", "container.start", "container.restart", "container.kill", "container.remove"] {
                    let entries = try await app.auditEntries(action: action)
                    #expect(entries.contains { $0.target == "server:\(node.name)/container:\(name)" && $0.outcome == .success }, "\(action) audited")
                }
                let event = await events.next { $0.event == "container.changed" }
                #expect(event?.data.contains("container.stop") == true)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func anAgentNodesContainersAreServedByItsAgentWithLiveLogs(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await TestEngine.withContainer(Self.chatty) { name in
                // setup
                let token = try await app.token(role: .operator)
                let (server, joinToken) = try await app.agentServer(token: token, name: "docker-node")
                let agent = try await app.startAgent(for: server.id, joinToken: joinToken)
                defer { agent.cancel() }
                let base = "/api/v1/servers/\(server.id)/containers"
                // act
                let listed = try await app.request(.GET, base, token: token)
                let followed = try await SSEReader.open(app.baseURL + "\(base)/\(name)/logs?follow=true&tail=5", token: token)
                defer { followed.close() }
                var ticks: [String] = []
                for _ in 0..<20 where ticks.count < 4 {
                    guard let message = await followed.next(where: { $0.event == "lines" }) else { break }
                    let lines = try JSONDecoder.iso8601.decode(LogBatch.self, from: Data(message.data.utf8)).lines
                    ticks += lines.map(\.text).filter { $0.hasPrefix("tick-") }
                }
                let stats = try await app.request(.GET, "\(base)/\(name)/stats", token: token)
                let killed = try await app.request(.POST, "\(base)/\(name)/kill", token: token, json: #"{"signal":"SIGKILL"}"#)
                let end = await followed.next(timeout: .seconds(15)) { $0.event == "end" }
                // verify
                #expect(listed.status == .ok)
                #expect(try listed.decode(ContainerList.self).items.contains { $0.name == name && $0.state == .running })
                #expect(followed.status == 200)
                #expect(ticks.count >= 4, "new lines arrive live through the agent: \(ticks)")
                let numbers = ticks.compactMap { Int($0.dropFirst(5)) }
                #expect(numbers == numbers.sorted(), "in order")
                #expect(stats.status == .ok, "\(stats.body)")
                #expect(try stats.decode(ContainerStats.self).pids >= 1)
                #expect(killed.status == .ok)
                #expect(end != nil, "the stream ends when the container stops")
                let killAudit = try await app.auditEntries(action: "container.kill")
                #expect(killAudit.contains { $0.target == "server:docker-node/container:\(name)" })
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func badInputRolesAndUnreachableNodesGetClearErrors(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            try await TestEngine.withContainer(["sleep", "600"]) { name in
                // setup
                let operatorToken = try await app.token(role: .operator)
                let viewerToken = try await app.token(role: .viewer)
                let node = try await app.localServer(token: viewerToken)
                let base = "/api/v1/servers/\(node.id)/containers"
                let offline = try await app.agentServer(token: operatorToken, name: "asleep").0
                let ssh = try await app.request(.POST, "/api/v1/servers", token: operatorToken,
                                                json: #"{"name":"nas","connection":"ssh","address":"127.0.0.1","username":"root"}"#).decode(ServerDTO.self)
                // act
                let badName = try await app.request(.POST, "\(base)/bad%20name%21/stop", token: operatorToken)
                let traversal = try await app.request(.POST, "\(base)/..%2Fetc/stop", token: operatorToken)
                let unknown = try await app.request(.POST, "\(base)/no-such-container-here/start", token: operatorToken)
                let badSignal = try await app.request(.POST, "\(base)/\(name)/kill", token: operatorToken, json: #"{"signal":"KILL; rm -rf /"}"#)
                let badTimeout = try await app.request(.POST, "\(base)/\(name)/stop", token: operatorToken, json: #"{"timeout":99999}"#)
                let unknownKey = try await app.request(.POST, "\(base)/\(name)/stop", token: operatorToken, json: #"{"grace":1}"#)
                let viewerStop = try await app.request(.POST, "\(base)/\(name)/stop", token: viewerToken)
                let viewerLogs = try await app.request(.GET, "\(base)/\(name)/logs", token: viewerToken)
                let viewerList = try await app.request(.GET, base, token: viewerToken)
                let offlineList = try await app.request(.GET, "/api/v1/servers/\(offline.id)/containers", token: viewerToken)
                let sshList = try await app.request(.GET, "/api/v1/servers/\(ssh.id)/containers", token: viewerToken)
                let badFlag = try await app.request(.GET, "\(base)?all=maybe", token: viewerToken)
                let stillRunning = try await app.request(.GET, "\(base)/\(name)", token: viewerToken).decode(ContainerDetails.self)
                // verify
                #expect(badName.status == .badRequest && badName.errorCode == "invalid_container", "\(badName.status) \(badName.body)")
                #expect((400..<500).contains(traversal.status.code))
                #expect(unknown.status == .notFound && unknown.errorCode == "no_such_container")
                #expect(badSignal.status == .badRequest && badSignal.errorCode == "invalid_signal")
                #expect(badTimeout.status == .badRequest && badTimeout.errorCode == "invalid_timeout")
                #expect(unknownKey.status == .badRequest || unknownKey.status == .unprocessableEntity)
                #expect(viewerStop.status == .forbidden && viewerLogs.status == .forbidden)
                #expect(viewerList.status == .ok)
                #expect(offlineList.status == .conflict && offlineList.errorCode == "node_offline")
                #expect(sshList.status == .conflict && sshList.errorCode == "containers_need_agent")
                #expect(badFlag.status == .badRequest && badFlag.errorCode == "invalid_flag")
                #expect(stillRunning.running, "nothing was changed by the refused requests")
                let denials = try await app.auditEntries(action: "container.stop").filter { $0.outcome == .denied }
                #expect(denials.count == 1, "the viewer's attempt is audited")
                let failedStarts = try await app.auditEntries(action: "container.start").filter { $0.outcome == .failure }
                #expect(!failedStarts.isEmpty, "a failed change is audited too")
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func imagesVolumesAndNetworksAreListedAndPruneOnlyTouchesNebulaImages(_ database: TestDatabase) async throws {
        let run = UUID().uuidString.prefix(8).lowercased()
        let docker = try TestEngine.client()
        let volume = try await docker.createVolume(name: "nebula-test-\(run)", labels: ["nebula.test": String(run)])
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            try await TestEngine.withContainer(["true"]) { name in
                // setup: one image Nebula built (labelled) and one it did not, both unused
                let token = try await app.token(role: .operator)
                let node = try await app.localServer(token: token)
                let managed = "nebula-test/managed:\(run)"
                let foreign = "nebula-test/foreign:\(run)"
                try await Self.cli(["commit", "--change", "LABEL dev.nebula.managed=true", name, managed])
                try await Self.cli(["commit", name, foreign])
                defer { Task { try? await Self.cli(["rmi", "-f", managed, foreign]) } }
                let base = "/api/v1/servers/\(node.id)"
                // act
                let images = try await app.request(.GET, "\(base)/images", token: token).decode(ImageList.self).items
                let volumes = try await app.request(.GET, "\(base)/volumes", token: token).decode(Named.self).items
                let networks = try await app.request(.GET, "\(base)/networks", token: token).decode(Named.self).items
                let pruned = try await app.request(.POST, "\(base)/images/prune", token: token)
                let after = try await app.request(.GET, "\(base)/images", token: token).decode(ImageList.self).items
                let removedVolume = try await app.request(.DELETE, "\(base)/volumes/\(volume.name)", token: token)
                let volumesAfter = try await app.request(.GET, "\(base)/volumes", token: token).decode(Named.self).items
                // verify
                // (A prune by a test running alongside may already have taken the unused managed image.)
                #expect(images.contains { $0.repoTags.contains(foreign) })
                #expect(volumes.contains { $0.name == volume.name })
                #expect(networks.contains { $0.name == "none" })
                #expect(pruned.status == .ok, "\(pruned.body)")
                #expect(!after.contains { $0.repoTags.contains(managed) }, "the unused Nebula image is pruned")
                #expect(after.contains { $0.repoTags.contains(foreign) }, "an image Nebula did not create is never pruned")
                #expect(after.contains { $0.repoTags.contains(TestEngine.image.rawValue + ":latest") }, "the base image is untouched")
                #expect(removedVolume.status == .ok && !volumesAfter.contains { $0.name == volume.name })
                #expect(try await app.auditEntries(action: "images.prune").count == 1)
                #expect(try await app.auditEntries(action: "volume.remove").count == 1)
            }
        }
        try? await docker.removeVolume(name: volume.name, force: true)
    }

    /// The docker CLI against the test engine, for what the API has no call for (`commit`).
    static func cli(_ arguments: [String]) async throws {
        let result = try await CommandRunner.run(["docker", "-H", TestEngine.host ?? ""] + arguments, timeout: .seconds(60))
        guard result.status == 0 else { throw TestEngineError.cli(arguments.first ?? "", result.output) }
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
