import AIProviders
import Foundation
import NebulaTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 server on 127.0.0.1 and a free port, answering every request with what `respond`
/// returns — a whole body, or a body streamed in chunks (chunked encoding) that may be cut off by
/// closing the connection. Stands in for OpenAI-compatible servers, Ollama and Anthropic.
final class TestHTTPServer: Sendable {
    /// One request as the server received it.
    struct Request: Sendable {
        var method: String
        var path: String
        var headers: HTTPHeaders
        var body: Data

        func json() -> [String: Any]? {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        }
    }

    /// What to answer.
    struct Reply: Sendable {
        var status: HTTPResponseStatus = .ok
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        /// The whole body, sent with a Content-Length (when `chunks` is nil).
        var body: String = ""
        /// A streamed body: each chunk written separately, `delay` apart.
        var chunks: [String]?
        var delay: Duration = .milliseconds(20)
        /// Close the connection after the chunks instead of ending the body.
        var abort = false

        static func json(_ body: String, status: HTTPResponseStatus = .ok) -> Reply {
            Reply(status: status, body: body)
        }

        static func streamed(_ chunks: [String], contentType: String, abort: Bool = false) -> Reply {
            Reply(headers: [("Content-Type", contentType)], chunks: chunks, abort: abort)
        }
    }

    struct Aborted: Error {}

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let port: Int
    private let channel: any Channel
    private let task: Task<Void, Never>

    /// `http://127.0.0.1:<port>`.
    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

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
                    let components = URLComponents(string: received.uri)
                    let request = Request(method: received.method.rawValue, path: components?.path ?? received.uri,
                                          headers: received.headers, body: Data(body.readableBytesView))
                    let reply = await respond(request)
                    var headers = HTTPHeaders(reply.headers)
                    if let chunks = reply.chunks {
                        headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
                        try await outbound.write(.head(HTTPResponseHead(version: received.version, status: reply.status, headers: headers)))
                        for chunk in chunks {
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: chunk))))
                            try await Task.sleep(for: reply.delay)
                        }
                        if reply.abort { throw Aborted() }   // executeThenClose closes the connection
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

/// The events of a stream and the error that ended it, if any.
struct Collected: Sendable {
    var events: [ChatStreamEvent] = []
    var error: (any Error)?

    var text: String {
        events.map { if case .text(let piece) = $0 { piece } else { "" } }.joined()
    }

    var toolCalls: [ToolCall] {
        events.compactMap { if case .toolCall(let call) = $0 { call } else { nil } }
    }

    var finished: Bool {
        events.contains { if case .finished = $0 { true } else { false } }
    }

    var providerError: AIProviderError? { error as? AIProviderError }
}

func collect(_ stream: AsyncThrowingStream<ChatStreamEvent, any Error>) async -> Collected {
    var collected = Collected()
    do {
        for try await event in stream { collected.events.append(event) }
    } catch {
        collected.error = error
    }
    return collected
}

/// A problem the fake server found with a request; answered with status 400 so the test fails.
func badRequest(_ problem: String) -> TestHTTPServer.Reply {
    .json(#"{"error":{"message":"fake server: \#(problem)","type":"invalid_request_error"}}"#, status: .badRequest)
}
