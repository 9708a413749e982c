import Foundation
import NebulaCore
import Plot
import Vapor

/// `/runbooks` (runbooks, the pause switch, import, the shipped library), `/workflows` (workflows
/// as layered DAGs, import), `/runbooks/{id}` (YAML, run form, recent runs) and `/runs/{id}` (the
/// step journal and log, live, with the approval buttons), and the forms that change them.
enum RunbooksPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["runbooks"], .viewer, nil, { try await list($0, kind: .runbook) })
        page(.GET, ["workflows"], .viewer, nil, { try await list($0, kind: .workflow) })
        page(.POST, ["runbooks"], .operator, "runbook.create", { try await importYAML($0, kind: .runbook) })
        page(.POST, ["workflows"], .operator, "workflow.create", { try await importYAML($0, kind: .workflow) })
        page(.POST, ["runbooks", "paused"], .operator, "automation.pause", setPaused)
        page(.POST, ["runbooks", "library", ":name", "install"], .operator, "runbook.create", install)
        page(.GET, ["runbooks", ":id"], .viewer, nil, detail)
        page(.POST, ["runbooks", ":id", "run"], .operator, "runbook.run", run)
        page(.POST, ["runbooks", ":id", "enabled"], .operator, "runbook.update", toggle)
        page(.POST, ["runbooks", ":id", "delete"], .operator, "runbook.delete", delete)
        page(.GET, ["runs", ":id"], .viewer, nil, runPage)
        page(.POST, ["runs", ":id", "approve"], .operator, "runbook.run.approve", { try await decide($0, verb: "approve") })
        page(.POST, ["runs", ":id", "reject"], .operator, "runbook.run.reject", { try await decide($0, verb: "reject") })
        page(.POST, ["runs", ":id", "cancel"], .operator, "runbook.run.cancel", { try await decide($0, verb: "cancel") })
    }

    // MARK: Lists

    static func list(_ req: Request, kind: RunbookDocument.Kind, flash: Flash? = nil, status: HTTPResponseStatus = .ok,
                     yaml: String = "", problems: [RunbookProblem] = []) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let items = try await services.automation.list(kind: kind, by: actor)
        let paused = try await services.automation.isPaused()
        let library = kind == .runbook ? try await services.automation.libraryEntries(by: actor) : []
        var context = try await req.pageContext(kind == .workflow ? "Workflows" : "Runbooks", active: .automation)
        if let flash { context.flash = flash }
        let canOperate = actor.role >= .operator
        let base = kind == .workflow ? "/workflows" : "/runbooks"
        let switchTo = kind == .workflow ? LinkButton("Runbooks", href: "/runbooks") : LinkButton("Workflows", href: "/workflows")
        let html = Layout.page(context, actions: switchTo) {
            Card(title: "Automation", subtitle: paused ? "Paused: triggered runs are skipped, manual runs refused, running runs stop before their next step."
                 : "Running: triggers start runs; every run is journaled step by step.",
                 actions: StatusBadge(paused ? "paused" : "active", tone: paused ? .amber : .green)) {
                if canOperate {
                    CSRFForm(action: "/runbooks/paused", csrfToken: context.csrfToken, classes: "inline-form",
                             confirm: paused ? nil : "Pause all automation? Triggered runs are skipped until you resume.") {
                        voidTag("input", [.value("type", "hidden"), .value("name", "paused"), .value("value", paused ? "false" : "true")])
                        SubmitButton(paused ? "Resume automation" : "Pause automation", style: paused ? .primary : .danger)
                    }
                }
            }
            Card(title: kind == .workflow ? "Workflows" : "Runbooks", subtitle: kind == .workflow
                 ? "DAGs of steps: a step runs when everything it needs has ended; ready steps run at once."
                 : "Steps in order, with templates, conditions, retries and approvals.") {
                DataTable(caption: kind.rawValue.capitalized + "s", headers: ["Name", "Tier", "Trigger", "Last run", "Enabled"], rows: items.map { item in
                    [Div {
                        Link(item.name, url: "/runbooks/\(item.id)")
                        if let description = item.description { Paragraph(description).class("muted") }
                     } as any Component,
                     Text(item.tier ?? "—"),
                     Text(item.trigger + (item.nextFireAt.map { " · next \(ISO8601DateFormatter().string(from: $0))" } ?? "")),
                     item.lastRun.map { run in Link(url: "/runs/\(run.id)") { StatusBadge(run.status.rawValue, tone: tone(run.status)) } as any Component } ?? Text("never"),
                     Text(item.enabled ? "yes" : "no")]
                }, emptyTitle: "No \(kind.rawValue)s yet", emptyMessage: kind == .workflow ? "Import one below." : "Import one below or install one from the library.")
            }
            if kind == .workflow, !items.isEmpty {
                Card(title: "Graphs", subtitle: "Each layer runs after the one above it; steps in one layer run at the same time.") {
                    Div {
                        for item in items {
                            WorkflowLayers(name: item.name, id: item.id, yaml: nil)
                        }
                    }.class("stack")
                }
            }
            if canOperate {
                Card(title: "Import \(kind == .workflow ? "a workflow" : "a runbook")", subtitle: "Paste YAML; every problem is shown with its line and column.") {
                    if !problems.isEmpty { ProblemList(problems: problems) }
                    CSRFForm(action: base, csrfToken: context.csrfToken, classes: "stack") {
                        FormField(label: "YAML", name: "yaml", type: "textarea", value: yaml, placeholder: kind == .workflow ? "kind: workflow\nname: …" : "name: …\nsteps: …",
                                  required: true)
                        SubmitButton("Import")
                    }
                }
            }
            if kind == .runbook {
                Card(title: "Library", subtitle: "Runbooks shipped with Nebula Command: diagnose, remediate and proactive.") {
                    DataTable(caption: "Library", headers: ["Runbook", "Tier", "Trigger", ""], rows: library.map { entry in
                        [Div {
                            Text(entry.name)
                            if let description = entry.description { Paragraph(description).class("muted") }
                         } as any Component,
                         Text(entry.tier ?? "—"), Text(entry.trigger),
                         entry.installedId.map { Link("installed", url: "/runbooks/\($0)") as any Component }
                            ?? (canOperate ? CSRFForm(action: "/runbooks/library/\(entry.name)/install", csrfToken: context.csrfToken, classes: "inline-form") {
                                SubmitButton("Install", style: .secondary)
                            } as any Component : Text(""))]
                    }, emptyTitle: "The library is empty", emptyMessage: "This build ships no runbooks.")
                }
            }
        }
        return req.render(html, status: status)
    }

    @Sendable static func importYAML(_ req: Request, kind: RunbookDocument.Kind) async throws -> Response {
        let yaml = req.rawFormField("yaml")
        do {
            let created = try await req.nebula.automation.create(yaml: yaml, expecting: kind, by: try req.actor)
            return req.redirect(to: "/runbooks/\(created.id)", flash: Flash(kind: .success, message: "\(created.name) imported."))
        } catch let problems as RunbookProblems {
            return try await list(req, kind: kind, flash: Flash(kind: .error, message: "The YAML has \(problems.problems.count) problem(s); see below."),
                                  status: .unprocessableEntity, yaml: yaml, problems: problems.problems)
        } catch let error as NebulaError where error.status.code < 500 {
            return try await list(req, kind: kind, flash: Flash(kind: .error, message: error.message), status: error.status, yaml: yaml)
        }
    }

    @Sendable static func setPaused(req: Request) async throws -> Response {
        let paused = req.formField("paused") == "true"
        return try await formAction(req, backTo: "/runbooks", success: paused ? "Automation paused." : "Automation resumed.") {
            _ = try await req.nebula.automation.setPaused(paused, by: try req.actor)
        }
    }

    @Sendable static func install(req: Request) async throws -> Response {
        let name = req.parameters.get("name") ?? ""
        do {
            let created = try await req.nebula.automation.install(library: name, by: try req.actor)
            return req.redirect(to: "/runbooks/\(created.id)", flash: Flash(kind: .success, message: "\(created.name) installed."))
        } catch let error as NebulaError {
            return req.redirect(to: "/runbooks", flash: Flash(kind: .error, message: error.message))
        }
    }

    // MARK: One runbook

    @Sendable static func detail(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let detail = try await services.automation.find(id, by: actor)
        let runs = try await services.automation.runs(runbook: id, limit: 20, by: actor)
        let context = try await req.pageContext(detail.runbook.name, active: .automation)
        let canOperate = actor.role >= .operator
        let base = "/runbooks/\(id)"
        let html = Layout.page(context, actions: LinkButton(detail.runbook.kind == "workflow" ? "All workflows" : "All runbooks",
                                                            href: detail.runbook.kind == "workflow" ? "/workflows" : "/runbooks")) {
            CardGrid {
                Card(title: "About", actions: StatusBadge(detail.runbook.enabled ? "enabled" : "disabled", tone: detail.runbook.enabled ? .green : .grey)) {
                    DetailList([
                        ("Kind", Text(detail.runbook.kind)), ("Tier", Text(detail.runbook.tier ?? "—")),
                        ("Trigger", Text(detail.runbook.trigger)),
                        ("Next fire", detail.runbook.nextFireAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                        ("Version", Text("\(detail.runbook.version), by \(detail.runbook.updatedBy)")),
                        ("Description", Text(detail.runbook.description ?? "—")),
                    ])
                    if canOperate {
                        Div {
                            CSRFForm(action: base + "/enabled", csrfToken: context.csrfToken, classes: "inline-form") {
                                voidTag("input", [.value("type", "hidden"), .value("name", "enabled"), .value("value", detail.runbook.enabled ? "false" : "true")])
                                SubmitButton(detail.runbook.enabled ? "Disable" : "Enable", style: .secondary)
                            }
                            CSRFForm(action: base + "/delete", csrfToken: context.csrfToken, classes: "inline-form", confirm: "Delete \(detail.runbook.name) and its runs?") {
                                SubmitButton("Delete", style: .danger)
                            }
                        }.class("button-row")
                    }
                }
                if canOperate {
                    Card(title: "Run", subtitle: "A dry run renders every step and records what it would do; nothing changes.") {
                        CSRFForm(action: base + "/run", csrfToken: context.csrfToken, classes: "stack") {
                            for input in detail.inputs {
                                FormField(label: input.name + " (\(input.type))", name: "input." + input.name, value: input.defaultValue?.rendered ?? "",
                                          required: input.required && input.defaultValue == nil, hint: input.description)
                            }
                            tag("label", [.value("class", "checkbox")]) {
                                voidTag("input", [.value("type", "checkbox"), .value("name", "dryRun"), .value("value", "on"), .flag("checked")])
                                Text(" Dry run")
                            }
                            SubmitButton("Start run")
                        }
                    }
                }
            }
            if detail.runbook.kind == "workflow" {
                Card(title: "Graph") { WorkflowLayers(name: detail.runbook.name, id: id, yaml: detail.yaml) }
            }
            Card(title: "Recent runs") {
                DataTable(caption: "Runs", headers: ["Run", "Status", "Trigger", "Started", "Error"], rows: runs.map { run in
                    [Link(String(run.id.uuidString.prefix(8)) + (run.dryRun ? " (dry run)" : ""), url: "/runs/\(run.id)") as any Component,
                     StatusBadge(run.status.rawValue, tone: tone(run.status)), Text(run.trigger),
                     RelativeTime(run.startedAt ?? run.createdAt), Text(run.error.map { String($0.prefix(160)) } ?? "")]
                }, emptyTitle: "No runs yet", emptyMessage: "Start one above.")
            }
            Card(title: "YAML", subtitle: "Edit it through PUT /api/v1/runbooks/\(id); each change is a new version.") {
                CodeBlock(detail.yaml)
            }
        }
        return req.render(html)
    }

    @Sendable static func run(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let dryRun = req.formField("dryRun") == "on"
        do {
            let detail = try await req.nebula.automation.find(id, by: try req.actor)
            var inputs: [String: TemplateValue] = [:]
            for input in detail.inputs {
                let raw = req.rawFormField("input." + input.name)
                if !raw.isEmpty { inputs[input.name] = .string(raw) }
            }
            let run = try await req.nebula.automation.start(id, dryRun: dryRun, inputs: inputs, by: try req.actor)
            return req.redirect(to: "/runs/\(run.id)", flash: Flash(kind: .success, message: dryRun ? "Dry run started." : "Run started."))
        } catch let error as NebulaError {
            return req.redirect(to: "/runbooks/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func toggle(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let enabled = req.formField("enabled") == "true"
        return try await formAction(req, backTo: "/runbooks/\(id)", success: enabled ? "Enabled." : "Disabled.") {
            _ = try await req.nebula.automation.update(id, yaml: nil, enabled: enabled, by: try req.actor)
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            try await req.nebula.automation.delete(id, by: try req.actor)
            return req.redirect(to: "/runbooks", flash: Flash(kind: .success, message: "Deleted."))
        } catch let error as NebulaError {
            return req.redirect(to: "/runbooks/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    // MARK: One run

    @Sendable static func runPage(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let detail = try await services.automation.run(id, by: actor)
        let run = detail.run
        let context = try await req.pageContext("Run of \(run.runbook)", active: .automation)
        let canOperate = actor.role >= .operator
        let html = Layout.page(context, actions: LinkButton(run.runbook, href: "/runbooks/\(run.runbookId)")) {
            Card(title: run.dryRun ? "Dry run" : "Run", subtitle: run.error,
                 actions: Span(StatusBadge(run.status.rawValue, tone: tone(run.status))).attribute(named: "data-run-status", value: "status")) {
                DetailList([
                    ("Trigger", Text(run.trigger)), ("Started by", Text(run.createdBy)),
                    ("Started", run.startedAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                    ("Finished", run.finishedAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                    ("Runbook version", Text(String(run.version))),
                    ("Incident", run.incidentId.map { Link("open the incident", url: "/incidents/\($0)") as any Component } ?? Text("—")),
                ])
                if canOperate, run.status == .waitingApproval {
                    Div {
                        Paragraph("Waiting for approval at step \(run.approvalStep ?? "?")" + (run.approvalDeadline.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? "") + ".")
                        Div {
                            CSRFForm(action: "/runs/\(id)/approve", csrfToken: context.csrfToken, classes: "inline-form") { SubmitButton("Approve") }
                            CSRFForm(action: "/runs/\(id)/reject", csrfToken: context.csrfToken, classes: "inline-form") { SubmitButton("Reject", style: .danger) }
                        }.class("button-row")
                    }.class("approval stack")
                }
                if canOperate, !run.status.isFinal {
                    CSRFForm(action: "/runs/\(id)/cancel", csrfToken: context.csrfToken, classes: "inline-form", confirm: "Cancel this run?") {
                        SubmitButton("Cancel run", style: .secondary)
                    }
                }
            }
            Card(title: "Steps", subtitle: "The journal: written before and after each step.") {
                DataTable(caption: "Steps", headers: ["Step", "Action", "Status", "Attempts", "Result"], rows: detail.steps.map { step in
                    [Text(step.name) as any Component, Mono(step.action),
                     Span(StatusBadge(step.status.rawValue, tone: stepTone(step.status))).attribute(named: "data-step-status", value: step.stepId),
                     Text(String(step.attempt)),
                     Div {
                         if let note = step.note { Paragraph(note).class("muted") }
                         if let error = step.error { Paragraph(error).class("error-text") }
                         if let output = step.output, output != .null { Mono(String(output.jsonText.prefix(300))) }
                     }]
                }, emptyTitle: "No steps", emptyMessage: "")
            }
            Card(title: "Log", actions: LiveIndicator()) {
                tag("pre", [.value("class", "code-block log"), .value("data-run-log", id.uuidString), .value("data-last-line-id", String(detail.log.last?.id ?? 0)),
                            .value("data-run-final", run.status.isFinal ? "true" : nil), .value("tabindex", "0"), .value("aria-label", "Run log")]) {
                    tag("code") {
                        for line in detail.log { Span("\(timeText(line.at)) \(line.line)\n").class("log-line") }
                    }
                }
            }
            tag("script", [.value("type", "module"), .value("src", "/js/runs.js")])
        }
        return req.render(html)
    }

    static func decide(_ req: Request, verb: String) async throws -> Response {
        let id = try req.uuidParameter()
        let done = verb == "approve" ? "Approved; the run continues." : verb == "reject" ? "Rejected." : "Cancelled."
        return try await formAction(req, backTo: "/runs/\(id)", success: done) {
            let automation = try req.nebula.automation
            switch verb {
            case "approve": _ = try await automation.approve(id, by: try req.actor)
            case "reject": _ = try await automation.reject(id, by: try req.actor)
            default: _ = try await automation.cancel(id, by: try req.actor)
            }
        }
    }

    // MARK: Helpers

    static func tone(_ status: RunStatus) -> StatusBadge.Tone {
        switch status {
        case .succeeded: .green
        case .running, .queued: .blue
        case .failed: .red
        case .waitingApproval, .paused: .amber
        case .cancelled, .skipped: .grey
        }
    }

    static func stepTone(_ status: RunStepStatus) -> StatusBadge.Tone {
        switch status {
        case .succeeded: .green
        case .running: .blue
        case .failed: .red
        case .pending, .skipped: .grey
        }
    }

    static func timeText(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }
}

/// Every problem of an import, with its place, above the form.
struct ProblemList: Component {
    var problems: [RunbookProblem]

    var body: any Component {
        tag("ul", [.value("class", "problem-list"), .value("role", "alert")]) {
            for problem in problems {
                tag("li") {
                    Mono([problem.path.isEmpty ? nil : problem.path,
                          problem.line.map { "line \($0)" + (problem.column.map { ", column \($0)" } ?? "") }].compactMap { $0 }.joined(separator: " · "))
                    Text(" " + problem.message)
                }
            }
        }
    }
}

/// A workflow's DAG as layers: each layer's steps need only steps in the layers above.
struct WorkflowLayers: Component {
    var name: String
    var id: UUID
    /// The YAML, when the caller has it (the list page shows the name only).
    var yaml: String?

    var body: any Component {
        guard let yaml, let document = try? RunbookParser.parse(yaml: yaml) else {
            return Link(name, url: "/runbooks/\(id)")
        }
        let layers = Self.layers(document)
        return tag("ol", [.value("class", "dag-layers")]) {
            for (index, layer) in layers.enumerated() {
                tag("li") {
                    Span("Layer \(index + 1)").class("muted")
                    Text(": ")
                    Text(layer.map { step in
                        step.id + ((document.dependencies[step.id] ?? []).isEmpty ? "" : " ← " + (document.dependencies[step.id] ?? []).joined(separator: ", "))
                    }.joined(separator: " · "))
                }
            }
        }
    }

    static func layers(_ document: RunbookDocument) -> [[RunbookDocument.Step]] {
        let needs = document.dependencies
        var depth: [String: Int] = [:]
        func level(_ id: String, _ seen: Set<String>) -> Int {
            if let known = depth[id] { return known }
            guard !seen.contains(id) else { return 0 }
            let value = (needs[id] ?? []).map { level($0, seen.union([id])) + 1 }.max() ?? 0
            depth[id] = value
            return value
        }
        for step in document.steps { _ = level(step.id, []) }
        let maxDepth = depth.values.max() ?? 0
        return (0...maxDepth).map { layer in document.steps.filter { depth[$0.id] == layer } }
    }
}
