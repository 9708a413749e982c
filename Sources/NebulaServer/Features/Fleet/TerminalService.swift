import Fluent
import Foundation
import NebulaAgent
import NebulaCore

/// Web terminals: a shell on the control plane's machine, on an agent node, or over SSH. Operator
/// role or higher; the start and the end of every session are audited.
struct TerminalService: Sendable {
    let db: any Database
    let audit: AuditLog
    let connections: AgentConnections
    /// Opens a shell on an SSH server.
    let remote: any RemoteTerminalOpener

    /// An open session and what the end-of-session audit entry needs.
    struct Opened: Sendable {
        var session: any TerminalSession
        var serverName: String
        var startedAt: Date
    }

    func open(_ id: UUID, columns: Int, rows: Int, by actor: Actor) async throws -> Opened {
        try actor.require(.operator)
        guard let server = try await ServerRecord.find(id, on: db) else { throw NebulaError.notFound("Server \(id)") }
        let columns = PseudoTerminal.columnRange.clamp(columns)
        let rows = PseudoTerminal.rowRange.clamp(rows)
        let session: any TerminalSession
        do {
            switch server.connection {
            case .local:
                session = try PseudoTerminal(columns: columns, rows: rows, directory: ProcessInfo.processInfo.environment["HOME"])
            case .agent:
                session = try await connections.openTerminal(on: id, columns: columns, rows: rows)
            case .ssh:
                session = try await remote.openTerminal(on: server, columns: columns, rows: rows)
            }
        } catch let error as TerminalError {
            try await audit.record("terminal.open", target: "server:\(server.name)", outcome: .failure, by: actor, detail: error.description)
            throw NebulaError.badGateway("The terminal could not start: \(error.description)", code: "terminal_failed")
        } catch {
            try await audit.record("terminal.open", target: "server:\(server.name)", outcome: .failure, by: actor, detail: "\(error)")
            throw error
        }
        try await audit.record("terminal.open", target: "server:\(server.name)", by: actor, detail: "\(columns)×\(rows)")
        return Opened(session: session, serverName: server.name, startedAt: Date())
    }

    /// Records the end of a session: how long it lasted and why it ended.
    func closed(_ opened: Opened, by actor: Actor, reason: String) async {
        let seconds = Int(Date().timeIntervalSince(opened.startedAt).rounded())
        try? await audit.record("terminal.close", target: "server:\(opened.serverName)", by: actor, detail: "after \(seconds) s: \(reason)")
    }
}

/// Opens a shell on a server the control plane reaches over SSH.
protocol RemoteTerminalOpener: Sendable {
    func openTerminal(on server: ServerRecord, columns: Int, rows: Int) async throws -> any TerminalSession
}
