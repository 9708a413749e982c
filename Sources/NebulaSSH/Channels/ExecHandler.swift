import NIOCore
import NIOSSH

/// What a finished exec channel collected.
struct ExecOutcome: Sendable {
    var stdout: ByteBuffer
    var stderr: ByteBuffer
    var exitStatus: Int?
    var exitSignal: String?
}

/// Runs one command on a session channel: sends the exec request, closes stdin, collects stdout and
/// stderr up to `limit` bytes, and completes `done` when the channel closes. Confined to the
/// connection's event loop (child channels share their parent's loop).
final class ExecHandler: ChannelInboundHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    private enum State {
        case idle, awaitingReply, running, finished
    }

    private let command: String
    private let limit: Int
    private let done: EventLoopPromise<ExecOutcome>
    private let connection: ConnectionHandler
    private var state: State = .idle
    private var outcome: ExecOutcome
    private var failure: SSHError?

    init(command: String, limit: Int, done: EventLoopPromise<ExecOutcome>, connection: ConnectionHandler, allocator: ByteBufferAllocator) {
        self.command = command
        self.limit = limit
        self.done = done
        self.connection = connection
        self.outcome = ExecOutcome(stdout: allocator.buffer(capacity: 0), stderr: allocator.buffer(capacity: 0))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Keep the channel open after the server's EOF: exit-status arrives after it.
        context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).whenFailure { _ in }
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .awaitingReply
        let request = SSHChannelRequestEvent.ExecRequest(command: command, wantReply: true)
        context.triggerUserOutboundEvent(request, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelSuccessEvent where state == .awaitingReply:
            state = .running
            // The command gets no input: send EOF so programs reading stdin finish.
            context.close(mode: .output, promise: nil)
        case is ChannelFailureEvent where state == .awaitingReply:
            fail(.channelFailed("the server refused to run the command for user \(connection.target.username) (exec request denied — check ForceCommand / the shell of that user)"), context: context)
        case let status as SSHChannelRequestEvent.ExitStatus:
            outcome.exitStatus = status.exitStatus
        case let signal as SSHChannelRequestEvent.ExitSignal:
            outcome.exitSignal = signal.signalName
        case let event as ChannelEvent where event == .inputClosed:
            break  // stdout/stderr ended; exit-status and close follow
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .byteBuffer(var bytes) = message.data else { return }
        guard outcome.stdout.readableBytes + outcome.stderr.readableBytes + bytes.readableBytes <= limit else {
            fail(.outputTooLarge(limit: limit), context: context)
            return
        }
        if message.type == .stdErr {
            outcome.stderr.writeBuffer(&bytes)
        } else {
            outcome.stdout.writeBuffer(&bytes)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(SSHErrorMapping.sessionError(error, target: connection.target), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
    }

    private func fail(_ error: SSHError, context: ChannelHandlerContext) {
        if failure == nil { failure = error }
        context.close(promise: nil)
    }

    private func finish() {
        guard state != .finished else { return }
        let started = state != .idle
        state = .finished
        if let error = connection.failure ?? failure {
            done.fail(error)
        } else if outcome.exitStatus != nil || outcome.exitSignal != nil {
            done.succeed(outcome)
        } else if !started {
            done.fail(SSHError.channelFailed("the server refused to open a session channel for user \(connection.target.username)"))
        } else {
            done.fail(
                SSHError.connectionLost(connection.target.address, reason: "the session closed before the command reported an exit status")
            )
        }
    }
}
