import Foundation
import NIOConcurrencyHelpers
import Vapor

/// An HTTP server on 127.0.0.1 and a free port for tests that need a peer to call: it records
/// every request and answers each with what `respond` returns (a status and body, or a delay).
/// Stands in for internet services (Discord, ntfy, Gotify, a webhook receiver, a monitored site).
final class LoopbackHTTPServer: Sendable {
    /// One request as the server received it.
    struct Received: Sendable {
        var method: String
        var path: String
        var query: String?
        var headers: HTTPHeaders
        var body: Data

        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            (try JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
        }
    }

    /// What to answer: `status`, `body`, extra headers, after `delay`.
    struct Reply: Sendable {
        var status: HTTPResponseStatus = .ok
        var body: String = ""
        var headers: [(String, String)] = []
        var delay: Duration = .zero
    }

    let port: Int
    private let app: Application
    private let received: NIOLockedValueBox<[Received]>

    /// The server's base URL, `http://127.0.0.1:<port>`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// Every request so far, oldest first.
    var requests: [Received] { received.withLockedValue { $0 } }

    private init(port: Int, app: Application, received: NIOLockedValueBox<[Received]>) {
        self.port = port
        self.app = app
        self.received = received
    }

    /// Starts a server answering every request with `respond(request, index)` (index counts from 0).
    static func start(_ respond: @escaping @Sendable (Received, Int) -> Reply = { _, _ in Reply() }) async throws -> LoopbackHTTPServer {
        let app = try await Application.make(.testing)
        app.http.server.configuration.hostname = "127.0.0.1"
        app.http.server.configuration.port = 0
        app.logger.logLevel = .error
        let received = NIOLockedValueBox<[Received]>([])
        app.routes.defaultMaxBodySize = "4mb"
        app.middleware = Middlewares()
        let handler: @Sendable (Request) async throws -> Response = { request in
            let body = request.body.data.map { Data($0.readableBytesView) } ?? Data()
            let entry = Received(method: request.method.rawValue, path: request.url.path, query: request.url.query, headers: request.headers, body: body)
            let index = received.withLockedValue { list -> Int in
                list.append(entry)
                return list.count - 1
            }
            let reply = respond(entry, index)
            if reply.delay > .zero { try await Task.sleep(for: reply.delay) }
            var headers = HTTPHeaders(reply.headers)
            if headers.first(name: .contentType) == nil { headers.add(name: .contentType, value: "text/plain; charset=utf-8") }
            return Response(status: reply.status, headers: headers, body: .init(string: reply.body))
        }
        for method in [HTTPMethod.GET, .POST, .PUT, .HEAD, .DELETE] {
            app.on(method, "**", body: .collect(maxSize: "4mb"), use: handler)
            app.on(method, body: .collect(maxSize: "4mb"), use: handler)
        }
        try await app.server.start(address: .hostname("127.0.0.1", port: 0))
        guard let port = app.http.server.shared.localAddress?.port else {
            try? await app.asyncShutdown()
            throw Abort(.internalServerError, reason: "the loopback server did not report its port")
        }
        return LoopbackHTTPServer(port: port, app: app, received: received)
    }

    func stop() async {
        await app.server.shutdown()
        try? await app.asyncShutdown()
    }
}

/// Runs `body` with a started server and always stops it.
func withLoopbackServer<T>(_ respond: @escaping @Sendable (LoopbackHTTPServer.Received, Int) -> LoopbackHTTPServer.Reply = { _, _ in .init() },
                           _ body: (LoopbackHTTPServer) async throws -> T) async throws -> T {
    let server = try await LoopbackHTTPServer.start(respond)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
