import Foundation

/// The agent's side of web terminals: a PTY per session the control plane opens, its output
/// sent back as frames until the shell exits.
public actor TerminalHost {
    /// More would only mean a runaway client.
    public static let maximumSessions = 16

    private var sessions: [String: PseudoTerminal] = [:]
    private let send: @Sendable (TerminalFrame) async -> Void

    /// - Parameter send: delivers a frame to the control plane.
    public init(send: @escaping @Sendable (TerminalFrame) async -> Void) {
        self.send = send
    }

    public func handle(_ frame: TerminalFrame) async {
        switch frame.op {
        case .open:
            await open(frame)
        case .data:
            try? await sessions[frame.session]?.write(frame.bytes)
        case .resize:
            try? await sessions[frame.session]?.resize(columns: frame.columns ?? 80, rows: frame.rows ?? 24)
        case .close:
            await sessions.removeValue(forKey: frame.session)?.close()
        case .exit:
            break
        }
    }

    /// Hangs up every session (the connection to the control plane is gone).
    public func closeAll() async {
        for terminal in sessions.values { await terminal.close() }
        sessions.removeAll()
    }

    public var count: Int { sessions.count }

    private func open(_ frame: TerminalFrame) async {
        guard sessions[frame.session] == nil, !frame.session.isEmpty, frame.session.count <= 64 else { return }
        guard sessions.count < Self.maximumSessions else {
            await send(TerminalFrame(session: frame.session, op: .exit, message: "this node already has \(Self.maximumSessions) terminals open"))
            return
        }
        let terminal: PseudoTerminal
        do {
            terminal = try PseudoTerminal(columns: frame.columns ?? 80, rows: frame.rows ?? 24,
                                          directory: ProcessInfo.processInfo.environment["HOME"])
        } catch {
            await send(TerminalFrame(session: frame.session, op: .exit, message: error.description))
            return
        }
        sessions[frame.session] = terminal
        let send = send
        let session = frame.session
        Task {
            for await chunk in terminal.output { await send(.data(session, chunk)) }
            await send(TerminalFrame(session: session, op: .exit, message: await terminal.endMessage))
            await self.forget(session)
        }
    }

    private func forget(_ session: String) {
        sessions.removeValue(forKey: session)
    }
}
