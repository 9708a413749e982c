/// Why an SSH operation failed.
///
/// `code` is a stable machine string (for the API's `{ "error": { "code" } }` and for tests);
/// `description` tells a person exactly what failed and what to do about it. Never contains key material.
public struct SSHError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stable kinds of failure.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// The host, port or user name given for the target is not acceptable.
        case invalidTarget = "invalid_target"
        /// The host answered but nothing listens on that port (TCP RST, ECONNREFUSED).
        case connectionRefused = "connection_refused"
        /// The host name does not resolve, there is no route to it, or the connection was lost.
        case unreachable = "unreachable"
        /// Connecting, authenticating or running did not finish within the allowed time.
        case timedOut = "timed_out"
        /// The server did not accept our key for that user.
        case authenticationFailed = "authentication_failed"
        /// The server presented a host key other than the pinned one.
        case hostKeyMismatch = "host_key_mismatch"
        /// The server refused or closed the session channel (exec, PTY, shell) or it is already closed.
        case channelFailed = "channel_failed"
        /// The command printed more than the client's output limit.
        case outputTooLarge = "output_too_large"
        /// The peer does not speak SSH as we expect (not an SSH server, no common algorithms, bad message).
        case protocolError = "protocol_error"
        /// A private or public key given to us could not be read.
        case invalidKey = "invalid_key"
        /// The calling task was cancelled; the connection was closed.
        case cancelled = "cancelled"
    }

    /// The machine-readable kind of failure.
    public let code: Code
    /// What failed and what to do, in one sentence.
    public let description: String
    /// For `host_key_mismatch`: the fingerprint (`SHA256:…`) of the pinned key.
    public let expectedFingerprint: String?
    /// For `host_key_mismatch`: the fingerprint (`SHA256:…`) of the key the server presented.
    public let presentedFingerprint: String?

    /// An error of the given kind with a human description.
    public init(code: Code, description: String, expectedFingerprint: String? = nil, presentedFingerprint: String? = nil) {
        self.code = code
        self.description = description
        self.expectedFingerprint = expectedFingerprint
        self.presentedFingerprint = presentedFingerprint
    }
}

extension SSHError {
    /// The target's host, port or user name is not acceptable; `reason` says which and why.
    public static func invalidTarget(_ reason: String) -> Self {
        .init(code: .invalidTarget, description: "invalid SSH target: \(reason)")
    }

    /// Nothing listens on `address` (for example `127.0.0.1:2222`).
    public static func connectionRefused(_ address: String) -> Self {
        .init(code: .connectionRefused, description: "\(address) refused the connection — is sshd running on that port?")
    }

    /// The host name does not resolve or the network has no route to the host.
    public static func unreachable(_ address: String, reason: String) -> Self {
        .init(code: .unreachable, description: "cannot reach \(address): \(reason) — check the host name and that the machine is online")
    }

    /// An established connection broke (reset, closed by the network).
    public static func connectionLost(_ address: String, reason: String) -> Self {
        .init(code: .unreachable, description: "lost the connection to \(address): \(reason) — check the network and the server's sshd log")
    }

    /// `phase` (e.g. "connecting to root@host:22") did not finish within `timeout`.
    public static func timedOut(_ phase: String, after timeout: Duration) -> Self {
        .init(
            code: .timedOut,
            description: "timed out after \(timeout.humanReadable) while \(phase) — check that the host is reachable and sshd answers; raise the timeout for long-running commands"
        )
    }

    /// The server rejected our key for `user`.
    public static func authenticationFailed(user: String) -> Self {
        let home = user == "root" ? "~root" : "~\(user)"
        return .init(
            code: .authenticationFailed,
            description: "the server rejected the key for user \(user) — add the authorized_keys line to \(home)/.ssh/authorized_keys"
        )
    }

    /// The server does not offer public-key login at all for `user`; `offered` lists what it offers.
    public static func publicKeyNotAccepted(user: String, offered: String) -> Self {
        .init(
            code: .authenticationFailed,
            description: "the server does not accept public-key login for user \(user) (it offers: \(offered)) — set PubkeyAuthentication yes in its sshd_config"
        )
    }

    /// The presented host key is not the pinned one.
    public static func hostKeyMismatch(expectedFingerprint: String, presentedFingerprint: String) -> Self {
        .init(
            code: .hostKeyMismatch,
            description: "host key changed: expected \(expectedFingerprint), got \(presentedFingerprint) — if the server was reinstalled, clear the pinned key; otherwise someone may be intercepting the connection",
            expectedFingerprint: expectedFingerprint,
            presentedFingerprint: presentedFingerprint
        )
    }

    /// The session channel could not be used; `reason` says what the server refused.
    public static func channelFailed(_ reason: String) -> Self {
        .init(code: .channelFailed, description: reason)
    }

    /// The command's stdout plus stderr exceeded `limit` bytes.
    public static func outputTooLarge(limit: Int) -> Self {
        .init(
            code: .outputTooLarge,
            description: "the command printed more than \(limit) bytes — redirect its output to a file, or pipe it through head/tail"
        )
    }

    /// The peer at `address` broke the SSH protocol or shares no algorithm with us.
    public static func protocolError(_ address: String, reason: String) -> Self {
        .init(code: .protocolError, description: "SSH protocol error with \(address): \(reason) — is that port an OpenSSH server?")
    }

    /// A key could not be read; `reason` says which and why.
    public static func invalidKey(_ reason: String) -> Self {
        .init(code: .invalidKey, description: reason)
    }

    /// The calling task was cancelled while `phase`.
    public static func cancelled(_ phase: String) -> Self {
        .init(code: .cancelled, description: "cancelled while \(phase); the connection was closed")
    }
}

extension Duration {
    /// "1.5 s", "30 s", "250 ms".
    var humanReadable: String {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
        return "\(Double(milliseconds) / 1000) s"
    }
}
