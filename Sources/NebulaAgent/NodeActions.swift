import Foundation
import DockerEngine
import Synchronization

/// A request from the control plane to a node, answered with an ``AgentReply`` of the same `id`.
public struct AgentRequest: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable, CaseIterable {
        case reboot = "power.reboot"
        case shutdown = "power.shutdown"
        /// Send a Wake-on-LAN packet into this node's LAN.
        case wake
        /// A file browser operation inside the roots the control plane configured for this node.
        case files
        /// An operation on this node's Docker Engine.
        case docker
        /// A step of installing, upgrading or removing an app (a Compose project).
        case apps
        /// An allow-listed command (``AllowedCommand``), for runbooks; the agent checks the list again.
        case exec
    }

    public var id: String
    public var action: Action
    /// For `wake`.
    public var wake: WakeTarget?
    /// For `files`: the operation and the roots it is confined to.
    public var files: FileRequest?
    public var roots: FileRoots?
    /// For `docker`.
    public var docker: DockerCall?
    /// For `apps`.
    public var apps: AppCall?
    /// For `exec`.
    public var exec: ExecCall?

    public init(id: String = UUID().uuidString, action: Action, wake: WakeTarget? = nil, files: FileRequest? = nil, roots: FileRoots? = nil,
                docker: DockerCall? = nil, apps: AppCall? = nil, exec: ExecCall? = nil) {
        self.id = id
        self.action = action
        self.wake = wake
        self.files = files
        self.roots = roots
        self.docker = docker
        self.apps = apps
        self.exec = exec
    }
}

/// A node's answer to an ``AgentRequest``.
public struct AgentReply: Codable, Sendable, Equatable {
    public var id: String
    public var ok: Bool
    /// What happened, or exactly what failed.
    public var message: String
    /// For `files`: the operation's result (its own `ok` and error say how the operation went).
    public var files: FileResponse?
    /// For `docker`: the result, or the engine's error (the reply itself is `ok` when the node
    /// could ask its engine at all).
    public var docker: DockerResult?
    /// For `apps`.
    public var apps: AppResult?
    /// For `exec`: the command's exit status and output (the reply is `ok` when it ran at all).
    public var exec: ExecResult?

    public init(id: String, ok: Bool, message: String, files: FileResponse? = nil, docker: DockerResult? = nil, apps: AppResult? = nil,
                exec: ExecResult? = nil) {
        self.id = id
        self.ok = ok
        self.message = message
        self.files = files
        self.docker = docker
        self.apps = apps
        self.exec = exec
    }
}

/// The commands that reboot and shut down a machine. `systemctl` by default; set
/// `NEBULA_REBOOT_COMMAND` / `NEBULA_SHUTDOWN_COMMAND` (split on spaces) for machines without
/// systemd or that need `sudo -n`.
public struct PowerCommands: Sendable, Equatable {
    public var reboot: [String]
    public var shutdown: [String]

    public init(reboot: [String], shutdown: [String]) {
        self.reboot = reboot
        self.shutdown = shutdown
    }

    public static let systemd = PowerCommands(reboot: ["systemctl", "reboot"], shutdown: ["systemctl", "poweroff"])

    public static func from(environment: [String: String]) -> PowerCommands {
        func words(_ name: String) -> [String]? {
            let parts = environment[name]?.split(separator: " ").map(String.init) ?? []
            return parts.isEmpty ? nil : parts
        }
        return PowerCommands(reboot: words("NEBULA_REBOOT_COMMAND") ?? systemd.reboot,
                             shutdown: words("NEBULA_SHUTDOWN_COMMAND") ?? systemd.shutdown)
    }

    public func command(for action: AgentRequest.Action) -> [String]? {
        switch action {
        case .reboot: reboot
        case .shutdown: shutdown
        case .wake, .files, .docker, .apps, .exec: nil
        }
    }
}

/// Carries out what the control plane asks of this node.
public struct NodeActions: Sendable {
    public var power: PowerCommands
    /// One `FileAccess` per set of roots, so chunked uploads survive between requests.
    public let files: FileAccessCache
    /// This node's Docker Engine.
    public let docker: NodeDocker
    /// This node's apps (Compose projects under its apps directory).
    public let apps: NodeApps

    public init(power: PowerCommands = .systemd, files: FileAccessCache = FileAccessCache(),
                docker: NodeDocker = .fromEnvironment(ProcessInfo.processInfo.environment),
                apps: NodeApps = .fromEnvironment(ProcessInfo.processInfo.environment)) {
        self.power = power
        self.files = files
        self.docker = docker
        self.apps = apps
    }

    public func perform(_ request: AgentRequest) async -> AgentReply {
        switch request.action {
        case .reboot, .shutdown:
            guard let command = power.command(for: request.action) else { return reply(request, false, "no command for \(request.action.rawValue)") }
            do {
                let result = try await CommandRunner.run(command, timeout: .seconds(30))
                guard result.status == 0 else {
                    return reply(request, false, "`\(command.joined(separator: " "))` exited with status \(result.status): \(result.output.prefix(500))")
                }
                return reply(request, true, "`\(command.joined(separator: " "))` accepted")
            } catch {
                return reply(request, false, "`\(command.joined(separator: " "))` could not run: \(error)")
            }
        case .files:
            guard let fileRequest = request.files, let roots = request.roots else { return reply(request, false, "a files request needs an operation and roots") }
            let response = await files.access(for: roots).handle(fileRequest)
            return AgentReply(id: request.id, ok: true, message: response.ok ? "done" : (response.error?.message ?? "failed"), files: response)
        case .docker:
            guard let call = request.docker else { return reply(request, false, "a docker request needs an operation") }
            let result = await docker.perform(call)
            return AgentReply(id: request.id, ok: true, message: result.error?.description ?? "done", docker: result)
        case .apps:
            guard let call = request.apps else { return reply(request, false, "an apps request needs an operation") }
            let result = await apps.perform(call)
            return AgentReply(id: request.id, ok: true, message: result.ok ? "done" : result.message, apps: result)
        case .exec:
            guard let call = request.exec else { return reply(request, false, "an exec request needs a command") }
            let command: AllowedCommand
            do {
                command = try AllowedCommand(argv: call.argv)
            } catch {
                return reply(request, false, error.description)
            }
            do {
                let result = try await command.run(timeout: .seconds(max(1, min(call.timeoutSeconds, 3600))))
                return AgentReply(id: request.id, ok: true, message: "`\(command)` exited with status \(result.status)", exec: result)
            } catch {
                return reply(request, false, "`\(command)` could not run: \(error)")
            }
        case .wake:
            guard let target = request.wake else { return reply(request, false, "a wake request needs a MAC address") }
            do {
                try WakeOnLAN.send(target)
                return reply(request, true, "magic packet for \(target.mac) sent to \(target.broadcast):\(target.port)")
            } catch {
                return reply(request, false, error.description)
            }
        }
    }

    private func reply(_ request: AgentRequest, _ ok: Bool, _ message: String) -> AgentReply {
        AgentReply(id: request.id, ok: ok, message: message)
    }
}

/// The file browser's `FileAccess` for each set of roots, kept so uploads in progress (and their
/// size limits) survive from one request to the next.
public actor FileAccessCache {
    private var byRoots: [FileRoots: FileAccess] = [:]
    public let maxUploadBytes: Int64

    public init(maxUploadBytes: Int64 = FileAccess.defaultMaxUploadBytes) {
        self.maxUploadBytes = maxUploadBytes
    }

    public func access(for roots: FileRoots) -> FileAccess {
        if let existing = byRoots[roots] { return existing }
        // Roots change rarely; a bounded cache keeps a misbehaving caller from growing it forever.
        if byRoots.count >= 64 { byRoots.removeAll() }
        let created = FileAccess(roots: roots, maxUploadBytes: maxUploadBytes)
        byRoots[roots] = created
        return created
    }
}

/// Runs a program found on `PATH` without a shell, so no word is ever interpreted.
public enum CommandRunner {
    /// Foundation's `Process.run()` is not safe to call from many threads at once (it crashed in
    /// its memcpy under the parallel test suite): launches take turns; the programs still run in parallel.
    private static let launching = Mutex(())

    public struct Result: Sendable {
        public var status: Int32
        /// Standard output and error, merged, at most 64 KiB.
        public var output: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func run(_ arguments: [String], timeout: Duration) async throws -> Result {
        guard !arguments.isEmpty else { throw Failure(description: "empty command") }
        // Output goes to a file read after exit: nothing blocks a thread while the program runs.
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-cmd-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = try? FileHandle(forWritingTo: outputURL) else {
            throw Failure(description: "cannot create a temporary file for the output of \(arguments[0])")
        }
        defer {
            try? output.close()
            try? FileManager.default.removeItem(at: outputURL)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["--"] + arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let (ended, ending) = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { ending.yield($0.terminationStatus); ending.finish() }
        do {
            try launching.withLock { _ in try process.run() }
        } catch {
            throw Failure(description: "\(arguments[0]): \(error.localizedDescription)")
        }
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            kill(pid, SIGTERM)
        }
        var status: Int32 = -1
        for await code in ended { status = code }
        watchdog.cancel()
        let text = (try? Data(contentsOf: outputURL)) ?? Data()
        return Result(status: status, output: String(decoding: text.prefix(64 << 10), as: UTF8.self))
    }
}
