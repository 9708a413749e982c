import Foundation
import NebulaTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 server on 127.0.0.1 and a free port, answering every request with what `respond`
/// returns. Stands in for the Cloudflare API and for public-IP echo services.
final class TestHTTPServer: Sendable {
    /// One request as the server received it.
    struct Request: Sendable {
        var method: String
        var path: String
        var query: [String: String]
        var headers: HTTPHeaders
        var body: Data

        func json() -> [String: Any]? {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        }
    }

    /// What to answer.
    struct Reply: Sendable {
        var status: HTTPResponseStatus = .ok
        var body: String = ""
        var headers: [(String, String)] = [("Content-Type", "application/json")]
    }

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let port: Int
    private let channel: any Channel
    private let task: Task<Void, Never>

    /// `http://127.0.0.1:<port>`.
    var url: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, channel: any Channel, task: Task<Void, Never>) {
        self.port = port
        self.channel = channel
        self.task = task
    }

    static func start(_ respond: @escaping @Sendable (Request) async -> Reply) async throws -> TestHTTPServer {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        guard let port = server.channel.localAddress?.port else {
            try? await server.channel.close()
            throw ChannelError.unknownLocalAddress
        }
        let channel = server.channel
        let task = Task<Void, Never> {
            _ = try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await serve(connection, respond) }
                    }
                }
            }
        }
        return TestHTTPServer(port: port, channel: channel, task: task)
    }

    private static func serve(_ connection: Connection, _ respond: @escaping @Sendable (Request) async -> Reply) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let received):
                    head = received
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let received = head else { continue }
                    let request = Self.request(received, body: Data(body.readableBytesView))
                    let reply = await respond(request)
                    var headers = HTTPHeaders(reply.headers)
                    headers.replaceOrAdd(name: "Content-Length", value: "\(reply.body.utf8.count)")
                    try await outbound.write(.head(HTTPResponseHead(version: received.version, status: reply.status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: reply.body))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    private static func request(_ head: HTTPRequestHead, body: Data) -> Request {
        let components = URLComponents(string: head.uri)
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        return Request(method: head.method.rawValue, path: components?.path ?? head.uri, query: query, headers: head.headers, body: body)
    }

    func stop() async {
        try? await channel.close()
        task.cancel()
        await task.value
    }
}

/// Runs `body` with a started server and always stops it.
func withTestHTTPServer<T>(_ respond: @escaping @Sendable (TestHTTPServer.Request) async -> TestHTTPServer.Reply,
                           _ body: (TestHTTPServer) async throws -> T) async throws -> T {
    let server = try await TestHTTPServer.start(respond)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// A 127.0.0.1 TCP port nothing listens on.
func closedTCPPort() async throws -> Int {
    // Below the ephemeral range, so a server another test binds to port 0 is never handed it.
    try LoopbackPorts.freePort()
}
