import Foundation
import NebulaSSH
import Testing

/// Trust on first use and pinning, with the second sshd standing in for "the same host, reinstalled".
@Suite(.enabled(if: TestSSHServer.isAvailable, TestSSHServer.skipMessage))
struct HostKeyPinningTests {
    let client = DefaultSSHClient()

    @Test func trustOnFirstUseReturnsTheServersHostKey() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        // act
        let result = try await client.exec("true", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        // verify
        #expect(result.hostKey == (try server.hostKey()))
    }

    @Test func pinnedKeyIsAcceptedByItsServer() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let pinned = try String(contentsOfFile: server.hostKeyPubPath, encoding: .utf8)   // with comment and newline
        // act
        let result = try await client.exec("echo pinned", on: try server.target(), identity: identity, hostKey: .pinned(pinned), timeout: .seconds(20))
        // verify
        #expect(result.stdoutText == "pinned\n")
    }

    @Test func changedHostKeyIsRefusedWithBothFingerprints() async throws {
        // setup: pin A's key, learn B's key to compute its fingerprint with ssh-keygen
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let first = try await client.exec("true", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        let other = try await client.exec("true", on: try server.target(alt: true), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        let directory = try LocalCommand.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let otherFile = directory.appendingPathComponent("alt.pub")
        try Data((other.hostKey + "\n").utf8).write(to: otherFile)
        let marker = directory.appendingPathComponent("command-ran")
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.exec("touch " + ShellWord.quote(marker.path), on: try server.target(alt: true), identity: identity, hostKey: .pinned(first.hostKey), timeout: .seconds(20))
        }
        // verify
        let expected = try LocalCommand.sshKeygenFingerprint(ofKeyFile: server.hostKeyPubPath)
        let presented = try LocalCommand.sshKeygenFingerprint(ofKeyFile: otherFile.path)
        #expect(expected != presented)
        #expect(!FileManager.default.fileExists(atPath: marker.path), "the command ran on a host with the wrong key")
        #expect(error?.code == .hostKeyMismatch)
        #expect(error?.expectedFingerprint == expected)
        #expect(error?.presentedFingerprint == presented)
        #expect(error?.description.hasPrefix("host key changed: expected \(expected), got \(presented) — ") == true, "\(error?.description ?? "")")
    }
}
