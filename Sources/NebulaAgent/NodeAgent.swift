import AsyncHTTPClient
import Foundation
import HostMetrics
import Logging
import NebulaCore
import NIOCore
import NIOHTTP1
import NIOPosix
import WebSocketKit

/// Why the agent cannot run. Each case says what to do.
public enum AgentError: Error, Equatable, CustomStringConvertible {
    /// No credential file and no join token.
    case notJoined(credentialFile: String)
    /// The control plane refused the join token: used, expired or unknown.
    case joinRefused(String)
    /// The control plane refused this node's credential: the node was revoked or removed.
    case revoked
    /// The server URL is not an http(s) URL.
    case badServerURL(String)
    /// The credential file cannot be read or written.
    case credentialFile(String)

    public var description: String {
        switch self {
        case .notJoined(let file): "This node has not joined yet (no \(file)). Create a join token on the server's page and run: nebula agent --server URL --token TOKEN"
        case .joinRefused(let reason): "The control plane refused the join token: \(reason). Create a new one on the server's page."
        case .revoked: "The control plane refused this node's credential: it was revoked or the server was removed. Join again with a new token."
        case .badServerURL(let url): "--server must be the dashboard's URL, such as http://192.168.1.10:8080 (got \(url))."
        case .credentialFile(let reason): reason
        }
    }
}

/// Where the agent reports and how often.
public struct AgentOptions: Sendable {
    public var serverURL: String
    public var joinToken: String?
    /// The node's credential is kept here (0600) after joining.
    public var credentialFile: String
    public var interval: Duration
    /// Longest wait between reconnection attempts.
    public var maxBackoff: Duration

    public init(serverURL: String, joinToken: String?, credentialFile: String, interval: Duration = .seconds(5), maxBackoff: Duration = .seconds(60)) {
        self.serverURL = serverURL
        self.joinToken = joinToken
        self.credentialFile = credentialFile
        self.interval = interval
        self.maxBackoff = maxBackoff
    }
}

/// `nebula agent`: joins once, then keeps a WebSocket to the control plane open, sending a
/// metrics sample every interval and reconnecting with exponential backoff and jitter.
/// It needs no inbound port.
public struct NodeAgent: Sendable {
    public let options: AgentOptions
    let logger: Logger
    let sampler: HostSampler
    let actions: NodeActions

    public init(options: AgentOptions, logger: Logger = Logger(label: "nebula.agent"), sampler: HostSampler = HostSampler(),
                actions: NodeActions = NodeActions()) {
        self.options = options
        self.logger = logger
        self.sampler = sampler
        self.actions = actions
    }

    /// Runs until cancelled, or throws when the node is not (or no longer) allowed to report.
    public func run() async throws {
        let base = try Self.baseURL(options.serverURL)
        let identity = try await credential(base: base)
        logger.notice("reporting as \(identity.name) to \(base)")
        let backoff = RetryBackoff(base: .seconds(1), cap: options.maxBackoff)
        var failures = 0
        while !Task.isCancelled {
            do {
                // A connection that was up resets the backoff: the next reconnect is quick.
                try await connectAndReport(base: base, identity: identity)
                failures = 0
                logger.warning("connection to the control plane closed; reconnecting")
            } catch let error as AgentError {
                throw error
            } catch {
                if Task.isCancelled { break }
                logger.warning("cannot reach the control plane: \(error)")
            }
            failures += 1
            try? await Task.sleep(for: backoff.delay(afterAttempt: failures))
        }
    }

    /// The stored credential, or a new one from the join token.
    func credential(base: String) async throws -> AgentWire.JoinResponse {
        if let data = FileManager.default.contents(atPath: options.credentialFile) {
            guard let stored = try? JSONDecoder().decode(AgentWire.JoinResponse.self, from: data) else {
                throw AgentError.credentialFile("The credential file \(options.credentialFile) is damaged; remove it and join again with a new token.")
            }
            return stored
        }
        guard let token = options.joinToken else { throw AgentError.notJoined(credentialFile: options.credentialFile) }
        var request = HTTPClientRequest(url: base + "/api/v1/agent/join")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let hostname = ProcessInfo.processInfo.hostName
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(AgentWire.JoinRequest(token: token, hostname: hostname))))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok || response.status == .created else {
            let message = (try? JSONDecoder().decode(APIErrorBody.self, from: Data(buffer: body)))?.error.message ?? "HTTP \(response.status.code)"
            throw AgentError.joinRefused(message)
        }
        let joined = try JSONDecoder().decode(AgentWire.JoinResponse.self, from: Data(buffer: body))
        try Self.writePrivately(try JSONEncoder().encode(joined), to: options.credentialFile)
        return joined
    }

    private func connectAndReport(base: String, identity: AgentWire.JoinResponse) async throws {
        let url = base.replacingOccurrences(of: "http://", with: "ws://").replacingOccurrences(of: "https://", with: "wss://") + "/api/v1/agent/connect"
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(identity.credential)")
        let (closed, closing) = AsyncStream<Void>.makeStream()
        let interval = options.interval
        let sampler = sampler
        let logger = logger
        let actions = actions
        do {
            // File chunks (1 MiB, base64 in JSON) need frames well over websocket-kit's 16 KiB default.
            let configuration = WebSocketClient.Configuration(maxFrameSize: 4 << 20)
            try await WebSocket.connect(to: url, headers: headers, configuration: configuration, on: MultiThreadedEventLoopGroup.singleton) { socket in
                // A control plane that vanished without closing (power loss, network cut) is noticed
                // when pongs stop coming. websocket-kit gives up when a pong is later than one
                // interval; a ping queued behind megabytes of build output or file chunks on a busy
                // link needs that much room, so 30 s rather than 15.
                socket.pingInterval = .seconds(30)
                // Messages are handled in the order they arrive (the async onText would reorder
                // them); requests run on their own so a slow reboot command holds nothing up.
                let terminals = TerminalHost { frame in try? await Self.send(.init(type: .terminal, terminal: frame), on: socket) }
                let streams = DockerStreamHost(docker: actions.docker) { frame in try? await Self.send(.init(type: .stream, stream: frame), on: socket) }
                let (incoming, received) = AsyncStream<String>.makeStream()
                // websocket-kit keeps its callbacks on the socket's event loop: install it there.
                socket.eventLoop.execute { socket.onText { _, text in received.yield(text) } }
                let handler = Task {
                    for await text in incoming {
                        guard let message = try? AgentWire.Message.decoder.decode(AgentWire.Message.self, from: Data(text.utf8)) else { continue }
                        switch message.type {
                        case .terminal:
                            if let frame = message.terminal { await terminals.handle(frame) }
                        case .stream:
                            if let frame = message.stream { await streams.handle(frame) }
                        case .request:
                            guard let request = message.request else { continue }
                            Task {
                                logger.notice("the control plane asks for \(request.action.rawValue)")
                                let reply = await actions.perform(request)
                                if !reply.ok { logger.warning("\(request.action.rawValue) failed: \(reply.message)") }
                                try? await Self.send(.init(type: .reply, reply: reply), on: socket)
                            }
                        case .hello, .sample, .config, .reply:
                            break
                        }
                    }
                    await terminals.closeAll()
                    await streams.closeAll()
                }
                let reporter = Task {
                    let hardware = try? await sampler.hardwareProfile()
                    try? await Self.send(.init(type: .hello, version: NebulaAgentVersion.current, hardware: hardware), on: socket)
                    while !Task.isCancelled {
                        do {
                            let sample = try await sampler.sample()
                            try await Self.send(.init(type: .sample, sample: sample), on: socket)
                        } catch {
                            logger.warning("could not send a sample: \(error)")
                        }
                        try? await Task.sleep(for: interval)
                    }
                }
                try? await socket.onClose.get()
                reporter.cancel()
                received.finish()
                await handler.value
                closing.finish()
            }
        } catch let error as WebSocketClient.Error {
            if case .invalidResponseStatus(let head) = error, head.status == .unauthorized || head.status == .forbidden {
                throw AgentError.revoked
            }
            throw error
        }
        for await _ in closed {}
    }

    static func send(_ message: AgentWire.Message, on socket: WebSocket) async throws {
        let data = try AgentWire.Message.encoder.encode(message)
        try await socket.send(String(decoding: data, as: UTF8.self))
    }

    static func baseURL(_ raw: String) throws(AgentError) -> String {
        var trimmed = raw.trimmingCharacters(in: .whitespaces)
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let url = URL(string: trimmed), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw .badServerURL(raw)
        }
        return trimmed
    }

    /// Writes with mode 0600 from the start, then renames into place.
    static func writePrivately(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) }
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw AgentError.credentialFile("Cannot write \(path): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == data.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw AgentError.credentialFile("Cannot write \(path).")
        }
    }
}

/// The agent's version, sent in its hello.
public enum NebulaAgentVersion {
    public static let current = "0.1.0"
}
