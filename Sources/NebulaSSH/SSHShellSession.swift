import NIOCore
import NIOSSH

/// How an interactive shell ended.
public enum SSHShellEnding: Sendable, Equatable {
    /// The shell exited with this status (`exit 0`, logout).
    case exited(status: Int32)
    /// The shell was killed by this signal (`"HUP"`, `"KILL"`, …).
    case killed(signal: String)
    /// `SSHShellSession.close()` (or cancelling the reader of `output`) closed the session.
    case closed
    /// The connection broke; the error says how.
    case failed(SSHError)
}

/// A login shell on a pseudo-terminal, for a web terminal: read `output`, send keystrokes with
/// `write`, follow the browser window with `resize`.
///
/// All stored properties are immutable and `Sendable` (NIO channels and futures are thread-safe;
/// the channel handler is reached only through `NIOLoopBound` on its event loop).
public final class SSHShellSession: Sendable {
    /// Where the shell runs.
    public let target: SSHTarget
    /// The server's host key in OpenSSH format, to pin after a first use.
    public let hostKey: String
    /// Everything the terminal prints (stdout and stderr merged), as raw bytes in arrival order.
    /// Finishes when the shell exits or the session is closed. Unbounded buffer: keep reading it.
    /// Cancelling the task that iterates it closes the session.
    public let output: AsyncStream<[UInt8]>

    private let child: any Channel
    private let connection: any Channel
    private let handler: NIOLoopBound<ShellHandler>
    private let endedFuture: EventLoopFuture<SSHShellEnding>

    init(
        target: SSHTarget,
        hostKey: String,
        output: AsyncStream<[UInt8]>,
        child: any Channel,
        connection: any Channel,
        handler: NIOLoopBound<ShellHandler>,
        ended: EventLoopFuture<SSHShellEnding>
    ) {
        self.target = target
        self.hostKey = hostKey
        self.output = output
        self.child = child
        self.connection = connection
        self.handler = handler
        self.endedFuture = ended
    }

    deinit {
        // A session nobody holds any more must not keep a login open on the server.
        connection.close(promise: nil)
    }

    /// Sends keystrokes (or pasted text) to the shell.
    ///
    /// - Throws: `SSHError` `channel_failed` when the session has ended.
    public func write(_ bytes: [UInt8]) async throws(SSHError) {
        guard !bytes.isEmpty else { return }
        let data = SSHChannelData(type: .channel, data: .byteBuffer(ByteBuffer(bytes: bytes)))
        do {
            try await child.writeAndFlush(data).get()
        } catch {
            throw ended
        }
    }

    /// Tells the shell the terminal is now `columns` × `rows` (SIGWINCH on the remote side).
    /// Values are clamped to 1…10000.
    ///
    /// - Throws: `SSHError` `channel_failed` when the session has ended.
    public func resize(columns: Int, rows: Int) async throws(SSHError) {
        let request = SSHChannelRequestEvent.WindowChangeRequest(
            terminalCharacterWidth: Self.clamp(columns),
            terminalRowHeight: Self.clamp(rows),
            terminalPixelWidth: 0,
            terminalPixelHeight: 0
        )
        do {
            try await child.triggerUserOutboundEvent(request).get()
        } catch {
            throw ended
        }
    }

    /// Closes the session and its connection; `ending` becomes `.closed` unless the shell had already ended.
    public func close() async {
        let handler = self.handler
        try? await connection.eventLoop.submit { handler.value.markClosedLocally() }.get()
        try? await connection.close().get()
        _ = try? await endedFuture.get()
    }

    /// How the session ended; waits until it has. `output` is finished by then.
    public var ending: SSHShellEnding {
        get async {
            // `ended` is only ever succeeded (see ShellHandler.finish), never failed.
            (try? await endedFuture.get()) ?? .closed
        }
    }

    private var ended: SSHError {
        .channelFailed("the shell session on \(target) has ended — open a new one")
    }

    static func clamp(_ value: Int) -> Int { min(max(value, 1), 10_000) }
}
