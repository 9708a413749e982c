import Foundation
import NebulaCore

/// Who is asking: a signed-in user, a user's API token, or the system itself (jobs, schedulers).
/// Every service call takes one; services check the role and write it into the audit log.
public struct Actor: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        case session
        case token(UUID)
        case system
    }

    public var userID: UUID?
    public var username: String
    /// The effective role: for a token, the token's role (never above its owner's).
    public var role: Role
    public var credential: Credential
    public var ip: String?

    public init(userID: UUID?, username: String, role: Role, credential: Credential, ip: String?) {
        self.userID = userID
        self.username = username
        self.role = role
        self.credential = credential
        self.ip = ip
    }

    /// The control plane acting on its own (scheduled maintenance, the CLI on the server).
    public static func system(_ name: String = "system") -> Actor {
        Actor(userID: nil, username: name, role: .admin, credential: .system, ip: nil)
    }

    /// An anonymous caller, only for audit entries of failed logins.
    static func anonymous(username: String, ip: String?) -> Actor {
        Actor(userID: nil, username: username, role: .viewer, credential: .system, ip: ip)
    }

    /// Throws `forbidden` unless this actor has `role` or higher.
    public func require(_ minimum: Role) throws(NebulaError) {
        guard role >= minimum else { throw .forbidden(needs: minimum) }
    }
}
