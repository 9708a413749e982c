/// Runs commands and terminal sessions on a machine over SSH, logging in with an ed25519 key.
///
/// Every call opens its own connection and closes it when done. The server depends on this
/// protocol; tests use `DefaultSSHClient` against the real OpenSSH servers `make test` starts.
public protocol SSHClient: Sendable {
    /// Runs `command` through the remote user's shell with stdin closed, and returns its output
    /// and exit status. The whole call (connect, authenticate, run) is bounded by `timeout`.
    ///
    /// - Throws: `SSHError`: `connection_refused`, `unreachable`, `timed_out`, `authentication_failed`,
    ///   `host_key_mismatch`, `channel_failed`, `output_too_large`, `protocol_error`, `invalid_key`, `cancelled`.
    func exec(
        _ command: String,
        on target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        timeout: Duration
    ) async throws(SSHError) -> SSHExecResult

    /// Connects, authenticates and runs `uname -srm`: the "Test connection" button. Reports the
    /// host key (to pin), its fingerprint (to show) and the remote system.
    func testConnection(
        to target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        timeout: Duration
    ) async throws(SSHError) -> SSHConnectionReport

    /// Opens an interactive login shell on a pseudo-terminal of `columns` × `rows` with `TERM=term`.
    /// `timeout` bounds opening the session only; the session lives until the shell exits or
    /// `SSHShellSession.close()` is called.
    func openShell(
        on target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        columns: Int,
        rows: Int,
        term: String,
        timeout: Duration
    ) async throws(SSHError) -> SSHShellSession

    /// Opens an SFTP (version 3) session on its own connection: the `sftp` subsystem, as OpenSSH's
    /// `Subsystem sftp …` provides it. `timeout` bounds connecting and starting the subsystem, and
    /// afterwards each request's wait for its reply. The session lives until `SFTPSession.close()`.
    ///
    /// - Throws: `SSHError` as for `exec`; `channel_failed` when the server refuses the subsystem,
    ///   `protocol_error` when it does not speak SFTP version 3.
    func openSFTP(
        on target: SSHTarget,
        identity: SSHIdentity,
        hostKey: HostKeyPolicy,
        timeout: Duration
    ) async throws(SSHError) -> SFTPSession
}
