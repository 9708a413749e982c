import NIOCore
import NIOPosix

/// A TCP server on 127.0.0.1 that is not sshd: it either says nothing (to test timeouts) or sends a
/// greeting and hangs up (to test protocol errors).
struct LoopbackTCPServer: Sendable {
    let channel: any Channel
    let port: Int

    static func start(greeting: String?) async throws -> LoopbackTCPServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    if let greeting {
                        try child.pipeline.syncOperations.addHandler(GreetAndHangUp(greeting: greeting))
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else { throw TestSetupError.commandFailed("no local port") }
        return LoopbackTCPServer(channel: channel, port: port)
    }

    /// A port on 127.0.0.1 where nothing listens (bound, then released).
    static func closedPort() async throws -> Int {
        let server = try await start(greeting: nil)
        await server.stop()
        return server.port
    }

    func stop() async {
        try? await channel.close().get()
    }
}

private final class GreetAndHangUp: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let greeting: String

    init(greeting: String) { self.greeting = greeting }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: greeting)), promise: nil)
        context.close(promise: nil)
    }
}
