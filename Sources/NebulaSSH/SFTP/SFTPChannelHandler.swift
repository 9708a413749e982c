import NIOCore
import NIOSSH

/// Speaks SFTP version 3 on one session channel: asks for the `sftp` subsystem, sends `INIT`, checks
/// `VERSION`, then frames requests (`uint32 length, byte type, uint32 id, …`) and matches replies to
/// their requests by id. Every request has its own deadline; a server that does not answer in time,
/// or breaks the framing, ends the whole session. Confined to the connection's event loop.
final class SFTPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    /// The largest packet accepted in either direction (OpenSSH's sftp-server uses the same limit).
    static let maxPacketLength = 256 * 1024

    private enum State {
        case idle, requestingSubsystem, awaitingVersion, ready, closed
    }

    private struct Pending {
        let promise: EventLoopPromise<SFTPReply>
        let timer: Scheduled<Void>?
    }

    private let ready: EventLoopPromise<Void>
    private let connection: ConnectionHandler
    private let requestTimeout: Duration
    private var state: State = .idle
    private var context: ChannelHandlerContext?
    private var inbound = ByteBuffer()
    private var nextID: UInt32 = 1
    private var pending: [UInt32: Pending] = [:]
    private var failure: SFTPError?
    private var closedLocally = false

    init(ready: EventLoopPromise<Void>, connection: ConnectionHandler, requestTimeout: Duration) {
        self.ready = ready
        self.connection = connection
        self.requestTimeout = requestTimeout
    }

    // MARK: Requests

    /// Sends `requests` (one flush) and returns one future per request, failed with an `SFTPError`
    /// when the session is or becomes unusable.
    func send(_ requests: [SFTPRequest], eventLoop: any EventLoop) -> [EventLoopFuture<SFTPReply>] {
        guard state == .ready, failure == nil, let context else {
            let error = closedLocally ? .closed : (failure ?? .closed)
            return requests.map { _ in eventLoop.makeFailedFuture(error) }
        }
        var futures: [EventLoopFuture<SFTPReply>] = []
        futures.reserveCapacity(requests.count)
        for request in requests {
            let promise = context.eventLoop.makePromise(of: SFTPReply.self)
            futures.append(promise.futureResult)
            if let path = request.paths.first(where: { $0.utf8.contains(0) }) {
                promise.fail(SFTPError.invalidArgument("the path contains a NUL byte, which SFTP servers cut the path at", path: path))
                continue
            }
            guard request.approximateSize <= Self.maxPacketLength else {
                promise.fail(SFTPError.invalidArgument("the request is larger than the \(Self.maxPacketLength)-byte SFTP packet limit"))
                continue
            }
            let id = nextID
            nextID = nextID &+ 1
            var buffer = context.channel.allocator.buffer(capacity: request.approximateSize + 16)
            request.encode(id: id, into: &buffer)
            let timeout = requestTimeout
            let timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
                self.fail(.connection(.timedOut("waiting for the SFTP server on \(self.connection.target) to answer", after: timeout)))
            }
            pending[id] = Pending(promise: promise, timer: timer)
            context.write(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(buffer))), promise: nil)
        }
        context.flush()
        return futures
    }

    /// ``SFTPSession/close()`` is closing the session: outstanding requests fail with `session_closed`.
    func markClosedLocally() {
        closedLocally = true
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .requestingSubsystem
        context.triggerUserOutboundEvent(SSHChannelRequestEvent.SubsystemRequest(subsystem: "sftp", wantReply: true), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelSuccessEvent where state == .requestingSubsystem:
            state = .awaitingVersion
            var hello = context.channel.allocator.buffer(capacity: 9)
            hello.writeInteger(UInt32(5))
            hello.writeInteger(SFTPPacketType.initialize)
            hello.writeInteger(UInt32(3))
            context.writeAndFlush(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(hello))), promise: nil)
        case is ChannelFailureEvent where state == .requestingSubsystem:
            failOpening(.channelFailed(
                "the server refused the sftp subsystem for user \(connection.target.username) — add `Subsystem sftp /usr/lib/openssh/sftp-server` (or internal-sftp) to its sshd_config"
            ))
        case let event as ChannelEvent where event == .inputClosed:
            context.close(promise: nil)   // sftp-server exited
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard message.type == .channel, case .byteBuffer(var bytes) = message.data else { return }   // stderr: ignored
        inbound.writeBuffer(&bytes)
        while failure == nil, state == .awaitingVersion || state == .ready, let length = inbound.getInteger(at: inbound.readerIndex, as: UInt32.self) {
            guard length >= 5, length <= Self.maxPacketLength else {
                fail(.protocolViolation("the server sent a packet of \(length) bytes (accepted: 5…\(Self.maxPacketLength))"))
                return
            }
            guard inbound.readableBytes >= 4 + Int(length) else { break }
            inbound.moveReaderIndex(forwardBy: 4)
            guard var packet = inbound.readSlice(length: Int(length)) else { break }
            handle(packet: &packet)
        }
        inbound.discardReadBytes()
    }

    private func handle(packet: inout ByteBuffer) {
        guard let type = packet.readInteger(as: UInt8.self) else { return }
        if state == .awaitingVersion {
            guard type == SFTPPacketType.version, let version = packet.readInteger(as: UInt32.self) else {
                failOpening(.protocolError(connection.target.address, reason: "the sftp subsystem did not answer INIT with VERSION"))
                return
            }
            guard version == 3 else {
                failOpening(.protocolError(connection.target.address, reason: "the SFTP server speaks version \(version); this client speaks version 3"))
                return
            }
            state = .ready
            ready.succeed(())
            return
        }
        guard let id = packet.readInteger(as: UInt32.self) else {
            fail(.protocolViolation("a reply of type \(type) has no request id"))
            return
        }
        guard let request = pending.removeValue(forKey: id) else {
            fail(.protocolViolation("a reply for request id \(id), which is not outstanding"))
            return
        }
        request.timer?.cancel()
        guard let reply = SFTPReply.decode(type: type, body: &packet) else {
            request.promise.fail(SFTPError.protocolViolation("a malformed reply of type \(type)"))
            fail(.protocolViolation("a malformed reply of type \(type)"))
            return
        }
        request.promise.succeed(reply)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.connection(SSHErrorMapping.sessionError(error, target: connection.target)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(parent: context.channel.parent)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(parent: context.channel.parent)
        self.context = nil
    }

    // MARK: Ending

    /// Fails every outstanding and later request with `error` (the first error wins) and closes the session.
    private func fail(_ error: SFTPError) {
        if failure == nil { failure = error }
        if state == .requestingSubsystem || state == .awaitingVersion {
            failOpening(error.connectionError ?? .protocolError(connection.target.address, reason: error.description))
            return
        }
        failPending()
        context?.close(promise: nil)
    }

    private func failOpening(_ error: SSHError) {
        if failure == nil { failure = .connection(error) }
        state = .closed
        ready.fail(connection.failure ?? error)
        failPending()
        context?.close(promise: nil)
        context?.channel.parent?.close(promise: nil)
    }

    private func failPending() {
        let error = closedLocally ? .closed : (failure ?? connection.failure.map(SFTPError.connection) ?? .closed)
        let outstanding = pending
        pending = [:]
        for request in outstanding.values {
            request.timer?.cancel()
            request.promise.fail(error)
        }
    }

    private func finish(parent: (any Channel)?) {
        guard state != .closed else { return }
        let wasOpening = state != .ready
        state = .closed
        if failure == nil, !closedLocally, let lost = connection.failure { failure = .connection(lost) }
        if wasOpening {
            ready.fail(connection.failure ?? .channelFailed("the server closed the session before the sftp subsystem started for user \(connection.target.username)"))
        }
        failPending()
        // One connection per SFTP session: when the subsystem is gone, so is the connection.
        parent?.close(promise: nil)
    }
}
