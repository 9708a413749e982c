import Fluent
import Foundation
import NebulaAgent

/// The host ports taken on a node, as installs and deploys both need to know before they start
/// anything: ports of installed apps, ports of deploy projects, and whatever listens there now.
enum NodePorts {
    /// Refuses (409 `port_conflict`, naming every holder) any of `ports` that is taken on `node`.
    /// `label` says which setting asked for the port (`WEB_PORT`, `host port`).
    static func ensureFree(_ ports: [(port: Int, label: String)], on node: ContainersService.Node, db: any Database) async throws {
        guard !ports.isEmpty else { return }
        var holders: [Int: String] = [:]
        for install in try await AppInstall.query(on: db).filter(\.$serverID == node.id).all() {
            for port in (try? JSONDecoder().decode([Int].self, from: Data(install.ports.utf8))) ?? [] {
                holders[port] = holders[port] ?? "the app '\(install.name)'"
            }
        }
        for project in try await DeployProject.query(on: db).filter(\.$serverID == node.id).all() {
            holders[project.hostPort] = holders[project.hostPort] ?? "the deploy project '\(project.name)'"
        }
        let listening = try await node.engine.apps(.listeningPorts)
        guard listening.ok else { throw NebulaError.badGateway("Could not read the node's listening ports: \(listening.message)", code: "ports_unknown") }
        for port in listening.ports ?? [] where holders[port.port] == nil {
            holders[port.port] = "something already listening on \(node.name)"
        }
        let problems = ports.compactMap { wanted in holders[wanted.port].map { "port \(wanted.port) (\(wanted.label)) is used by \($0)" } }
        guard problems.isEmpty else {
            throw NebulaError.conflict("Nothing was started: " + problems.joined(separator: "; ") + ". Choose other ports.", code: "port_conflict")
        }
    }
}
