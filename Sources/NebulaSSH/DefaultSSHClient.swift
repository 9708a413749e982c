import Foundation
import Logging
import NIOCore
import NIOPosix

/// `SSHClient` on swift-nio-ssh: one TCP connection per call, ed25519 public-key login only.
public struct DefaultSSHClient: SSHClient {
    /// The event loops connections run on.
    public let group: any EventLoopGroup
    /// Most bytes (stdout + stderr) `exec` collects before failing with `output_too_large`.
    public let maxOutputBytes: Int
    private let logger: Logger

    /// A client on `group` (default: NIO's shared singleton) collecting at most `maxOutputBytes` (default 8 MiB) per exec.
    public init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxOutputBytes: Int = 8 << 20,
        logger: Logger = Logger(label: "nebula.ssh")
    ) {
        self.group = group
        self.maxOutputBytes = max(0, maxOutputBytes)
        self.logger = logger
    }

    /// Runs `command` with stdin closed; see `SSHClient.exec`. Output beyond `maxOutputBytes`
    /// fails with `output_too_large`; a command killed by a signal has `exitStatus == -1` and `exitSignal` set.
    public func exec(
        _ command: String,
        on target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        timeout: Duration
    ) async throws(SSHError) -> SSHExecResult {
        let connection = try await connect(to: target, identity: identity, hostKey: hostKey, timeout: timeout)
        let outcome: ExecOutcome
        do {
            outcome = try await connection.exec(command, limit: maxOutputBytes)
        } catch {
            await connection.close()
            logger.debug("ssh exec failed", metadata: ["target": "\(target)", "code": "\(error.code.rawValue)"])
            throw error
        }
        await connection.close()
        let status = outcome.exitStatus.map { Int32(truncatingIfNeeded: $0) } ?? -1
        logger.debug("ssh exec finished", metadata: ["target": "\(target)", "exit": "\(status)"])
        return SSHExecResult(
            stdout: Data(outcome.stdout.readableBytesView),
            stderr: Data(outcome.stderr.readableBytesView),
            exitStatus: status,
            exitSignal: outcome.exitStatus == nil ? outcome.exitSignal : nil,
            hostKey: String(openSSHPublicKey: connection.hostKey)
        )
    }

    /// Logs in and runs `uname -srm`; see `SSHClient.testConnection`.
    public func testConnection(
        to target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        timeout: Duration
    ) async throws(SSHError) -> SSHConnectionReport {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await exec("uname -srm", on: target, identity: identity, hostKey: hostKey, timeout: timeout)
        let line = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        return SSHConnectionReport(
            target: target,
            hostKey: result.hostKey,
            hostKeyFingerprint: try SSHFingerprint.sha256(ofOpenSSHKey: result.hostKey),
            system: result.exitStatus == 0 && !line.isEmpty ? line : nil,
            duration: clock.now - start
        )
    }

    /// Opens a PTY login shell; see `SSHClient.openShell`. `columns` and `rows` are clamped to
    /// 1…10000; an empty `term` becomes `xterm-256color`.
    public func openShell(
        on target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        columns: Int,
        rows: Int,
        term: String,
        timeout: Duration
    ) async throws(SSHError) -> SSHShellSession {
        let connection = try await connect(to: target, identity: identity, hostKey: hostKey, timeout: timeout)
        do {
            let session = try await connection.openShell(
                columns: SSHShellSession.clamp(columns),
                rows: SSHShellSession.clamp(rows),
                term: term.isEmpty ? "xterm-256color" : term
            )
            logger.debug("ssh shell opened", metadata: ["target": "\(target)"])
            return session
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Opens an SFTP session; see `SSHClient.openSFTP`.
    public func openSFTP(
        on target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        timeout: Duration
    ) async throws(SSHError) -> SFTPSession {
        let connection = try await connect(to: target, identity: identity, hostKey: hostKey, timeout: timeout)
        do {
            let session = try await connection.openSFTP(requestTimeout: timeout)
            logger.debug("sftp session opened", metadata: ["target": "\(target)"])
            return session
        } catch {
            await connection.close()
            throw error
        }
    }

    private func connect(
        to target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        timeout: Duration
    ) async throws(SSHError) -> SSHConnection {
        do {
            return try await SSHConnection.open(to: target, identity: identity, hostKey: hostKey, timeout: timeout, group: group)
        } catch {
            logger.debug("ssh connect failed", metadata: ["target": "\(target)", "code": "\(error.code.rawValue)"])
            throw error
        }
    }
}
