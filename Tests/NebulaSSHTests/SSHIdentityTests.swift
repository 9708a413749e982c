import Foundation
import NebulaSSH
import Testing

@Suite struct SSHIdentityTests {
    @Test func rawPrivateKeyRoundTrips() throws {
        // setup
        let identity = SSHIdentity.generate(comment: "nebula@test")
        // act
        let restored = try SSHIdentity(privateKeyRaw: identity.privateKeyRaw, comment: "nebula@test")
        // verify
        #expect(identity.privateKeyRaw.count == 32)
        #expect(restored.authorizedKeysLine == identity.authorizedKeysLine)
        #expect(identity.authorizedKeysLine.hasPrefix("ssh-ed25519 AAAA"))
        #expect(identity.authorizedKeysLine.hasSuffix(" nebula@test"))
        #expect(!identity.description.contains(identity.privateKeyRaw.base64EncodedString()))
    }

    @Test func wrongSizedRawKeyIsInvalidKey() {
        // act
        let error = #expect(throws: SSHError.self) { try SSHIdentity(privateKeyRaw: Data(repeating: 1, count: 31)) }
        // verify
        #expect(error?.code == .invalidKey)
        #expect(error?.description.contains("32 bytes") == true)
    }

    @Test func commentCannotBreakTheAuthorizedKeysLine() {
        // act
        let identity = SSHIdentity.generate(comment: "evil\nssh-ed25519 AAAAinjected\tx")
        // verify
        #expect(!identity.authorizedKeysLine.contains("\n"))
        #expect(identity.comment == "evil ssh-ed25519 AAAAinjected x")
    }

    @Test func sshKeygenReadsTheLineWithTheSameFingerprint() throws {
        // setup
        let identity = SSHIdentity.generate(comment: "nebula-fp")
        let directory = try LocalCommand.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("id.pub")
        try Data((identity.authorizedKeysLine + "\n").utf8).write(to: file)
        // act
        let output = try LocalCommand.run("/usr/bin/ssh-keygen", ["-lf", file.path])
        // verify
        #expect(output.status == 0, "ssh-keygen: \(output.stderr)")
        #expect(output.text.trimmingCharacters(in: .whitespacesAndNewlines) == "256 \(identity.fingerprint) nebula-fp (ED25519)")
    }

    @Test(arguments: ["ed25519", "ecdsa"])
    func fingerprintEqualsSshKeygenForKeysItMade(type: String) throws {
        // setup
        let directory = try LocalCommand.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("key").path
        let made = try LocalCommand.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "made by ssh-keygen", "-f", key])
        try #require(made.status == 0, "ssh-keygen: \(made.stderr)")
        let publicKey = try String(contentsOfFile: key + ".pub", encoding: .utf8)
        // act
        let fingerprint = try SSHFingerprint.sha256(ofOpenSSHKey: publicKey)
        // verify
        #expect(fingerprint == (try LocalCommand.sshKeygenFingerprint(ofKeyFile: key + ".pub")))
        #expect(fingerprint.hasPrefix("SHA256:") && !fingerprint.hasSuffix("="))
    }

    @Test(arguments: ["", "ssh-ed25519", "ssh-ed25519 not-base64!", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"])
    func malformedPublicKeyIsInvalidKey(_ text: String) {
        // act
        let error = #expect(throws: SSHError.self) { try SSHFingerprint.sha256(ofOpenSSHKey: text) }
        // verify
        #expect(error?.code == .invalidKey)
    }
}
