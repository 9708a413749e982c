import DockerEngine
import Foundation
import NebulaAgent
import Testing

/// The throwaway dockerd `make test` starts (`start_dockerd` exports `NEBULA_TEST_DOCKER_HOST`):
/// the local node and every in-process agent of these tests use it.
enum TestEngine {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var host: String? { environment["NEBULA_TEST_DOCKER_HOST"].flatMap { $0.isEmpty ? nil : $0 } }
    static var endpoint: DockerEndpoint? { host.flatMap { try? DockerEndpoint(parsing: $0) } }
    /// The busybox image `start_dockerd` imports (no registry is reachable).
    static var image: ImageID { ImageID(environment["NEBULA_TEST_DOCKER_IMAGE"] ?? "local/busybox") }

    /// Whether the container tests run: the engine is configured, or we are under CI (then they fail).
    static var enabled: Bool { host != nil || environment["CI"] != nil }

    /// The node-side handler an in-process agent uses: the test engine when there is one.
    static var node: NodeDocker {
        NodeDocker(endpoint: endpoint ?? .default, appsRoot: appsRoot)
    }

    /// Where in-process agents keep apps and deploy checkouts.
    static var appsRoot: String { FileManager.default.temporaryDirectory.appendingPathComponent("nebula-test-agent-apps").path }

    /// The apps handler of in-process agents: the test engine, apps under ``appsRoot``.
    static var apps: NodeApps {
        NodeApps(appsRoot: appsRoot, endpoint: endpoint ?? .default)
    }

    /// A client for the test engine; records an issue and throws when it is not configured.
    static func client() throws -> DefaultDockerEngineClient {
        guard let endpoint else {
            Issue.record("NEBULA_TEST_DOCKER_HOST is not set: run the suite with `make test`, which starts dockerd")
            throw TestEngineError.noEngine
        }
        return DefaultDockerEngineClient(endpoint: endpoint)
    }

    /// A started busybox container running `command` with a unique name, removed after `body`.
    static func withContainer<T>(_ command: [String], labels: [String: String] = [:], _ body: (_ name: String) async throws -> T) async throws -> T {
        let docker = try client()
        let name = "nebula-test-\(UUID().uuidString.prefix(8).lowercased())"
        let spec = ContainerSpec(image: image, command: command, name: name, labels: labels.merging(["nebula.test": name]) { $1 }, networkMode: .none)
        let id = try await docker.run(spec)
        do {
            let result = try await body(name)
            try? await docker.remove(id, force: true, removeVolumes: true)
            return result
        } catch {
            try? await docker.remove(id, force: true, removeVolumes: true)
            throw error
        }
    }
}

enum TestEngineError: Error {
    case noEngine
    case cli(String, String)
}
