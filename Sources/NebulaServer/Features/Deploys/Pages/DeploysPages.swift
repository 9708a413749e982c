import Foundation
import NebulaCore
import Plot
import Vapor

/// `/deploys` (projects with their live release, a "New project" form) and `/deploys/{id}` (live
/// release, releases with their logs and rollback buttons, deploy, variables, webhook), with the
/// forms that change them. A new or rotated webhook secret is shown on the page answering the form,
/// once; it is never stored anywhere it could be shown again.
enum DeploysPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["deploys"], .viewer, nil, list)
        page(.POST, ["deploys"], .operator, "deploy.project.create", create)
        page(.GET, ["deploys", ":id"], .viewer, nil, detail)
        page(.POST, ["deploys", ":id", "deploy"], .operator, "deploy.start", deploy)
        page(.POST, ["deploys", ":id", "releases", ":number", "rollback"], .operator, "deploy.rollback", rollback)
        page(.POST, ["deploys", ":id", "env"], .operator, "deploy.env.set", setVariable)
        page(.POST, ["deploys", ":id", "webhook-secret"], .operator, "deploy.webhook.rotate", rotate)
        page(.POST, ["deploys", ":id", "delete"], .operator, "deploy.project.delete", delete)
    }

    // MARK: Pages

    @Sendable static func list(req: Request) async throws -> Response {
        try await renderList(req, flash: nil, status: .ok)
    }

    static func renderList(_ req: Request, flash: Flash?, status: HTTPResponseStatus, form: [String: String] = [:]) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let projects = try await services.deploys.list(by: actor)
        let servers = try await services.fleet.list(by: actor).items.filter { $0.connection != .ssh }
        var context = try await req.pageContext("Deploys", active: .deploys)
        if let flash { context.flash = flash }
        let canOperate = actor.role >= .operator
        let html = Layout.page(context) {
            Card(title: "Projects", subtitle: "Built from git on their server; a release goes live only once its health check passes.") {
                DataTable(caption: "Deploy projects", headers: ["Project", "Server", "Repository", "Live release", "Latest", "Address"], rows: projects.map { project in
                    [Link(project.name, url: "/deploys/\(project.id)") as any Component,
                     Text(project.serverName ?? "—"),
                     Mono("\(project.repoUrl) (\(project.branch))"),
                     releaseSummary(project.liveRelease),
                     project.latestRelease.map { StatusBadge("r\($0.number) \($0.status.rawValue)", tone: tone($0.status)) as any Component } ?? Text("never deployed"),
                     project.liveRelease == nil ? Text("—") : Link(project.url, url: project.url) as any Component]
                }, emptyTitle: "No deploy projects", emptyMessage: "Create one below from a git repository with a Dockerfile.")
            }
            if canOperate {
                Card(title: "New project", subtitle: "The repository needs a Dockerfile; the image is built on the chosen server.") {
                    CSRFForm(action: "/deploys", csrfToken: context.csrfToken, classes: "stack") {
                        FormField(label: "Name", name: "name", value: form["name"] ?? "", required: true, hint: "1–40 lower-case letters, digits or '-'.")
                        SelectField(label: "Server", name: "server", options: servers.map { ($0.id.uuidString, $0.name) },
                                    selected: form["server"] ?? servers.first { $0.connection == .local }?.id.uuidString)
                        FormField(label: "Repository URL", name: "repoUrl", value: form["repoUrl"] ?? "", placeholder: "https://github.com/you/site.git", required: true,
                                  hint: "https, ssh, git or file URL, without credentials.")
                        FormField(label: "Branch", name: "branch", value: form["branch"] ?? "main", required: true)
                        FormField(label: "Access token secret", name: "tokenSecret", value: form["tokenSecret"] ?? "",
                                  hint: "For a private HTTPS repository: the name of a secret under Secrets that holds the token.")
                        FormField(label: "Dockerfile", name: "dockerfile", value: form["dockerfile"] ?? "Dockerfile", required: true)
                        FormField(label: "Container port", name: "containerPort", type: "number", value: form["containerPort"] ?? "", required: true,
                                  hint: "The port the app listens on inside its container.")
                        FormField(label: "Host port", name: "hostPort", type: "number", value: form["hostPort"] ?? "", required: true,
                                  hint: "The server's port it is published on.")
                        FormField(label: "Health check path", name: "healthPath", value: form["healthPath"] ?? "/",
                                  hint: "An HTTP path that answers 2xx/3xx when the app is up; empty to only check the port.")
                        SubmitButton("Create project")
                    }
                }
            }
        }
        return req.render(html, status: status)
    }

    @Sendable static func detail(req: Request) async throws -> Response {
        try await renderDetail(req, id: try req.uuidParameter(), revealed: nil)
    }

    /// The project page; `revealed` is a webhook secret just created or rotated, shown this once.
    static func renderDetail(_ req: Request, id: UUID, revealed: (secret: String, url: String)?, status: HTTPResponseStatus = .ok) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let project = try await services.deploys.find(id, by: actor)
        let releases = try await services.deploys.releases(of: id, by: actor)
        let building = releases.first { $0.status == .building }
        var lines: [JobLogLineDTO] = []
        if let job = building?.jobId { lines = try await services.jobs.logLines(jobID: job, after: 0, limit: 2000) }
        let context = try await req.pageContext("Deploy \(project.name)", active: .deploys)
        let canOperate = actor.role >= .operator
        let base = "/deploys/\(id)"
        let webhookURL = revealed?.url ?? ((try? req.publicBaseURL) ?? "") + project.webhookPath
        let actions: (any Component)? = canOperate ? CSRFForm(action: base + "/deploy", csrfToken: context.csrfToken, classes: "inline-form") {
            SubmitButton(building == nil ? "Deploy now" : "Deploying…")
        } : nil
        let html = Layout.page(context, actions: actions) {
            if let revealed {
                Card(title: "Webhook secret", subtitle: "Shown only now: copy it into the repository's webhook settings (content type application/json, push events).",
                     classes: "reveal") {
                    DetailList([("Payload URL", Mono(revealed.url)), ("Secret", Mono(revealed.secret))])
                }
            }
            CardGrid {
                Card(title: "Live release", actions: project.liveRelease.map { StatusBadge("r\($0.number) live", tone: .green) }) {
                    if let live = project.liveRelease {
                        DetailList([
                            ("Commit", Mono("\(live.commitSha.map { String($0.prefix(12)) } ?? "—") \(live.commitSubject ?? "")")),
                            ("Image", Mono(live.imageTag)),
                            ("Address", Link(project.url, url: project.url)),
                            ("Since", live.finishedAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                        ])
                    } else {
                        EmptyState(title: "Nothing live yet", message: "Deploy to build the branch's head and start it.")
                    }
                }
                Card(title: "Project") {
                    DetailList([
                        ("Server", Text(project.serverName ?? "—")),
                        ("Repository", Mono(project.repoUrl)),
                        ("Branch", Mono(project.branch)),
                        ("Dockerfile", Mono(project.dockerfile)),
                        ("Ports", Text("\(project.hostPort) → \(project.containerPort)")),
                        ("Health check", Text(project.healthPath.map { "HTTP GET \($0), up to \(project.healthTimeoutSeconds) s" } ?? "TCP port \(project.hostPort)")),
                        ("Access token", Text(project.tokenSecret.map { "secret \($0)" } ?? "none (public repository)")),
                    ])
                }
            }
            if let building, let job = building.jobId {
                Card(title: "Deploying r\(building.number)", subtitle: "Build and start output, live.", actions: StatusBadge("building", liveJobID: job.uuidString)) {
                    JobLog(jobID: job.uuidString, lines: lines.map(\.line), lastLineID: lines.last?.id, reloadOnEnd: true)
                }
            }
            Card(title: "Releases", subtitle: "Every release keeps its image and its log; roll back to any of them.") {
                DataTable(caption: "Releases", headers: ["Release", "Status", "Commit", "Started", "Log", ""], rows: releases.map { release in
                    [Text("r\(release.number)") as any Component,
                     Div {
                         StatusBadge(release.status.rawValue, tone: tone(release.status))
                         if let error = release.error { Paragraph(String(error.prefix(300))).class("muted") }
                     },
                     Mono("\(release.commitSha.map { String($0.prefix(12)) } ?? "—") \(release.commitSubject ?? "")"),
                     release.createdAt.map { RelativeTime($0) as any Component } ?? Text("—"),
                     release.jobId.map { Link("log", url: "/jobs/\($0)") as any Component } ?? Text("—"),
                     canOperate && release.imageId != nil && release.status != .live && release.status != .building
                        ? CSRFForm(action: "\(base)/releases/\(release.number)/rollback", csrfToken: context.csrfToken, classes: "inline-form",
                                   confirm: "Make r\(release.number) live again?") { SubmitButton("Roll back to r\(release.number)", style: .secondary) } as any Component
                        : Text("")]
                }, emptyTitle: "No releases yet", emptyMessage: "Deploy to create the first one.")
            }
            CardGrid {
                Card(title: "Environment variables", subtitle: "Values are kept in the vault and never shown; they apply from the next deploy or rollback.") {
                    if project.variables.isEmpty {
                        Paragraph("No variables.").class("muted")
                    } else {
                        DataTable(caption: "Variables", headers: ["Name", "Value"], rows: project.variables.map { [Mono($0), Text("••••••")] },
                                  emptyTitle: "", emptyMessage: "")
                    }
                    if canOperate {
                        CSRFForm(action: base + "/env", csrfToken: context.csrfToken, classes: "stack") {
                            FormField(label: "Name", name: "name", required: true, hint: "Letters, digits and '_'.")
                            FormField(label: "Value", name: "value", type: "password", hint: "Empty removes the variable.", autocomplete: "off")
                            SubmitButton("Set variable", style: .secondary)
                        }
                    }
                }
                Card(title: "Push webhook", subtitle: "GitHub (or Gitea) push events to \(project.branch) deploy automatically; the signature is checked with HMAC-SHA256.") {
                    DetailList([("Payload URL", Mono(webhookURL)), ("Content type", Text("application/json")), ("Events", Text("push"))])
                    if canOperate {
                        CSRFForm(action: base + "/webhook-secret", csrfToken: context.csrfToken, classes: "inline-form",
                                 confirm: "Replace the webhook secret? The repository's webhook stops working until it has the new one.") {
                            SubmitButton("New webhook secret", style: .secondary)
                        }
                    }
                }
            }
            if canOperate {
                Card(title: "Delete project", subtitle: "Stops the app, removes its checkout, release images, variables and releases. Nothing else on the server is touched.") {
                    CSRFForm(action: base + "/delete", csrfToken: context.csrfToken, classes: "inline-form",
                             confirm: "Delete \(project.name) and everything it runs on \(project.serverName ?? "its server")?") {
                        SubmitButton("Delete project", style: .danger)
                    }
                }
            }
        }
        return req.render(html, status: status)
    }

    // MARK: Actions

    @Sendable static func create(req: Request) async throws -> Response {
        let names = ["name", "server", "repoUrl", "branch", "tokenSecret", "dockerfile", "containerPort", "hostPort", "healthPath"]
        var form: [String: String] = [:]
        for name in names { form[name] = req.formField(name) ?? "" }
        do {
            let request = DeploysService.CreateRequest(
                name: form["name"] ?? "", server: form["server"].flatMap(UUID.init(uuidString:)), repoUrl: form["repoUrl"] ?? "",
                branch: form["branch"].flatMap { $0.isEmpty ? nil : $0 }, tokenSecret: form["tokenSecret"],
                dockerfile: form["dockerfile"].flatMap { $0.isEmpty ? nil : $0 },
                containerPort: try port(form["containerPort"], "Container port"), hostPort: try port(form["hostPort"], "Host port"),
                healthPath: form["healthPath"], healthTimeoutSeconds: nil, variables: nil)
            let created = try await req.nebula.deploys.create(request, baseURL: try req.publicBaseURL, by: try req.actor)
            return try await renderDetail(req, id: created.project.id, revealed: (created.webhookSecret, created.webhookUrl), status: .created)
        } catch let error as NebulaError where error.status.code < 500 {
            return try await renderList(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func deploy(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let accepted = try await req.nebula.deploys.deploy(id, by: try req.actor)
            return req.redirect(to: "/jobs/\(accepted.job.id)", flash: Flash(kind: .success, message: "Deploying r\(accepted.release.number); its log follows live."))
        } catch let error as NebulaError {
            return req.redirect(to: "/deploys/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func rollback(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            guard let number = req.parameters.get("number").flatMap(Int.init) else { throw NebulaError.invalid("Not a release number.") }
            let accepted = try await req.nebula.deploys.rollback(id, to: number, by: try req.actor)
            return req.redirect(to: "/jobs/\(accepted.job.id)", flash: Flash(kind: .success, message: "Rolling back to r\(number)."))
        } catch let error as NebulaError {
            return req.redirect(to: "/deploys/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func setVariable(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let name = req.formField("name") ?? ""
        let value = req.rawFormField("value")
        return try await formAction(req, backTo: "/deploys/\(id)", success: value.isEmpty ? "\(name) removed." : "\(name) set; it applies from the next deploy.") {
            _ = try await req.nebula.deploys.setEnvironment(id, variables: [name: value], by: try req.actor)
        }
    }

    @Sendable static func rotate(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let rotated = try await req.nebula.deploys.rotateWebhookSecret(id, baseURL: try req.publicBaseURL, by: try req.actor)
            return try await renderDetail(req, id: id, revealed: (rotated.webhookSecret, rotated.webhookUrl))
        } catch let error as NebulaError {
            return req.redirect(to: "/deploys/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            try await req.nebula.deploys.delete(id, by: try req.actor)
            return req.redirect(to: "/deploys", flash: Flash(kind: .success, message: "The project is deleted."))
        } catch let error as NebulaError {
            return req.redirect(to: "/deploys/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    // MARK: Helpers

    static func port(_ raw: String?, _ label: String) throws -> Int {
        guard let raw, let value = Int(raw.trimmingCharacters(in: .whitespaces)) else {
            throw NebulaError.unprocessable("\(label) must be a number from 1 to 65535.", code: "invalid_port")
        }
        return value
    }

    static func tone(_ status: DeployReleaseStatus) -> StatusBadge.Tone {
        switch status {
        case .live: .green
        case .building: .blue
        case .failed: .red
        case .superseded, .rolledBack: .grey
        }
    }

    static func releaseSummary(_ release: DeployReleaseDTO?) -> any Component {
        guard let release else { return Text("—") }
        return Div {
            StatusBadge("r\(release.number)", tone: .green)
            Text(" ")
            Mono(release.commitSha.map { String($0.prefix(8)) } ?? "")
        }
    }
}
