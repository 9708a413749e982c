import NebulaSSH
import Testing

/// Failures before any sshd is involved: nothing listening, no such host, a silent or non-SSH peer.
@Suite struct ConnectFailureTests {
    let client = DefaultSSHClient()

    @Test func closedPortIsConnectionRefused() async throws {
        // setup
        let refusing = try RefusingPort()
        let port = refusing.port
        let target = try SSHTarget(host: "127.0.0.1", port: port, username: "root")
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.exec("true", on: target, identity: .generate(), hostKey: .trustOnFirstUse, timeout: .seconds(10))
        }
        // verify
        #expect(error?.code == .connectionRefused)
        #expect(error?.description == "127.0.0.1:\(port) refused the connection — is sshd running on that port?")
        withExtendedLifetime(refusing) {}
    }

    @Test func unknownHostIsUnreachable() async throws {
        // setup: .invalid never resolves (RFC 2606)
        let target = try SSHTarget(host: "no-such-host.invalid", port: 22, username: "root")
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.exec("true", on: target, identity: .generate(), hostKey: .trustOnFirstUse, timeout: .seconds(10))
        }
        // verify
        #expect(error?.code == .unreachable)
        #expect(error?.description.contains("no-such-host.invalid does not resolve") == true, "\(error?.description ?? "")")
    }

    @Test func silentPeerTimesOutWithinTheTimeout() async throws {
        // setup: accepts TCP, never sends the SSH version line
        let server = try await LoopbackTCPServer.start(greeting: nil)
        defer { Task { await server.stop() } }
        let target = try SSHTarget(host: "127.0.0.1", port: server.port, username: "root")
        let clock = ContinuousClock()
        let start = clock.now
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.exec("true", on: target, identity: .generate(), hostKey: .trustOnFirstUse, timeout: .seconds(1))
        }
        // verify
        let elapsed = clock.now - start
        #expect(error?.code == .timedOut)
        #expect(error?.description.contains("logging in to root@127.0.0.1:\(server.port)") == true, "\(error?.description ?? "")")
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10), "gave up at the 1 s timeout (a loaded machine adds a little): took \(elapsed)")
    }

    @Test func nonSSHPeerIsProtocolError() async throws {
        // setup
        let server = try await LoopbackTCPServer.start(greeting: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        defer { Task { await server.stop() } }
        let target = try SSHTarget(host: "127.0.0.1", port: server.port, username: "root")
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.exec("true", on: target, identity: .generate(), hostKey: .trustOnFirstUse, timeout: .seconds(10))
        }
        // verify
        #expect(error?.code == .protocolError, "\(error?.description ?? "")")
    }

    @Test func malformedPinnedKeyIsInvalidKeyBeforeConnecting() async throws {
        // setup: a closed port; the pinned key must be rejected first
        let refusing = try RefusingPort()
        let port = refusing.port
        let target = try SSHTarget(host: "127.0.0.1", port: port, username: "root")
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.exec("true", on: target, identity: .generate(), hostKey: .pinned("ssh-ed25519 !!!"), timeout: .seconds(10))
        }
        // verify
        #expect(error?.code == .invalidKey)
        #expect(error?.description.contains("pinned host key") == true)
    }
}
