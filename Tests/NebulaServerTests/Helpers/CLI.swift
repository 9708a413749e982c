import AsyncHTTPClient
import Foundation
import NIOPosix
import Synchronization
@testable import NebulaServer

/// Runs the real `nebula` executable that `swift test` built next to the test bundle.
enum CLI {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var lastLine: String { stdout.split(separator: "\n").last.map(String.init) ?? "" }
    }

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nebula")
    }

    static func run(_ arguments: [String], stdin: String = "", config: Config) async throws -> Output {
        var environment = ProcessInfo.processInfo.environment
        environment["NEBULA_DATA_DIR"] = config.dataDirectory
        environment["DATABASE_URL"] = nil
        if case .postgres(let url) = config.database { environment["DATABASE_URL"] = url }
        return try await run(arguments, stdin: stdin, environment: environment)
    }

    /// Starts `nebula` with `arguments` in the background; stop it with ``stop(_:)``.
    static func spawn(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// SIGTERM, then waits for the exit on a thread of its own.
    static func stop(_ process: Process) async {
        process.terminate()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                process.waitUntilExit()
                continuation.resume()
            }
        }
    }

    /// Waiting for a process blocks a thread, so it happens on a thread of its own: blocking a
    /// cooperative thread or the shared I/O pool would starve other tests' database work.
    static func run(_ arguments: [String], stdin: String = "", environment: [String: String]) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Swift.Result { try runBlocking(arguments, stdin: stdin, environment: environment) })
            }
        }
    }

    private static func runBlocking(_ arguments: [String], stdin: String, environment: [String: String]) throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

/// A `nebula` process started in the background that tests can share across tasks: the
/// `Process` is reached only under the lock.
final class SpawnedNebula: Sendable {
    private let process: Mutex<Process>

    init(_ arguments: [String]) throws {
        process = Mutex(try CLI.spawn(arguments))
    }

    /// The exit status when the process ends by itself within `timeout`; otherwise it is stopped
    /// (SIGTERM) and the answer is nil. Waits on a thread of its own.
    func exitStatusOrStop(within timeout: Duration) async -> Int32? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
                while self.process.withLock({ $0.isRunning }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
                let status = self.process.withLock { process -> Int32? in
                    guard process.isRunning else { return process.terminationStatus }
                    process.terminate()
                    process.waitUntilExit()
                    return nil
                }
                continuation.resume(returning: status)
            }
        }
    }
}

/// A real `nebula serve` on a free loopback port, for tests that crash and restart the process.
/// Its output goes to `logFile` (shown when something fails). End it with ``kill()`` (SIGKILL,
/// like a power cut: no shutdown code runs) or ``stop()`` (SIGTERM); `deinit` kills a child still
/// running, so no exit path of a test leaves one behind.
final class ServedNebula: Sendable {
    let baseURL: String
    let logFile: URL
    private let process: Mutex<Process>

    private init(baseURL: String, logFile: URL, process: Process) {
        self.baseURL = baseURL
        self.logFile = logFile
        self.process = Mutex(process)
    }

    deinit {
        process.withLock { process in
            if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        }
    }

    /// Starts `nebula serve` with exactly `environment`, in `workingDirectory` (so no stray `.env`
    /// is read), and returns once `/readyz` answers 200. A port taken between choosing it and
    /// binding it is retried with another.
    static func start(environment: [String: String], workingDirectory: URL, logFile: URL,
                      readyWithin timeout: Duration = .seconds(90)) async throws -> ServedNebula {
        var lastFailure = ""
        for _ in 0..<3 {
            let port = try freePort()
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let output = try FileHandle(forWritingTo: logFile)
            // The child has its own copy of the descriptor once started.
            defer { try? output.close() }
            let process = Process()
            process.executableURL = CLI.executable
            process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port)]
            process.environment = environment
            process.currentDirectoryURL = workingDirectory
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let served = ServedNebula(baseURL: "http://127.0.0.1:\(port)", logFile: logFile, process: process)
            if try await served.becomesReady(within: timeout) { return served }
            await served.kill()
            lastFailure = served.logTail
            guard lastFailure.contains("in use") else { break }
        }
        throw ServedNebulaError(description: "nebula serve did not become ready; its log ends:\n\(lastFailure)")
    }

    var processIdentifier: Int32 { process.withLock { $0.processIdentifier } }
    var isRunning: Bool { process.withLock { $0.isRunning } }

    /// The last lines of the child's output.
    var logTail: String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
    }

    /// `kill -9`, then waits for the exit; returns how it ended (the signal number for a kill).
    @discardableResult
    func kill() async -> (reason: Process.TerminationReason, status: Int32) {
        await end(signal: SIGKILL)
    }

    /// SIGTERM (a clean shutdown), then waits for the exit.
    func stop() async {
        _ = await end(signal: SIGTERM)
    }

    /// Waiting blocks a thread, so it happens on a thread of its own.
    private func end(signal: Int32) async -> (reason: Process.TerminationReason, status: Int32) {
        await withCheckedContinuation { (continuation: CheckedContinuation<(reason: Process.TerminationReason, status: Int32), Never>) in
            Thread.detachNewThread {
                let ended = self.process.withLock { process in
                    if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
                    process.waitUntilExit()
                    return (reason: process.terminationReason, status: process.terminationStatus)
                }
                continuation.resume(returning: ended)
            }
        }
    }

    /// Polls `/readyz` until it answers 200 (true) or the process exits or the deadline passes (false).
    private func becomesReady(within timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard isRunning else { return false }
            var request = HTTPClientRequest(url: baseURL + "/readyz")
            request.method = .GET
            if let response = try? await TestApp.client.execute(request, timeout: .seconds(5)) {
                _ = try? await response.body.collect(upTo: 1 << 16)
                if response.status == .ok { return true }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// A TCP port nothing listens on right now.
    private static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? channel.close().wait() }
        return channel.localAddress?.port ?? 0
    }
}

/// `nebula serve` would not start; the description carries the end of its log.
struct ServedNebulaError: Error, CustomStringConvertible {
    let description: String
}
