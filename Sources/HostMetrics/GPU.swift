import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One NVIDIA GPU as `nvidia-smi` reports it. A value the driver does not know (`[N/A]`,
/// `[Not Supported]`, common on laptop and older GPUs) is nil.
public struct GPUInfo: Codable, Sendable, Equatable {
    /// nvidia-smi's index (0, 1, …).
    public var index: Int
    /// Product name, e.g. `NVIDIA GeForce RTX 3090`.
    public var name: String
    /// Stable identity (`GPU-…`), survives reboots and re-ordering.
    public var uuid: String
    /// Share of the last sample period a kernel was running, 0...1.
    public var utilization: Double?
    /// VRAM in use, bytes.
    public var memoryUsedBytes: UInt64?
    /// VRAM size, bytes.
    public var memoryTotalBytes: UInt64?
    /// Core temperature, °C.
    public var temperatureCelsius: Double?
    /// Board power draw, watts.
    public var powerWatts: Double?

    public init(index: Int, name: String, uuid: String, utilization: Double? = nil, memoryUsedBytes: UInt64? = nil,
                memoryTotalBytes: UInt64? = nil, temperatureCelsius: Double? = nil, powerWatts: Double? = nil) {
        self.index = index
        self.name = name
        self.uuid = uuid
        self.utilization = utilization
        self.memoryUsedBytes = memoryUsedBytes
        self.memoryTotalBytes = memoryTotalBytes
        self.temperatureCelsius = temperatureCelsius
        self.powerWatts = powerWatts
    }

    /// The arguments `GPUProbe` passes to `nvidia-smi`; `parse` reads their output.
    public static let nvidiaSMIArguments = [
        "--query-gpu=index,name,uuid,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw",
        "--format=csv,noheader,nounits",
    ]

    /// Parses the output of `nvidia-smi` run with `nvidiaSMIArguments`: one line per GPU,
    /// `index, name, uuid, utilization %, memory used MiB, memory total MiB, temperature °C, power W`.
    /// Bracketed values (`[N/A]`, `[Not Supported]`, `[Unknown Error]`) become nil; a name that
    /// itself contains commas is kept whole.
    /// - Throws: `.malformed` when a line has fewer than 8 fields, the index is not an integer, or a
    ///   value is neither a number nor bracketed.
    public static func parse(_ text: String) throws(HostMetricsError) -> [GPUInfo] {
        var gpus: [GPUInfo] = []
        for rawLine in text.nonEmptyLines {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let rawColumns = line.split(separator: ",", omittingEmptySubsequences: false)
            let columns = rawColumns.map { $0.trimmingCharacters(in: .whitespaces) }
            guard columns.count >= 8 else {
                throw .malformed("nvidia-smi", reason: "expected 8 comma-separated values in: \(line)")
            }
            let extra = columns.count - 8
            guard let index = Int(columns[0]) else {
                throw .malformed("nvidia-smi", reason: "GPU index '\(columns[0])' is not an integer")
            }
            let values = Array(columns[(3 + extra)...])
            let numbers = try values.map { (value: String) throws(HostMetricsError) -> Double? in try measurement(value, line: line) }
            gpus.append(GPUInfo(index: index, name: rawColumns[1...(1 + extra)].joined(separator: ",").trimmingCharacters(in: .whitespaces), uuid: columns[2 + extra],
                                utilization: numbers[0].map { min(1, max(0, $0 / 100)) },
                                memoryUsedBytes: numbers[1].map(mebibytes), memoryTotalBytes: numbers[2].map(mebibytes),
                                temperatureCelsius: numbers[3], powerWatts: numbers[4]))
        }
        return gpus
    }

    private static func measurement(_ value: String, line: String) throws(HostMetricsError) -> Double? {
        if value.isEmpty || value.hasPrefix("[") || value == "N/A" { return nil }
        guard let number = Double(value) else {
            throw .malformed("nvidia-smi", reason: "'\(value)' is not a number in: \(line)")
        }
        return number
    }

    private static func mebibytes(_ value: Double) -> UInt64 {
        UInt64(max(0, value) * 1_048_576)
    }
}

/// Asks `nvidia-smi` about the NVIDIA GPUs of this machine.
///
/// Runs the command only when it is found (on `PATH`, or at `command` when that is a path): a
/// machine without it has no NVIDIA GPU to report, and `probe()` returns an empty list. The command
/// is abandoned after `timeout` (a wedged driver makes `nvidia-smi` hang).
public struct GPUProbe: Sendable, Equatable {
    /// The executable: a name looked up on the search path, or a path.
    public var command: String
    /// Colon-separated directories to look in; nil means this process's `PATH`.
    public var searchPath: String?
    /// How long `nvidia-smi` may take before it is killed and `probe()` throws `.timedOut`.
    public var timeout: Duration

    public init(command: String = "nvidia-smi", searchPath: String? = nil, timeout: Duration = .seconds(5)) {
        self.command = command
        self.searchPath = searchPath
        self.timeout = timeout
    }

    /// Where the command would be run from, or nil when it is not installed.
    public func executablePath() -> String? {
        if command.contains("/") { return isExecutableFile(command) ? command : nil }
        let directories = searchPath ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in directories.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(command)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// The GPUs `nvidia-smi` reports; empty when `nvidia-smi` is not installed.
    /// - Throws: `.commandFailed` when it cannot start or exits with a failure (driver not loaded),
    ///   `.timedOut` after `timeout`, `.malformed` when its output cannot be parsed.
    public func probe() async throws(HostMetricsError) -> [GPUInfo] {
        guard let executable = executablePath() else { return [] }
        let output = try await CommandRunner.run(executable, arguments: GPUInfo.nvidiaSMIArguments,
                                                 displayName: command, timeout: timeout)
        return try GPUInfo.parse(output)
    }

    private func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && access(path, X_OK) == 0
    }
}

/// Runs a short command off the concurrency pool and collects what it prints.
enum CommandRunner {
    /// Standard output of `executable arguments…`, which must exit with status 0 within `timeout`.
    /// Output is read after the command exits, so it is meant for commands that print less than a
    /// pipe buffer (64 KiB); a command that prints more stalls and times out.
    static func run(_ executable: String, arguments: [String], displayName: String,
                    timeout: Duration) async throws(HostMetricsError) -> String {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<String, HostMetricsError>, Never>) in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(returning: runBlocking(executable, arguments: arguments,
                                                           displayName: displayName, timeout: timeout))
            }
        }
        return try result.get()
    }

    private static func runBlocking(_ executable: String, arguments: [String], displayName: String,
                                    timeout: Duration) -> Result<String, HostMetricsError> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            return .failure(.commandFailed(displayName, reason: "cannot start \(executable): \(error.localizedDescription)"))
        }
        if exited.wait(timeout: .now() + timeout.inSeconds) == .timedOut {
            // SIGKILL rather than SIGTERM: a child inherits ignored signals, and servers that handle
            // SIGTERM themselves (swift-service-lifecycle, Vapor) ignore it, so SIGTERM may do nothing.
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            _ = exited.wait(timeout: .now() + 1)   // let Foundation reap it; a process stuck in the driver may not die
            return .failure(.timedOut(displayName, after: timeout.inSeconds))
        }
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exit status \(process.terminationStatus)" : "signal \(process.terminationStatus)"
            let message = (complaint + " " + printed).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failure(.commandFailed(displayName, reason: message.isEmpty ? how : "\(how): \(message.prefix(500))"))
        }
        return .success(printed)
    }
}
