import Fluent
import Foundation
import NebulaAgent
import NebulaCore

/// Reboot, shutdown and Wake-on-LAN. Power actions need the operator role and the server's name
/// typed back as confirmation; every attempt is audited with its outcome.
struct PowerService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let connections: AgentConnections
    /// What the control plane runs for its own machine.
    let localActions: NodeActions
    /// Runs a power command on an SSH server.
    let remote: any RemotePowerControl

    /// What happened, for the API and the page.
    struct Outcome: Codable, Sendable, Equatable {
        var ok: Bool
        var message: String
    }

    enum PowerAction: String, Codable, Sendable, CaseIterable {
        case reboot, shutdown

        var request: AgentRequest.Action { self == .reboot ? .reboot : .shutdown }
    }

    func power(_ id: UUID, action: PowerAction, confirm: String?, by actor: Actor) async throws -> Outcome {
        try actor.require(.operator)
        let server = try await record(id)
        let auditAction = "server.power"
        guard confirm?.trimmingCharacters(in: .whitespaces) == server.name else {
            try await audit.record(auditAction, target: "server:\(server.name)", outcome: .failure, by: actor, detail: "\(action.rawValue): not confirmed")
            throw NebulaError.unprocessable("Type the server's name (\(server.name)) to confirm the \(action.rawValue).", code: "confirmation_required")
        }
        let reply: AgentReply
        do {
            switch server.connection {
            case .local:
                reply = await localActions.perform(AgentRequest(action: action.request))
            case .agent:
                reply = try await connections.call(id, AgentRequest(action: action.request))
            case .ssh:
                reply = try await remote.power(action, server: server, commands: localActions.power)
            }
        } catch {
            try await audit.record(auditAction, target: "server:\(server.name)", outcome: .failure, by: actor, detail: "\(action.rawValue): \(error)")
            throw error
        }
        try await audit.record(auditAction, target: "server:\(server.name)", outcome: reply.ok ? .success : .failure, by: actor,
                               detail: "\(action.rawValue): \(reply.message)")
        if reply.ok {
            await events.publish(.serverPowerAction, actor: actor.username, subject: "server:\(server.name)",
                                 data: ["id": id.uuidString, "action": action.rawValue])
        }
        return Outcome(ok: reply.ok, message: reply.message)
    }

    /// Sends the magic packet from the control plane, or from `via`, an online node in the same LAN.
    func wake(_ id: UUID, via: UUID?, by actor: Actor) async throws -> Outcome {
        try actor.require(.operator)
        let server = try await record(id)
        guard let mac = server.macAddress.flatMap(MACAddress.init) else {
            throw NebulaError.unprocessable("Set the server's MAC address (Edit) before waking it.", code: "no_mac_address")
        }
        let target = WakeTarget(mac: mac, broadcast: server.wakeBroadcast ?? "255.255.255.255", port: server.wakePort ?? 9)
        var sender = "the control plane"
        let reply: AgentReply
        do {
            if let via, via != id {
                let relay = try await record(via)
                sender = relay.name
                switch relay.connection {
                case .agent:
                    reply = try await connections.call(via, AgentRequest(action: .wake, wake: target))
                case .local:
                    reply = await localActions.perform(AgentRequest(action: .wake, wake: target))
                case .ssh:
                    throw NebulaError.unprocessable("A magic packet can be sent from the control plane or an agent node, not from an SSH server.", code: "invalid_relay")
                }
            } else {
                reply = await localActions.perform(AgentRequest(action: .wake, wake: target))
            }
        } catch {
            try await audit.record("server.wake", target: "server:\(server.name)", outcome: .failure, by: actor, detail: "\(error)")
            throw error
        }
        let message = reply.ok ? "\(reply.message) from \(sender)" : reply.message
        try await audit.record("server.wake", target: "server:\(server.name)", outcome: reply.ok ? .success : .failure, by: actor, detail: message)
        return Outcome(ok: reply.ok, message: message)
    }

    private func record(_ id: UUID) async throws -> ServerRecord {
        guard let server = try await ServerRecord.find(id, on: db) else { throw NebulaError.notFound("Server \(id)") }
        return server
    }
}

/// Runs reboot or shutdown on a server the control plane reaches over SSH.
protocol RemotePowerControl: Sendable {
    func power(_ action: PowerService.PowerAction, server: ServerRecord, commands: PowerCommands) async throws -> AgentReply
}
