import DockerEngine
import Foundation
import Testing

@Suite(.enabled(if: TestDocker.enabled, TestDocker.skipMessage))
struct ContainerLifecycleTests {
    @Test func pingAndVersionNegotiation() async throws {
        // setup
        let docker = try TestDocker.client()
        // act
        try await docker.ping()
        let version = try await docker.version()
        let negotiated = try await docker.apiVersion()
        // verify
        #expect(!version.version.isEmpty)
        #expect(negotiated == min(version.apiVersion, DefaultDockerEngineClient.newestAPIVersion))
        #expect(negotiated >= DefaultDockerEngineClient.oldestAPIVersion)
    }

    @Test func listInspectStopStartRestartKillRemove() async throws {
        // setup
        let docker = try TestDocker.client()
        let labels = TestDocker.labels()
        try await TestDocker.withContainer(docker, command: ["sleep", "300"], labels: labels) { id in
            // act
            let running = try await docker.containers(all: false)
            let details = try await docker.inspect(id)
            // verify
            let row = try #require(running.first { $0.id == id })
            #expect(row.state == .running)
            #expect(row.status.hasPrefix("Up"))
            #expect(row.health == nil)
            #expect(row.labels == labels)
            #expect(row.image == TestDocker.image.rawValue)
            #expect(details.running && details.pid > 0)
            #expect(details.networkMode == "none")
            #expect(details.command == ["sleep", "300"])
            #expect(details.labels["nebula.test"] == labels["nebula.test"])
            #expect(details.startedAt != nil && details.finishedAt == nil)

            // act: stop (twice: already stopped is success), then list
            try await docker.stop(id, timeout: .seconds(1))
            try await docker.stop(id, timeout: .seconds(1))
            let stopped = try await docker.inspect(id)
            let runningAfterStop = try await docker.containers(all: false)
            let allAfterStop = try await docker.containers(all: true)
            // verify
            #expect(!stopped.running && stopped.state == .exited)
            #expect(!runningAfterStop.contains { $0.id == id })
            #expect(allAfterStop.first { $0.id == id }?.state == .exited)

            // act: start (twice), restart
            try await docker.start(id)
            try await docker.start(id)
            let started = try await docker.inspect(id)
            try await docker.restart(id, timeout: .seconds(1))
            let restarted = try await docker.inspect(id)
            // verify
            #expect(started.running)
            #expect(restarted.running && restarted.pid != started.pid)

            // act: kill, kill again (not running: conflict)
            try await docker.kill(id, signal: "SIGKILL")
            try await TestDocker.waitUntilExited(docker, id)
            let killed = try await docker.inspect(id)
            let secondKill = await #expect(throws: DockerError.self) { try await docker.kill(id, signal: "SIGKILL") }
            // verify
            #expect(!killed.running && killed.exitCode == 137)
            #expect(secondKill?.code == .conflict)

            // act: remove
            try await docker.remove(id, force: false, removeVolumes: true)
            let gone = await #expect(throws: DockerError.self) { try await docker.inspect(id) }
            // verify
            #expect(gone?.code == .noSuchContainer)
            #expect(gone?.detail == id.rawValue)
        }
    }

    @Test func removingARunningContainerWithoutForceIsAConflict() async throws {
        // setup
        let docker = try TestDocker.client()
        try await TestDocker.withContainer(docker, command: ["sleep", "300"]) { id in
            // act
            let error = await #expect(throws: DockerError.self) { try await docker.remove(id, force: false, removeVolumes: false) }
            // verify
            #expect(error?.code == .conflict)
            #expect(error?.description.contains("Stop the container first") == true)
            #expect(try await docker.inspect(id).running)
            // act
            try await docker.remove(id, force: true, removeVolumes: true)
            // verify
            #expect(try await !docker.containers(all: true).contains { $0.id == id })
        }
    }

    @Test func unknownContainerAndImageAreNamedErrors() async throws {
        // setup
        let docker = try TestDocker.client()
        let missing = ContainerID("nebula-missing-\(UUID().uuidString.prefix(8))")
        // act
        let inspect = await #expect(throws: DockerError.self) { try await docker.inspect(missing) }
        let start = await #expect(throws: DockerError.self) { try await docker.start(missing) }
        let logs = await #expect(throws: DockerError.self) { _ = try await TestDocker.collect(docker.logs(missing)) }
        let create = await #expect(throws: DockerError.self) {
            _ = try await docker.createContainer(ContainerSpec(image: "nebula-test/missing:none", command: ["true"]))
        }
        let removeImage = await #expect(throws: DockerError.self) { try await docker.removeImage("nebula-test/missing:none", force: false) }
        // verify
        #expect(inspect?.code == .noSuchContainer && inspect?.detail == missing.rawValue)
        #expect(inspect?.message?.contains("No such container") == true)
        #expect(start?.code == .noSuchContainer)
        #expect(logs?.code == .noSuchContainer)
        #expect(create?.code == .noSuchImage)
        #expect(removeImage?.code == .noSuchImage)
    }

    @Test func missingSocketIsUnreachable() async throws {
        // setup
        let docker = DefaultDockerEngineClient(endpoint: .unix(path: "/tmp/nebula-no-such-dir/docker.sock"))
        // act
        let ping = await #expect(throws: DockerError.self) { try await docker.ping() }
        let list = await #expect(throws: DockerError.self) { _ = try await docker.containers(all: true) }
        // verify
        #expect(ping?.code == .unreachable)
        #expect(list?.code == .unreachable)
        #expect(ping?.description.contains("Is Docker running, and may this user read the socket") == true)
    }

    @Test func refusedSocketIsUnreachable() async throws {
        // setup: a path that exists but where nothing listens
        let path = "/tmp/nebula-refused-\(UUID().uuidString.prefix(8)).sock"
        FileManager.default.createFile(atPath: path, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: path) }
        let docker = DefaultDockerEngineClient(endpoint: .unix(path: path))
        let clock = ContinuousClock()
        let started = clock.now
        // act
        let error = await #expect(throws: DockerError.self) { try await docker.ping() }
        // verify
        #expect(error?.code == .unreachable)
        #expect(clock.now - started < .seconds(15))
    }
}
