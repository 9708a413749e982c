import NIOCore
import NIOPosix
import NIOSSH

/// One authenticated SSH connection, used for one exec or one shell and then closed.
struct SSHConnection: Sendable {
    let target: SSHTarget
    let channel: any Channel
    /// The server's host key, as presented (and accepted) during the handshake.
    let hostKey: NIOSSHPublicKey
    private let handler: NIOLoopBound<ConnectionHandler>

    private init(target: SSHTarget, channel: any Channel, hostKey: NIOSSHPublicKey, handler: NIOLoopBound<ConnectionHandler>) {
        self.target = target
        self.channel = channel
        self.hostKey = hostKey
        self.handler = handler
    }

    /// Connects, checks the host key and logs in; `timeout` keeps running after this returns (it
    /// bounds the whole operation) until `disarmDeadline` or `close`.
    static func open(
        to target: SSHTarget,
        identity: SSHIdentity,
        hostKey policy: HostKeyPolicy,
        timeout: Duration,
        group: any EventLoopGroup
    ) async throws(SSHError) -> SSHConnection {
        let pinned: NIOSSHPublicKey?
        switch policy {
        case .trustOnFirstUse:
            pinned = nil
        case .pinned(let text):
            do {
                pinned = try OpenSSHPublicKeyText.parse(text)
            } catch {
                throw .invalidKey("the pinned host key for \(target.address) is unusable: \(error.description) — clear it and trust the key on first use again")
            }
        }
        let privateKey = identity.nioPrivateKey
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)

        // The initializer hands back the handler and its handshake future: by the time we could
        // look them up in the pipeline, a fast failure may already have closed the channel.
        let channel: any Channel
        let handler: NIOLoopBound<ConnectionHandler>
        let authenticated: EventLoopFuture<NIOSSHPublicKey>
        do {
            (channel, handler, authenticated) = try await bootstrap.connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = ConnectionHandler(target: target, timeout: timeout, deadline: deadline, eventLoop: channel.eventLoop)
                    let configuration = SSHClientConfiguration(
                        userAuthDelegate: PublicKeyOffer(username: target.username, key: privateKey),
                        serverAuthDelegate: HostKeyCheck(pinned: pinned, connection: connection)
                    )
                    let ssh = NIOSSHHandler(role: .client(configuration), allocator: channel.allocator, inboundChildChannelInitializer: nil)
                    try channel.pipeline.syncOperations.addHandlers(ssh, connection)
                    return (channel, NIOLoopBound(connection, eventLoop: channel.eventLoop), connection.authenticated)
                }
            }
        } catch {
            throw SSHErrorMapping.connectError(error, target: target, timeout: timeout)
        }
        let hostKey = try await awaitCancellable(authenticated, channel: channel, handler: handler, target: target)
        return SSHConnection(target: target, channel: channel, hostKey: hostKey, handler: handler)
    }

    /// Runs `command` on a new session channel; fails with `output_too_large` past `limit` bytes.
    func exec(_ command: String, limit: Int) async throws(SSHError) -> ExecOutcome {
        let channel = self.channel
        let handler = self.handler
        let future: EventLoopFuture<ExecOutcome> = channel.eventLoop.flatSubmit {
            let connection = handler.value
            connection.activity = "running the command on \(connection.target)"
            let done = channel.eventLoop.makePromise(of: ExecOutcome.self)
            let created = channel.eventLoop.makePromise(of: (any Channel).self)
            created.futureResult.assumeIsolated().whenFailure { error in
                done.fail(connection.failure ?? (error as? SSHError) ?? .channelFailed("the server refused to open a session channel: \(error)"))
            }
            do {
                let ssh = try channel.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
                ssh.createChannel(created, channelType: .session) { child, _ in
                    child.eventLoop.makeCompletedFuture {
                        let exec = ExecHandler(command: command, limit: limit, done: done, connection: connection, allocator: child.allocator)
                        try child.pipeline.syncOperations.addHandler(exec)
                    }
                }
            } catch {
                // The SSH handler is gone: the connection closed right after login.
                created.fail(SSHError.connectionLost(connection.target.address, reason: "the connection closed right after login"))
            }
            return done.futureResult
        }
        return try await Self.awaitCancellable(future, channel: channel, handler: handler, target: target)
    }

    /// Opens a PTY and a login shell on a new session channel. On success the deadline is disarmed.
    func openShell(columns: Int, rows: Int, term: String) async throws(SSHError) -> SSHShellSession {
        let (output, continuation) = AsyncStream<[UInt8]>.makeStream()
        let channel = self.channel
        continuation.onTermination = { reason in
            // The reader went away (its task was cancelled): nobody will read the terminal any more.
            if case .cancelled = reason { channel.close(promise: nil) }
        }
        let handler = self.handler
        let ended = channel.eventLoop.makePromise(of: SSHShellEnding.self)
        let future: EventLoopFuture<(any Channel, NIOLoopBound<ShellHandler>)> = channel.eventLoop.flatSubmit {
            let connection = handler.value
            connection.activity = "opening a shell on \(connection.target)"
            let ready = channel.eventLoop.makePromise(of: Void.self)
            let created = channel.eventLoop.makePromise(of: (any Channel).self)
            let shell = ShellHandler(
                term: term, columns: columns, rows: rows, output: continuation, ready: ready, ended: ended, connection: connection
            )
            created.futureResult.assumeIsolated().whenFailure { error in
                // The shell handler never ran: settle what it would have.
                let failure = connection.failure ?? (error as? SSHError) ?? .channelFailed("the server refused to open a session channel: \(error)")
                continuation.finish()
                ready.fail(failure)
                ended.succeed(.failed(failure))
                channel.close(promise: nil)
            }
            do {
                let ssh = try channel.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
                ssh.createChannel(created, channelType: .session) { child, _ in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.addHandler(shell)
                    }
                }
            } catch {
                // The SSH handler is gone: the connection closed right after login.
                created.fail(SSHError.connectionLost(connection.target.address, reason: "the connection closed right after login"))
            }
            let boundShell = NIOLoopBound(shell, eventLoop: channel.eventLoop)
            return created.futureResult.and(ready.futureResult).assumeIsolated().map { child, _ in
                connection.disarmDeadline()
                connection.activity = "using the shell on \(connection.target)"
                return (child, boundShell)
            }.nonisolated()
        }
        let (child, shell) = try await Self.awaitCancellable(future, channel: channel, handler: handler, target: target)
        return SSHShellSession(
            target: target,
            hostKey: String(openSSHPublicKey: hostKey),
            output: output,
            child: child,
            connection: channel,
            handler: shell,
            ended: ended.futureResult
        )
    }

    /// Closes the connection (no-op if already closed).
    func close() async {
        try? await channel.close().get()
    }

    /// Awaits `future`; when the calling task is cancelled, closes the connection with a `cancelled` error.
    private static func awaitCancellable<T: Sendable>(
        _ future: EventLoopFuture<T>,
        channel: any Channel,
        handler: NIOLoopBound<ConnectionHandler>,
        target: SSHTarget
    ) async throws(SSHError) -> T {
        let result: Result<T, SSHError> = await withTaskCancellationHandler {
            do {
                return .success(try await future.get())
            } catch {
                return .failure(SSHErrorMapping.sessionError(error, target: target))
            }
        } onCancel: {
            channel.eventLoop.execute { handler.value.cancel() }
        }
        return try result.get()
    }
}
