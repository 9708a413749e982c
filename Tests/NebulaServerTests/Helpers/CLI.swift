import Foundation
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
