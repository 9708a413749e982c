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

/// A loopback TCP port held by a socket that is bound but never listens: connecting to it is
/// refused, and no other test can take the port while this value lives (a released port could be
/// reused by a parallel test before the connection attempt).
final class RefusingPort: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError.commandFailed("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            close(fd)
            throw TestSetupError.commandFailed("bind: \(errno)")
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
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
