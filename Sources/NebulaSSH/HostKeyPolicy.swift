/// How the client decides whether to trust the server's host key.
public enum HostKeyPolicy: Sendable, Hashable {
    /// Accept whatever key the server presents and report it (`SSHExecResult.hostKey`), so the
    /// caller can pin it for the next connections. Use only for the very first connection.
    case trustOnFirstUse
    /// Accept only this key: an OpenSSH public key string (`ssh-ed25519 AAAA…`, a comment is
    /// ignored). Any other key fails with `SSHError` `host_key_mismatch` before we authenticate.
    case pinned(String)
}
