import NIOCore
import NIOSSH

/// The last handler on a connection's pipeline (after `NIOSSHHandler`), confined to its event loop.
///
/// It turns the SSH handshake into one future (`authenticated`, carrying the server's host key),
/// records the first failure of the connection as an `SSHError` (child channels ask for it when
/// they close), and closes the connection when the deadline passes.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Any

    private enum Phase {
        case connecting, handshaking, authenticated
    }

    let target: SSHTarget
    private let timeout: Duration
    private let deadline: NIODeadline
    private let authenticatedPromise: EventLoopPromise<NIOSSHPublicKey>
    private var authenticationSettled = false
    private var phase: Phase = .connecting
    private var presentedHostKey: NIOSSHPublicKey?
    private var deadlineTask: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    /// The first thing that went wrong on this connection, if anything.
    private(set) var failure: SSHError?
    /// What the connection is used for once authenticated, for timeout and cancellation messages.
    var activity: String

    init(target: SSHTarget, timeout: Duration, deadline: NIODeadline, eventLoop: any EventLoop) {
        self.target = target
        self.timeout = timeout
        self.deadline = deadline
        self.authenticatedPromise = eventLoop.makePromise(of: NIOSSHPublicKey.self)
        self.activity = "using the connection to \(target)"
    }

    /// Succeeds with the server's host key once user authentication succeeded; fails with an `SSHError`.
    var authenticated: EventLoopFuture<NIOSSHPublicKey> { authenticatedPromise.futureResult }

    /// The host key validator reports each key the server presents here.
    var lastPresentedHostKey: NIOSSHPublicKey? { presentedHostKey }

    func hostKeyPresented(_ key: NIOSSHPublicKey) {
        presentedHostKey = key
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { phase = .handshaking }
        deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.fail(.timedOut(self.currentActivity, after: self.timeout))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlineTask?.cancel()
        deadlineTask = nil
        self.context = nil
        if !authenticationSettled {
            // Closed before authentication finished, without an error on the pipeline.
            settleAuthentication(.failure(failure ?? closedDuringHandshake))
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        phase = .handshaking
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is UserAuthSuccessEvent {
            phase = .authenticated
            if let key = presentedHostKey {
                settleAuthentication(.success(key))
            } else {
                fail(.protocolError(target.address, reason: "authenticated without a host key being presented"))
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let mapped = SSHErrorMapping.sessionError(error, target: target)
        // A peer that resets or hangs up during the handshake is most likely not (a working) sshd.
        fail(phase == .handshaking && mapped.code == .unreachable ? closedDuringHandshake : mapped)
    }

    /// Records `error` (the first one wins), fails the handshake if still pending, closes the connection.
    func fail(_ error: SSHError) {
        if failure == nil { failure = error }
        if !authenticationSettled { settleAuthentication(.failure(failure ?? error)) }
        context?.close(promise: nil)
    }

    /// The calling task was cancelled: close with a `cancelled` error.
    func cancel() {
        fail(.cancelled(currentActivity))
    }

    /// The deadline no longer applies (an interactive shell lives as long as the user wants).
    func disarmDeadline() {
        deadlineTask?.cancel()
        deadlineTask = nil
    }

    private func settleAuthentication(_ result: Result<NIOSSHPublicKey, SSHError>) {
        authenticationSettled = true
        switch result {
        case .success(let key): authenticatedPromise.succeed(key)
        case .failure(let error): authenticatedPromise.fail(error)
        }
    }

    private var currentActivity: String {
        switch phase {
        case .connecting: "connecting to \(target.address)"
        case .handshaking: "logging in to \(target)"
        case .authenticated: activity
        }
    }

    private var closedDuringHandshake: SSHError {
        switch phase {
        case .connecting:
            .connectionLost(target.address, reason: "the connection closed before it was established")
        case .handshaking, .authenticated:
            .protocolError(
                target.address,
                reason: "the server closed the connection during the handshake (sshd may be refusing connections: check MaxStartups, AllowUsers and its log)"
            )
        }
    }
}
