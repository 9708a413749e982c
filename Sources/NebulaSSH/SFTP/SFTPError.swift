/// Why an SFTP operation failed.
///
/// `code` is stable (for tests and for callers that map it onto their own errors); `description` says
/// which operation on which remote path failed and what to do. `status` is the server's raw
/// `SSH_FX_*` code when the server answered with one. OpenSSH reports only a few distinct codes: a
/// missing file or a non-directory in the path is `no_such_file`, `EACCES`/`EPERM` are
/// `permission_denied`, and almost everything else (`EEXIST`, `ENOTEMPTY`, `EISDIR`, a full disk, a
/// rename onto an existing name) is the generic `failure` — look at the path again to tell them apart.
public struct SFTPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stable kinds of failure.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// `SSH_FX_NO_SUCH_FILE`: the path (or a directory on the way) does not exist.
        case noSuchFile = "no_such_file"
        /// `SSH_FX_PERMISSION_DENIED`: the remote user may not do this.
        case permissionDenied = "permission_denied"
        /// `SSH_FX_FAILURE`: the server's generic error (already exists, not empty, is a directory, disk full, …).
        case failure = "failure"
        /// `SSH_FX_BAD_MESSAGE`: the server found the request malformed or an argument invalid (`EINVAL`, name too long).
        case badMessage = "bad_message"
        /// `SSH_FX_OP_UNSUPPORTED`: the server does not implement this operation.
        case unsupported = "unsupported"
        /// The caller passed an argument this client refuses before sending (a NUL in a path, a negative or too large length).
        case invalidArgument = "invalid_argument"
        /// The server broke the SFTP protocol (malformed or oversized packet, unexpected reply, unknown request id).
        case protocolError = "protocol_error"
        /// The SSH connection failed, timed out or was lost; ``SFTPError/connectionError`` says how.
        case connection = "connection"
        /// The session was closed with ``SFTPSession/close()`` (or the server ended the subsystem).
        case sessionClosed = "session_closed"
        /// The calling task was cancelled before the operation was sent.
        case cancelled = "cancelled"
    }

    /// The machine-readable kind of failure.
    public let code: Code
    /// The remote path the operation was about, if any.
    public let path: String?
    /// The server's `SSH_FX_*` status code, when it answered with one.
    public let status: UInt32?
    /// For ``Code/connection``: the underlying SSH failure.
    public let connectionError: SSHError?
    /// What failed and what to do, in one sentence.
    public let description: String

    /// An error of the given kind; prefer the factories.
    public init(code: Code, path: String? = nil, status: UInt32? = nil, connectionError: SSHError? = nil, description: String) {
        self.code = code
        self.path = path
        self.status = status
        self.connectionError = connectionError
        self.description = description
    }
}

extension SFTPError {
    /// The server answered `operation` on `path` with the `SSH_FX_*` code `status` and `message`.
    static func status(_ status: UInt32, message: String, operation: String, path: String?) -> SFTPError {
        let on = path.map { " \(printable($0))" } ?? ""
        let said = message.isEmpty ? "" : " (server: \(printable(message, limit: 200)))"
        switch status {
        case SFTPStatusCode.noSuchFile:
            return .init(code: .noSuchFile, path: path, status: status,
                         description: "\(operation)\(on): no such file or directory\(said) — check the path; it may have been moved or deleted")
        case SFTPStatusCode.permissionDenied:
            return .init(code: .permissionDenied, path: path, status: status,
                         description: "\(operation)\(on): permission denied\(said) — the SSH user may not do this there")
        case SFTPStatusCode.badMessage:
            return .init(code: .badMessage, path: path, status: status,
                         description: "\(operation)\(on): the server rejected the request as invalid\(said)")
        case SFTPStatusCode.opUnsupported:
            return .init(code: .unsupported, path: path, status: status,
                         description: "\(operation)\(on): the SFTP server does not support this operation\(said)")
        case SFTPStatusCode.noConnection, SFTPStatusCode.connectionLost:
            return .init(code: .connection, path: path, status: status, description: "\(operation)\(on): the SFTP server lost its connection\(said)")
        default:
            return .init(code: .failure, path: path, status: status,
                         description: "\(operation)\(on) failed\(said) — for example it already exists, is not empty, is a directory, or the disk is full")
        }
    }

    /// An argument refused before anything was sent.
    static func invalidArgument(_ reason: String, path: String? = nil) -> SFTPError {
        .init(code: .invalidArgument, path: path, description: reason)
    }

    /// The server broke the protocol.
    static func protocolViolation(_ reason: String) -> SFTPError {
        .init(code: .protocolError, description: "SFTP protocol error: \(reason) — is the server's sftp-server an SFTP version 3 implementation?")
    }

    /// The SSH connection under the session failed.
    static func connection(_ error: SSHError) -> SFTPError {
        .init(code: .connection, connectionError: error, description: error.description)
    }

    /// The session is closed.
    static var closed: SFTPError {
        .init(code: .sessionClosed, description: "the SFTP session is closed — open a new one")
    }

    /// The calling task was cancelled.
    static func cancelled(_ operation: String) -> SFTPError {
        .init(code: .cancelled, description: "cancelled before \(operation)")
    }

    /// `text` in quotes with control characters escaped, cut to `limit` characters.
    static func printable(_ text: String, limit: Int = 512) -> String {
        var out = "\""
        for (index, scalar) in text.unicodeScalars.enumerated() {
            if index == limit { out += "…"; break }
            out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return out + "\""
    }
}
