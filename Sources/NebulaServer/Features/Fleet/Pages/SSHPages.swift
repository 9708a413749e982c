import Foundation
import NebulaCore
import Plot
import Vapor

/// The SSH card's forms on an agentless server's page.
enum SSHPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.POST, ["servers", ":id", "ssh", "key"], .operator, "server.ssh_key", generateKey)
        page(.POST, ["servers", ":id", "ssh", "test"], .operator, "server.ssh_test", test)
        page(.POST, ["servers", ":id", "ssh", "forget-host-key"], .operator, "server.ssh_host_key", forgetHostKey)
    }

    @Sendable static func generateKey(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/servers/\(id)", success: "New key created: add the authorized_keys line below to the server, then test the connection.") {
            _ = try await req.nebula.ssh.generateKey(for: id, by: try req.actor)
        }
    }

    @Sendable static func test(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let report = try await req.nebula.ssh.testConnection(id, by: try req.actor)
            let message = report.ok
                ? [report.message, report.system, report.pinnedNow ? "Host key pinned: \(report.hostKeyFingerprint ?? "")" : nil].compactMap { $0 }.joined(separator: " ")
                : report.message
            return req.redirect(to: "/servers/\(id)", flash: Flash(kind: report.ok ? .success : .error, message: message))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/servers/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func forgetHostKey(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/servers/\(id)", success: "Pinned host key cleared; the next connection pins the key the server shows.") {
            _ = try await req.nebula.ssh.forgetHostKey(id, by: try req.actor)
        }
    }
}

/// Key, authorized_keys line, pinned host key and the last error of an SSH server.
struct SSHCard: Component {
    var server: ServerDTO
    var status: SSHAccess.Status
    var canEdit: Bool
    var csrfToken: String?

    var body: any Component {
        Card(title: "SSH access", subtitle: "Nebula logs in as \(server.username ?? "root")@\(server.address ?? "?"):\(server.port ?? 22) with its own ed25519 key.") {
            if let line = status.authorizedKeysLine {
                Paragraph("Add this line to ~\(server.username ?? "root")/.ssh/authorized_keys on the server:")
                CodeBlock(line, id: "authorized-keys-line")
            } else {
                Paragraph("No key yet. Generate one, then add its line to the server's authorized_keys.").class("muted")
            }
            DetailList([
                ("Host key", Text(status.pinnedHostKeyFingerprint.map { "pinned \($0)" } ?? "not pinned yet (pinned on the first successful connection)")),
                ("Last error", Text(status.lastError ?? "none")),
            ])
            if canEdit {
                Div {
                    CSRFForm(action: "/servers/\(server.id)/ssh/test", csrfToken: csrfToken, classes: "inline-form") {
                        SubmitButton("Test connection")
                    }
                    CSRFForm(action: "/servers/\(server.id)/ssh/key", csrfToken: csrfToken, classes: "inline-form",
                             confirm: status.hasKey ? "Replace the key? The old line stops working once you remove it from the server." : nil) {
                        SubmitButton(status.hasKey ? "Replace key" : "Generate key", style: .secondary)
                    }
                    if status.pinnedHostKeyFingerprint != nil {
                        CSRFForm(action: "/servers/\(server.id)/ssh/forget-host-key", csrfToken: csrfToken, classes: "inline-form",
                                 confirm: "Forget the pinned host key? Only do this when the server was reinstalled.") {
                            SubmitButton("Forget host key", style: .danger)
                        }
                    }
                }.class("button-row")
            }
        }
    }
}
