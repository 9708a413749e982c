import Foundation
@testable import HostMetrics

/// Runs a `RemoteCollection` script the way SSH would (`sh -c SCRIPT`), here on this machine.
enum ScriptRun {
    /// What the script printed on standard output, decoded as SSH output would be. Throws when the
    /// shell cannot start or exits with a failure (standard error is quoted).
    /// - Parameters:
    ///   - shell: the shell and its arguments before the script (`["/bin/sh", "-c"]`).
    ///   - environment: added to this process's environment (`NEBULA_HOST_ROOT`, `PATH`).
    static func output(of script: String, shell: [String] = ["/bin/sh", "-c"],
                       environment: [String: String] = [:]) throws -> String {
        let errors = try TemporaryDirectory()
        defer { errors.remove() }
        let errorFile = errors.url.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell[0])
        process.arguments = Array(shell.dropFirst()) + [script]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let complaint = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            throw FixtureError(description: "\(shell.joined(separator: " ")) exited with \(process.terminationStatus): \(complaint)")
        }
        return String(decoding: printed, as: UTF8.self)
    }

    /// A folder holding a stand-in `nvidia-smi` that prints the fixture CSV, for `PATH`.
    static func fakeNvidiaSMI(_ body: String? = nil) throws -> TemporaryDirectory {
        let bin = try TemporaryDirectory()
        let csv = try Fixture.directory().appendingPathComponent("nvidia-smi.csv").path
        try bin.script("nvidia-smi", body ?? "cat '\(csv)'")
        return bin
    }

    /// `PATH` with `folder` first.
    static func path(with folder: String) -> String {
        folder + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }
}

/// A remote output written by hand, for inputs the real script does not produce.
struct HandWrittenOutput {
    var nonce = "0f3c9a7e-5b2d-4e6f-a1c2-3d4e5f6a7b8c"
    var script = "sample"
    var version = 1
    private var sections: [String] = []

    init(script: String = "sample") {
        self.script = script
    }

    /// The host-a files every sample needs, as `file` sections.
    static func hostA() throws -> HandWrittenOutput {
        var output = HandWrittenOutput()
        for name in ["uptime", "stat", "loadavg", "meminfo", "diskstats", "net/dev", "mounts"] {
            output.section("file /proc/\(name)", try Fixture.text("host-a/proc/\(name)"))
        }
        return output
    }

    mutating func section(_ header: String, _ content: String = "") {
        sections.append("\n@@nebula:\(nonce):\(header)\n" + content)
    }

    /// The whole output; `end: false` leaves out the end marker, as when the command is cut off.
    func text(end: Bool = true) -> String {
        "\n@@nebula:begin:\(nonce) \(script) \(version)\n" + sections.joined() + (end ? "\n@@nebula:\(nonce):end\n" : "")
    }
}
