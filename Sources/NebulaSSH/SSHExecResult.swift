import Foundation

/// What a remote command produced.
public struct SSHExecResult: Sendable, Equatable {
    /// Everything the command wrote to stdout.
    public var stdout: Data
    /// Everything the command wrote to stderr.
    public var stderr: Data
    /// The command's exit status; `-1` when it was killed by a signal (see `exitSignal`).
    public var exitStatus: Int32
    /// The signal that killed the command (`"TERM"`, `"KILL"`, …), if it was killed.
    public var exitSignal: String?
    /// The server's host key in OpenSSH format (`ssh-ed25519 AAAA…`), to pin after a first use.
    public var hostKey: String

    /// Creates a result (the client fills it; public for fakes in other modules' tests).
    public init(stdout: Data, stderr: Data, exitStatus: Int32, exitSignal: String? = nil, hostKey: String) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
        self.hostKey = hostKey
    }

    /// stdout decoded as UTF-8 (invalid sequences replaced).
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// stderr decoded as UTF-8 (invalid sequences replaced).
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// The outcome of `SSHClient.testConnection`.
public struct SSHConnectionReport: Sendable, Equatable {
    /// Who we logged in as, where.
    public var target: SSHTarget
    /// The server's host key in OpenSSH format (`ssh-ed25519 AAAA…`), to pin.
    public var hostKey: String
    /// `SHA256:…` of `hostKey`, as `ssh-keygen -lf` prints it: show it to the user to compare.
    public var hostKeyFingerprint: String
    /// The remote `uname -srm` line (e.g. `Linux 6.1.0-18-amd64 x86_64`); `nil` if uname failed there.
    public var system: String?
    /// How long connect + authenticate + uname took.
    public var duration: Duration

    /// Creates a report (the client fills it; public for fakes in other modules' tests).
    public init(target: SSHTarget, hostKey: String, hostKeyFingerprint: String, system: String?, duration: Duration) {
        self.target = target
        self.hostKey = hostKey
        self.hostKeyFingerprint = hostKeyFingerprint
        self.system = system
        self.duration = duration
    }
}
