import DockerEngine
import Foundation
import Testing

/// The real dockerd that `make test` starts (`start_dockerd` in scripts/lib/peers.sh exports
/// `NEBULA_TEST_DOCKER_HOST` and `NEBULA_TEST_DOCKER_IMAGE`). Without it the engine tests are
/// skipped, except under CI, where its absence is a failure.
enum TestDocker {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var host: String? { environment["NEBULA_TEST_DOCKER_HOST"].flatMap { $0.isEmpty ? nil : $0 } }
    /// A local busybox image (imported by `start_dockerd`; no registry is reachable).
    static var image: ImageID { ImageID(environment["NEBULA_TEST_DOCKER_IMAGE"] ?? "local/busybox") }

    /// Whether the engine tests run: the engine is configured, or we are under CI (then they fail).
    static var enabled: Bool { host != nil || environment["CI"] != nil }
    static let skipMessage: Comment = "NEBULA_TEST_DOCKER_HOST is not set: run with `make test` (or source scripts/lib/peers.sh; start_dockerd DIR)"

    /// A client for the test engine; records an issue and throws when it is not configured.
    static func client() throws -> DefaultDockerEngineClient {
        guard let host else {
            Issue.record("NEBULA_TEST_DOCKER_HOST is not set: run the suite with `make test`, which starts dockerd")
            throw TestDockerError.noEngine
        }
        return DefaultDockerEngineClient(endpoint: try DockerEndpoint(parsing: host))
    }

    /// Labels that mark a test's containers and images (unique per test, so parallel tests never meet).
    static func labels(_ run: String = UUID().uuidString) -> [String: String] {
        ["nebula.test": run, "dev.nebula.managed": "true"]
    }

    /// A busybox container on no network, running `command`, removed (with force) after `body`.
    static func withContainer<T>(
        _ docker: DefaultDockerEngineClient, command: [String], tty: Bool = false, start: Bool = true,
        labels: [String: String] = labels(), _ body: (ContainerID) async throws -> T
    ) async throws -> T {
        let spec = ContainerSpec(image: image, command: command, labels: labels, networkMode: .none, tty: tty)
        let id = start ? try await docker.run(spec) : try await docker.createContainer(spec)
        do {
            let result = try await body(id)
            try? await docker.remove(id, force: true, removeVolumes: true)
            return result
        } catch {
            try? await docker.remove(id, force: true, removeVolumes: true)
            throw error
        }
    }

    /// Polls until the container's main process has exited (at most `timeout`).
    static func waitUntilExited(_ docker: DefaultDockerEngineClient, _ id: ContainerID, timeout: Duration = .seconds(15)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try await !docker.inspect(id).running { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("container \(id) still running after \(timeout)")
    }

    /// All lines of a finite log stream.
    static func collect(_ stream: AsyncThrowingStream<LogLine, any Error>) async throws -> [LogLine] {
        var lines: [LogLine] = []
        for try await line in stream { lines.append(line) }
        return lines
    }

    /// Runs the docker CLI against the test engine (only for what the client has no call for,
    /// such as `docker commit`); returns its standard output.
    @discardableResult
    static func cli(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker", "-H", host ?? ""] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw TestDockerError.cli(arguments.joined(separator: " "), text) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

enum TestDockerError: Error {
    case noEngine
    case cli(String, String)
}
