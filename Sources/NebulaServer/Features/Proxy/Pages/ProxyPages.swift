import Foundation
import NebulaCore
import Plot
import ProxyAdmin
import Vapor

/// `/proxy`: routes (add, edit with the revision seen, test upstreams, delete), "Apply" with the
/// changes since the live version, the version history with rollback, certificates, and the Caddy
/// settings. A Caddy that is not configured or does not answer is a banner, never an error page.
enum ProxyPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["proxy"], .viewer, nil, overview)
        page(.POST, ["proxy", "routes"], .operator, "proxy.route.create", createRoute)
        page(.POST, ["proxy", "routes", ":id"], .operator, "proxy.route.update", updateRoute)
        page(.POST, ["proxy", "routes", ":id", "delete"], .operator, "proxy.route.delete", deleteRoute)
        page(.POST, ["proxy", "routes", ":id", "test"], .operator, "proxy.route.test", testRoute)
        page(.POST, ["proxy", "apply"], .operator, "proxy.apply", apply)
        page(.POST, ["proxy", "versions", ":id", "rollback"], .operator, "proxy.rollback", rollback)
        page(.POST, ["proxy", "settings"], .admin, "proxy.settings.update", updateSettings)
        page(.POST, ["proxy", "certificates", "check"], .operator, "proxy.certificates.check", checkCertificates)
    }

    static let routeFields = ["host", "pathPrefix", "kind", "address", "server", "container", "install", "port", "tls", "basicAuthUser",
                              "requestHeaders", "responseHeaders", "revision"]

    @Sendable static func overview(req: Request) async throws -> Response {
        try await render(req, flash: nil, status: .ok)
    }

    static func render(_ req: Request, flash: Flash?, status: HTTPResponseStatus, form: [String: String] = [:], editing: UUID? = nil) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let proxy = services.proxy
        let routes = try await proxy.routes(by: actor)
        let versions = try await proxy.versions(by: actor)
        let settings = try await proxy.settings(by: actor)
        let certificates = try await proxy.certificates(by: actor)
        let pending = try await proxy.pendingChanges(by: actor)
        let servers = try await ServerRecord.query(on: req.db).sort(\.$name).all()
        var context = try await req.pageContext("Reverse proxy", active: .proxy)
        if let flash { context.flash = flash }
        let canOperate = actor.role >= .operator
        let csrf = context.csrfToken
        let editID = editing ?? req.query[String.self, at: "edit"].flatMap(UUID.init(uuidString:))
        let edited = editID.flatMap { id in routes.first { $0.id == id } }
        var values = form
        if let edited, form.isEmpty { values = formValues(edited) }
        let live = versions.first { $0.status == .applied }
        let html = Layout.page(context) {
            if !settings.configured {
                banner(.info, "Caddy is not configured: set its admin URL below (for example http://127.0.0.1:2019). Routes can be prepared meanwhile; applying needs Caddy.")
            }
            Card(title: "Routes", subtitle: "Each host (and optional path) is sent to its upstream. Changes take effect when you apply them.") {
                DataTable(caption: "Proxy routes", headers: ["Host", "Upstream", "TLS", "Options", "Upstream status", ""], rows: routes.map { route in
                    [Div {
                        tag("a", [.value("href", "https://\(route.host)\(route.pathPrefix ?? "")")]) { Text(route.host + (route.pathPrefix ?? "")) }
                        if !route.enabled { StatusBadge("disabled", tone: .grey) }
                        Paragraph("revision \(route.revision)").class("muted")
                     } as any Component,
                     Mono(route.upstreams.map(\.label).joined(separator: ", ")),
                     StatusBadge(tlsLabel(route.tls), tone: route.tls == .off ? .amber : route.tls == .internal ? .blue : .green),
                     Text(options(route)),
                     upstreamStatus(route),
                     canOperate ? Div {
                         LinkButton("Edit", href: "/proxy?edit=\(route.id)#route-form")
                         CSRFForm(action: "/proxy/routes/\(route.id)/test", csrfToken: csrf, classes: "inline-form") { SubmitButton("Test", style: .secondary) }
                         CSRFForm(action: "/proxy/routes/\(route.id)/delete", csrfToken: csrf, classes: "inline-form", confirm: "Delete the route \(route.host)?") {
                             hidden("revision", String(route.revision))
                             SubmitButton("Delete", style: .danger)
                         }
                     }.class("button-row") as any Component : Text("")]
                }, emptyTitle: "No routes yet", emptyMessage: canOperate ? "Add one below: a host name and where to send it." : "An operator can add one.")
            }
            if canOperate {
                Card(title: edited == nil ? "Add a route" : "Edit \(edited?.host ?? "")", id: "route-form") {
                    routeForm(values: values, edited: edited, servers: servers, csrf: csrf)
                }
                Card(title: "Apply to Caddy", subtitle: live.map { "Caddy runs version \($0.number). Pending: \(pending.summary)." }
                        ?? "Nothing applied yet. Pending: \(pending.summary).") {
                    CSRFForm(action: "/proxy/apply", csrfToken: csrf, classes: "stack") {
                        hidden("expectedVersion", String(versions.first?.number ?? 0))
                        if !pending.isEmpty {
                            DetailList([("Added", Text(pending.added.isEmpty ? "—" : pending.added.joined(separator: ", ")) as any Component),
                                        ("Changed", Text(pending.changed.isEmpty ? "—" : pending.changed.joined(separator: ", "))),
                                        ("Removed", Text(pending.removed.isEmpty ? "—" : pending.removed.joined(separator: ", ")))])
                        }
                        checkbox("force", label: "Replace Caddy's configuration even if it was changed outside Nebula", checked: false)
                        SubmitButton("Apply")
                    }
                }
            }
            Card(title: "Versions", subtitle: "Every configuration sent to Caddy. A refused one changed nothing; rolling back restores the routes it was made from.") {
                DataTable(caption: "Configuration versions", headers: ["Version", "Status", "Routes", "By", "When", ""], rows: versions.map { version in
                    [Text("#\(version.number)" + (version.rollbackOf.map { " (rollback to #\($0))" } ?? "")) as any Component,
                     Div {
                         StatusBadge(version.status.rawValue.replacingOccurrences(of: "_", with: " "), tone: versionTone(version.status))
                         if let error = version.error { Paragraph(String(error.prefix(400))).class("muted") }
                     },
                     Text("\(version.routeCount)"),
                     Text(version.createdBy),
                     version.createdAt.map { RelativeTime($0) as any Component } ?? Text("—"),
                     canOperate && version.status != .rejected && version.status != .applied
                        ? CSRFForm(action: "/proxy/versions/\(version.id)/rollback", csrfToken: csrf, classes: "inline-form",
                                   confirm: "Roll back to version \(version.number)? Its routes replace the current ones.") {
                            SubmitButton("Roll back", style: .secondary)
                        } as any Component : Text("")]
                }, emptyTitle: "No versions yet", emptyMessage: "Apply the routes to create the first one.")
            }
            Card(title: "Certificates", subtitle: "Checked every 6 hours for proxied hosts (through Caddy) and domains. Expiring within \(settings.warnDays) days raises a notification.",
                 actions: canOperate ? CSRFForm(action: "/proxy/certificates/check", csrfToken: csrf, classes: "inline-form") { SubmitButton("Check now", style: .secondary) } : nil) {
                DataTable(caption: "Certificates", headers: ["Host", "Source", "Issuer", "Expires", "Days left"], rows: certificates.map { certificate in
                    [Text(certificate.host) as any Component,
                     Text(certificate.source),
                     Text(certificate.issuer ?? "—"),
                     certificate.notAfter.map { RelativeTime($0) as any Component } ?? Text("—"),
                     Div {
                         StatusBadge(certificate.daysLeft.map { "\($0) days" } ?? certificate.state.rawValue, tone: certificateTone(certificate.state))
                         if let error = certificate.error { Paragraph(error).class("muted") }
                     }]
                }, emptyTitle: "No certificates checked yet", emptyMessage: "Apply a route with TLS, then check.")
            }
            Card(title: "Caddy settings", subtitle: "Where Nebula reaches Caddy's admin API and which ports Caddy serves.") {
                if actor.role >= .admin {
                    CSRFForm(action: "/proxy/settings", csrfToken: csrf, classes: "stack") {
                        FormField(label: "Admin URL", name: "adminURL", value: form["adminURL"] ?? settings.adminURL ?? "", placeholder: "http://127.0.0.1:2019",
                                  hint: "Caddy's admin API. Empty: not configured.")
                        FormField(label: "HTTP port", name: "httpPort", type: "number", value: form["httpPort"] ?? String(settings.httpPort))
                        FormField(label: "HTTPS port", name: "httpsPort", type: "number", value: form["httpsPort"] ?? String(settings.httpsPort))
                        FormField(label: "ACME email", name: "acmeEmail", value: form["acmeEmail"] ?? settings.acmeEmail ?? "",
                                  hint: "For Let's Encrypt certificates of public names (optional).")
                        FormField(label: "ACME directory", name: "acmeCA", value: form["acmeCA"] ?? settings.acmeCA ?? "", placeholder: "Let's Encrypt",
                                  hint: "Another ACME CA for public-name routes, e.g. a step-ca on your LAN or Let's Encrypt's staging directory (optional).")
                        FormField(label: "Listen address", name: "listenHost", value: form["listenHost"] ?? settings.listenHost ?? "", placeholder: "all addresses")
                        FormField(label: "Warn days before expiry", name: "warnDays", type: "number", value: form["warnDays"] ?? String(settings.warnDays))
                        SubmitButton("Save settings", style: .secondary)
                    }
                } else {
                    DetailList([("Admin URL", Text(settings.adminURL ?? "not configured") as any Component),
                                ("Ports", Text("HTTP \(settings.httpPort), HTTPS \(settings.httpsPort)"))])
                }
            }
        }
        return req.render(html, status: status)
    }

    static func routeForm(values: [String: String], edited: ProxyRouteDTO?, servers: [ServerRecord], csrf: String?) -> any Component {
        CSRFForm(action: edited.map { "/proxy/routes/\($0.id)" } ?? "/proxy/routes", csrfToken: csrf, classes: "stack") {
            if let edited { hidden("revision", values["revision"] ?? String(edited.revision)) }
            FormField(label: "Host", name: "host", value: values["host"] ?? "", placeholder: "photos.lab.example", required: true,
                      hint: "The name people type. LAN names (.lan, .local, .home.arpa, .internal) get Caddy's own CA; public names Let's Encrypt.")
            FormField(label: "Path prefix", name: "pathPrefix", value: values["pathPrefix"] ?? "", placeholder: "/api", hint: "Optional: only requests under this path.")
            SelectField(label: "Upstream kind", name: "kind", options: [("address", "Address (host:port)"), ("container", "Container on a server"), ("app", "Installed app")],
                        selected: values["kind"] ?? "address")
            FormField(label: "Address", name: "address", value: values["address"] ?? "", placeholder: "192.168.1.20:8096", hint: "For an address upstream.")
            SelectField(label: "Server", name: "server", options: [("", "—")] + servers.compactMap { server in server.id.map { ($0.uuidString, server.name) } },
                        selected: values["server"] ?? "", hint: "For a container upstream.")
            FormField(label: "Container", name: "container", value: values["container"] ?? "", placeholder: "jellyfin")
            FormField(label: "App", name: "install", value: values["install"] ?? "", placeholder: "immich", hint: "The installed app's name.")
            FormField(label: "Port", name: "port", type: "number", value: values["port"] ?? "",
                      hint: "Container: its port (the published host port is used). App: one of its ports (default: the first).")
            SelectField(label: "HTTPS", name: "tls", options: [("", "Automatic for the name"), ("auto", "Let's Encrypt (public name)"),
                                                               ("internal", "Caddy's own CA (LAN name)"), ("off", "Off (HTTP only)")],
                        selected: values["tls"] ?? "")
            checkbox("websocket", label: "WebSocket", checked: values["websocket"] == "on")
            checkbox("redirectToHTTPS", label: "Redirect HTTP to HTTPS", checked: (values["redirectToHTTPS"] ?? "on") == "on")
            checkbox("enabled", label: "Enabled", checked: (values["enabled"] ?? "on") == "on")
            FormField(label: "Basic-auth user", name: "basicAuthUser", value: values["basicAuthUser"] ?? "", hint: "Optional. Empty removes basic auth.")
            FormField(label: "Basic-auth password", name: "basicAuthPassword", type: "password",
                      hint: edited?.basicAuth?.hasPassword == true ? "Leave empty to keep the current password." : "8 characters or more; stored only as a bcrypt hash.",
                      autocomplete: "new-password")
            FormField(label: "Request headers", name: "requestHeaders", type: "textarea", value: values["requestHeaders"] ?? "",
                      placeholder: "X-Forwarded-Proto: https", hint: "One 'Name: value' per line, sent to the upstream.")
            FormField(label: "Response headers", name: "responseHeaders", type: "textarea", value: values["responseHeaders"] ?? "",
                      placeholder: "Strict-Transport-Security: max-age=31536000", hint: "One 'Name: value' per line, sent to the browser.")
            SubmitButton(edited == nil ? "Add route" : "Save route")
            if edited != nil { LinkButton("Cancel", href: "/proxy") }
        }
    }

    // MARK: Actions

    @Sendable static func createRoute(req: Request) async throws -> Response {
        let form = formFields(req)
        do {
            let route = try await req.nebula.proxy.createRoute(try input(from: form, req: req), by: try req.actor)
            return req.redirect(to: "/proxy", flash: Flash(kind: .success, message: "Route \(route.host) added. Apply to make Caddy serve it."))
        } catch let error as NebulaError where error.status.code < 500 {
            return try await render(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func updateRoute(req: Request) async throws -> Response {
        let form = formFields(req)
        let id = try req.uuidParameter()
        do {
            var input = try input(from: form, req: req)
            input.revision = form["revision"].flatMap(Int.init)
            let route = try await req.nebula.proxy.updateRoute(id, input, ifMatch: nil, by: try req.actor)
            return req.redirect(to: "/proxy", flash: Flash(kind: .success, message: "Route \(route.host) saved (revision \(route.revision)). Apply to make Caddy serve it."))
        } catch let conflict as ProxyEditConflict {
            // Show what is there now, keep what the user typed out of the way: a reload shows the current route.
            return try await render(req, flash: Flash(kind: .error, message: conflict.message + " The form now shows the current route."),
                                    status: .conflict, editing: id)
        } catch let error as NebulaError where error.status.code < 500 {
            return try await render(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form, editing: id)
        }
    }

    @Sendable static func deleteRoute(req: Request) async throws -> Response {
        do {
            try await req.nebula.proxy.deleteRoute(try req.uuidParameter(), revision: req.formField("revision").flatMap(Int.init), by: try req.actor)
            return req.redirect(to: "/proxy", flash: Flash(kind: .success, message: "The route is deleted. Apply to stop serving it."))
        } catch let conflict as ProxyEditConflict {
            return req.redirect(to: "/proxy", flash: Flash(kind: .error, message: conflict.message))
        } catch let error as NebulaError {
            return req.redirect(to: "/proxy", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func testRoute(req: Request) async throws -> Response {
        do {
            let outcome = try await req.nebula.proxy.testRoute(try req.uuidParameter(), by: try req.actor)
            let text = outcome.results.map { "\($0.upstream): \($0.ok ? "answers" : $0.message)" }.joined(separator: "; ")
            return req.redirect(to: "/proxy", flash: Flash(kind: outcome.ok ? .success : .error, message: outcome.ok ? "Every upstream answers. \(text)" : "Upstream problem: \(text)"))
        } catch let error as NebulaError {
            return req.redirect(to: "/proxy", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func apply(req: Request) async throws -> Response {
        do {
            let input = ProxyApplyInput(expectedVersion: req.formField("expectedVersion").flatMap(Int.init), force: req.formField("force") == "on")
            let outcome = try await req.nebula.proxy.apply(input, by: try req.actor)
            return req.redirect(to: "/proxy", flash: Flash(kind: outcome.changed ? .success : .info, message: outcome.message))
        } catch let error as NebulaError {
            return req.redirect(to: "/proxy", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func rollback(req: Request) async throws -> Response {
        do {
            let outcome = try await req.nebula.proxy.rollback(to: try req.uuidParameter(), force: false, by: try req.actor)
            return req.redirect(to: "/proxy", flash: Flash(kind: .success, message: outcome.message))
        } catch let error as NebulaError {
            return req.redirect(to: "/proxy", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func updateSettings(req: Request) async throws -> Response {
        var form: [String: String] = [:]
        for name in ["adminURL", "httpPort", "httpsPort", "acmeEmail", "acmeCA", "listenHost", "warnDays"] { form[name] = req.formField(name) ?? "" }
        do {
            func number(_ name: String, _ label: String) throws -> Int? {
                guard let raw = form[name], !raw.isEmpty else { return nil }
                guard let value = Int(raw) else { throw NebulaError.unprocessable("\(label) must be a number.", code: "invalid_route") }
                return value
            }
            let patch = ProxySettingsPatch(adminURL: form["adminURL"], httpPort: try number("httpPort", "The HTTP port"),
                                           httpsPort: try number("httpsPort", "The HTTPS port"), acmeEmail: form["acmeEmail"],
                                           acmeCA: form["acmeCA"], listenHost: form["listenHost"], warnDays: try number("warnDays", "Warn days"))
            _ = try await req.nebula.proxy.updateSettings(patch, by: try req.actor)
            return req.redirect(to: "/proxy", flash: Flash(kind: .success, message: "Proxy settings saved."))
        } catch let error as NebulaError where error.status.code < 500 {
            return try await render(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func checkCertificates(req: Request) async throws -> Response {
        do {
            let list = try await req.nebula.proxy.checkCertificates(by: try req.actor)
            return req.redirect(to: "/proxy", flash: Flash(kind: .success, message: "Checked \(list.count) certificate(s)."))
        } catch let error as NebulaError {
            return req.redirect(to: "/proxy", flash: Flash(kind: .error, message: error.message))
        }
    }

    // MARK: Helpers

    static func formFields(_ req: Request) -> [String: String] {
        var form: [String: String] = [:]
        for name in routeFields { form[name] = req.formField(name) ?? "" }
        for name in ["websocket", "redirectToHTTPS", "enabled"] { form[name] = req.formField(name) == "on" ? "on" : "off" }
        return form
    }

    static func input(from form: [String: String], req: Request) throws -> ProxyRouteInput {
        func value(_ name: String) -> String? { form[name].flatMap { $0.isEmpty ? nil : $0 } }
        let port: Int?
        if let raw = value("port") {
            guard let parsed = Int(raw) else { throw NebulaError.unprocessable("The port must be a number from 1 to 65535.", code: "invalid_route") }
            port = parsed
        } else {
            port = nil
        }
        let kind = ProxyUpstream.Kind(rawValue: form["kind"] ?? "") ?? .address
        let upstream = ProxyUpstream(kind: kind, address: kind == .address ? value("address") ?? "" : nil,
                                     server: kind == .container ? value("server").flatMap(UUID.init(uuidString:)) : nil,
                                     container: kind == .container ? value("container") : nil, install: kind == .app ? value("install") : nil,
                                     port: kind == .address ? nil : port)
        let password = req.rawFormField("basicAuthPassword")
        return ProxyRouteInput(host: form["host"] ?? "", pathPrefix: form["pathPrefix"] ?? "", upstreams: [upstream],
                               tls: value("tls").flatMap(ProxyTLSMode.init(rawValue:)), websocket: form["websocket"] == "on",
                               basicAuth: ProxyBasicAuthInput(username: form["basicAuthUser"] ?? "", password: password.isEmpty ? nil : password),
                               requestHeaders: try headers(form["requestHeaders"] ?? ""), responseHeaders: try headers(form["responseHeaders"] ?? ""),
                               redirectToHTTPS: form["redirectToHTTPS"] == "on", enabled: form["enabled"] == "on")
    }

    /// `Name: value` lines.
    static func headers(_ text: String) throws -> [String: String] {
        var headers: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw NebulaError.unprocessable("Header line '\(trimmed)' needs the form 'Name: value'.", code: "invalid_route")
            }
            headers[String(trimmed[..<colon]).trimmingCharacters(in: .whitespaces)] = String(trimmed[trimmed.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        return headers
    }

    static func formValues(_ route: ProxyRouteDTO) -> [String: String] {
        let upstream = route.upstreams.first
        return ["host": route.host, "pathPrefix": route.pathPrefix ?? "", "kind": upstream?.kind.rawValue ?? "address",
                "address": upstream?.address ?? "", "server": upstream?.server?.uuidString ?? "", "container": upstream?.container ?? "",
                "install": upstream?.install ?? "", "port": upstream?.port.map(String.init) ?? "", "tls": route.tls.rawValue,
                "websocket": route.websocket ? "on" : "off", "redirectToHTTPS": route.redirectToHTTPS ? "on" : "off", "enabled": route.enabled ? "on" : "off",
                "basicAuthUser": route.basicAuth?.username ?? "", "revision": String(route.revision),
                "requestHeaders": route.requestHeaders.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n"),
                "responseHeaders": route.responseHeaders.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")]
    }

    static func hidden(_ name: String, _ value: String) -> any Component {
        voidTag("input", [.value("type", "hidden"), .value("name", name), .value("value", value)])
    }

    static func checkbox(_ name: String, label: String, checked: Bool) -> any Component {
        tag("label", [.value("class", "checkbox")]) {
            voidTag("input", [.value("type", "checkbox"), .value("name", name), .value("value", "on"), .flag("checked", checked)])
            Text(" " + label)
        }
    }

    static func banner(_ kind: Flash.Kind, _ message: String) -> any Component {
        tag("div", [.value("class", "flash flash-" + kind.rawValue), .value("role", "status"), .value("data-proxy-banner", "true")]) {
            Icon.info
            Paragraph(message).class("flash-message")
        }
    }

    static func tlsLabel(_ mode: ProxyTLSMode) -> String {
        switch mode {
        case .auto: "HTTPS (ACME)"
        case .internal: "HTTPS (internal CA)"
        case .off: "HTTP only"
        }
    }

    static func options(_ route: ProxyRouteDTO) -> String {
        var parts: [String] = []
        if route.websocket { parts.append("WebSocket") }
        if let auth = route.basicAuth { parts.append("basic auth (\(auth.username))") }
        if route.redirectToHTTPS && route.tls != .off { parts.append("HTTP→HTTPS") }
        let headers = route.requestHeaders.count + route.responseHeaders.count
        if headers > 0 { parts.append("\(headers) header(s)") }
        return parts.isEmpty ? "—" : parts.joined(separator: ", ")
    }

    static func upstreamStatus(_ route: ProxyRouteDTO) -> any Component {
        guard let results = route.upstreamStatus else { return Text("not tested") }
        let ok = results.allSatisfy(\.ok)
        return Div {
            StatusBadge(ok ? "answers" : "unreachable", tone: ok ? .green : .red)
            if !ok { Paragraph(results.filter { !$0.ok }.map { "\($0.upstream): \($0.message)" }.joined(separator: "; ")).class("muted") }
            if let at = route.upstreamCheckedAt { RelativeTime(at) }
        }
    }

    static func versionTone(_ status: ProxyVersionStatus) -> StatusBadge.Tone {
        switch status {
        case .applied: .green
        case .rejected: .red
        case .superseded, .rolledBack: .grey
        }
    }

    static func certificateTone(_ state: ProxyCertificateDTO.State) -> StatusBadge.Tone {
        switch state {
        case .ok: .green
        case .expiring: .amber
        case .expired, .error: .red
        }
    }
}
