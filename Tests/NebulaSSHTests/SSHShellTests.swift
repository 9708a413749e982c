import NebulaSSH
import Testing

/// PTY shells against the real OpenSSH server started by `start_sshd`.
@Suite(.enabled(if: TestSSHServer.isAvailable, TestSSHServer.skipMessage))
struct SSHShellTests {
    let client = DefaultSSHClient()

    @Test func shellHasTheRequestedTerminalFollowsResizeAndEndsOnExit() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let session = try await client.openShell(
            on: try server.target(), identity: identity, hostKey: .trustOnFirstUse,
            columns: 100, rows: 30, term: "xterm-256color", timeout: .seconds(20)
        )
        let transcript = await TerminalTranscript.reading(session.output)
        // act
        try await session.write(Array("echo TERM=$TERM; stty size\n".utf8))
        let first = try await transcript.waitFor("30 100")
        let offset = await transcript.count
        try await session.resize(columns: 120, rows: 40)
        try await session.write(Array("stty size\n".utf8))
        let second = try await transcript.waitFor("40 120", after: offset)
        try await session.write(Array("exit\n".utf8))
        try await transcript.waitForEnd()
        // verify
        #expect(first.contains("TERM=xterm-256color"))
        #expect(second.contains("40 120"))
        #expect(await session.ending == .exited(status: 0))
        #expect(session.hostKey == (try server.hostKey()))
    }

    @Test func exitStatusOfTheShellIsReported() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let session = try await client.openShell(
            on: try server.target(), identity: identity, hostKey: .trustOnFirstUse,
            columns: 80, rows: 24, term: "xterm", timeout: .seconds(20)
        )
        let transcript = await TerminalTranscript.reading(session.output)
        // act
        try await session.write(Array("exit 7\n".utf8))
        try await transcript.waitForEnd()
        // verify
        #expect(await session.ending == .exited(status: 7))
    }

    @Test func closeEndsTheStreamAndLaterWritesFail() async throws {
        // setup
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity()
        let session = try await client.openShell(
            on: try server.target(), identity: identity, hostKey: .trustOnFirstUse,
            columns: 80, rows: 24, term: "vt100", timeout: .seconds(20)
        )
        let transcript = await TerminalTranscript.reading(session.output)
        try await session.write(Array("echo ready-$((1+1))\n".utf8))
        _ = try await transcript.waitFor("ready-2")
        // act
        await session.close()
        try await transcript.waitForEnd()
        let error = await #expect(throws: SSHError.self) { try await session.write(Array("echo again\n".utf8)) }
        let resizeError = await #expect(throws: SSHError.self) { try await session.resize(columns: 10, rows: 10) }
        // verify
        #expect(await session.ending == .closed)
        #expect(error?.code == .channelFailed)
        #expect(resizeError?.code == .channelFailed)
    }

    @Test func shellWithUnknownKeyFailsAuthentication() async throws {
        // setup
        let server = try TestSSHServer.require()
        // act
        let error = await #expect(throws: SSHError.self) {
            try await client.openShell(
                on: try server.target(), identity: .generate(), hostKey: .trustOnFirstUse,
                columns: 80, rows: 24, term: "xterm", timeout: .seconds(20)
            )
        }
        // verify
        #expect(error?.code == .authenticationFailed, "\(error?.description ?? "")")
    }
}
