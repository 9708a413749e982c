import NIOCore
import NIOSSH

/// Checks the server's host key against the policy; reports every presented key to the connection.
/// Created per connection inside the channel initializer and used only on that event loop.
final class HostKeyCheck: NIOSSHClientServerAuthenticationDelegate {
    private let pinned: NIOSSHPublicKey?
    private let connection: ConnectionHandler

    init(pinned: NIOSSHPublicKey?, connection: ConnectionHandler) {
        self.pinned = pinned
        self.connection = connection
    }

    func validateHostKey(hostKey: NIOSSHPublicKey, validationCompletePromise: EventLoopPromise<Void>) {
        // On a re-key the server must present the same key as at the start, pinned or not.
        let expected = pinned ?? connection.lastPresentedHostKey
        connection.hostKeyPresented(hostKey)
        if let expected, expected != hostKey {
            validationCompletePromise.fail(
                SSHError.hostKeyMismatch(
                    expectedFingerprint: SSHFingerprint.sha256(of: expected),
                    presentedFingerprint: SSHFingerprint.sha256(of: hostKey)
                )
            )
        } else {
            validationCompletePromise.succeed(())
        }
    }
}

/// Offers the identity's ed25519 key once. When the server asks again, the key was rejected: fail
/// with `authentication_failed` at once (NIOSSH then closes the connection) instead of waiting
/// for the timeout. Used only on the connection's event loop.
final class PublicKeyOffer: NIOSSHClientUserAuthenticationDelegate {
    private let username: String
    private let key: NIOSSHPrivateKey
    private var offered = false

    init(username: String, key: NIOSSHPrivateKey) {
        self.username = username
        self.key = key
    }

    func nextAuthenticationType(
        availableMethods: NIOSSHAvailableUserAuthenticationMethods,
        nextChallengePromise: EventLoopPromise<NIOSSHUserAuthenticationOffer?>
    ) {
        if offered {
            if availableMethods.contains(.publicKey) || availableMethods.isEmpty {
                nextChallengePromise.fail(SSHError.authenticationFailed(user: username))
            } else {
                nextChallengePromise.fail(
                    SSHError(
                        code: .authenticationFailed,
                        description: "the server accepted the key for user \(username) but also requires \(Self.names(availableMethods)) — remove the extra method from AuthenticationMethods in its sshd_config"
                    )
                )
            }
            return
        }
        guard availableMethods.contains(.publicKey) else {
            nextChallengePromise.fail(SSHError.publicKeyNotAccepted(user: username, offered: Self.names(availableMethods)))
            return
        }
        offered = true
        nextChallengePromise.succeed(
            NIOSSHUserAuthenticationOffer(username: username, serviceName: "", offer: .privateKey(.init(privateKey: key)))
        )
    }

    private static func names(_ methods: NIOSSHAvailableUserAuthenticationMethods) -> String {
        var names: [String] = []
        if methods.contains(.publicKey) { names.append("publickey") }
        if methods.contains(.password) { names.append("password") }
        if methods.contains(.hostBased) { names.append("hostbased") }
        return names.isEmpty ? "no method this client supports" : names.joined(separator: ", ")
    }
}
