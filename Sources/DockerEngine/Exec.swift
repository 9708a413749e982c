import Foundation
import NIOCore

/// What a command run inside a container printed and how it ended.
public struct ExecResult: Sendable, Hashable, Codable {
    public var exitCode: Int
    /// Its output, stdout and stderr apart.
    public var output: [LogLine]

    public init(exitCode: Int, output: [LogLine]) {
        self.exitCode = exitCode
        self.output = output
    }
}

extension DefaultDockerEngineClient {
    /// Runs `command` (no shell unless the command is one) inside the running `container` and
    /// waits for it: `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`.
    /// ``DockerError/Code/conflict`` when the container is not running.
    public func exec(_ container: ContainerID, command: [String], timeout: Duration = .seconds(120)) async throws(DockerError) -> ExecResult {
        struct Create: Encodable {
            var AttachStdout = true
            var AttachStderr = true
            var Tty = false
            var Cmd: [String]
        }
        struct Created: Decodable { var Id: String }
        struct Start: Encodable {
            var Detach = false
            var Tty = false
        }
        struct Inspect: Decodable {
            var Running: Bool
            var ExitCode: Int?
        }
        guard !command.isEmpty else { throw DockerError(code: .badRequest, detail: "exec", message: "the command is empty") }
        let created = try await send(.POST, "/containers/\(segment(container.rawValue))/exec", body: try encode(Create(Cmd: command)),
                                     subject: .container(container))
        let id = try decode(Created.self, created, "exec in \(container)").Id
        // Not detached: the engine streams the output (multiplexed, no TTY) until the command ends.
        let started = try await send(.POST, "/exec/\(segment(id))/start", body: try encode(Start()), extraTime: timeout,
                                     subject: .other("exec in \(container.rawValue)"))
        var demultiplexer = LogDemultiplexer(multiplexed: true, timestamps: false)
        let output = demultiplexer.feed(started.body) + demultiplexer.finish()
        // The output ends when the process does; its exit code can lag a moment behind.
        for _ in 0..<50 {
            let state = try decode(Inspect.self, try await send(.GET, "/exec/\(segment(id))/json", subject: .other("exec \(id)")), "exec \(id)")
            if !state.Running, let code = state.ExitCode { return ExecResult(exitCode: code, output: output) }
            try? await Task.sleep(for: .milliseconds(100))
        }
        throw DockerError(code: .badResponse, detail: "exec in \(container.rawValue)", message: "the command's exit code never arrived")
    }
}
