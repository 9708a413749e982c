import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 server on 127.0.0.1 and a free port, answering every request with what `respond`
/// returns — a whole body, or a body streamed in chunks (chunked encoding) that may be cut off by
/// closing the connection. Stands in for model providers (OpenAI-compatible servers, Ollama,
/// Anthropic; see ``FakeModelServer``), the Cloudflare API and public-IP echo services.
public final class TestHTTPServer: Sendable {
    /// One request as the server received it.
    public struct Request: Sendable {
        public var method: String
        /// The path without the query string, e.g. `/v1/models`.
        public var path: String
        /// The query string's items (the last value wins for a repeated name; `""` for a bare name).
        public var query: [String: String]
        public var headers: HTTPHeaders
        public var body: Data

        public init(method: String, path: String, query: [String: String] = [:], headers: HTTPHeaders = [:], body: Data = Data()) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }

        /// The body as a JSON object, or nil when it is not one.
        public func json() -> [String: Any]? {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        }
    }

    /// What to answer.
    public struct Reply: Sendable {
        public var status: HTTPResponseStatus
        /// The whole body, sent with a Content-Length (when `chunks` is nil).
        public var body: String
        public var headers: [(String, String)]
        /// A streamed body: each chunk written (and flushed) separately, `delay` apart.
        public var chunks: [String]?
        /// The pause after each chunk.
        public var delay: Duration
        /// Extra pauses before chunk `index` (e.g. a slow first token after an immediate role frame).
        public var pauseBefore: [Int: Duration]
        /// Close the connection after the chunks instead of ending the body.
        public var abort: Bool
        /// Called with a chunk's index just before the chunk is written (e.g. to change state the
        /// moment a final line goes out).
        public var beforeChunk: (@Sendable (Int) -> Void)?

        public init(status: HTTPResponseStatus = .ok, body: String = "", headers: [(String, String)] = [("Content-Type", "application/json")],
                    chunks: [String]? = nil, delay: Duration = .milliseconds(20), pauseBefore: [Int: Duration] = [:], abort: Bool = false,
                    beforeChunk: (@Sendable (Int) -> Void)? = nil) {
            self.status = status
            self.body = body
            self.headers = headers
            self.chunks = chunks
            self.delay = delay
            self.pauseBefore = pauseBefore
            self.abort = abort
            self.beforeChunk = beforeChunk
        }

        /// A whole JSON body.
        public static func json(_ body: String, status: HTTPResponseStatus = .ok) -> Reply {
            Reply(status: status, body: body)
        }

        /// A body streamed in `chunks`, `delay` apart; cut off by closing the connection when `abort`.
        public static func streamed(_ chunks: [String], contentType: String, status: HTTPResponseStatus = .ok,
                                    delay: Duration = .milliseconds(20), abort: Bool = false) -> Reply {
            Reply(status: status, headers: [("Content-Type", contentType)], chunks: chunks, delay: delay, abort: abort)
        }
    }

    struct Aborted: Error {}

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    public let port: Int
    private let channel: any Channel
    private let task: Task<Void, Never>

    /// `http://127.0.0.1:<port>`.
    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    private init(port: Int, channel: any Channel, task: Task<Void, Never>) {
        self.port = port
        self.channel = channel
        self.task = task
    }

    /// Starts a server answering each request with `respond`'s reply. Call ``stop()`` when done
    /// (or use ``withTestHTTPServer(_:_:)``).
    public static func start(_ respond: @escaping @Sendable (Request) async -> Reply) async throws -> TestHTTPServer {
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
                    let reply = await respond(Self.request(received, body: Data(body.readableBytesView)))
                    var headers = HTTPHeaders(reply.headers)
                    if let chunks = reply.chunks {
                        headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
                        try await outbound.write(.head(HTTPResponseHead(version: received.version, status: reply.status, headers: headers)))
                        for (index, chunk) in chunks.enumerated() {
                            if let pause = reply.pauseBefore[index] { try await Task.sleep(for: pause) }
                            reply.beforeChunk?(index)
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: chunk))))
                            try await Task.sleep(for: reply.delay)
                        }
                        if reply.abort {
                            // The writer hands bytes to the socket after `write` returns, and a
                            // close drops what it has not sent yet: give it time to send every
                            // chunk, then cut (executeThenClose closes the connection).
                            try await Task.sleep(for: .milliseconds(500))
                            throw Aborted()
                        }
                    } else {
                        headers.replaceOrAdd(name: "Content-Length", value: "\(reply.body.utf8.count)")
                        try await outbound.write(.head(HTTPResponseHead(version: received.version, status: reply.status, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: reply.body))))
                    }
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

    /// Closes the listener and every open connection (a reply still streaming is cut off).
    public func stop() async {
        try? await channel.close()
        task.cancel()
        await task.value
    }
}

/// Runs `body` with a started server and always stops it.
public func withTestHTTPServer<T>(_ respond: @escaping @Sendable (TestHTTPServer.Request) async -> TestHTTPServer.Reply,
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

/// A 127.0.0.1 TCP port nothing listens on (below the ephemeral range, so a server another test
/// binds to port 0 is never handed it).
public func closedTCPPort() async throws -> Int {
    try LoopbackPorts.freePort()
}
