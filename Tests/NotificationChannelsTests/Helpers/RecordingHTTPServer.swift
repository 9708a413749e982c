import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request as the loopback server received it.
struct RecordedRequest: Sendable {
    var method: String
    var uri: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first value of header `name` (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as a JSON object.
    func jsonObject() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw TestSetupError("body is not a JSON object: \(bodyText)")
        }
        return object
    }
}

/// How the loopback server answers every request.
enum ServerReply: Sendable {
    /// Answer with `status`, `headers` and `body`.
    case respond(status: Int, headers: [(String, String)] = [], body: String = "")
    /// Read the request and never answer (to test timeouts).
    case never
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An HTTP/1.1 server on 127.0.0.1 and a free port that records every request and answers each
/// with one chosen reply.
final class RecordingHTTPServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let recorded: NIOLockedValueBox<[RecordedRequest]>

    private init(port: Int, channel: any Channel, recorded: NIOLockedValueBox<[RecordedRequest]>) {
        self.port = port
        self.channel = channel
        self.recorded = recorded
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Every request received so far, in order.
    var requests: [RecordedRequest] { recorded.withLockedValue { $0 } }

    static func start(reply: ServerReply) async throws -> RecordingHTTPServer {
        let recorded = NIOLockedValueBox<[RecordedRequest]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    try child.pipeline.syncOperations.addHandler(RecordingHandler(reply: reply, recorded: recorded))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else { throw TestSetupError("no local port") }
        return RecordingHTTPServer(port: port, channel: channel, recorded: recorded)
    }

    func stop() async {
        try? await channel.close().get()
    }
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let reply: ServerReply
    private let recorded: NIOLockedValueBox<[RecordedRequest]>
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(reply: ServerReply, recorded: NIOLockedValueBox<[RecordedRequest]>) {
        self.reply = reply
        self.recorded = recorded
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            recorded.withLockedValue {
                $0.append(RecordedRequest(method: head.method.rawValue, uri: head.uri,
                                          headers: head.headers.map { (name: $0.name, value: $0.value) }, body: body))
            }
            guard case .respond(let status, let headers, let text) = reply else { return }
            var responseHeaders = HTTPHeaders(headers)
            responseHeaders.replaceOrAdd(name: "Content-Length", value: String(text.utf8.count))
            let responseHead = HTTPResponseHead(version: head.version,
                                                status: HTTPResponseStatus(statusCode: status),
                                                headers: responseHeaders)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// A loopback TCP port held by a socket that is bound but never listens: connecting to it is
/// refused, and no other test can take the port while this value lives.
final class RefusingPort: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: \(errno)") }
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
            throw TestSetupError("bind: \(errno)")
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
