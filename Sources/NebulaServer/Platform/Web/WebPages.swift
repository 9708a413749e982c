import Foundation
import NebulaCore
import Plot
import Vapor

/// Every dashboard page and form action. Pages call the same services as the API.
struct WebPages: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        func page(_ method: HTTPMethod, _ path: PathComponent..., role: Role?, audit: String? = nil, csrf: Bool = true,
                  use handler: @Sendable @escaping (Request) async throws -> Response) {
            routes.on(method, path, use: handler).userInfo[AnySendableHashable(Endpoint.userInfoKey)] =
                Endpoint(role: role, audit: audit, summary: "page", tag: Endpoint.pagesTag, csrf: csrf)
        }
        page(.GET, "setup", role: nil, use: SetupPages.show)
        page(.POST, "setup", role: nil, audit: "setup.complete", use: SetupPages.submit)
        page(.GET, "login", role: nil, use: LoginPages.show)
        page(.POST, "login", role: nil, audit: "auth.login", use: LoginPages.submit)
        page(.POST, "logout", role: nil, audit: "auth.logout", use: LoginPages.logout)
        page(.GET, "", role: .viewer, use: OverviewPage.show)
        page(.GET, "jobs", role: .viewer, use: JobsPages.list)
        page(.POST, "jobs", "run", role: .operator, audit: "job.enqueue", use: JobsPages.run)
        page(.GET, "jobs", ":id", role: .viewer, use: JobsPages.detail)
        page(.POST, "jobs", ":id", "cancel", role: .operator, audit: "job.cancel", use: JobsPages.cancel)
        page(.GET, "audit", role: .viewer, use: AuditPage.show)
        page(.GET, "users", role: .viewer, use: UsersPages.show)
        page(.POST, "users", role: .admin, audit: "user.create", use: UsersPages.create)
        page(.POST, "users", ":id", role: .admin, audit: "user.update", use: UsersPages.update)
        page(.POST, "users", ":id", "password", role: .admin, audit: "user.reset_password", use: UsersPages.resetPassword)
        page(.POST, "users", ":id", "delete", role: .admin, audit: "user.delete", use: UsersPages.delete)
        page(.POST, "tokens", role: .viewer, audit: "token.create", use: UsersPages.createToken)
        page(.POST, "tokens", ":id", "revoke", role: .viewer, audit: "token.revoke", use: UsersPages.revokeToken)
        page(.GET, "secrets", role: .viewer, use: SecretsPage.show)
        page(.POST, "secrets", role: .operator, audit: "secret.create", use: SecretsPage.create)
        page(.POST, "secrets", ":name", "reveal", role: .admin, audit: "secret.reveal", use: SecretsPage.reveal)
        page(.POST, "secrets", ":name", "delete", role: .operator, audit: "secret.delete", use: SecretsPage.delete)
        let featurePage: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void = { method, path, role, audit, handler in
            routes.on(method, path, use: handler).userInfo[AnySendableHashable(Endpoint.userInfoKey)] =
                Endpoint(role: role, audit: audit, summary: "page", tag: Endpoint.pagesTag)
        }
        ServersPages.register(featurePage)
        PowerPages.register(featurePage)
        TerminalPage.register(featurePage)
        SSHPages.register(featurePage)
        FilesPage.register(featurePage)
        MarketplacePages.register(featurePage)
        ContainersPages.register(featurePage)
        DeploysPages.register(featurePage)
        RunbooksPages.register(featurePage)
        InstallPages.register(featurePage)
        NotificationsPages.register(featurePage)
        MonitoringPages.register(featurePage)
        DomainsPages.register(featurePage)
        ProxyPages.register(featurePage)
        page(.GET, "status", role: nil, use: MonitoringPages.statusPage)
        page(.GET, "settings", role: .viewer, use: SettingsPage.show)
        page(.POST, "settings", role: .admin, audit: "settings.update", use: SettingsPage.update)
    }
}

extension Endpoint {
    static let pagesTag = "Pages"
    var isPage: Bool { tag == Self.pagesTag }
}

// MARK: - Setup and sign-in

enum SetupPages {
    @Sendable static func show(req: Request) async throws -> Response {
        guard try await req.nebula.identity.needsSetup() else { throw NebulaError.notFound("Page") }
        return req.render(view(await req.bareContext("Set up Nebula Command")))
    }

    static func view(_ context: PageContext, username: String = "") -> HTML {
        Layout.bare(context) {
            Paragraph("Welcome! Create the first administrator; you can add more users afterwards.").class("muted")
            CSRFForm(action: "/setup", csrfToken: context.csrfToken, classes: "stack") {
                FormField(label: "Username", name: "username", value: username, required: true,
                          hint: "2–40 letters, digits, '.', '_' or '-'.", autocomplete: "username")
                FormField(label: "Password", name: "password", type: "password", required: true,
                          hint: "At least 12 characters.", autocomplete: "new-password", minLength: 12)
                FormField(label: "Repeat the password", name: "confirm", type: "password", required: true,
                          autocomplete: "new-password", minLength: 12)
                SubmitButton("Create administrator")
            }
        }
    }

    @Sendable static func submit(req: Request) async throws -> Response {
        let services = try req.nebula
        guard try await services.identity.needsSetup() else { throw NebulaError.notFound("Page") }
        let username = req.formField("username") ?? ""
        let password = req.rawFormField("password")
        guard password == req.rawFormField("confirm") else {
            return req.render(view(await req.bareContext("Set up Nebula Command", flash: Flash(kind: .error, message: "The two passwords differ.")), username: username), status: .unprocessableEntity)
        }
        do {
            let (_, token) = try await services.identity.completeSetup(username: username, password: password, ip: req.clientIP)
            let response = req.redirect(to: "/", flash: Flash(kind: .success, message: "Welcome! You are signed in as the administrator."))
            response.cookies[SessionCookie.name] = SessionCookie.make(token, secure: secureCookies(req), maxAge: Int(services.identity.sessionLifetime))
            return response
        } catch let error as NebulaError where error.status == .unprocessableEntity {
            return req.render(view(await req.bareContext("Set up Nebula Command", flash: Flash(kind: .error, message: error.message)), username: username), status: .unprocessableEntity)
        }
    }
}

func secureCookies(_ req: Request) -> Bool {
    req.isHTTPS || ((try? req.nebula.config.publicURL?.hasPrefix("https://")) ?? false) == true
}

enum LoginPages {
    @Sendable static func show(req: Request) async throws -> Response {
        if req.actorIfAny != nil { return req.redirect(to: nextPath(req), flash: nil) }
        return req.render(view(await req.bareContext("Sign in"), next: nextPath(req)))
    }

    static func nextPath(_ req: Request) -> String {
        let raw = req.query[String.self, at: "next"] ?? (try? req.content.get(String.self, at: "next")) ?? "/"
        let decoded = raw.removingPercentEncoding ?? "/"
        return AccessMiddleware.safeNext(decoded).removingPercentEncoding ?? "/"
    }

    static func view(_ context: PageContext, next: String, username: String = "") -> HTML {
        Layout.bare(context) {
            CSRFForm(action: "/login", csrfToken: context.csrfToken, classes: "stack") {
                voidTag("input", [.value("type", "hidden"), .value("name", "next"), .value("value", next)])
                FormField(label: "Username", name: "username", value: username, required: true, autocomplete: "username")
                FormField(label: "Password", name: "password", type: "password", required: true, autocomplete: "current-password")
                SubmitButton("Sign in")
            }
        }
    }

    @Sendable static func submit(req: Request) async throws -> Response {
        let services = try req.nebula
        let username = req.formField("username") ?? ""
        let next = nextPath(req)
        do {
            let (_, token) = try await services.identity.login(username: username, password: req.rawFormField("password"), ip: req.clientIP)
            let response = req.redirect(to: next, flash: nil)
            response.cookies[SessionCookie.name] = SessionCookie.make(token, secure: secureCookies(req), maxAge: Int(services.identity.sessionLifetime))
            return response
        } catch let error as NebulaError where error.status == .unauthorized || error.status == .tooManyRequests {
            let response = req.render(view(await req.bareContext("Sign in", flash: Flash(kind: .error, message: error.message)), next: next, username: username), status: error.status)
            for (name, value) in error.headers { response.headers.replaceOrAdd(name: name, value: value) }
            return response
        }
    }

    @Sendable static func logout(req: Request) async throws -> Response {
        if let token = req.sessionToken {
            try await req.nebula.identity.logout(sessionToken: token, actor: req.actorIfAny)
        }
        let response = req.redirect(to: "/login", flash: Flash(kind: .info, message: "You are signed out."))
        response.cookies[SessionCookie.name] = SessionCookie.expired(secure: secureCookies(req))
        return response
    }
}
