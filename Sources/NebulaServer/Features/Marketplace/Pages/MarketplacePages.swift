import Foundation
import NebulaCore
import Plot
import Vapor

/// `/marketplace` (browse), `/marketplace/{name}` (one package) and `/marketplace/sources`
/// (private catalogs). The pages call ``MarketplaceService`` like the API does.
enum MarketplacePages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["marketplace"], .viewer, nil, list)
        page(.GET, ["marketplace", "sources"], .viewer, nil, sources)
        page(.POST, ["marketplace", "sources"], .operator, "marketplace.source.add", addSource)
        page(.POST, ["marketplace", "sources", ":id", "refresh"], .operator, "marketplace.source.refresh", refreshSource)
        page(.POST, ["marketplace", "sources", ":id", "delete"], .operator, "marketplace.source.remove", removeSource)
        page(.GET, ["marketplace", ":name"], .viewer, nil, detail)
    }

    // MARK: Browse

    @Sendable static func list(req: Request) async throws -> Response {
        let query = req.query[String.self, at: "q"]?.trimmingCharacters(in: .whitespaces) ?? ""
        let category = req.query[String.self, at: "category"].flatMap(AppCategory.init(rawValue:))
        let packages = try await req.nebula.marketplace.packages(category: category, search: query, by: try req.actor)
        let context = try await req.pageContext("Marketplace", active: .marketplace)
        let actions = LinkButton("Catalog sources", href: "/marketplace/sources", style: .secondary)
        return req.render(Layout.page(context, actions: actions) {
            tag("form", [.value("action", "/marketplace"), .value("method", "get"), .value("class", "filter-form"), .value("role", "search")]) {
                FormField(label: "Search", name: "q", type: "search", value: query, placeholder: "jellyfin, backup, dns…")
                SelectField(label: "Category", name: "category",
                            options: [("", "All categories")] + AppCategory.allCases.map { ($0.rawValue, $0.title) },
                            selected: category?.rawValue ?? "")
                SubmitButton("Filter", style: .secondary)
            }
            Paragraph("\(packages.count) package\(packages.count == 1 ? "" : "s")").class("muted").id("package-count")
            if packages.isEmpty {
                EmptyState(title: "No packages match", message: "Try another word or category, or add a private catalog under Catalog sources.")
            } else {
                // One escaped string for the whole grid: ~50 cards render in well under a millisecond.
                Node<HTML.BodyContext>.raw(#"<div class="server-grid" id="package-grid">"# + packages.map(PackageCard.html).joined() + "</div>")
            }
        })
    }

    // MARK: Detail

    @Sendable static func detail(req: Request) async throws -> Response {
        let name = req.parameters.get("name") ?? ""
        let package = try await req.nebula.marketplace.package(name: name, by: try req.actor)
        let manifest = package.manifest
        let context = try await req.pageContext(manifest.title, active: .marketplace)
        let canInstall = (context.role ?? .viewer) >= .operator
        let servers = canInstall ? try await req.nebula.fleet.list(by: try req.actor).items.filter { $0.connection != .ssh } : []
        return req.render(Layout.page(context, actions: LinkButton("All packages", href: "/marketplace", style: .secondary)) {
            Card(title: "\(PackageCard.pageIcon(manifest.icon)) \(manifest.title)", subtitle: manifest.description, id: "package-about") {
                DetailList([
                    ("Package", Span(manifest.name).class("mono")),
                    ("Version", Text(manifest.version)),
                    ("Category", Text(manifest.category.title)),
                    ("Source", Text(package.source)),
                    ("Website", manifest.website.map { url in tag("a", [.value("href", url), .value("rel", "noopener noreferrer")]) { Text(url) } as any Component } ?? Text("—")),
                    ("Services", Text(manifest.services.joined(separator: ", "))),
                    ("Proxy target", Text(manifest.domain.map { "\($0.service):\($0.port)" } ?? "—")),
                ])
            }
            if canInstall {
                InstallForm(manifest: manifest, servers: servers, csrfToken: context.csrfToken)
            }
            Card(title: "Variables", subtitle: "Written to the app's .env file. Secret values are generated at install time and never shown here.") {
                DataTable(caption: "Variables", headers: ["Name", "Type", "Default", "Required", "Secret", "Description"],
                          rows: manifest.variables.map { variable in
                              [Span(variable.name).class("mono"),
                               Text(variable.type.rawValue + (variable.options.map { " (\($0.joined(separator: ", ")))" } ?? "")),
                               Text(defaultText(variable)),
                               Text(variable.required ? "yes" : "no"),
                               Text(variable.secret ? "yes" : "no"),
                               Text(variable.description)]
                          },
                          emptyTitle: "No variables", emptyMessage: "This app installs as it is.")
            }
            Card(title: "Health checks", subtitle: "The install waits until every check passes.") {
                DataTable(caption: "Health checks", headers: ["Type", "Port", "Path", "Expects", "Every", "Gives up after"],
                          rows: manifest.healthChecks.map { check in
                              [Text(check.type.rawValue),
                               Span(check.port.map(String.init) ?? check.portVariable.map { "${\($0)}" } ?? "—").class("mono"),
                               Text(check.path ?? "—"),
                               Text(check.type == .tcp ? "connection" : check.expectStatus.map(String.init) ?? "2xx/3xx"),
                               Text("\(check.intervalSeconds) s"),
                               Text("\(check.timeoutSeconds) s")]
                          },
                          emptyTitle: "No health checks", emptyMessage: "")
            }
            if !manifest.postInstall.isEmpty {
                Card(title: "After install") {
                    DataTable(caption: "Post-install commands", headers: ["Service", "Command"],
                              rows: manifest.postInstall.map { [Span($0.service).class("mono"), Span($0.command.joined(separator: " ")).class("mono")] },
                              emptyTitle: "", emptyMessage: "")
                }
            }
            Card(title: "Compose file", subtitle: "docker compose fills in ${VARIABLES} from the .env file.") {
                CodeBlock(manifest.composeYAML, id: "compose-file")
            }
        })
    }

    static func defaultText(_ variable: ManifestVariable) -> String {
        if let generator = variable.generate { return "generated (\(generator.rawValue))" }
        if variable.secret { return "—" }
        return variable.default ?? "—"
    }

    // MARK: Sources

    @Sendable static func sources(req: Request) async throws -> Response {
        let sources = try await req.nebula.marketplace.sources(by: try req.actor)
        let context = try await req.pageContext("Catalog sources", active: .marketplace)
        let canEdit = (context.role ?? .viewer) >= .operator
        return req.render(Layout.page(context, actions: LinkButton("All packages", href: "/marketplace", style: .secondary)) {
            Card(title: "Private catalogs", subtitle: "Folders of manifests on this machine, or git repositories. The shipped catalog is always included.") {
                DataTable(caption: "Catalog sources", headers: ["Name", "Kind", "Location", "Status", "Packages", "Refreshed", "Problems", ""],
                          rows: sources.map { source in
                              [Span(source.name).class("mono"),
                               Text(source.kind.rawValue),
                               Span(source.location + (source.branch.map { " (\($0))" } ?? "")).class("mono"),
                               StatusBadge(source.status),
                               Text(String(source.packageCount)),
                               source.lastRefreshedAt.map { RelativeTime($0) as any Component } ?? Text("never"),
                               Text(source.lastError ?? "—"),
                               canEdit ? sourceActions(source, csrfToken: context.csrfToken) : Text("")]
                          },
                          emptyTitle: "No private catalogs", emptyMessage: "Add a folder or a git repository of manifests below; see docs/marketplace.md for the format.")
            }
            if canEdit {
                Card(title: "Add a catalog source", subtitle: "Manifests that fail validation are skipped and listed with their problems.") {
                    CSRFForm(action: "/marketplace/sources", csrfToken: context.csrfToken, classes: "form-grid") {
                        FormField(label: "Name", name: "name", placeholder: "home-apps", required: true, hint: "Lower-case letters, digits and '-'.")
                        SelectField(label: "Kind", name: "kind", options: [("folder", "Folder on this machine"), ("git", "Git repository")], selected: "folder")
                        FormField(label: "Folder path or git URL", name: "location", placeholder: "/srv/nebula-catalog or https://git.example.com/me/catalog.git", required: true)
                        FormField(label: "Branch", name: "branch", placeholder: "main", hint: "Git only; empty means the default branch.")
                        SubmitButton("Add source")
                    }
                }
            }
        })
    }

    static func sourceActions(_ source: CatalogSourceDTO, csrfToken: String?) -> any Component {
        Div {
            CSRFForm(action: "/marketplace/sources/\(source.id)/refresh", csrfToken: csrfToken, classes: "inline-form") {
                SubmitButton("Refresh", style: .secondary)
            }
            CSRFForm(action: "/marketplace/sources/\(source.id)/delete", csrfToken: csrfToken, classes: "inline-form",
                     confirm: "Remove the catalog source \(source.name)? Its packages leave the marketplace.") {
                SubmitButton("Remove", style: .danger)
            }
        }.class("button-row")
    }

    @Sendable static func addSource(req: Request) async throws -> Response {
        try await sourceAction(req) {
            guard let kind = req.formField("kind").flatMap(CatalogSourceKind.init(rawValue:)) else {
                throw NebulaError.invalid("Choose folder or git.", code: "invalid_kind")
            }
            let input = MarketplaceService.NewSource(name: req.formField("name") ?? "", kind: kind, location: req.formField("location") ?? "",
                                                     branch: req.formField("branch"))
            let added = try await req.nebula.marketplace.addSource(input, by: try req.actor)
            return added.lastError.map { "Added \(added.name), with problems: \($0)" } ?? "Added \(added.name): \(added.packageCount) packages."
        }
    }

    @Sendable static func refreshSource(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await sourceAction(req) {
            let refreshed = try await req.nebula.marketplace.refreshSource(id, by: try req.actor)
            return refreshed.lastError.map { "Refreshed \(refreshed.name), with problems: \($0)" } ?? "Refreshed \(refreshed.name): \(refreshed.packageCount) packages."
        }
    }

    @Sendable static func removeSource(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await sourceAction(req) {
            try await req.nebula.marketplace.removeSource(id, by: try req.actor)
            return "Catalog source removed."
        }
    }

    /// Runs a source action and goes back to the sources page with its outcome (or why it was refused).
    private static func sourceAction(_ req: Request, _ action: () async throws -> String) async throws -> Response {
        do {
            let message = try await action()
            return req.redirect(to: "/marketplace/sources", flash: Flash(kind: .success, message: message))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/marketplace/sources", flash: Flash(kind: .error, message: error.message))
        }
    }
}

/// A package card, written as escaped HTML text (like the server cards) so a big catalog stays cheap.
enum PackageCard {
    static func html(_ package: CatalogPackage) -> String {
        let escape = HTMLEscaping.attributeValue
        let manifest = package.manifest
        let href = "/marketplace/" + escape(manifest.name)
        let summary = manifest.description.count > 160 ? String(manifest.description.prefix(157)) + "…" : manifest.description
        var html = #"<article class="card server-card package-card" data-package="\#(escape(manifest.name))">"#
        html += #"<div class="server-card-head"><a href="\#(href)" class="server-name"><span aria-hidden="true">\#(escape(pageIcon(manifest.icon)))</span> \#(escape(manifest.title))</a>"#
        html += #"<span class="badge tone-blue">\#(escape(manifest.category.rawValue))</span></div>"#
        html += #"<p class="muted">\#(escape(summary))</p>"#
        html += #"<div class="tag-row"><span class="tag">v\#(escape(manifest.version))</span>"#
        if package.source != CatalogPackage.builtInSource {
            html += #"<span class="tag">\#(escape(package.source))</span>"#
        }
        return html + "</div></article>"
    }

    /// The icon as the page shows it: the page's content security policy allows no remote
    /// images, so a URL icon shows as the default emoji.
    static func pageIcon(_ icon: String) -> String {
        icon.hasPrefix("https://") ? ManifestParser.defaultIcon : icon
    }
}
