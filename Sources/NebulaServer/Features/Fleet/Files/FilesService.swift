import Fluent
import Foundation
import NebulaAgent
import NebulaCore
import Vapor

/// The file browser: list, download, upload, rename, delete and make directories on a server,
/// confined to the roots configured for it. The local node is served in-process, agent nodes by
/// their agent, SSH servers over SFTP. Operator role; every change and every download is audited.
struct FilesService: Sendable {
    let db: any Database
    let audit: AuditLog
    let connections: AgentConnections
    /// The control plane's own machine.
    let local: FileAccessCache
    /// SSH servers, over SFTP.
    let remote: any RemoteFileAccess

    /// A server's roots, or a clear error when none are configured.
    func roots(of server: ServerRecord) throws -> FileRoots {
        let roots = server.fileRootList
        guard !roots.isEmpty, let parsed = try? FileRoots(roots) else {
            throw NebulaError.conflict("No folders are shared for \(server.name): add file roots (such as /srv, /home/pi) under Edit.", code: "no_file_roots")
        }
        return parsed
    }

    /// A server and its roots, looked up once for an operation or a whole transfer.
    struct Target: Sendable {
        let server: ServerRecord
        let roots: FileRoots
    }

    /// The server the operation is for, after checking the role and that it shares folders.
    func target(_ id: UUID, by actor: Actor) async throws -> Target {
        try actor.require(.operator)
        guard let server = try await ServerRecord.find(id, on: db) else { throw NebulaError.notFound("Server \(id)") }
        return Target(server: server, roots: try roots(of: server))
    }

    /// Runs one operation and turns a refusal into an API error with the operation's code.
    func perform(_ id: UUID, _ request: FileRequest, by actor: Actor) async throws -> (FileResponse, target: Target) {
        let target = try await target(id, by: actor)
        return (try await perform(request, on: target), target)
    }

    /// Runs one operation on a target already looked up: the chunks of a transfer use this, so a
    /// 1 GiB download does not read the server's row a thousand times.
    func perform(_ request: FileRequest, on target: Target) async throws -> FileResponse {
        let response: FileResponse
        switch target.server.connection {
        case .local:
            response = await local.access(for: target.roots).handle(request)
        case .agent:
            let reply = try await connections.call(try target.server.requireID(), AgentRequest(action: .files, files: request, roots: target.roots),
                                                   timeout: .seconds(60))
            guard let files = reply.files else {
                throw NebulaError.badGateway("The node's agent does not support the file browser (\(reply.message)); update it.", code: "agent_outdated")
            }
            response = files
        case .ssh:
            response = try await remote.handle(request, roots: target.roots, on: target.server)
        }
        if let failure = response.error {
            throw NebulaError(Self.status(for: failure.code), code: failure.code, failure.message)
        }
        return response
    }

    /// Records a change (or a download) with the path as the user sees it.
    func audited(_ action: String, _ path: ClientPath, on target: Target, by actor: Actor, detail: String? = nil) async throws {
        try await audit.record(action, target: "server:\(target.server.name):\(Self.display(path, roots: target.roots))", by: actor, detail: detail)
    }

    static func display(_ path: ClientPath, roots: FileRoots) -> String {
        let root = roots.root(at: path.root) ?? "?"
        return path.path.isEmpty ? root : (root.hasSuffix("/") ? root : root + "/") + path.path
    }

    /// HTTP status for a file operation's error code.
    static func status(for code: String) -> HTTPResponseStatus {
        switch code {
        case "not_found", "no_such_root", "unknown_upload": .notFound
        case "exists", "directory_not_empty": .conflict
        case "too_large": .payloadTooLarge
        case "permission_denied", "outside_root": .forbidden
        case "invalid_path", "invalid_request", "not_a_directory", "is_a_directory": .unprocessableEntity
        default: .badGateway
        }
    }
}

/// File operations on a server the control plane reaches over SSH (SFTP).
protocol RemoteFileAccess: Sendable {
    func handle(_ request: FileRequest, roots: FileRoots, on server: ServerRecord) async throws -> FileResponse
}

extension ServerRecord {
    /// The configured file browser roots (absolute paths).
    var fileRootList: [String] {
        (fileRoots ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
