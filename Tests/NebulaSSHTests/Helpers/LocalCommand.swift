import Foundation

/// Runs a local program (ssh-keygen, /bin/sh) and returns what it printed.
enum LocalCommand {
    struct Output {
        var stdout: Data
        var stderr: String
        var status: Int32
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        // stderr goes to a file, so a program writing a lot to it cannot block while we read stdout.
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-ssh-tests-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        let err = try FileHandle(forWritingTo: errURL)
        defer { try? err.close() }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = (try? Data(contentsOf: errURL)) ?? Data()
        return Output(stdout: stdout, stderr: String(decoding: stderr, as: UTF8.self), status: process.terminationStatus)
    }

    /// `ssh-keygen -lf FILE` → the `SHA256:…` field.
    static func sshKeygenFingerprint(ofKeyFile path: String) throws -> String {
        let output = try run("/usr/bin/ssh-keygen", ["-lf", path])
        let fields = output.text.split(separator: " ")
        guard output.status == 0, fields.count >= 2 else {
            throw TestSetupError.commandFailed("ssh-keygen -lf \(path): \(output.stderr)")
        }
        return String(fields[1])
    }

    /// A new empty temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-ssh-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
