import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The OpenSSH servers `make test` starts (scripts/lib/peers.sh `start_sshd`). Under CI their
/// absence is a failure, not a skip.
struct TestSSH: Sendable {
    var port: Int
    var altPort: Int
    var user: String
    var authorizedKeys: String
    var hostKeyPub: String

    static var current: TestSSH? {
        let env = ProcessInfo.processInfo.environment
        guard let port = env["NEBULA_TEST_SSH_PORT"].flatMap(Int.init), let alt = env["NEBULA_TEST_SSH_ALT_PORT"].flatMap(Int.init),
              let user = env["NEBULA_TEST_SSH_USER"], let keys = env["NEBULA_TEST_SSH_AUTHORIZED_KEYS"],
              let hostKey = env["NEBULA_TEST_SSH_HOSTKEY_PUB"] else { return nil }
        return TestSSH(port: port, altPort: alt, user: user, authorizedKeys: keys, hostKeyPub: hostKey)
    }

    /// The servers, or nil with the test skipped (outside CI) or failed (under CI).
    static func require() -> TestSSH? {
        if let current { return current }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            Issue.record("NEBULA_TEST_SSH_* are not set: run the suite with `make test`, which starts sshd")
        }
        return nil
    }

    /// Lets `line` log in (the servers read the file on every connection). Tests of several
    /// targets append at once from one process, so the line goes in with one O_APPEND write:
    /// seek-then-write could overwrite another test's key.
    func authorize(_ line: String) throws {
        let descriptor = open(authorizedKeys, O_WRONLY | O_APPEND)
        guard descriptor >= 0 else { throw TestSetupError.noPort }
        defer { close(descriptor) }
        let bytes = Array((line + "\n").utf8)
        guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else { throw TestSetupError.noPort }
    }

    /// `ssh-keygen -lf` of the first server's host key: the fingerprint Nebula must pin.
    func hostKeyFingerprint() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = ["-lf", hostKeyPub]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(String(decoding: output, as: UTF8.self).split(separator: " ")[1])
    }
}
