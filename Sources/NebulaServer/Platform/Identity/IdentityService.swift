import Fluent
import Foundation
import NebulaCore
import Synchronization

/// Users, sign-in, sessions, API tokens and brute-force protection.
final class IdentityService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let hasher: PasswordHasher
    let sessionLifetime: TimeInterval = 7 * 24 * 3600
    /// Failed logins allowed per account or per address within ``lockoutWindow``.
    let maxFailures = 5
    let lockoutWindow: TimeInterval = 15 * 60
    private let setupDone = Mutex(false)
    private let decoy = Mutex<String?>(nil)

    init(db: any Database, audit: AuditLog, events: EventBus, hasher: PasswordHasher) {
        self.db = db
        self.audit = audit
        self.events = events
        self.hasher = hasher
    }

    // MARK: Validation

    static func normalize(username: String) throws(NebulaError) -> String {
        let name = username.trimmingCharacters(in: .whitespaces).lowercased()
        guard (2...40).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw .unprocessable("A username is 2–40 letters, digits, '.', '_' or '-'.", code: "invalid_username")
        }
        return name
    }

    static func validate(password: String) throws(NebulaError) {
        guard password.count >= 12 else {
            throw .unprocessable("A password needs at least 12 characters.", code: "weak_password")
        }
        guard password.utf8.count <= 72 else {
            // bcrypt only uses the first 72 bytes; refusing longer ones avoids a false sense of strength.
            throw .unprocessable("A password can have at most 72 bytes.", code: "password_too_long")
        }
    }

    // MARK: First run

    /// True until the first user exists. Cached once false, so pages do not query it on every request.
    func needsSetup() async throws -> Bool {
        if setupDone.withLock({ $0 }) { return false }
        let none = try await User.query(on: db).count() == 0
        if !none { setupDone.withLock { $0 = true } }
        return none
    }

    /// Creates the first admin. Closed (404) once any user exists.
    func completeSetup(username: String, password: String, ip: String?) async throws -> (UserDTO, sessionToken: String) {
        guard try await needsSetup() else { throw NebulaError.notFound("Page") }
        let name = try Self.normalize(username: username)
        try Self.validate(password: password)
        let user = User(username: name, passwordHash: try await hasher.hash(password), role: .admin)
        try await db.transaction { tx in
            // Re-check inside the transaction: two browsers submitting setup at once make one admin.
            guard try await User.query(on: tx).count() == 0 else { throw NebulaError.notFound("Page") }
            try await user.create(on: tx)
        }
        setupDone.withLock { $0 = true }
        let actor = Actor(userID: user.id, username: name, role: .admin, credential: .session, ip: ip)
        try await audit.record("setup.complete", target: "user:\(name)", by: actor)
        await events.publish(.userCreated, actor: name, subject: "user:\(name)", data: ["role": "admin"])
        let token = try await startSession(for: user, ip: ip)
        return (UserDTO(user), token)
    }

    // MARK: Sign-in

    /// Checks the password and starts a session. After ``maxFailures`` failures for the account or the
    /// address within ``lockoutWindow`` it refuses with 429 and `Retry-After`, without checking.
    func login(username rawUsername: String, password: String, ip: String) async throws -> (UserDTO, sessionToken: String) {
        let username = rawUsername.trimmingCharacters(in: .whitespaces).lowercased()
        let now = Date()
        let anonymous = Actor.anonymous(username: username.isEmpty ? "(empty)" : String(username.prefix(40)), ip: ip)
        if let retryAfter = try await lockedOutFor(username: username, ip: ip, now: now) {
            try await audit.record("auth.login", target: "user:\(anonymous.username)", outcome: .denied, by: anonymous, detail: "locked out")
            throw NebulaError(.tooManyRequests, code: "locked_out",
                              "Too many failed sign-ins. Try again in \(Int(retryAfter.rounded(.up) / 60) + 1) minutes.",
                              headers: ["Retry-After": String(Int(retryAfter.rounded(.up)))])
        }
        let user = try await User.query(on: db).filter(\.$username == username).first()
        let valid: Bool
        if let user {
            valid = (try? await hasher.verify(password, against: user.passwordHash)) ?? false
        } else {
            _ = try? await hasher.verify(password, against: try await decoyHash())
            valid = false
        }
        guard let user, valid, !user.disabled else {
            try await LoginAttempt(username: username, ip: ip, succeeded: false, at: now).create(on: db)
            try await audit.record("auth.login", target: "user:\(anonymous.username)", outcome: .failure, by: anonymous,
                                   detail: user?.disabled == true ? "account disabled" : "wrong username or password")
            throw NebulaError(.unauthorized, code: "invalid_credentials", "Wrong username or password.")
        }
        try await LoginAttempt(username: username, ip: ip, succeeded: true, at: now).create(on: db)
        let actor = Actor(userID: user.id, username: user.username, role: user.role, credential: .session, ip: ip)
        try await audit.record("auth.login", target: "user:\(user.username)", by: actor)
        await events.publish(.userLoggedIn, actor: user.username, subject: "user:\(user.username)")
        return (UserDTO(user), try await startSession(for: user, ip: ip))
    }

    /// Seconds until another attempt is allowed, or nil when not locked out.
    func lockedOutFor(username: String, ip: String, now: Date) async throws -> TimeInterval? {
        let windowStart = now.addingTimeInterval(-lockoutWindow)
        let lastSuccess = try await LoginAttempt.query(on: db)
            .filter(\.$username == username).filter(\.$succeeded == true).filter(\.$at >= windowStart)
            .sort(\.$at, .descending).first()?.at
        let accountFailures = try await LoginAttempt.query(on: db)
            .filter(\.$username == username).filter(\.$succeeded == false)
            .filter(\.$at >= max(windowStart, lastSuccess ?? windowStart))
            .sort(\.$at, .descending).limit(maxFailures).all()
        let addressFailures = try await LoginAttempt.query(on: db)
            .filter(\.$ip == ip).filter(\.$succeeded == false).filter(\.$at >= windowStart)
            .sort(\.$at, .descending).limit(maxFailures).all()
        let waits = [accountFailures, addressFailures].compactMap { failures -> TimeInterval? in
            guard failures.count >= maxFailures, let oldest = failures.last?.at else { return nil }
            return max(1, oldest.addingTimeInterval(lockoutWindow).timeIntervalSince(now))
        }
        return waits.max()
    }

    private func decoyHash() async throws -> String {
        if let hash = decoy.withLock({ $0 }) { return hash }
        let hash = try await hasher.hash(Credentials.randomToken(prefix: ""))
        decoy.withLock { $0 = hash }
        return hash
    }

    private func startSession(for user: User, ip: String?) async throws -> String {
        let token = Credentials.randomToken(prefix: "nbs_")
        let session = UserSession(tokenHash: Credentials.digest(token), userID: try user.requireID(), ip: ip,
                                  expiresAt: Date().addingTimeInterval(sessionLifetime))
        try await session.create(on: db)
        return token
    }

    /// The actor behind a session cookie, or nil when the session is unknown, expired or its user disabled.
    func actor(forSession token: String, ip: String?) async throws -> Actor? {
        guard token.hasPrefix("nbs_"), token.count < 100,
              let session = try await UserSession.query(on: db).filter(\.$tokenHash == Credentials.digest(token)).with(\.$user).first(),
              session.expiresAt > Date(), !session.user.disabled else { return nil }
        return Actor(userID: session.user.id, username: session.user.username, role: session.user.role, credential: .session, ip: ip)
    }

    func logout(sessionToken token: String, actor: Actor?) async throws {
        try await UserSession.query(on: db).filter(\.$tokenHash == Credentials.digest(token)).delete()
        if let actor { try await audit.record("auth.logout", target: "user:\(actor.username)", by: actor) }
    }

    // MARK: API tokens

    /// The actor behind a bearer token. Throws `invalid_token` with the reason when it cannot be used.
    func actor(forBearer token: String, ip: String?) async throws -> Actor {
        guard token.hasPrefix("nbl_"), token.count < 100,
              let stored = try await APIToken.query(on: db).filter(\.$tokenHash == Credentials.digest(token)).with(\.$user).first() else {
            throw NebulaError.unauthenticated("This API token is not valid.", code: "invalid_token")
        }
        let now = Date()
        if stored.revokedAt != nil { throw NebulaError.unauthenticated("This API token was revoked.", code: "token_revoked") }
        if let expiry = stored.expiresAt, expiry <= now { throw NebulaError.unauthenticated("This API token expired.", code: "token_expired") }
        if stored.user.disabled { throw NebulaError.unauthenticated("The owner of this API token is disabled.", code: "invalid_token") }
        if stored.lastUsedAt.map({ now.timeIntervalSince($0) > 60 }) ?? true {
            // At most one write a minute per token: "last used" need not cost a write per request.
            stored.lastUsedAt = now
            try await stored.update(on: db)
        }
        // A token never acts above its owner's current role, even if the owner was demoted later.
        let role = min(stored.role, stored.user.role)
        return Actor(userID: stored.user.id, username: stored.user.username, role: role, credential: .token(try stored.requireID()), ip: ip)
    }

    func createToken(name rawName: String, role: Role?, expiresAt: Date?, for ownerName: String? = nil, by actor: Actor) async throws -> CreatedToken {
        try actor.require(.viewer)
        let name = rawName.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.count) else {
            throw NebulaError.unprocessable("A token name is 1–100 characters.", code: "invalid_token_name")
        }
        let owner: User
        if let ownerName, ownerName.lowercased() != actor.username {
            try actor.require(.admin)
            guard let found = try await User.query(on: db).filter(\.$username == ownerName.lowercased()).first() else {
                throw NebulaError.notFound("User '\(ownerName)'")
            }
            owner = found
        } else {
            guard let id = actor.userID, let found = try await User.find(id, on: db) else {
                throw NebulaError.unprocessable("Name the user the token is for.", code: "owner_required")
            }
            owner = found
        }
        let granted = role ?? min(actor.role, owner.role)
        guard granted <= actor.role, granted <= owner.role else {
            try await audit.record("token.create", target: "user:\(owner.username)", outcome: .denied, by: actor, detail: "role \(granted.rawValue) above \(min(actor.role, owner.role).rawValue)")
            throw NebulaError(.forbidden, code: "role_too_high", "A token cannot have a higher role than its creator or owner (\(min(actor.role, owner.role).rawValue)).")
        }
        if let expiresAt, expiresAt <= Date() {
            throw NebulaError.unprocessable("The expiry must be in the future.", code: "invalid_expiry")
        }
        let secret = Credentials.randomToken(prefix: "nbl_")
        let token = APIToken(name: name, role: granted, userID: try owner.requireID(), tokenHash: Credentials.digest(secret),
                             prefix: String(secret.prefix(12)), expiresAt: expiresAt)
        try await token.create(on: db)
        let id = try token.requireID()
        try await audit.record("token.create", target: "token:\(id)", by: actor, detail: "name=\(name) role=\(granted.rawValue) owner=\(owner.username)")
        await events.publish(.tokenCreated, actor: actor.username, subject: "token:\(id)", data: ["name": name, "role": granted.rawValue, "owner": owner.username])
        return CreatedToken(id: id, name: name, role: granted, owner: owner.username, prefix: token.prefix, expiresAt: expiresAt, token: secret)
    }

    /// Your own tokens; admins see everyone's.
    func listTokens(by actor: Actor) async throws -> ListPage<TokenDTO> {
        try actor.require(.viewer)
        let query = APIToken.query(on: db).with(\.$user).sort(\.$createdAt, .descending)
        if actor.role < .admin {
            guard let id = actor.userID else { return ListPage(items: [], total: 0) }
            query.filter(\.$user.$id == id)
        }
        let tokens = try await query.all()
        return ListPage(items: tokens.map { TokenDTO($0, owner: $0.user.username) }, total: tokens.count)
    }

    /// Revokes with immediate effect: the next request with the token is refused.
    func revokeToken(_ id: UUID, by actor: Actor) async throws -> TokenDTO {
        try actor.require(.viewer)
        guard let token = try await APIToken.query(on: db).filter(\.$id == id).with(\.$user).first() else {
            throw NebulaError.notFound("Token \(id)")
        }
        if token.$user.id != actor.userID {
            do { try actor.require(.admin) } catch {
                try await audit.record("token.revoke", target: "token:\(id)", outcome: .denied, by: actor)
                throw NebulaError.notFound("Token \(id)")
            }
        }
        if token.revokedAt == nil {
            token.revokedAt = Date()
            try await token.update(on: db)
        }
        try await audit.record("token.revoke", target: "token:\(id)", by: actor, detail: "name=\(token.name)")
        await events.publish(.tokenRevoked, actor: actor.username, subject: "token:\(id)", data: ["name": token.name])
        return TokenDTO(token, owner: token.user.username)
    }

    // MARK: Users

    func listUsers(by actor: Actor) async throws -> ListPage<UserDTO> {
        try actor.require(.viewer)
        let users = try await User.query(on: db).sort(\.$username).all()
        return ListPage(items: users.map(UserDTO.init), total: users.count)
    }

    func createUser(username: String, password: String, role: Role, by actor: Actor) async throws -> UserDTO {
        try actor.require(.admin)
        let name = try Self.normalize(username: username)
        try Self.validate(password: password)
        if try await User.query(on: db).filter(\.$username == name).first() != nil {
            try await audit.record("user.create", target: "user:\(name)", outcome: .failure, by: actor, detail: "exists")
            throw NebulaError.conflict("A user named '\(name)' already exists.", code: "user_exists")
        }
        let user = User(username: name, passwordHash: try await hasher.hash(password), role: role)
        do {
            try await user.create(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw NebulaError.conflict("A user named '\(name)' already exists.", code: "user_exists")
        }
        setupDone.withLock { $0 = true }
        try await audit.record("user.create", target: "user:\(name)", by: actor, detail: "role=\(role.rawValue)")
        await events.publish(.userCreated, actor: actor.username, subject: "user:\(name)", data: ["role": role.rawValue])
        return UserDTO(user)
    }

    func updateUser(_ id: UUID, role: Role?, disabled: Bool?, by actor: Actor) async throws -> UserDTO {
        try actor.require(.admin)
        guard let user = try await User.find(id, on: db) else { throw NebulaError.notFound("User \(id)") }
        let losesAdmin = user.role == .admin && ((role.map { $0 != .admin } ?? false) || disabled == true)
        if losesAdmin { try await ensureAnotherAdmin(than: user) }
        var changes: [String] = []
        if let role, role != user.role { user.role = role; changes.append("role=\(role.rawValue)") }
        if let disabled, disabled != user.disabled { user.disabled = disabled; changes.append("disabled=\(disabled)") }
        try await user.update(on: db)
        if disabled == true { try await UserSession.query(on: db).filter(\.$user.$id == id).delete() }
        try await audit.record("user.update", target: "user:\(user.username)", by: actor, detail: changes.joined(separator: " "))
        await events.publish(.userUpdated, actor: actor.username, subject: "user:\(user.username)")
        return UserDTO(user)
    }

    /// Sets a new password and signs the user out everywhere.
    func resetPassword(username: String, newPassword: String, by actor: Actor) async throws {
        try actor.require(.admin)
        try Self.validate(password: newPassword)
        guard let user = try await User.query(on: db).filter(\.$username == username.lowercased()).first() else {
            throw NebulaError.notFound("User '\(username)'")
        }
        user.passwordHash = try await hasher.hash(newPassword)
        try await user.update(on: db)
        try await UserSession.query(on: db).filter(\.$user.$id == user.requireID()).delete()
        try await audit.record("user.reset_password", target: "user:\(user.username)", by: actor)
        await events.publish(.userUpdated, actor: actor.username, subject: "user:\(user.username)")
    }

    func deleteUser(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.admin)
        guard let user = try await User.find(id, on: db) else { throw NebulaError.notFound("User \(id)") }
        if user.role == .admin { try await ensureAnotherAdmin(than: user) }
        try await user.delete(on: db)
        try await audit.record("user.delete", target: "user:\(user.username)", by: actor)
        await events.publish(.userDeleted, actor: actor.username, subject: "user:\(user.username)")
    }

    private func ensureAnotherAdmin(than user: User) async throws {
        let admins = try await User.query(on: db).filter(\.$role == .admin).filter(\.$disabled == false).count()
        guard admins > 1 else {
            throw NebulaError.conflict("'\(user.username)' is the last active admin; make someone else admin first.", code: "last_admin")
        }
    }

    func deleteOldLoginAttempts(before cutoff: Date) async throws -> Int {
        let query = LoginAttempt.query(on: db).filter(\.$at < cutoff)
        let count = try await query.count()
        try await query.delete()
        try await UserSession.query(on: db).filter(\.$expiresAt < Date()).delete()
        return count
    }
}
