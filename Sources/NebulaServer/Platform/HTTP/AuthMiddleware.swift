import NebulaCore
import Vapor

extension Request {
    private struct ActorKey: StorageKey { typealias Value = Actor }

    /// Who is calling, if anyone signed in or sent a token.
    var actorIfAny: Actor? {
        get { storage[ActorKey.self] }
        set { storage[ActorKey.self] = newValue }
    }

    /// Who is calling; 401 when nobody is.
    var actor: Actor {
        get throws {
            guard let actor = actorIfAny else { throw NebulaError.unauthenticated() }
            return actor
        }
    }

    /// The caller's address. `X-Forwarded-For` is only trusted from a proxy on loopback, and only
    /// its last entry (the address that proxy saw), since earlier entries come from the client.
    var clientIP: String {
        let peer = remoteAddress?.ipAddress ?? "unknown"
        if peer == "127.0.0.1" || peer == "::1", let forwarded = headers.first(name: "X-Forwarded-For")?.split(separator: ",").last {
            let address = forwarded.trimmingCharacters(in: .whitespaces)
            if !address.isEmpty, address.count <= 45 { return address }
        }
        return peer
    }

    var sessionToken: String? { cookies[SessionCookie.name]?.string }

    /// The dashboard's URL as users (and agents) reach it: `NEBULA_PUBLIC_URL`, else this request's host.
    var publicBaseURL: String {
        get throws {
            let config = try nebula.config
            if let configured = config.publicURL { return configured }
            return (isHTTPS ? "https://" : "http://") + (headers.first(name: .host) ?? "\(config.host):\(config.port)")
        }
    }

    var isHTTPS: Bool {
        url.scheme == "https" || headers.first(name: "X-Forwarded-Proto") == "https"
    }
}

enum SessionCookie {
    static let name = "nebula_session"
    static let csrfName = "nebula_csrf"

    static func make(_ token: String, secure: Bool, maxAge: Int) -> HTTPCookies.Value {
        HTTPCookies.Value(string: token, maxAge: maxAge, path: "/", isSecure: secure, isHTTPOnly: true, sameSite: .lax)
    }

    static func expired(secure: Bool) -> HTTPCookies.Value {
        HTTPCookies.Value(string: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, path: "/", isSecure: secure, isHTTPOnly: true, sameSite: .lax)
    }
}

/// Resolves the caller (bearer token first, then session cookie), then enforces the route's
/// minimum role and CSRF protection for cookie-authenticated changes. Routes describe their role
/// with ``Endpoint``; a route without one is refused, so nothing is public by accident.
struct AccessMiddleware: AsyncMiddleware {
    let identity: IdentityService
    let audit: AuditLog
    let secureCookies: Bool

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let ip = request.clientIP
        var viaBearer = false
        if let bearer = request.headers.bearerAuthorization?.token, request.endpoint?.ownBearer != true {
            viaBearer = true
            request.actorIfAny = try await identity.actor(forBearer: bearer, ip: ip)
        } else if let session = request.sessionToken {
            request.actorIfAny = try await identity.actor(forSession: session, ip: ip)
        }

        guard let endpoint = request.endpoint else {
            // Unmatched paths fall through to the 404 handling.
            return try await next.respond(to: request)
        }
        if endpoint.isPage, request.method == .GET, request.url.path != "/setup", try await identity.needsSetup() {
            return request.redirect(to: "/setup")
        }
        if let role = endpoint.role {
            guard let actor = request.actorIfAny else {
                if !request.url.path.hasPrefix("/api/") && request.method == .GET {
                    return request.redirect(to: "/login?next=\(Self.safeNext(request.url.string))")
                }
                throw NebulaError.unauthenticated()
            }
            guard actor.role >= role else {
                if let action = endpoint.audit {
                    try await audit.record(action, target: request.url.path, outcome: .denied, by: actor, detail: "needs \(role.rawValue)")
                }
                throw NebulaError.forbidden(needs: role)
            }
        }
        if !viaBearer, endpoint.csrf, ![.GET, .HEAD, .OPTIONS].contains(request.method) {
            try CSRF.verify(request)
        }
        let response = try await next.respond(to: request)
        CSRF.issueIfMissing(request: request, response: response, secure: secureCookies || request.isHTTPS)
        return response
    }

    /// Only local paths, so `?next=` can never send someone to another site.
    static func safeNext(_ target: String) -> String {
        guard target.hasPrefix("/"), !target.hasPrefix("//"), !target.contains("\\") else { return "/" }
        return target.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "/-_.~"))) ?? "/"
    }
}

/// Double-submit CSRF protection: a random `nebula_csrf` cookie (HttpOnly, SameSite=Lax) whose
/// value every form repeats in `_csrf` (or scripts send in `X-CSRF-Token`).
enum CSRF {
    private struct TokenKey: StorageKey { typealias Value = String }

    /// The token for forms on this page: the cookie's, or a new one set on the response.
    static func token(for request: Request) -> String {
        if let existing = request.cookies[SessionCookie.csrfName]?.string, existing.count >= 32 { return existing }
        if let minted = request.storage[TokenKey.self] { return minted }
        let minted = Credentials.randomToken(prefix: "")
        request.storage[TokenKey.self] = minted
        return minted
    }

    static func verify(_ request: Request) throws {
        let expected = request.cookies[SessionCookie.csrfName]?.string ?? ""
        let sent = request.headers.first(name: "X-CSRF-Token") ?? (try? request.content.get(String.self, at: "_csrf")) ?? ""
        guard expected.count >= 32, Credentials.constantTimeEquals(expected, sent) else {
            throw NebulaError(.forbidden, code: "csrf_failed", "The form expired or came from another site. Reload the page and try again.")
        }
    }

    static func issueIfMissing(request: Request, response: Response, secure: Bool) {
        guard let minted = request.storage[TokenKey.self], request.cookies[SessionCookie.csrfName] == nil else { return }
        response.cookies[SessionCookie.csrfName] = HTTPCookies.Value(string: minted, maxAge: 7 * 24 * 3600, path: "/", isSecure: secure, isHTTPOnly: true, sameSite: .lax)
    }
}
