import Foundation
import OpenAPIKit30
import Vapor

/// `/api/v1/servers/{id}/ssh…`: the key pair, "test connection" and the pinned host key of an
/// agentless server.
struct SSHController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "servers", ":id", "ssh", role: .viewer, summary: "SSH set-up: key, authorized_keys line, pinned host key, last error", tag: "Fleet",
                        response: SSHStatusDoc.doc, use: status)
        routes.endpoint(.POST, "servers", ":id", "ssh", "key", role: .operator, audit: "server.ssh_key",
                        summary: "Generate (or replace) the server's ed25519 key pair, kept in the vault", tag: "Fleet",
                        response: SSHStatusDoc.doc, use: generateKey)
        routes.endpoint(.POST, "servers", ":id", "ssh", "test", role: .operator, audit: "server.ssh_test",
                        summary: "Connect and log in; pins the host key on first success and reports the exact failure otherwise", tag: "Fleet",
                        response: SSHTestDoc.doc, use: test)
        routes.endpoint(.POST, "servers", ":id", "ssh", "forget-host-key", role: .operator, audit: "server.ssh_host_key",
                        summary: "Clear the pinned host key (after a reinstall); the next connection pins the new one", tag: "Fleet",
                        response: SSHStatusDoc.doc, use: forgetHostKey)
    }

    @Sendable func status(req: Request) async throws -> SSHAccess.Status {
        try await req.nebula.ssh.status(of: try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func generateKey(req: Request) async throws -> SSHAccess.Status {
        try await req.nebula.ssh.generateKey(for: try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func test(req: Request) async throws -> SSHAccess.TestReport {
        try await req.nebula.ssh.testConnection(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func forgetHostKey(req: Request) async throws -> SSHAccess.Status {
        try await req.nebula.ssh.forgetHostKey(try req.uuidParameter(), by: try req.actor)
    }
}

extension SSHAccess.Status: Content {}
extension SSHAccess.TestReport: Content {}

enum SSHStatusDoc: Documented {
    static let schemaName = "SSHStatus"
    static let schema = JSONSchema.object(properties: [
        "hasKey": .boolean,
        "authorizedKeysLine": .string(required: false, nullable: true, description: "Add this line to ~/.ssh/authorized_keys on the server"),
        "pinnedHostKeyFingerprint": .string(required: false, nullable: true, description: "SHA256:… of the pinned host key"),
        "lastError": .string(required: false, nullable: true),
    ])
}

enum SSHTestDoc: Documented {
    static let schemaName = "SSHTestReport"
    static let schema = JSONSchema.object(properties: [
        "ok": .boolean,
        "code": .string(required: false, nullable: true, description: "connection_refused, unreachable, timed_out, authentication_failed, host_key_mismatch, …"),
        "message": .string,
        "hostKeyFingerprint": .string(required: false, nullable: true),
        "pinnedNow": .boolean,
        "system": .string(required: false, nullable: true, description: "uname -srm of the server"),
    ])
}
