import Foundation
import NebulaAgent
import NIOCore
import Vapor

/// `GET /api/v1/servers/{id}/terminal`: a WebSocket to a shell on the server.
///
/// Binary frames carry raw bytes both ways (keystrokes in, terminal output out). Text frames
/// carry JSON: `{"type":"resize","cols":120,"rows":40}` from the browser, and
/// `{"type":"exit","message":"…"}` from the server when the shell ends.
struct TerminalController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "servers", ":id", "terminal", role: .operator, audit: "terminal.open",
                        summary: "Open a web terminal (WebSocket; binary frames are terminal bytes, text frames JSON resize/exit)", tag: "Fleet",
                        query: [QueryDoc(name: "cols", description: "Columns (default 80)", schema: .integer),
                                QueryDoc(name: "rows", description: "Rows (default 24)", schema: .integer)],
                        produces: "application/octet-stream", use: connect)
    }

    struct Control: Codable {
        var type: String
        var cols: Int?
        var rows: Int?
        var message: String?
    }

    @Sendable func connect(req: Request) async throws -> Response {
        guard req.headers.first(name: .upgrade)?.lowercased() == "websocket" else {
            throw NebulaError.invalid("This endpoint is a WebSocket: connect with a WebSocket client.", code: "websocket_required")
        }
        try Self.checkOrigin(req)
        let actor = try req.actor
        let terminals = try req.nebula.terminals
        let opened = try await terminals.open(try req.uuidParameter(), columns: req.query[Int.self, at: "cols"] ?? 80,
                                              rows: req.query[Int.self, at: "rows"] ?? 24, by: actor)
        let response = Response(status: .switchingProtocols)
        response.upgrader = WebSocketUpgrader(maxFrameSize: .init(integerLiteral: 1 << 20), shouldUpgrade: {
            req.eventLoop.makeSucceededFuture([:])
        }, onUpgrade: { socket in
            Self.bridge(socket, opened, terminals: terminals, actor: actor)
        })
        return response
    }

    /// Browsers send `Origin` with every WebSocket: one from another site is refused, so a page
    /// elsewhere cannot open a terminal with the user's cookie. Token clients send none.
    static func checkOrigin(_ req: Request) throws {
        guard let origin = req.headers.first(name: .origin) else { return }
        let host = req.headers.first(name: .host) ?? ""
        guard let url = URL(string: origin), let originHost = url.host,
              let hostURL = URL(string: "http://" + host), let requestHost = hostURL.host else {
            throw NebulaError(.forbidden, code: "cross_origin", "This WebSocket comes from another site.")
        }
        // Browsers always put the port in Host when it is not the default; some clients leave it out.
        let portsAgree = hostURL.port == nil || url.port == hostURL.port
        guard originHost.lowercased() == requestHost.lowercased(), portsAgree else {
            throw NebulaError(.forbidden, code: "cross_origin", "This WebSocket comes from another site (\(origin)).")
        }
    }

    enum Input: Sendable {
        case bytes([UInt8])
        case text(String)
    }

    static func bridge(_ socket: WebSocket, _ opened: TerminalService.Opened, terminals: TerminalService, actor: Actor) {
        let session = opened.session
        let (incoming, received) = AsyncStream<Input>.makeStream()
        socket.onBinary { _, buffer in received.yield(.bytes(Array(buffer.readableBytesView))) }
        socket.onText { _, text in received.yield(.text(text)) }
        socket.onClose.whenComplete { _ in received.finish() }
        // Terminal → browser, then the reason it ended.
        Task {
            for await chunk in session.output {
                try? await socket.send(raw: chunk, opcode: .binary)
            }
            if let exit = try? JSONEncoder().encode(Control(type: "exit", message: await session.endMessage)) {
                try? await socket.send(String(decoding: exit, as: UTF8.self))
            }
            try? await socket.close()
        }
        // Browser → terminal, in order.
        Task {
            for await input in incoming {
                switch input {
                case .bytes(let bytes):
                    try? await session.write(bytes)
                case .text(let text):
                    guard let control = try? JSONDecoder().decode(Control.self, from: Data(text.utf8)) else { continue }
                    if control.type == "resize", let cols = control.cols, let rows = control.rows {
                        try? await session.resize(columns: cols, rows: rows)
                    }
                }
            }
            await session.close()
            await terminals.closed(opened, by: actor, reason: await session.endMessage)
        }
    }
}
