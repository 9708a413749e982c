import Crypto
import Foundation

/// Encrypts and decrypts secret values with AES-256-GCM under the master key. Each value is
/// bound to its name (authenticated data), so a ciphertext copied to another name does not open.
struct Vault: Sendable {
    let key: SymmetricKey

    init(key: SymmetricKey) { self.key = key }

    init(keyData: Data) throws(VaultError) {
        guard keyData.count == 32 else { throw .badKey("the master key must be 32 bytes, got \(keyData.count)") }
        key = SymmetricKey(data: keyData)
    }

    static func generateKeyData() -> Data {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    }

    /// Base64 of nonce ‖ ciphertext ‖ tag.
    func seal(_ plaintext: Data, boundTo name: String) throws(VaultError) -> String {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(name.utf8))
            guard let combined = box.combined else { throw VaultError.cannotDecrypt(name) }
            return combined.base64EncodedString()
        } catch let error as VaultError {
            throw error
        } catch {
            throw .cannotDecrypt(name)
        }
    }

    func open(_ sealed: String, boundTo name: String) throws(VaultError) -> Data {
        guard let combined = Data(base64Encoded: sealed) else { throw .cannotDecrypt(name) }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            return try AES.GCM.open(box, using: key, authenticating: Data(name.utf8))
        } catch {
            throw .cannotDecrypt(name)
        }
    }

    /// A short, non-secret fingerprint of the key, to tell keys apart in messages.
    var fingerprint: String {
        let digest = SHA256.hash(data: key.withUnsafeBytes { Data($0) } + Data("nebula-key-fingerprint".utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }
}

/// Why the vault cannot work. Each case says what to do.
enum VaultError: Error, Equatable, CustomStringConvertible {
    /// The key material is malformed.
    case badKey(String)
    /// The key does not open this value: a different master key, or tampered data.
    case cannotDecrypt(String)
    /// The database holds secrets sealed with another key than the one configured.
    case wrongKey(source: String)
    /// The key file is gone but the database has encrypted data.
    case keyFileMissing(path: String)
    /// The key file exists but cannot be read or is not 32 base64 bytes.
    case keyFileCorrupt(path: String, reason: String)

    var description: String {
        switch self {
        case .badKey(let reason):
            "Invalid master key: \(reason)."
        case .cannotDecrypt(let name):
            "The master key cannot decrypt '\(name)': it was sealed with another key or the stored value is damaged."
        case .wrongKey(let source):
            "The master key from \(source) does not match the key this database was encrypted with. Start with the original key (NEBULA_MASTER_KEY or the master.key file from your backup); nothing was changed."
        case .keyFileMissing(let path):
            "The master key file \(path) is missing, but the database holds encrypted secrets. Restore the file from a backup or set NEBULA_MASTER_KEY to the original key; nothing was changed."
        case .keyFileCorrupt(let path, let reason):
            "The master key file \(path) is unusable (\(reason)). Restore it from a backup or set NEBULA_MASTER_KEY; nothing was changed."
        }
    }
}
