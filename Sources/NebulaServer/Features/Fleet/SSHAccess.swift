import Fluent
import Foundation
import HostMetrics
import NebulaAgent
import NebulaCore
import NebulaSSH

/// Agentless servers: the key pair in the vault, "test connection", the pinned host key, and
/// the one place every SSH use (metrics, terminal, power) gets its target, identity and policy.
///
/// The host key is pinned on the first successful connection; after that any other key is refused
/// and reported until an operator clears the pin ("the server was reinstalled").
struct SSHAccess: Sendable {
    let db: any Database
    let secrets: SecretsService
    let audit: AuditLog
    let events: EventBus
    let client: any SSHClient
    /// How long one SSH operation (connect, log in, run) may take.
    let timeout: Duration
    /// The file browser's upload limit.
    let maxUploadBytes: Int64
    /// Uploads in progress over SFTP, per server, so chunks sent in separate requests meet again.
    let uploads = SFTPUploadRegistries()

    /// The vault entry holding a server's private key (stable across renames).
    static func secretName(for serverID: UUID) -> String { "ssh-key.\(serverID.uuidString.lowercased())" }

    /// What the page and the API show about a server's SSH set-up; never the private key.
    struct Status: Codable, Sendable, Equatable {
        var hasKey: Bool
        /// The line to add to `~/.ssh/authorized_keys` on the server.
        var authorizedKeysLine: String?
        var pinnedHostKeyFingerprint: String?
        var lastError: String?
    }

    /// The outcome of "test connection": success with what was learnt, or the exact failure.
    struct TestReport: Codable, Sendable, Equatable {
        var ok: Bool
        /// `SSHError` code on failure (`connection_refused`, `authentication_failed`, `host_key_mismatch`, …).
        var code: String?
        var message: String
        var hostKeyFingerprint: String?
        /// True when this test pinned the host key (first use).
        var pinnedNow: Bool
        var system: String?
    }

    func status(of id: UUID, by actor: Actor) async throws -> Status {
        try actor.require(.viewer)
        let server = try await sshServer(id)
        let identity = try? await identity(for: server)
        return Status(hasKey: identity != nil, authorizedKeysLine: identity?.authorizedKeysLine,
                      pinnedHostKeyFingerprint: server.sshHostKey.flatMap { try? SSHFingerprint.sha256(ofOpenSSHKey: $0) },
                      lastError: server.lastError)
    }

    /// Creates (or replaces) the server's ed25519 key pair, stored encrypted in the vault.
    func generateKey(for id: UUID, by actor: Actor) async throws -> Status {
        try actor.require(.operator)
        let server = try await sshServer(id)
        let identity = SSHIdentity.generate(comment: "nebula@\(server.name.replacingOccurrences(of: " ", with: "-"))")
        _ = try await secrets.store(name: Self.secretName(for: id), value: identity.privateKeyRaw.base64EncodedString(),
                                    description: "SSH key of server \(server.name)", replace: true, by: actor)
        try await audit.record("server.ssh_key", target: "server:\(server.name)", by: actor, detail: identity.fingerprint)
        return try await status(of: id, by: actor)
    }

    /// Connects, logs in and runs `uname`; pins the host key on first success and reads the
    /// hardware profile. A failure is reported with its exact reason, not thrown.
    func testConnection(_ id: UUID, by actor: Actor) async throws -> TestReport {
        try actor.require(.operator)
        let server = try await sshServer(id)
        let report: TestReport
        do {
            let (target, identity, policy) = try await connectionParts(for: server, pinning: true)
            let result = try await client.testConnection(to: target, identity: identity, hostKey: policy, timeout: timeout)
            let pinnedNow = server.sshHostKey == nil
            if pinnedNow {
                server.sshHostKey = result.hostKey
                try await audit.record("server.ssh_host_key", target: "server:\(server.name)", by: actor, detail: "pinned \(result.hostKeyFingerprint)")
            }
            server.lastError = nil
            try await server.update(on: db)
            if let hardware = try? await client.exec(RemoteCollection.hardwareCommand, on: target, identity: identity,
                                                     hostKey: .pinned(result.hostKey), timeout: timeout),
               let profile = try? RemoteHostSampler.hardwareProfile(fromOutput: hardware.stdoutText) {
                server.hardware = (try? JSONEncoder().encode(profile)).map { String(decoding: $0, as: UTF8.self) }
                try await server.update(on: db)
            }
            report = TestReport(ok: true, message: "Connected as \(target).", hostKeyFingerprint: result.hostKeyFingerprint,
                                pinnedNow: pinnedNow, system: result.system)
        } catch let error as SSHError {
            report = TestReport(ok: false, code: error.code.rawValue, message: error.description,
                                hostKeyFingerprint: error.presentedFingerprint, pinnedNow: false)
            server.lastError = error.description
            try await server.update(on: db)
        }
        try await audit.record("server.ssh_test", target: "server:\(server.name)", outcome: report.ok ? .success : .failure,
                               by: actor, detail: report.code ?? report.message)
        return report
    }

    /// Forgets the pinned host key, so the next connection pins the key the server shows then.
    func forgetHostKey(_ id: UUID, by actor: Actor) async throws -> Status {
        try actor.require(.operator)
        let server = try await sshServer(id)
        let old = server.sshHostKey.flatMap { try? SSHFingerprint.sha256(ofOpenSSHKey: $0) } ?? "none"
        server.sshHostKey = nil
        try await server.update(on: db)
        try await audit.record("server.ssh_host_key", target: "server:\(server.name)", by: actor, detail: "cleared \(old)")
        return try await status(of: id, by: actor)
    }

    // MARK: Shared by metrics, terminal and power

    /// Target and identity for a server, with the host-key policy: the pinned key, or any key when
    /// `pinning` (only "test connection" pins, so a key is trusted when an operator asked for it).
    func connectionParts(for server: ServerRecord, pinning: Bool = false) async throws -> (SSHTarget, SSHIdentity, HostKeyPolicy) {
        guard let address = server.address else {
            throw SSHError.invalidTarget("the server has no address")
        }
        let target = try SSHTarget(host: address, port: server.port ?? 22, username: server.username ?? "root")
        guard let identity = try? await identity(for: server) else {
            throw SSHError(code: .invalidKey, description: "no SSH key yet: use \"Generate key\" on the server's page and add the authorized_keys line to the server")
        }
        if let pinned = server.sshHostKey { return (target, identity, .pinned(pinned)) }
        guard pinning else {
            throw SSHError(code: .hostKeyMismatch, description: "the server's host key is not pinned yet: use \"Test connection\" on its page, check the fingerprint, and it is pinned")
        }
        return (target, identity, .trustOnFirstUse)
    }

    /// Runs a command on an SSH server whose host key is pinned.
    func exec(_ command: String, on server: ServerRecord) async throws -> SSHExecResult {
        let (target, identity, policy) = try await connectionParts(for: server)
        return try await client.exec(command, on: target, identity: identity, hostKey: policy, timeout: timeout)
    }

    private func identity(for server: ServerRecord) async throws -> SSHIdentity {
        let stored = try await secrets.value(of: Self.secretName(for: try server.requireID()))
        guard let raw = Data(base64Encoded: stored) else { throw SSHError.invalidKey("the stored key is damaged") }
        return try SSHIdentity(privateKeyRaw: raw, comment: "nebula@\(server.name)")
    }

    private func sshServer(_ id: UUID) async throws -> ServerRecord {
        guard let server = try await ServerRecord.find(id, on: db) else { throw NebulaError.notFound("Server \(id)") }
        guard server.connection == .ssh else {
            throw NebulaError.unprocessable("\(server.name) is not an SSH server.", code: "not_ssh")
        }
        return server
    }
}

// MARK: - Power, terminals and files over SSH

extension SSHAccess: RemotePowerControl, RemoteTerminalOpener, RemoteFileAccess {
    /// One SFTP session per operation, confined to `roots` (see `SFTPFileAccess`).
    func handle(_ request: FileRequest, roots: FileRoots, on server: ServerRecord) async throws -> FileResponse {
        let (target, identity, policy) = try await connectionParts(for: server)
        let session = try await client.openSFTP(on: target, identity: identity, hostKey: policy, timeout: timeout)
        let registry = await uploads.registry(for: try server.requireID())
        let response = await SFTPFileAccess(session: session, roots: roots, maxUploadBytes: maxUploadBytes, uploads: registry).handle(request)
        await session.close()
        return response
    }

    /// Runs the configured reboot/shutdown command; `sudo -n` in front for users other than root.
    func power(_ action: PowerService.PowerAction, server: ServerRecord, commands: PowerCommands) async throws -> AgentReply {
        let words = action == .reboot ? commands.reboot : commands.shutdown
        let line = ((server.username ?? "root") == "root" ? "" : "sudo -n ") + words.map(ShellWord.quote).joined(separator: " ")
        let result = try await exec(line, on: server)
        let ok = result.exitStatus == 0
        return AgentReply(id: UUID().uuidString, ok: ok, message: ok ? "`\(line)` accepted"
            : "`\(line)` exited with status \(result.exitStatus): \(String(result.stderrText.prefix(500)))")
    }

    func openTerminal(on server: ServerRecord, columns: Int, rows: Int) async throws -> any TerminalSession {
        let (target, identity, policy) = try await connectionParts(for: server)
        let shell = try await client.openShell(on: target, identity: identity, hostKey: policy, columns: columns, rows: rows,
                                               term: "xterm-256color", timeout: timeout)
        return SSHTerminal(shell: shell)
    }
}

/// An SSH shell as a web terminal session.
struct SSHTerminal: TerminalSession {
    let shell: SSHShellSession

    var output: AsyncStream<[UInt8]> { shell.output }
    func write(_ bytes: [UInt8]) async throws { try await shell.write(bytes) }
    func resize(columns: Int, rows: Int) async throws { try await shell.resize(columns: columns, rows: rows) }
    func close() async { await shell.close() }

    var endMessage: String {
        get async {
            switch await shell.ending {
        case .exited(let status): "the shell exited with status \(status)"
        case .killed(let signal): "the shell was killed by SIG\(signal)"
        case .closed: "the terminal was closed"
            case .failed(let error): error.description
            }
        }
    }
}

/// One `SFTPUploadRegistry` per server.
actor SFTPUploadRegistries {
    private var byServer: [UUID: SFTPUploadRegistry] = [:]

    func registry(for server: UUID) -> SFTPUploadRegistry {
        if let existing = byServer[server] { return existing }
        let created = SFTPUploadRegistry()
        byServer[server] = created
        return created
    }
}

extension SSHError: APIErrorConvertible {
    /// A failure reaching or using an SSH server: 502 with the SSH error's code and exact message.
    var apiError: NebulaError { .badGateway(description, code: "ssh_" + code.rawValue) }
}

extension TerminalError: APIErrorConvertible {
    var apiError: NebulaError { .badGateway("The terminal failed: \(description)", code: "terminal_failed") }
}
