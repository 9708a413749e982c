import NIOCore
import NIOSSH

/// Drives an interactive session channel: PTY request, then shell request, then passes every byte
/// the shell prints (stdout and stderr) to `output`. Completes `ready` when the shell runs and
/// `ended` when the channel closes, then closes the connection. Confined to the connection's loop.
final class ShellHandler: ChannelInboundHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    private enum State {
        case idle, requestingTerminal, requestingShell, running, ended
    }

    private let term: String
    private let columns: Int
    private let rows: Int
    private let output: AsyncStream<[UInt8]>.Continuation
    private let ready: EventLoopPromise<Void>
    private let ended: EventLoopPromise<SSHShellEnding>
    private let connection: ConnectionHandler
    private var state: State = .idle
    private var exitStatus: Int?
    private var exitSignal: String?
    private var failure: SSHError?
    private var closedLocally = false

    init(
        term: String,
        columns: Int,
        rows: Int,
        output: AsyncStream<[UInt8]>.Continuation,
        ready: EventLoopPromise<Void>,
        ended: EventLoopPromise<SSHShellEnding>,
        connection: ConnectionHandler
    ) {
        self.term = term
        self.columns = columns
        self.rows = rows
        self.output = output
        self.ready = ready
        self.ended = ended
        self.connection = connection
    }

    /// `SSHShellSession.close()` is closing the connection: the ending is `.closed`, not a failure.
    func markClosedLocally() {
        closedLocally = true
    }

    func handlerAdded(context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).whenFailure { _ in }
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .requestingTerminal
        let request = SSHChannelRequestEvent.PseudoTerminalRequest(
            wantReply: true,
            term: term,
            terminalCharacterWidth: columns,
            terminalRowHeight: rows,
            terminalPixelWidth: 0,
            terminalPixelHeight: 0,
            terminalModes: SSHTerminalModes([:])
        )
        context.triggerUserOutboundEvent(request, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelSuccessEvent where state == .requestingTerminal:
            state = .requestingShell
            context.triggerUserOutboundEvent(SSHChannelRequestEvent.ShellRequest(wantReply: true), promise: nil)
        case is ChannelSuccessEvent where state == .requestingShell:
            state = .running
            ready.succeed(())
        case is ChannelFailureEvent where state == .requestingTerminal:
            fail(.channelFailed("the server refused to allocate a terminal for user \(connection.target.username) (PermitTTY no in its sshd_config?)"), context: context)
        case is ChannelFailureEvent where state == .requestingShell:
            fail(.channelFailed("the server refused to start a shell for user \(connection.target.username) (check that user's login shell)"), context: context)
        case let status as SSHChannelRequestEvent.ExitStatus:
            exitStatus = status.exitStatus
        case let signal as SSHChannelRequestEvent.ExitSignal:
            exitSignal = signal.signalName
        case let event as ChannelEvent where event == .inputClosed:
            break  // the shell closed its output; exit-status and close follow
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .byteBuffer(let bytes) = message.data, bytes.readableBytes > 0 else { return }
        output.yield(Array(bytes.readableBytesView))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(SSHErrorMapping.sessionError(error, target: connection.target), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(parent: context.channel.parent)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(parent: context.channel.parent)
    }

    private func fail(_ error: SSHError, context: ChannelHandlerContext) {
        if failure == nil { failure = error }
        context.close(promise: nil)
    }

    private func finish(parent: (any Channel)?) {
        guard state != .ended else { return }
        let wasRunning = state == .running
        state = .ended
        output.finish()
        let error = connection.failure ?? failure
        if !wasRunning {
            ready.fail(error ?? SSHError.channelFailed("the server closed the session before the shell started for user \(connection.target.username)"))
        }
        let ending: SSHShellEnding
        if let exitStatus {
            ending = .exited(status: Int32(truncatingIfNeeded: exitStatus))
        } else if let exitSignal {
            ending = .killed(signal: exitSignal)
        } else if closedLocally {
            ending = .closed
        } else {
            ending = .failed(error ?? .connectionLost(connection.target.address, reason: "the session closed without an exit status"))
        }
        ended.succeed(ending)
        // One connection per shell: when the shell is gone, so is the connection.
        parent?.close(promise: nil)
    }
}
