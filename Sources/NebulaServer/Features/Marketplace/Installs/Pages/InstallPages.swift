import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
import Plot
import Vapor

/// The install form on a package's page, `/apps` (installed apps) and `/apps/{id}` (one app:
/// containers, logs, upgrade, uninstall).
enum InstallPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.POST, ["marketplace", ":name", "install"], .operator, "app.install", install)
        page(.GET, ["apps"], .viewer, nil, list)
        page(.GET, ["apps", ":id"], .viewer, nil, detail)
        page(.POST, ["apps", ":id", "upgrade"], .operator, "app.upgrade", upgrade)
        page(.POST, ["apps", ":id", "uninstall"], .operator, "app.uninstall", uninstall)
    }

    /// An install's status: running is green (it passed its health checks), work in progress blue.
    static func badge(_ status: AppInstallStatus) -> StatusBadge {
        StatusBadge(status.rawValue, tone: status == .running ? .green : nil)
    }

    /// Form field names of the variables: `var.NAME`.
    static let variablePrefix = "var."

    @Sendable static func install(req: Request) async throws -> Response {
        let package = req.parameters.get("name") ?? ""
        let back = "/marketplace/\(package)#install"
        do {
            guard let server = req.formField("server").flatMap(UUID.init(uuidString:)) else {
                throw NebulaError.invalid("Choose the server to install on.", code: "invalid_server")
            }
            let form = try req.content.decode([String: String].self)
            var variables: [String: String] = [:]
            for (key, value) in form where key.hasPrefix(variablePrefix) && !value.isEmpty {
                variables[String(key.dropFirst(variablePrefix.count))] = value
            }
            let request = InstallsService.InstallRequest(package: package, server: server, variables: variables,
                                                         name: req.formField("name"), keepOnFailure: req.formField("keepOnFailure") == "on",
                                                         domain: req.formField("domain").flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 })
            let accepted = try await req.nebula.installs.install(request, by: try req.actor)
            return req.redirect(to: "/jobs/\(accepted.job.id)",
                                flash: Flash(kind: .info, message: "Installing \(accepted.install.title) as '\(accepted.install.name)': the log below follows it until it is healthy."))
        } catch let error as NebulaError where error.status != .unauthorized && error.status != .forbidden {
            let detail = error.problems.isEmpty ? error.message : error.problems.map { "\($0.path.replacingOccurrences(of: "values.", with: "")): \($0.message)" }.joined(separator: "; ")
            return req.redirect(to: back, flash: Flash(kind: .error, message: detail))
        }
    }

    @Sendable static func list(req: Request) async throws -> Response {
        let actor = try req.actor
        let installs = try await req.nebula.installs.list(by: actor)
        let context = try await req.pageContext("Installed apps", active: .apps)
        let canOperate = actor.role >= .operator
        return req.render(Layout.page(context, actions: LinkButton("Browse the marketplace", href: "/marketplace", style: .primary)) {
            Card(title: "Apps", subtitle: "\(installs.count) installed, \(installs.filter { $0.status == .running }.count) running, \(installs.filter { $0.updateAvailable != nil }.count) with an update") {
                DataTable(caption: "Installed apps", headers: ["Name", "App", "Server", "Status", "Open", ""], rows: installs.map { install in
                    [tag("a", [.value("href", "/apps/\(install.id)")]) { Text(install.name) },
                     Div {
                         Text("\(install.title) \(install.version)")
                         if let newer = install.updateAvailable { Span("update \(newer)").class("badge tone-amber") }
                     },
                     Text(install.serverName ?? "—"),
                     InstallPages.badge(install.status),
                     Div { for url in (install.publicURL.map { [$0] } ?? []) + install.urls { tag("a", [.value("href", url), .value("rel", "noopener noreferrer")]) { Text(url) } } },
                     canOperate && install.updateAvailable != nil && (install.status == .running || install.status == .failed)
                        ? CSRFForm(action: "/apps/\(install.id)/upgrade", csrfToken: context.csrfToken, classes: "inline-form") { SubmitButton("Upgrade", style: .secondary) }
                        : Text("")]
                }, emptyTitle: "No apps installed", emptyMessage: "Pick one in the marketplace: the install checks ports, writes its compose file on the node and waits until it is healthy.")
            }
        })
    }

    @Sendable static func detail(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let install = try await services.installs.find(id, by: actor)
        let canOperate = actor.role >= .operator
        let status = await ContainersPages.result { try await services.installs.status(id, by: actor) }
        let logs = canOperate ? await ContainersPages.result { try await services.installs.logs(id, tail: 40, by: actor) } : nil
        let context = try await req.pageContext(install.name, active: .apps)
        return req.render(Layout.page(context, actions: InstallPages.badge(install.status)) {
            CardGrid {
                Card(title: "\(install.title) \(install.version)", subtitle: install.updateAvailable.map { "Version \($0) is available in the catalog." }) {
                    DetailList([
                        ("Server", tag("a", [.value("href", "/servers/\(install.serverId)")]) { Text(install.serverName ?? "server") }),
                        ("Package", tag("a", [.value("href", "/marketplace/\(install.package)")]) { Text("\(install.package) (\(install.source))") }),
                        ("Open", Div { for url in (install.publicURL.map { [$0] } ?? []) + install.urls { tag("a", [.value("href", url), .value("rel", "noopener noreferrer")]) { Text(url) } } }),
                        ("Ports", Text(install.ports.map(String.init).joined(separator: ", "))),
                        ("Settings", Text(install.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "  "))),
                        ("Secrets", Text(install.secretVariables.isEmpty ? "none" : install.secretVariables.map { InstallsService.secretName(install.name, $0) }.joined(separator: ", ") + " (in Secrets)")),
                        ("Last job", install.jobId.map { job in tag("a", [.value("href", "/jobs/\(job)")]) { Text("log of the last install, upgrade or uninstall") } as any Component } ?? Text("—")),
                        ("Last error", Text(install.lastError ?? "none")),
                    ])
                }
                if canOperate {
                    Card(title: "Manage", subtitle: "Upgrades keep the data and roll back by themselves when the new version is not healthy.") {
                        if let newer = install.updateAvailable {
                            CSRFForm(action: "/apps/\(install.id)/upgrade", csrfToken: context.csrfToken, classes: "inline-form") {
                                SubmitButton("Upgrade to \(newer)")
                            }
                        }
                        Div {
                            CSRFForm(action: "/apps/\(install.id)/uninstall", csrfToken: context.csrfToken, classes: "inline-form",
                                     confirm: "Uninstall \(install.name)? Its containers are removed; volumes, folder and secrets are kept.") {
                                SubmitButton("Uninstall, keep data", style: .secondary)
                            }
                            CSRFForm(action: "/apps/\(install.id)/uninstall", csrfToken: context.csrfToken, classes: "inline-form",
                                     confirm: "Uninstall \(install.name) AND delete its volumes, folder and secrets? This cannot be undone.") {
                                voidTag("input", [.value("type", "hidden"), .value("name", "deleteData"), .value("value", "true")])
                                SubmitButton("Uninstall and delete data", style: .danger)
                            }
                        }.class("button-row")
                    }
                }
            }
            Card(title: "Containers", subtitle: ContainersPages.subtitle(status) { $0.ok ? "\(($0.containers ?? []).count) containers" : $0.message }) {
                if case .success(let result) = status {
                    DataTable(caption: "Containers", headers: ["Service", "Container", "State", "Status"], rows: (result.containers ?? []).map { member in
                        [Text(member.service),
                         tag("a", [.value("href", "/servers/\(install.serverId)/containers/\(member.container.name)")]) { Text(member.container.name) },
                         StatusBadge(member.container.health?.rawValue ?? member.container.state.description, tone: ContainersPages.tone(member.container.state, member.container.health)),
                         Text(member.container.status)]
                    }, emptyTitle: "No containers", emptyMessage: "Nothing of this app runs on the node right now.")
                }
            }
            if let logs {
                Card(title: "Recent logs", subtitle: "The last 40 lines of each container; open a container for live logs.") {
                    if case .success(let lines) = logs {
                        CodeBlock(lines.map { "[\($0.container)] \($0.line.text)" }.joined(separator: "\n"), id: "app-logs")
                    } else {
                        Paragraph(ContainersPages.subtitle(logs) { _ in "" }).class("muted")
                    }
                }
            }
        })
    }

    @Sendable static func upgrade(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let accepted = try await req.nebula.installs.upgrade(id, by: try req.actor)
            return req.redirect(to: "/jobs/\(accepted.job.id)", flash: Flash(kind: .info, message: "Upgrading \(accepted.install.name): the log follows it."))
        } catch let error as NebulaError where error.status != .unauthorized && error.status != .forbidden {
            return req.redirect(to: "/apps/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func uninstall(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let accepted = try await req.nebula.installs.uninstall(id, deleteData: req.formField("deleteData") == "true", by: try req.actor)
            return req.redirect(to: "/jobs/\(accepted.job.id)", flash: Flash(kind: .info, message: "Uninstalling \(accepted.install.name)."))
        } catch let error as NebulaError where error.status != .unauthorized && error.status != .forbidden {
            return req.redirect(to: "/apps/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }
}

/// The install form on a package's page: the node, the install's name and one field per variable.
struct InstallForm: Component {
    var manifest: AppManifest
    /// Servers that can run apps (the local node and agent nodes).
    var servers: [ServerDTO]
    var csrfToken: String?

    var body: any Component {
        Card(title: "Install", subtitle: "Nebula checks the values and the node's ports, writes docker-compose.yml and .env on the node, starts the app and waits until it is healthy. A failed install is rolled back.",
             id: "install") {
            if servers.isEmpty {
                EmptyState(title: "No server can run apps", message: "Add a server with the agent (or keep the local node) under Servers.")
            } else {
                CSRFForm(action: "/marketplace/\(manifest.name)/install", csrfToken: csrfToken, classes: "form-grid install-form") {
                    SelectField(label: "Server", name: "server",
                                options: servers.map { ($0.id.uuidString, "\($0.name) (\($0.status.rawValue))") },
                                selected: servers.first { $0.status == .online }?.id.uuidString)
                    FormField(label: "Name", name: "name", value: manifest.name, required: true,
                              hint: "The Compose project and folder on the node; lower-case letters, digits and '-'.", autocomplete: "off")
                    for variable in manifest.variables {
                        field(for: variable)
                    }
                    FormField(label: "Domain (optional)", name: "domain", placeholder: "\(manifest.name).example.com",
                              hint: "Publish the app at https://this-name once it is healthy: Nebula adds the proxy route (HTTPS through Caddy) and, when the name is in one of your domains, its DNS record.",
                              autocomplete: "off")
                    tag("label", [.value("class", "inline-control")]) {
                        voidTag("input", [.value("type", "checkbox"), .value("name", "keepOnFailure")])
                        Text(" Keep a failed install running for inspection instead of rolling it back")
                    }
                    SubmitButton("Install \(manifest.title)")
                }
            }
        }
    }

    private func field(for variable: ManifestVariable) -> any Component {
        let name = InstallPages.variablePrefix + variable.name
        let label = variable.name + (variable.required ? " *" : "")
        switch variable.type {
        case .enum:
            return SelectField(label: label, name: name, options: (variable.options ?? []).map { ($0, $0) }, selected: variable.default, hint: variable.description)
        case .bool:
            return SelectField(label: label, name: name, options: [("true", "true"), ("false", "false")], selected: variable.default ?? "false", hint: variable.description)
        case .password:
            return FormField(label: label, name: name, type: "password", placeholder: variable.generate == nil ? "" : "leave empty to generate one",
                             required: variable.required && variable.generate == nil, hint: variable.description, autocomplete: "new-password")
        case .port, .number:
            return FormField(label: label, name: name, type: "number", value: variable.default ?? "", required: variable.required && variable.default == nil,
                             hint: variable.description)
        case .string, .path:
            let secret = variable.secret
            return FormField(label: label, name: name, type: secret ? "password" : "text", value: secret ? "" : variable.default ?? "",
                             placeholder: variable.generate == nil ? "" : "leave empty to generate one",
                             required: variable.required && variable.default == nil && variable.generate == nil, hint: variable.description,
                             autocomplete: "off")
        }
    }
}
