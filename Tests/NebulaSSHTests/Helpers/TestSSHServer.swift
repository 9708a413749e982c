import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NebulaSSH
import Testing

/// The two throw-away OpenSSH servers `start_sshd` (scripts/lib/peers.sh) starts for `make test`:
/// same users and authorized_keys, different host keys. Under CI their absence is a failure, not a skip.
struct TestSSHServer: Sendable {
    /// Port of the first sshd (host key `NEBULA_TEST_SSH_HOSTKEY_PUB`).
    let port: Int
    /// Port of the second sshd: same keys accepted, another host key ("host key changed").
    let altPort: Int
    /// The user both accept keys for (the user running the tests).
    let user: String
    /// authorized_keys of both servers; tests append their generated keys to it.
    let authorizedKeysPath: String
    /// The first server's host public key file.
    let hostKeyPubPath: String

    static let environment = ProcessInfo.processInfo.environment

    static let configured: TestSSHServer? = {
        guard let port = environment["NEBULA_TEST_SSH_PORT"].flatMap(Int.init),
            let altPort = environment["NEBULA_TEST_SSH_ALT_PORT"].flatMap(Int.init),
            let user = environment["NEBULA_TEST_SSH_USER"],
            let authorizedKeys = environment["NEBULA_TEST_SSH_AUTHORIZED_KEYS"],
            let hostKeyPub = environment["NEBULA_TEST_SSH_HOSTKEY_PUB"]
        else { return nil }
        return TestSSHServer(port: port, altPort: altPort, user: user, authorizedKeysPath: authorizedKeys, hostKeyPubPath: hostKeyPub)
    }()

    /// Suites that need sshd run when it is configured, and always under CI (where they then fail).
    static var isAvailable: Bool { configured != nil || environment["CI"] != nil }

    static let skipMessage: Comment =
        "NEBULA_TEST_SSH_* not set: run `make test`, or `source scripts/lib/peers.sh; D=$(mktemp -d); chmod 755 $D; start_sshd $D` before `swift test`"

    /// The configured servers; records an issue (and throws) when they are missing.
    static func require() throws -> TestSSHServer {
        guard let configured else {
            Issue.record("NEBULA_TEST_SSH_* are not set: run the suite with `make test`, which starts sshd (scripts/lib/peers.sh start_sshd)")
            throw TestSetupError.noSSHServer
        }
        return configured
    }

    /// The first server as a target (or the alt one).
    func target(alt: Bool = false) throws -> SSHTarget {
        try SSHTarget(host: "127.0.0.1", port: alt ? altPort : port, username: user)
    }

    /// The first server's host key as `ssh-ed25519 AAAA…` (no comment).
    func hostKey() throws -> String {
        let text = try String(contentsOfFile: hostKeyPubPath, encoding: .utf8)
        return text.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// A fresh identity whose key both servers accept.
    func authorizedIdentity(comment: String = "nebula-ssh-tests") throws -> SSHIdentity {
        let identity = SSHIdentity.generate(comment: comment)
        try authorize(identity)
        return identity
    }

    /// Appends the identity's authorized_keys line (sshd reads the file at every login) with one
    /// O_APPEND write: other test targets in this process append to the same file at the same time.
    func authorize(_ identity: SSHIdentity) throws {
        let descriptor = open(authorizedKeysPath, O_WRONLY | O_APPEND)
        guard descriptor >= 0 else { throw TestSetupError.cannotWrite(authorizedKeysPath) }
        defer { close(descriptor) }
        let bytes = Array((identity.authorizedKeysLine + "\n").utf8)
        guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else {
            throw TestSetupError.cannotWrite(authorizedKeysPath)
        }
    }
}

enum TestSetupError: Error {
    case noSSHServer
    case cannotWrite(String)
    case commandFailed(String)
}
