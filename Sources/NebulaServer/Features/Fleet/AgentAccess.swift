import Fluent
import Foundation
import NebulaAgent
import NebulaCore
import SQLKit
import Vapor

/// Join tokens, agent credentials and the live agent connections.
struct AgentAccess: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let fleet: FleetService
    let connections: AgentConnections
    /// Where the time to store each agent sample is recorded (`nebula_agent_ingest_seconds`).
    let metrics: ServerMetrics
    static let joinTokenLifetime: TimeInterval = 3600

    struct IssuedJoinToken: Content {
        var token: String
        var expiresAt: Date
        /// The command to run on the node.
        var command: String
    }

    /// A one-time token for `server` (an agent server), valid for an hour. Shown once.
    func issueJoinToken(for serverID: UUID, publicURL: String, by actor: Actor) async throws -> IssuedJoinToken {
        try actor.require(.operator)
        guard let server = try await ServerRecord.find(serverID, on: db) else { throw NebulaError.notFound("Server \(serverID)") }
        guard server.connection == .agent else {
            throw NebulaError.conflict("Only agent servers join with a token; '\(server.name)' is \(server.connection.rawValue).", code: "not_an_agent_server")
        }
        let token = Credentials.randomToken(prefix: "nbj_")
        let record = JoinToken()
        record.serverID = serverID
        record.tokenHash = Credentials.digest(token)
        record.expiresAt = Date().addingTimeInterval(Self.joinTokenLifetime)
        record.createdBy = actor.username
        try await record.create(on: db)
        try await audit.record("server.join_token", target: "server:\(server.name)", by: actor)
        return IssuedJoinToken(token: token, expiresAt: record.expiresAt,
                               command: "nebula agent --server \(publicURL) --token \(token)")
    }

    /// Trades an unused, unexpired join token for the node's credential (shown once).
    func join(_ request: AgentWire.JoinRequest, ip: String) async throws -> AgentWire.JoinResponse {
        let actor = Actor.anonymous(username: "agent", ip: ip)
        guard request.token.hasPrefix("nbj_"), request.token.count < 100,
              let record = try await JoinToken.query(on: db).filter(\.$tokenHash == Credentials.digest(request.token)).first() else {
            try await audit.record("agent.join", target: "join-token", outcome: .failure, by: actor, detail: "unknown token")
            throw NebulaError.unauthenticated("This join token is not valid.", code: "invalid_join_token")
        }
        guard record.usedAt == nil else {
            try await audit.record("agent.join", target: "server:\(record.serverID)", outcome: .failure, by: actor, detail: "token already used")
            throw NebulaError.unauthenticated("This join token was already used; create a new one.", code: "join_token_used")
        }
        guard record.expiresAt > Date() else {
            try await audit.record("agent.join", target: "server:\(record.serverID)", outcome: .failure, by: actor, detail: "token expired")
            throw NebulaError.unauthenticated("This join token expired; create a new one.", code: "join_token_expired")
        }
        guard let server = try await ServerRecord.find(record.serverID, on: db) else { throw NebulaError.notFound("Server") }
        let credential = Credentials.randomToken(prefix: "nbn_")
        try await db.transaction { tx in
            // One conditional update claims the token, so two agents racing with it cannot both join.
            guard let sql = tx as? any SQLDatabase else { throw NebulaError(.internalServerError, code: "internal_error", "No SQL database.") }
            struct Claimed: Decodable { var id: UUID }
            let claimed = try await sql.raw("UPDATE join_tokens SET used_at = \(bind: Date()) WHERE id = \(bind: record.requireID()) AND used_at IS NULL RETURNING id")
                .first(decoding: Claimed.self)
            guard claimed != nil else {
                throw NebulaError.unauthenticated("This join token was already used; create a new one.", code: "join_token_used")
            }
            server.agentCredentialHash = Credentials.digest(credential)
            try await server.update(on: tx)
        }
        let joinedBy = Actor.anonymous(username: "agent:\(server.name)", ip: ip)
        try await audit.record("agent.join", target: "server:\(server.name)", by: joinedBy, detail: "hostname=\(request.hostname.prefix(64))")
        await events.publish(.agentJoined, actor: joinedBy.username, subject: "server:\(server.name)", data: ["id": try server.requireID().uuidString])
        return AgentWire.JoinResponse(serverId: try server.requireID(), name: server.name, credential: credential)
    }

    /// The server an agent credential belongs to, or nil when unknown or revoked.
    func server(forCredential credential: String) async throws -> ServerRecord? {
        guard credential.hasPrefix("nbn_"), credential.count < 100 else { return nil }
        return try await ServerRecord.query(on: db).filter(\.$agentCredentialHash == Credentials.digest(credential)).first()
    }

    /// Refuses the node's credential from now on and closes its connection.
    func revoke(_ serverID: UUID, by actor: Actor) async throws -> ServerDTO {
        try actor.require(.operator)
        guard let server = try await ServerRecord.find(serverID, on: db) else { throw NebulaError.notFound("Server \(serverID)") }
        server.agentCredentialHash = nil
        try await server.update(on: db)
        await connections.close(serverID)
        try await audit.record("server.revoke_agent", target: "server:\(server.name)", by: actor)
        await events.publish(.agentRevoked, actor: actor.username, subject: "server:\(server.name)", data: ["id": serverID.uuidString])
        return ServerDTO(server)
    }

    /// Handles one agent WebSocket: hello (hardware), then samples until it closes. Handlers are
    /// attached before anything else happens, so no early message is missed.
    func attach(_ socket: WebSocket, serverID: UUID, logger: Logger) {
        // One consumer in arrival order (the async onText would reorder terminal frames); samples
        // are stored off that path so a slow database never delays a terminal.
        let (incoming, received) = AsyncStream<String>.makeStream()
        socket.onText { _, text in received.yield(text) }
        socket.onClose.whenComplete { _ in received.finish() }
        Task { [fleet, connections, metrics] in
            for await text in incoming {
                guard text.utf8.count < 4 << 20,
                      let message = try? AgentWire.Message.decoder.decode(AgentWire.Message.self, from: Data(text.utf8)) else {
                    logger.warning("agent of server \(serverID) sent a malformed message; closing")
                    try? await socket.close(code: .unacceptableData)
                    return
                }
                switch message.type {
                case .hello:
                    await Self.recording(serverID, logger) { try await fleet.recordHello(serverID: serverID, version: message.version, hardware: message.hardware) }
                case .sample:
                    if let sample = message.sample {
                        Task {
                            let started = ContinuousClock.now
                            await Self.recording(serverID, logger) { try await fleet.ingest(sample, for: serverID) }
                            metrics.recordAgentIngest(ContinuousClock.now - started)
                        }
                    }
                case .reply:
                    if let reply = message.reply { await connections.deliver(reply, from: serverID) }
                case .terminal:
                    if let frame = message.terminal { await connections.route(frame, from: serverID) }
                case .stream:
                    if let frame = message.stream { await connections.route(frame, from: serverID) }
                case .config, .request:
                    break
                }
            }
        }
        let interval = Int(fleet.interval.seconds)
        Task { [connections] in
            await connections.add(socket, for: serverID)
            if let config = try? AgentWire.Message.encoder.encode(AgentWire.Message(type: .config, intervalSeconds: interval)) {
                try? await socket.send(String(decoding: config, as: UTF8.self))
            }
            try? await socket.onClose.get()
            await connections.remove(socket, for: serverID)
        }
    }
}

extension AgentAccess {
    static func recording(_ serverID: UUID, _ logger: Logger, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            logger.warning("could not record a message from the agent of server \(serverID): \(String(reflecting: error))")
        }
    }
}

/// The open agent WebSockets, so a revoke can close one at once and a request can reach a node.
actor AgentConnections {
    private var sockets: [UUID: [ObjectIdentifier: WebSocket]] = [:]
    private var pending: [String: (server: UUID, continuation: CheckedContinuation<AgentReply, any Error>)] = [:]
    private var terminals: [String: (server: UUID, output: AsyncStream<[UInt8]>.Continuation, ending: AgentTerminal.Ending)] = [:]
    private var streams: [String: (server: UUID, output: AsyncThrowingStream<DockerStreamChunk, any Error>.Continuation)] = [:]

    /// Opens a streamed Docker answer on the node; its chunks arrive through ``route(_:from:)-(StreamFrame,_)``.
    /// Dropping the returned stream (or cancelling its reader) closes it on the node.
    func openStream(on serverID: UUID, _ call: DockerStreamCall) async throws -> AsyncThrowingStream<DockerStreamChunk, any Error> {
        guard let socket = sockets[serverID]?.values.first else {
            throw NebulaError.conflict("The node's agent is not connected; live logs and stats need it online.", code: "node_offline")
        }
        let id = UUID().uuidString
        // A browser that reads slowly loses the oldest chunks rather than growing memory without bound.
        let (output, continuation) = AsyncThrowingStream<DockerStreamChunk, any Error>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        continuation.onTermination = { [weak self] _ in
            Task { await self?.closeStream(id) }
        }
        streams[id] = (serverID, continuation)
        let text = String(decoding: try AgentWire.Message.encoder.encode(AgentWire.Message(type: .stream, stream: StreamFrame(stream: id, op: .open, call: call))), as: UTF8.self)
        try await socket.send(text)
        return output
    }

    /// A stream frame from a node: a chunk for the reader, or the end of the stream.
    func route(_ frame: StreamFrame, from serverID: UUID) {
        guard let stream = streams[frame.stream], stream.server == serverID else { return }
        switch frame.op {
        case .data:
            if let chunk = frame.chunk { stream.output.yield(chunk) }
        case .end:
            streams.removeValue(forKey: frame.stream)
            if let error = frame.error { stream.output.finish(throwing: error) } else { stream.output.finish() }
        case .open, .close:
            break
        }
    }

    /// The reader went away: tell the node to stop sending.
    private func closeStream(_ id: String) async {
        guard let stream = streams.removeValue(forKey: id) else { return }
        guard let socket = sockets[stream.server]?.values.first,
              let data = try? AgentWire.Message.encoder.encode(AgentWire.Message(type: .stream, stream: StreamFrame(stream: id, op: .close))) else { return }
        try? await socket.send(String(decoding: data, as: UTF8.self))
    }

    /// Opens a shell on the node; its output arrives through ``route(_:from:)``.
    func openTerminal(on serverID: UUID, columns: Int, rows: Int) async throws -> AgentTerminal {
        guard isConnected(serverID) else {
            throw NebulaError.conflict("The node's agent is not connected; a terminal needs it online.", code: "node_offline")
        }
        let session = UUID().uuidString
        let (output, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let ending = AgentTerminal.Ending()
        terminals[session] = (serverID, continuation, ending)
        let terminal = AgentTerminal(session: session, serverID: serverID, output: output, ending: ending, connections: self)
        try await send(TerminalFrame(session: session, op: .open, columns: columns, rows: rows), to: serverID)
        return terminal
    }

    /// A terminal frame from a node: output for the browser, or the end of the session.
    func route(_ frame: TerminalFrame, from serverID: UUID) {
        guard let terminal = terminals[frame.session], terminal.server == serverID else { return }
        switch frame.op {
        case .data:
            terminal.output.yield(frame.bytes)
        case .exit:
            terminals.removeValue(forKey: frame.session)
            terminal.ending.set(frame.message ?? "the session ended")
            terminal.output.finish()
        case .open, .resize, .close:
            break
        }
    }

    func send(_ frame: TerminalFrame, to serverID: UUID) async throws {
        guard let socket = sockets[serverID]?.values.first else {
            throw NebulaError.conflict("The node's agent disconnected.", code: "node_offline")
        }
        let text = String(decoding: try AgentWire.Message.encoder.encode(AgentWire.Message(type: .terminal, terminal: frame)), as: UTF8.self)
        try await socket.send(text)
    }

    func endTerminal(_ session: String) {
        guard let terminal = terminals.removeValue(forKey: session) else { return }
        terminal.output.finish()
    }

    /// Whether the node has an open connection.
    func isConnected(_ serverID: UUID) -> Bool {
        !(sockets[serverID]?.isEmpty ?? true)
    }

    /// Sends `request` to the node and waits for its reply.
    /// - Throws: `NebulaError` 409 `node_offline` when the node is not connected, 504
    ///   `node_timeout` when it does not answer within `timeout`.
    func call(_ serverID: UUID, _ request: AgentRequest, timeout: Duration = .seconds(15)) async throws -> AgentReply {
        guard let socket = sockets[serverID]?.values.first else {
            throw NebulaError.conflict("The node's agent is not connected; it cannot be asked to do anything until it is online.", code: "node_offline")
        }
        let text = String(decoding: try AgentWire.Message.encoder.encode(AgentWire.Message(type: .request, request: request)), as: UTF8.self)
        let id = request.id
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.fail(id, NebulaError(.gatewayTimeout, code: "node_timeout", "The node did not answer within \(Int(timeout.seconds)) s."))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = (serverID, continuation)
            Task {
                do {
                    try await socket.send(text)
                } catch {
                    self.fail(id, NebulaError.badGateway("Sending to the node failed: \(error)", code: "node_unreachable"))
                }
            }
        }
    }

    /// A reply from a node; ignored unless it answers a request sent to that same node.
    func deliver(_ reply: AgentReply, from serverID: UUID) {
        guard let waiting = pending[reply.id], waiting.server == serverID else { return }
        pending.removeValue(forKey: reply.id)
        waiting.continuation.resume(returning: reply)
    }

    private func fail(_ id: String, _ error: NebulaError) {
        pending.removeValue(forKey: id)?.continuation.resume(throwing: error)
    }

    func add(_ socket: WebSocket, for serverID: UUID) {
        sockets[serverID, default: [:]][ObjectIdentifier(socket)] = socket
    }

    func remove(_ socket: WebSocket, for serverID: UUID) {
        sockets[serverID]?.removeValue(forKey: ObjectIdentifier(socket))
        if !isConnected(serverID) {
            for (id, waiting) in pending where waiting.server == serverID {
                fail(id, NebulaError.badGateway("The node disconnected before it answered.", code: "node_unreachable"))
            }
            for (id, stream) in streams where stream.server == serverID {
                streams.removeValue(forKey: id)
                stream.output.finish(throwing: NebulaError.badGateway("The node disconnected.", code: "node_unreachable"))
            }
            for (session, terminal) in terminals where terminal.server == serverID {
                terminals.removeValue(forKey: session)
                terminal.ending.set("the node disconnected")
                terminal.output.finish()
            }
        }
    }

    func close(_ serverID: UUID) async {
        for socket in sockets.removeValue(forKey: serverID)?.values ?? [:].values {
            try? await socket.close(code: .policyViolation)
        }
    }

    var count: Int { sockets.values.reduce(0) { $0 + $1.count } }

    /// On shutdown: agents notice at once and reconnect to whichever replica is up.
    func closeAll() async {
        for serverID in Array(sockets.keys) { await close(serverID) }
    }
}

/// A shell on an agent node, relayed over its WebSocket.
struct AgentTerminal: TerminalSession {
    /// Why the session ended, once it has.
    final class Ending: Sendable {
        private let reason = LockedValue<String?>(nil)
        func set(_ text: String) { reason.withLock { $0 = $0 ?? text } }
        var message: String? { reason.withLock { $0 } }
    }

    let session: String
    let serverID: UUID
    let output: AsyncStream<[UInt8]>
    let ending: Ending
    let connections: AgentConnections

    var endMessage: String { ending.message ?? "the terminal was closed" }

    func write(_ bytes: [UInt8]) async throws {
        try await connections.send(.data(session, bytes), to: serverID)
    }

    func resize(columns: Int, rows: Int) async throws {
        try await connections.send(TerminalFrame(session: session, op: .resize, columns: columns, rows: rows), to: serverID)
    }

    func close() async {
        try? await connections.send(TerminalFrame(session: session, op: .close), to: serverID)
        await connections.endTerminal(session)
    }
}
