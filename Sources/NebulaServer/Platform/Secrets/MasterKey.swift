import Fluent
import Foundation

/// Finds the master key, proves it is the one this database was encrypted with, creates it on
/// first start, and rotates it. A key rotation that was interrupted is finished or undone here.
struct MasterKeyStore: Sendable {
    let source: Config.MasterKeySource

    /// Where a rotation writes the new key before it commits; see ``rotate(on:to:interruption:)``.
    var pendingPath: String? {
        if case .file(let path) = source { return path + ".next" }
        return nil
    }

    private var sourceName: String {
        switch source {
        case .environment: "NEBULA_MASTER_KEY"
        case .file(let path): path
        }
    }

    /// The vault for this database, or a ``VaultError`` saying exactly why not.
    func unlock(on db: any Database) async throws -> Vault {
        let check = try await VaultState.find(VaultState.keyCheckName, on: db)
        let hasSecrets = try await StoredSecret.query(on: db).count() > 0
        let vault: Vault
        switch source {
        case .environment(let data):
            vault = try Vault(keyData: data)
        case .file(let path):
            if FileManager.default.fileExists(atPath: path) {
                vault = try Vault(keyData: try Self.readKeyFile(path))
            } else if let pendingPath, FileManager.default.fileExists(atPath: pendingPath), check != nil {
                // A rotation committed and then stopped before renaming its new key into place.
                let pending = try Vault(keyData: try Self.readKeyFile(pendingPath))
                guard let check, Self.opens(check, with: pending) else { throw VaultError.keyFileMissing(path: path) }
                try Self.promote(pendingPath, to: path)
                return pending
            } else if check != nil || hasSecrets {
                throw VaultError.keyFileMissing(path: path)
            } else {
                let data = Vault.generateKeyData()
                try Self.writeKeyFile(data, to: path)
                vault = try Vault(keyData: data)
            }
        }
        guard let check else {
            guard !hasSecrets else { throw VaultError.wrongKey(source: sourceName) }
            try await VaultState(name: VaultState.keyCheckName, value: try vault.seal(VaultState.keyCheckPlaintext, boundTo: VaultState.keyCheckName)).create(on: db)
            return vault
        }
        if Self.opens(check, with: vault) {
            if let pendingPath { try? FileManager.default.removeItem(atPath: pendingPath) }   // a rotation that never committed
            return vault
        }
        if case .file(let path) = source, let pendingPath, FileManager.default.fileExists(atPath: pendingPath),
           let pending = try? Vault(keyData: Self.readKeyFile(pendingPath)), Self.opens(check, with: pending) {
            try Self.promote(pendingPath, to: path)
            return pending
        }
        throw VaultError.wrongKey(source: sourceName)
    }

    /// Where a test may stop a rotation, to prove nothing is lost.
    enum Interruption: Sendable {
        /// Throws inside the transaction after re-encrypting this many secrets.
        case failAfter(secrets: Int)
        /// Returns after the commit, before the new key file replaces the old (a crash there).
        case stopBeforeKeyFileSwap
    }

    /// Re-encrypts every secret and the key check under `newKey` in one transaction.
    /// File keys: the new key is written to `master.key.next` (0600, synced) before the commit and
    /// renamed over `master.key` after it, so whichever step a crash stops at, one of the two files
    /// opens the database and ``unlock(on:)`` finishes or undoes the rotation.
    /// Returns the number of secrets re-encrypted.
    @discardableResult
    func rotate(on db: any Database, from old: Vault, to newKey: Data, interruption: Interruption? = nil) async throws -> Int {
        let new = try Vault(keyData: newKey)
        if let pendingPath { try Self.writeKeyFile(newKey, to: pendingPath) }
        let count: Int
        do {
            count = try await db.transaction { tx in
                let secrets = try await StoredSecret.query(on: tx).all()
                for (index, secret) in secrets.enumerated() {
                    if case .failAfter(let limit) = interruption, index == limit {
                        throw VaultError.badKey("rotation interrupted on purpose after \(limit) secrets")
                    }
                    let plaintext = try old.open(secret.sealed, boundTo: secret.name)
                    secret.sealed = try new.seal(plaintext, boundTo: secret.name)
                    try await secret.update(on: tx)
                }
                guard let check = try await VaultState.find(VaultState.keyCheckName, on: tx) else {
                    throw VaultError.wrongKey(source: sourceName)
                }
                check.value = try new.seal(VaultState.keyCheckPlaintext, boundTo: VaultState.keyCheckName)
                try await check.update(on: tx)
                return secrets.count
            }
        } catch {
            if let pendingPath { try? FileManager.default.removeItem(atPath: pendingPath) }
            throw error
        }
        if case .stopBeforeKeyFileSwap = interruption { return count }
        if case .file(let path) = source, let pendingPath { try Self.promote(pendingPath, to: path) }
        return count
    }

    private static func opens(_ check: VaultState, with vault: Vault) -> Bool {
        (try? vault.open(check.value, boundTo: VaultState.keyCheckName)) == VaultState.keyCheckPlaintext
    }

    static func readKeyFile(_ path: String) throws(VaultError) -> Data {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .keyFileCorrupt(path: path, reason: "cannot be read")
        }
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw .keyFileCorrupt(path: path, reason: "not base64 of 32 bytes")
        }
        return data
    }

    /// Writes the key with mode 0600 from the start (never world-readable, not even briefly) and syncs it.
    static func writeKeyFile(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp-\(UUID().uuidString.prefix(8))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw VaultError.keyFileCorrupt(path: path, reason: "cannot create it: \(String(cString: strerror(errno)))") }
        let bytes = Array((data.base64EncodedString() + "\n").utf8)
        let written = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            unlink(temporary)
            throw VaultError.keyFileCorrupt(path: path, reason: "cannot write it")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw VaultError.keyFileCorrupt(path: path, reason: "cannot move it into place: \(String(cString: strerror(errno)))")
        }
    }

    private static func promote(_ pending: String, to path: String) throws {
        guard rename(pending, path) == 0 else {
            throw VaultError.keyFileCorrupt(path: path, reason: "cannot replace it with \(pending): \(String(cString: strerror(errno)))")
        }
    }
}
