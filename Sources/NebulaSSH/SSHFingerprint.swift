import Crypto
import Foundation
import NIOSSH

/// OpenSSH-style key fingerprints: `SHA256:` + unpadded base64 of the SHA-256 of the key's SSH wire
/// encoding — the string `ssh-keygen -lf key.pub` prints.
public enum SSHFingerprint {
    /// The fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA… [comment]`).
    ///
    /// - Throws: `SSHError` `invalid_key` when the text is not `algorithm base64 [comment]` or the
    ///   base64 blob does not start with the named algorithm.
    public static func sha256(ofOpenSSHKey key: String) throws(SSHError) -> String {
        let blob = try OpenSSHPublicKeyText.wireBlob(of: key)
        return sha256(ofWireBlob: blob)
    }

    /// The fingerprint of a key NIOSSH parsed or received.
    static func sha256(of key: NIOSSHPublicKey) -> String {
        // String(openSSHPublicKey:) always produces "algorithm base64", so the blob is always there.
        let blob = (try? OpenSSHPublicKeyText.wireBlob(of: String(openSSHPublicKey: key))) ?? Data()
        return sha256(ofWireBlob: blob)
    }

    private static func sha256(ofWireBlob blob: Data) -> String {
        let digest = Data(SHA256.hash(data: blob))
        var base64 = digest.base64EncodedString()
        while base64.hasSuffix("=") { base64.removeLast() }
        return "SHA256:" + base64
    }
}

/// Parsing the text form of OpenSSH public keys (`authorized_keys`, `*.pub`, `known_hosts` value).
enum OpenSSHPublicKeyText {
    /// The decoded SSH wire encoding of the key, checked to start with the algorithm named in the text.
    static func wireBlob(of text: String) throws(SSHError) -> Data {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        guard fields.count >= 2 else {
            throw .invalidKey("not an OpenSSH public key: expected \"ssh-ed25519 AAAA…\" (algorithm, base64 key, optional comment)")
        }
        let algorithm = String(fields[0])
        guard let blob = Data(base64Encoded: String(fields[1])), blob.count > 4 else {
            throw .invalidKey("the \(algorithm) public key's base64 part is not valid base64")
        }
        // The blob starts with string(algorithm): a big-endian UInt32 length and the name.
        let length = blob.prefix(4).reduce(0) { ($0 << 8) | Int($1) }
        guard length == algorithm.utf8.count, blob.count >= 4 + length,
            blob.dropFirst(4).prefix(length).elementsEqual(algorithm.utf8)
        else {
            throw .invalidKey("the public key's base64 part does not hold a \(algorithm) key")
        }
        return blob
    }

    /// The key NIOSSH can compare with a presented host key (the comment, if any, is ignored).
    static func parse(_ text: String) throws(SSHError) -> NIOSSHPublicKey {
        let blob = try wireBlob(of: text)
        let algorithm = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })[0]
        do {
            return try NIOSSHPublicKey(openSSHPublicKey: "\(algorithm) \(blob.base64EncodedString())")
        } catch {
            throw .invalidKey("unsupported or malformed public key (ssh-ed25519 and ecdsa-sha2-nistp256/384/521 are supported): \(error)")
        }
    }
}
