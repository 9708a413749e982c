import Foundation
@testable import NebulaServer
import NIOCore
import NIOHTTP1
import NIOPosix
import WebSocketKit

/// A web-terminal WebSocket client: collects the terminal's output and control messages.
final class TerminalClient: Sendable {
    private let socket: WebSocket
    private let received: Received

    private init(socket: WebSocket, received: Received) {
        self.socket = socket
        self.received = received
    }

    /// Connects to `/api/v1/servers/{id}/terminal`; throws `WebSocketClient.Error` (with the HTTP
    /// status) when the server refuses the upgrade.
    static func connect(baseURL: String, serverID: UUID, token: String, columns: Int = 80, rows: Int = 24,
                        headers extra: [(String, String)] = []) async throws -> TerminalClient {
        let url = baseURL.replacingOccurrences(of: "http://", with: "ws://") + "/api/v1/servers/\(serverID)/terminal?cols=\(columns)&rows=\(rows)"
        var headers = HTTPHeaders([("Authorization", "Bearer \(token)")])
        for (name, value) in extra { headers.add(name: name, value: value) }
        let holder = LockedValue<WebSocket?>(nil)
        let received = Received()
        try await WebSocket.connect(to: url, headers: headers, on: MultiThreadedEventLoopGroup.singleton) { socket in
            socket.onBinary { _, buffer in received.state.withLock { $0.bytes += Array(buffer.readableBytesView) } }
            socket.onText { _, text in received.state.withLock { $0.controls.append(text) } }
            holder.withLock { $0 = socket }
        }
        // The upgrade callback runs in a task of its own and can come a little after connect returns.
        let deadline = ContinuousClock.now + .seconds(10)
        while holder.withLock({ $0 }) == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard let socket = holder.withLock({ $0 }) else { throw TerminalClientError.notConnected }
        return TerminalClient(socket: socket, received: received)
    }

    /// Types `text` (as UTF-8 bytes, like a browser).
    func type(_ text: String) async throws {
        try await socket.send(raw: Array(text.utf8), opcode: .binary)
    }

    func resize(columns: Int, rows: Int) async throws {
        try await socket.send(#"{"type":"resize","cols":\#(columns),"rows":\#(rows)}"#)
    }

    func close() async {
        try? await socket.close()
    }

    var output: String { String(decoding: received.state.withLock { $0.bytes }, as: UTF8.self) }
    var controls: [String] { received.state.withLock { $0.controls } }
    var isClosed: Bool { socket.isClosed }

    /// Waits until the output contains `text` (or `timeout` passes); returns whether it did.
    func waitFor(_ text: String, timeout: Duration = .seconds(15)) async throws -> Bool {
        try await waitUntil(timeout: timeout) { self.output.contains(text) }
    }

    func waitUntil(timeout: Duration = .seconds(15), _ condition: @Sendable () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}

enum TerminalClientError: Error { case notConnected }

/// What the server sent: terminal bytes and JSON control messages.
private final class Received: Sendable {
    struct State: Sendable {
        var bytes: [UInt8] = []
        var controls: [String] = []
    }
    let state = LockedValue(State())
}
