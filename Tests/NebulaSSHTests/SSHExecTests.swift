import Foundation
import NebulaSSH
import Testing

/// exec against the real OpenSSH server started by `start_sshd`.
@Suite(.enabled(if: TestSSHServer.isAvailable, TestSSHServer.skipMessage))
struct SSHExecTests {
    let client = DefaultSSHClient()

    @Test func generatedKeyIsAcceptedBySSHD() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = SSHIdentity.generate(comment: "nebula-generated")
        try server.authorize(identity)
        // act
        let result = try await client.exec("echo hi", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        // verify
        #expect(result.stdoutText == "hi\n")
        #expect(result.stderr.isEmpty)
        #expect(result.exitStatus == 0)
        #expect(result.exitSignal == nil)
    }

    @Test func keyRestoredFromRawBytesStillLogsIn() async throws {
        // setup
        let server = try TestSSHServer.require()
        let original = try server.authorizedIdentity()
        let restored = try SSHIdentity(privateKeyRaw: original.privateKeyRaw)
        // act
        let result = try await client.exec("id -un", on: try server.target(), identity: restored, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        // verify
        #expect(result.stdoutText == server.user + "\n")
    }

    @Test func stdoutStderrAndExitStatusAreSeparate() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        // act
        let result = try await client.exec(
            "printf 'to stdout'; printf 'to stderr' >&2; exit 3",
            on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20)
        )
        // verify
        #expect(result.stdoutText == "to stdout")
        #expect(result.stderrText == "to stderr")
        #expect(result.exitStatus == 3)
    }

    @Test func utf8RoundTrips() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let text = "grüße ✓ 日本語 🚀 it's \"quoted\" $HOME"
        // act
        let result = try await client.exec(
            "printf %s " + ShellWord.quote(text), on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20)
        )
        // verify
        #expect(result.stdout == Data(text.utf8))
    }

    @Test func stdinIsClosedSoReadersFinish() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        // act
        let result = try await client.exec("cat; echo done", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(30))
        // verify
        #expect(result.stdoutText == "done\n")
    }

    @Test func commandKilledBySignalReportsTheSignal() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        // act
        let result = try await client.exec("kill -TERM $$", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        // verify
        #expect(result.exitSignal == "TERM")
        #expect(result.exitStatus == -1)
    }

    @Test func unknownKeyFailsAuthenticationQuickly() async throws {
        // setup: a key that is in no authorized_keys
        let server = try TestSSHServer.require()
        let stranger = SSHIdentity.generate(comment: "stranger")
        let clock = ContinuousClock()
        let start = clock.now
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.exec("true", on: try server.target(), identity: stranger, hostKey: .trustOnFirstUse, timeout: .seconds(30))
        }
        // verify
        let elapsed = clock.now - start
        #expect(error?.code == .authenticationFailed)
        #expect(error?.description == "the server rejected the key for user \(server.user) — add the authorized_keys line to ~\(server.user)/.ssh/authorized_keys")
        #expect(elapsed < .seconds(15), "refused at once, not after the 30 s timeout: took \(elapsed)")
    }

    @Test func longCommandTimesOut() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let clock = ContinuousClock()
        let start = clock.now
        // act
        let error = await #expect(throws: SSHError.self) {
            // 20 s: enough to log in on a loaded CI machine, far less than the command's 60 s.
            try await client.exec("sleep 60", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        }
        // verify
        let elapsed = clock.now - start
        #expect(error?.code == .timedOut)
        #expect(error?.description.contains("running the command on") == true, "\(error?.description ?? "")")
        #expect(elapsed < .seconds(45), "cut off at the timeout, not after the command's 60 s: took \(elapsed)")
    }

    @Test func cancellingTheCallerClosesTheConnection() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let target = try server.target()
        let client = self.client
        let directory = try LocalCommand.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let marker = directory.appendingPathComponent("started").path
        let running = Task {
            try await client.exec("touch \(ShellWord.quote(marker)); sleep 30", on: target, identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(60))
        }
        for _ in 0..<750 where !FileManager.default.fileExists(atPath: marker) { try await Task.sleep(for: .milliseconds(20)) }
        try #require(FileManager.default.fileExists(atPath: marker), "the command did not start within 15 s")
        let clock = ContinuousClock()
        let start = clock.now
        // act
        running.cancel()
        let result = await running.result
        // verify
        let elapsed = clock.now - start
        let error = #expect(throws: SSHError.self) { try result.get() }
        #expect(error?.code == .cancelled)
        #expect(error?.description.contains("running the command on") == true, "\(error?.description ?? "")")
        #expect(elapsed < .seconds(10), "stops soon after cancel, not after the command's 30 s: took \(elapsed)")
    }

    @Test func outputOverTheCapIsOutputTooLarge() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let small = DefaultSSHClient(maxOutputBytes: 64 * 1024)
        // act
        let atLimit = try await small.exec("head -c 65536 /dev/zero", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        let error = await #expect(throws: SSHError.self) {
            try await small.exec("head -c 65537 /dev/zero", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        }
        let flood = await #expect(throws: SSHError.self) {
            try await small.exec("yes", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20))
        }
        // verify
        #expect(atLimit.stdout.count == 65536)
        #expect(error?.code == .outputTooLarge)
        #expect(flood?.code == .outputTooLarge)
    }

    @Test func defaultCapAllowsMegabytesOfOutput() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        // act
        let result = try await client.exec("head -c 3000000 /dev/urandom | od -An -v | head -c 4000000", on: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(30))
        // verify
        #expect(result.stdout.count == 4_000_000)
        #expect(result.exitStatus == 0)
    }

    @Test func testConnectionReportsHostKeyFingerprintAndSystem() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let localUname = try LocalCommand.run("/bin/uname", ["-srm"]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        // act
        let report = try await client.testConnection(to: try server.target(), identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(60))
        // verify: the server is this machine
        #expect(report.system == localUname)
        #expect(report.hostKey == (try server.hostKey()))
        #expect(report.hostKeyFingerprint == (try LocalCommand.sshKeygenFingerprint(ofKeyFile: server.hostKeyPubPath)))
        #expect(report.duration > .zero && report.duration < .seconds(60), "the duration is measured: \(report.duration)")
    }
}
