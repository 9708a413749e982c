import Foundation
@testable import NebulaServer

/// Runs the real `nebula` executable that `swift test` built next to the test bundle.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var lastLine: String { stdout.split(separator: "\n").last.map(String.init) ?? "" }
    }

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nebula")
    }

    static func run(_ arguments: [String], stdin: String = "", config: Config) throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        environment["NEBULA_DATA_DIR"] = config.dataDirectory
        environment["DATABASE_URL"] = nil
        if case .postgres(let url) = config.database { environment["DATABASE_URL"] = url }
        return try run(arguments, stdin: stdin, environment: environment)
    }

    static func run(_ arguments: [String], stdin: String = "", environment: [String: String]) throws -> Result {
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
        return Result(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}
