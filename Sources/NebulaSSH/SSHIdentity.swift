import Crypto
import Foundation
import NIOSSH

/// An ed25519 key pair the control plane logs in with.
///
/// Store `privateKeyRaw` encrypted (the vault); give `authorizedKeysLine` to the user for
/// `~/.ssh/authorized_keys`. `description` shows only the public fingerprint, never the private key.
public struct SSHIdentity: Sendable, CustomStringConvertible {
    let privateKey: Curve25519.Signing.PrivateKey
    /// The comment at the end of `authorizedKeysLine` (printable, single line).
    public let comment: String

    /// A new random key pair. Control characters in `comment` are replaced by spaces.
    public static func generate(comment: String = "nebula-command") -> SSHIdentity {
        SSHIdentity(privateKey: Curve25519.Signing.PrivateKey(), comment: comment)
    }

    /// The key pair from its 32-byte Curve25519 raw private key (as returned by `privateKeyRaw`).
    ///
    /// - Throws: `SSHError` `invalid_key` when `privateKeyRaw` is not 32 bytes.
    public init(privateKeyRaw: Data, comment: String = "nebula-command") throws(SSHError) {
        guard privateKeyRaw.count == 32 else {
            throw .invalidKey("an ed25519 private key is 32 bytes, got \(privateKeyRaw.count) — was the stored key corrupted or is it another key type?")
        }
        do {
            self.init(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: privateKeyRaw), comment: comment)
        } catch {
            throw .invalidKey("the stored ed25519 private key could not be read: \(error)")
        }
    }

    init(privateKey: Curve25519.Signing.PrivateKey, comment: String) {
        self.privateKey = privateKey
        self.comment = Self.singleLine(comment)
    }

    /// The 32-byte raw private key. Secret: store it encrypted, never log it.
    public var privateKeyRaw: Data { privateKey.rawRepresentation }

    /// The public key in OpenSSH format without comment: `ssh-ed25519 AAAA…`.
    public var publicKey: String {
        String(openSSHPublicKey: NIOSSHPrivateKey(ed25519Key: privateKey).publicKey)
    }

    /// The line for `~/.ssh/authorized_keys`: `ssh-ed25519 AAAA… comment`.
    public var authorizedKeysLine: String {
        comment.isEmpty ? publicKey : publicKey + " " + comment
    }

    /// `SHA256:…`, as `ssh-keygen -lf` prints it for `authorizedKeysLine`.
    public var fingerprint: String {
        SSHFingerprint.sha256(of: NIOSSHPrivateKey(ed25519Key: privateKey).publicKey)
    }

    /// `ssh-ed25519 SHA256:… comment` — safe to log.
    public var description: String { "ssh-ed25519 \(fingerprint) \(comment)" }

    var nioPrivateKey: NIOSSHPrivateKey { NIOSSHPrivateKey(ed25519Key: privateKey) }

    /// A comment must not break the authorized_keys line: no newlines or other control characters.
    private static func singleLine(_ text: String) -> String {
        let scalars = text.unicodeScalars.map { scalar -> Unicode.Scalar in
            scalar.properties.generalCategory == .control || scalar.properties.isWhitespace ? " " : scalar
        }
        var cleaned = String(String.UnicodeScalarView(scalars))
        while cleaned.contains("  ") { cleaned = cleaned.replacingOccurrences(of: "  ", with: " ") }
        return cleaned.trimmingCharacters(in: .whitespaces)
    }
}
