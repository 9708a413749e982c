import Foundation
import NebulaCore
@testable import NebulaServer
import Testing

@Suite struct SetupAndLoginTests {
    @Test(arguments: TestDatabase.all)
    func setupCreatesTheFirstAdminThenCloses(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let browser = CookieJar()
            let redirect = try await app.request(.GET, "/jobs", cookies: browser)
            #expect(redirect.status == .seeOther)
            #expect(redirect.headers.first(name: "Location") == "/setup")
            let form = try await app.request(.GET, "/setup", cookies: browser)
            let csrf = try #require(form.csrfField)
            // act
            let created = try await app.request(.POST, "/setup", form: [("_csrf", csrf), ("username", "Alice"), ("password", "a-long-password-1"), ("confirm", "a-long-password-1")], cookies: browser)
            // verify
            #expect(created.status == .seeOther)
            let cookie = try #require(created.headers["Set-Cookie"].first { $0.hasPrefix("nebula_session=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"))
            #expect(!cookie.contains("Secure"), "plain-HTTP loopback must not get Secure cookies")
            let overview = try await app.request(.GET, "/", cookies: browser)
            #expect(overview.status == .ok)
            #expect(overview.body.contains("alice"))
            #expect(try await app.request(.GET, "/setup", cookies: CookieJar()).status == .notFound)
            #expect(try await app.request(.POST, "/setup", form: [("_csrf", csrf), ("username", "mallory"), ("password", "a-long-password-1"), ("confirm", "a-long-password-1")], cookies: browser).status == .notFound)
            let users = try await app.services.identity.listUsers(by: .system())
            #expect(users.items.map(\.username) == ["alice"])
            #expect(users.items.first?.role == .admin)
        }
    }

    @Test(arguments: TestDatabase.all)
    func setupRefusesShortPasswords(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let browser = CookieJar()
            let csrf = try #require(try await app.request(.GET, "/setup", cookies: browser).csrfField)
            // act
            let response = try await app.request(.POST, "/setup", form: [("_csrf", csrf), ("username", "alice"), ("password", "short"), ("confirm", "short")], cookies: browser)
            // verify
            #expect(response.status == .unprocessableEntity)
            #expect(response.body.contains("at least 12 characters"))
            #expect(try await app.services.identity.needsSetup())
        }
    }

    @Test(arguments: TestDatabase.all)
    func formPostsWithoutTheCSRFTokenAreRefused(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            _ = try await app.token(role: .admin, username: "alice")
            let browser = CookieJar()
            let csrf = try #require(try await app.request(.GET, "/login", cookies: browser).csrfField)
            // act
            let missing = try await app.request(.POST, "/login", form: [("username", "alice"), ("password", "test-password-123")], cookies: browser)
            let forged = try await app.request(.POST, "/login", form: [("_csrf", String(repeating: "x", count: 43)), ("username", "alice"), ("password", "test-password-123")], cookies: browser)
            let valid = try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", "alice"), ("password", "test-password-123")], cookies: browser)
            // verify
            #expect(missing.status == .forbidden)
            #expect(forged.status == .forbidden)
            #expect(valid.status == .seeOther)
            let session = try #require(browser["nebula_session"])
            let apiWithoutCSRF = try await app.request(.POST, "/api/v1/secrets", json: #"{"name":"x","value":"y"}"#, cookies: browser)
            #expect(apiWithoutCSRF.status == .forbidden && apiWithoutCSRF.errorCode == "csrf_failed")
            let apiWithCSRF = try await app.request(.POST, "/api/v1/secrets", json: #"{"name":"x","value":"y"}"#, headers: [("X-CSRF-Token", csrf)], cookies: browser)
            #expect(apiWithCSRF.status == .created)
            // Logging out ends the session on the server, not just in the browser.
            _ = try await app.request(.POST, "/logout", form: [("_csrf", csrf)], cookies: browser)
            let replay = try await app.request(.GET, "/api/v1/me", headers: [("Cookie", "nebula_session=\(session)")])
            #expect(replay.status == .unauthorized)
        }
    }

    @Test(arguments: TestDatabase.all)
    func fiveFailuresLockTheAccountAndEveryFailureIsAudited(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            _ = try await app.token(role: .admin, username: "alice")
            let browser = CookieJar()
            let csrf = try #require(try await app.request(.GET, "/login", cookies: browser).csrfField)
            func attempt(_ password: String, user: String = "alice") async throws -> TestResponse {
                try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", user), ("password", password)], cookies: browser)
            }
            // act
            for _ in 0..<5 { #expect(try await attempt("wrong-password-xx").status == .unauthorized) }
            let locked = try await attempt("test-password-123")
            // verify
            #expect(locked.status == .tooManyRequests)
            let retryAfter = try #require(locked.headers.first(name: "Retry-After").flatMap(Int.init))
            #expect(retryAfter > 800 && retryAfter <= 900)
            let entries = try await app.auditEntries(action: "auth.login")
            #expect(entries.filter { $0.outcome == .failure }.count == 5)
            #expect(entries.contains { $0.outcome == .denied && $0.detail == "locked out" })
            #expect(entries.allSatisfy { $0.ip == "127.0.0.1" })
        }
    }

    @Test(arguments: TestDatabase.all)
    func fiveFailuresFromOneAddressLockThatAddressForEveryAccount(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            _ = try await app.token(role: .viewer, username: "bob")
            let browser = CookieJar()
            let csrf = try #require(try await app.request(.GET, "/login", cookies: browser).csrfField)
            // act
            for index in 0..<5 {
                _ = try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", "guess\(index)"), ("password", "nope-nope-nope")], cookies: browser)
            }
            let blocked = try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", "bob"), ("password", "test-password-123")], cookies: browser)
            let otherAddress = try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", "bob"), ("password", "test-password-123")],
                                                     headers: [("X-Forwarded-For", "192.0.2.7")], cookies: browser)
            // verify
            #expect(blocked.status == .tooManyRequests)
            #expect(otherAddress.status == .seeOther)
        }
    }
}

@Suite struct TokenTests {
    struct Me: Decodable { var username: String; var role: Role }

    @Test(arguments: TestDatabase.all)
    func tokenLifecycleFromCreateToRevoke(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let operatorToken = try await app.token(role: .operator, username: "olga")
            // act
            let created = try await app.request(.POST, "/api/v1/tokens", token: operatorToken, json: #"{"name":"ci","role":"viewer"}"#)
            // verify
            #expect(created.status == .created)
            let token = try created.decode(CreatedToken.self)
            #expect(token.role == .viewer && token.owner == "olga" && token.token.hasPrefix("nbl_"))
            let me = try await app.request(.GET, "/api/v1/me", token: token.token)
            #expect(try me.decode(Me.self).role == .viewer)
            let listed = try await app.request(.GET, "/api/v1/tokens", token: operatorToken)
            #expect(!listed.body.contains(token.token), "a token is shown once, never in lists")
            #expect(listed.body.contains(token.prefix))
            let stored = try await APIToken.find(token.id, on: app.services.identity.db)
            #expect(stored?.tokenHash != token.token && stored?.tokenHash.count == 64)
            let revoked = try await app.request(.DELETE, "/api/v1/tokens/\(token.id)", token: operatorToken)
            #expect(revoked.status == .ok)
            let after = try await app.request(.GET, "/api/v1/me", token: token.token)
            #expect(after.status == .unauthorized && after.errorCode == "token_revoked")
            #expect(try await app.auditEntries(action: "token.create").count == 2)
            #expect(try await app.auditEntries(action: "token.revoke").count == 1)
        }
    }

    @Test(arguments: TestDatabase.all)
    func aTokenCannotOutrankItsCreatorAndExpiredTokensStopWorking(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let viewerToken = try await app.token(role: .viewer, username: "vera")
            // act
            let escalate = try await app.request(.POST, "/api/v1/tokens", token: viewerToken, json: #"{"name":"root","role":"admin"}"#)
            let past = try await app.request(.POST, "/api/v1/tokens", token: viewerToken, json: #"{"name":"old","expiresAt":"2001-01-01T00:00:00Z"}"#)
            let expiring = try await app.services.identity.createToken(name: "short", role: .viewer, expiresAt: Date().addingTimeInterval(1), for: "vera", by: .system())
            try await Task.sleep(for: .milliseconds(1500))
            let expired = try await app.request(.GET, "/api/v1/me", token: expiring.token)
            // verify
            #expect(escalate.status == .forbidden && escalate.errorCode == "role_too_high")
            #expect(past.status == .unprocessableEntity)
            #expect(expired.status == .unauthorized && expired.errorCode == "token_expired")
            #expect(try await app.request(.GET, "/api/v1/me", token: "nbl_not-a-real-token").status == .unauthorized)
        }
    }
}
