import Crypto
import Foundation
import NIOPosix
import Vapor

/// Random tokens and their stored digests. Tokens are shown once; only SHA-256 digests are kept.
enum Credentials {
    /// 32 random bytes, base64url without padding, with a readable prefix (`nbl_`, `nbs_`).
    static func randomToken(prefix: String) -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let encoded = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return prefix + encoded
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares without leaking where two strings first differ.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8), right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

/// bcrypt hashing on a thread pool, so a 250 ms hash never blocks an event loop or the
/// cooperative task pool.
struct PasswordHasher: Sendable {
    /// bcrypt cost; 12 in production. Tests lower it to keep the suite fast.
    var cost: Int
    var pool: NIOThreadPool = .singleton

    func hash(_ password: String) async throws -> String {
        let cost = cost
        return try await pool.runIfActive { try Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, against hash: String) async throws -> Bool {
        try await pool.runIfActive { try Bcrypt.verify(password, created: hash) }
    }
}
