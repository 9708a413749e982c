import Foundation
import NebulaCore
import Plot
import Vapor

/// The agent pages' routes, registered from `routes.swift`: `/ai/agents` (profiles, tools, HTTP
/// functions, recent executions, running an agent) and `/ai/executions/{id}` (one run's steps,
/// with approve and reject while it waits). Every change goes through ``AIAgentsService``.
struct AgentsWebPages: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        func page(_ method: HTTPMethod, _ path: [PathComponent], _ role: Role, _ audit: String?, _ handler: @escaping @Sendable (Request) async throws -> Response) {
            routes.on(method, path, use: handler).userInfo[AnySendableHashable(Endpoint.userInfoKey)] =
                Endpoint(role: role, audit: audit, summary: "page", tag: Endpoint.pagesTag)
        }
        page(.GET, ["ai", "agents"], .viewer, nil, AgentsPages.overview)
        page(.POST, ["ai", "agents"], .admin, "ai.agent.create", AgentsPages.create)
        page(.POST, ["ai", "agents", ":id"], .admin, "ai.agent.update", AgentsPages.update)
        page(.POST, ["ai", "agents", ":id", "delete"], .admin, "ai.agent.delete", AgentsPages.delete)
        page(.POST, ["ai", "agents", ":id", "run"], .viewer, "ai.agent.run", AgentsPages.run)
        page(.POST, ["ai", "functions"], .admin, "ai.function.create", AgentsPages.createFunction)
        page(.POST, ["ai", "functions", ":id", "delete"], .admin, "ai.function.delete", AgentsPages.deleteFunction)
        page(.GET, ["ai", "executions", ":id"], .viewer, nil, ExecutionPage.show)
        page(.POST, ["ai", "executions", ":id", "approve"], .operator, "ai.execution.approve", ExecutionPage.approve)
        page(.POST, ["ai", "executions", ":id", "reject"], .operator, "ai.execution.reject", ExecutionPage.reject)
    }
}

/// What `/ai/agents` shows; filled by the handler, rendered by ``AgentsPages/view(_:_:)``.
struct AgentsPageModel: Sendable {
    var agents: [AgentDTO]
    var tools: [AgentToolDTO]
    var functions: [AIFunctionDTO]
    var providers: [String]
    var executions: [AgentExecutionDTO]
    /// The profile being edited (`?edit=<id>`), if any.
    var editing: AgentDTO?
    var canAdminister: Bool
}

enum AgentsPages {
    static let path = "/ai/agents"

    @Sendable static func overview(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let agents = services.aiAgents
        let list = try await agents.agents(by: actor)
        let editID = req.query[String.self, at: "edit"].flatMap(UUID.init(uuidString:))
        let model = AgentsPageModel(agents: list, tools: try await agents.toolList(by: actor), functions: try await agents.functions(by: actor),
                                    providers: (try? await services.ai.providerRecords().map(\.name)) ?? [],
                                    executions: try await agents.executions(agent: nil, limit: 30, by: actor),
                                    editing: list.first { $0.id == editID }, canAdminister: actor.role >= .admin)
        return req.render(view(try await req.pageContext("Jarvis agents", active: .aiAgents), model))
    }

    static func view(_ context: PageContext, _ model: AgentsPageModel) -> HTML {
        let csrf = context.csrfToken
        return Layout.page(context) {
            Card(title: "Agents", subtitle: "Each agent is a system prompt, a model and a set of tools, with limits: steps, seconds, blocked patterns, and approval for tools that change something.") {
                DataTable(caption: "Agents", headers: ["Agent", "Model", "Tools", "Limits", "Approval", ""], rows: model.agents.map { agent in
                    [Div {
                        Text(agent.name).class("strong")
                        if !agent.description.isEmpty { Paragraph(agent.description).class("muted") }
                     } as any Component,
                     Text("\(agent.provider)\(agent.model.map { " / \($0)" } ?? "")"),
                     Text(agent.tools.isEmpty ? "none" : agent.tools.joined(separator: ", ")),
                     Text("\(agent.maxSteps) steps, \(agent.maxSeconds) s" + (agent.blockedPatterns.isEmpty ? "" : ", \(agent.blockedPatterns.count) blocked pattern(s)")),
                     StatusBadge(agent.requireApproval ? "required" : "off", tone: agent.requireApproval ? .green : .amber),
                     model.canAdminister ? LinkButton("Edit", href: "\(path)?edit=\(agent.id)#agent-form") as any Component : Text("")]
                }, emptyTitle: "No agents yet", emptyMessage: model.canAdminister ? "Create one below." : "An admin can create one.")
            }
            if !model.agents.isEmpty {
                Card(title: "Run an agent", subtitle: "The run goes on in the background; its page shows every step, and asks for approval when a tool would change something.") {
                    Div {
                        for agent in model.agents {
                            CSRFForm(action: "\(path)/\(agent.id)/run", csrfToken: csrf, classes: "stack") {
                                FormField(label: "Ask \(agent.name)", name: "message", placeholder: "Which containers on nas restarted today, and why?", required: true)
                                SubmitButton("Run \(agent.name)", style: .secondary)
                            }
                        }
                    }.class("stack")
                }
            }
            Card(title: "Recent executions", subtitle: "Newest first. Viewers see their own runs; operators and admins see everyone's.") {
                DataTable(caption: "Executions", headers: ["When", "Agent", "By", "Status", "Steps", "Tokens", "Time"], rows: model.executions.map { execution in
                    [execution.createdAt.map { RelativeTime($0) as any Component } ?? Text("—"),
                     Link(execution.agent, url: "/ai/executions/\(execution.id)"),
                     Text(execution.username),
                     StatusBadge(ExecutionPage.label(execution.status), tone: ExecutionPage.tone(execution.status)),
                     Text("\(execution.stepCount)"),
                     Text("\(execution.promptTokens + execution.completionTokens)"),
                     Text(ExecutionPage.seconds(execution.durationMs))]
                }, emptyTitle: "No executions yet", emptyMessage: "Run an agent above, or POST /api/v1/ai/agents/{id}/run.")
            }
            if model.canAdminister {
                agentForm(model, csrf: csrf)
            }
            Card(title: "Tools", subtitle: "Built-in tools call the platform's services with the rights of the person running the agent; HTTP functions call other APIs.") {
                DataTable(caption: "Tools", headers: ["Tool", "What it does", "Kind", "Changes something"], rows: model.tools.map { tool in
                    [Mono(tool.name) as any Component, Text(tool.description), Text(tool.kind),
                     StatusBadge(tool.changesSomething ? "yes: needs approval" : "no", tone: tool.changesSomething ? .amber : .grey)]
                }, emptyTitle: "No tools", emptyMessage: "")
            }
            Card(title: "HTTP functions", subtitle: "Header values may name vault secrets as {{secret:NAME}}: resolved at call time, never stored, shown or given to the model.") {
                DataTable(caption: "HTTP functions", headers: ["Function", "Request", "Changes something", ""], rows: model.functions.map { function in
                    [Div {
                        Mono(function.name)
                        Paragraph(function.description).class("muted")
                     } as any Component,
                     Mono("\(function.method) \(function.urlTemplate)"),
                     Text(function.changesSomething ? "yes" : "no"),
                     model.canAdminister
                        ? CSRFForm(action: "/ai/functions/\(function.id)/delete", csrfToken: csrf, classes: "inline-form",
                                   confirm: "Remove \(function.name)? Agents that use it lose it.") { SubmitButton("Remove", style: .danger) } as any Component
                        : Text("")]
                }, emptyTitle: "No HTTP functions yet", emptyMessage: model.canAdminister ? "Add one below." : "An admin can add one.")
                if model.canAdminister {
                    functionForm(csrf: csrf)
                }
            }
        }
    }

    static func agentForm(_ model: AgentsPageModel, csrf: String?) -> Card {
        let agent = model.editing
        let chosen = Set(agent?.tools ?? ["list_servers", "server_metrics", "list_containers", "list_incidents"])
        return Card(title: agent.map { "Edit \($0.name)" } ?? "New agent", subtitle: "Tools that change something pause the run until an operator approves, unless approval is off.",
                    id: "agent-form") {
            CSRFForm(action: agent.map { "\(path)/\($0.id)" } ?? path, csrfToken: csrf, classes: "stack") {
                FormField(label: "Name", name: "name", value: agent?.name ?? "", placeholder: "lab-doctor", required: true, hint: "Lowercase letters, digits and dashes.")
                FormField(label: "Description", name: "description", value: agent?.description ?? "", placeholder: "Looks into problems of the homelab")
                FormField(label: "System prompt", name: "systemPrompt", type: "textarea", value: agent?.systemPrompt ?? "",
                          placeholder: "You are Jarvis, the homelab's assistant. Look with the tools before you answer; be brief.")
                SelectField(label: "Provider", name: "provider", options: [("auto", "auto (local first)")] + model.providers.map { ($0, $0) },
                            selected: agent?.provider ?? "auto")
                FormField(label: "Model", name: "model", value: agent?.model ?? "", placeholder: "llama3.1:8b", hint: "Empty: the provider's default model.")
                FormField(label: "Temperature", name: "temperature", type: "number", value: agent?.temperature.map { String($0) } ?? "", placeholder: "0.2",
                          hint: "0–2; empty: the provider's default.")
                tag("fieldset", [.value("class", "field")]) {
                    tag("legend", [.value("class", "field-label")]) { Text("Tools") }
                    voidTag("input", [.value("type", "hidden"), .value("name", "tools.present"), .value("value", "1")])
                    for tool in model.tools {
                        tag("label", [.value("class", "checkbox")]) {
                            voidTag("input", [.value("type", "checkbox"), .value("name", "tool.\(tool.name)"), .value("value", "on"), .flag("checked", chosen.contains(tool.name))])
                            Text(" \(tool.name)\(tool.changesSomething ? " (changes something)" : "")")
                        }
                    }
                }
                FormField(label: "Most steps", name: "maxSteps", type: "number", value: String(agent?.maxSteps ?? AIAgentsService.defaultMaxSteps), hint: "1–50 model calls.")
                FormField(label: "Most seconds", name: "maxSeconds", type: "number", value: String(agent?.maxSeconds ?? AIAgentsService.defaultMaxSeconds),
                          hint: "5–1800 seconds of running time (waiting for approval does not count).")
                FormField(label: "Blocked patterns", name: "blockedPatterns", type: "textarea", value: (agent?.blockedPatterns ?? []).joined(separator: "\n"),
                          placeholder: "rm\\s+-rf\nprod-db", hint: "One regular expression per line; a tool call whose arguments match one is refused.")
                SelectField(label: "Approval for changes", name: "requireApproval",
                            options: [("true", "Required: tools that change something wait for an operator"), ("false", "Off: they run at once")],
                            selected: (agent?.requireApproval ?? true) ? "true" : "false")
                Div {
                    SubmitButton(agent == nil ? "Create agent" : "Save")
                    if agent != nil { LinkButton("Cancel", href: path) }
                }.class("button-row")
            }
            if let agent {
                CSRFForm(action: "\(path)/\(agent.id)/delete", csrfToken: csrf, classes: "inline-form",
                         confirm: "Delete the agent \(agent.name)? Its executions stay in the history.") { SubmitButton("Delete agent", style: .danger) }
            }
        }
    }

    static func functionForm(csrf: String?) -> any Component {
        CSRFForm(action: "/ai/functions", csrfToken: csrf, classes: "stack") {
            H3("Add an HTTP function")
            FormField(label: "Name", name: "name", placeholder: "lights_on", required: true, hint: "Lowercase letters, digits and _.")
            FormField(label: "Description", name: "description", placeholder: "Turns on the lights of a room through Home Assistant.", required: true)
            FormField(label: "Parameters (JSON Schema)", name: "parameters", type: "textarea",
                      value: #"{"type": "object", "properties": {"room": {"type": "string"}}, "required": ["room"], "additionalProperties": false}"#)
            SelectField(label: "Method", name: "method", options: HTTPFunctions.methods.map { ($0, $0) }, selected: "GET")
            FormField(label: "URL template", name: "urlTemplate", placeholder: "http://ha.lan:8123/api/services/light/turn_on?room={room}", required: true,
                      hint: "{param} placeholders are replaced by URL-encoded arguments.")
            FormField(label: "Headers", name: "headers", type: "textarea", placeholder: "Authorization: Bearer {{secret:ha-token}}",
                      hint: "One `Name: value` per line. Credentials must come from the vault as {{secret:NAME}}.")
            FormField(label: "Body template", name: "bodyTemplate", type: "textarea", placeholder: #"{"entity_id": "light.{room}"}"#,
                      hint: "Optional; {param} inserted JSON-escaped. Empty: the arguments as JSON for POST, PUT and PATCH.")
            SelectField(label: "Changes something", name: "changesSomething", options: [("auto", "Unless the method is GET"), ("true", "Yes"), ("false", "No")], selected: "auto")
            FormField(label: "Timeout (seconds)", name: "timeoutSeconds", type: "number", value: "15")
            SubmitButton("Add function", style: .secondary)
        }
    }

    // MARK: Actions

    /// The agent fields of a form; absent fields stay as they are on an update.
    static func agentInput(_ req: Request) throws -> AgentInput {
        let fields = (try? req.content.decode([String: String].self)) ?? [:]
        var input = AgentInput()
        func value(_ name: String) -> String? { fields[name].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } }
        input.name = value("name")
        input.description = value("description")
        input.systemPrompt = value("systemPrompt")
        input.provider = value("provider")
        input.model = value("model")
        if let temperature = value("temperature"), !temperature.isEmpty {
            guard let number = Double(temperature) else { throw NebulaError.unprocessable("temperature is a number between 0 and 2.", code: "invalid_temperature") }
            input.temperature = number
        }
        if fields["tools.present"] != nil || fields.keys.contains(where: { $0.hasPrefix("tool.") }) {
            input.tools = fields.keys.filter { $0.hasPrefix("tool.") }.map { String($0.dropFirst(5)) }.sorted()
        }
        if let steps = value("maxSteps") {
            guard let number = Int(steps) else { throw NebulaError.unprocessable("maxSteps is a whole number between 1 and 50.", code: "invalid_max_steps") }
            input.maxSteps = number
        }
        if let seconds = value("maxSeconds") {
            guard let number = Int(seconds) else { throw NebulaError.unprocessable("maxSeconds is a whole number between 5 and 1800.", code: "invalid_max_seconds") }
            input.maxSeconds = number
        }
        if let patterns = fields["blockedPatterns"] {
            input.blockedPatterns = patterns.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let approval = value("requireApproval") { input.requireApproval = approval != "false" }
        return input
    }

    @Sendable static func create(req: Request) async throws -> Response {
        try await formAction(req, backTo: path, success: "Agent created.") {
            _ = try await req.nebula.aiAgents.createAgent(try agentInput(req), by: try req.actor)
        }
    }

    @Sendable static func update(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: path, success: "Agent saved.") {
            _ = try await req.nebula.aiAgents.updateAgent(id, try agentInput(req), by: try req.actor)
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        try await formAction(req, backTo: path, success: "Agent deleted.") {
            try await req.nebula.aiAgents.deleteAgent(try req.uuidParameter(), by: try req.actor)
        }
    }

    @Sendable static func run(req: Request) async throws -> Response {
        do {
            let started = try await req.nebula.aiAgents.start(agent: try req.uuidParameter(), AgentRunInput(message: req.formField("message")),
                                                              by: try req.actor) { _ in }
            return req.redirect(to: "/ai/executions/\(started.id)", flash: Flash(kind: .info, message: "The agent is running; this page shows its steps."))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: path, flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func createFunction(req: Request) async throws -> Response {
        try await formAction(req, backTo: path, success: "HTTP function added.") {
            var input = AIFunctionInput()
            input.name = req.formField("name")
            input.description = req.formField("description")
            if let parameters = req.formField("parameters") {
                guard let schema = ToolSchema.parse(parameters) else {
                    throw NebulaError.unprocessable("Parameters must be JSON (a JSON Schema with \"type\": \"object\").", code: "invalid_parameters")
                }
                input.parameters = schema
            }
            input.method = req.formField("method")
            input.urlTemplate = req.formField("urlTemplate")
            if let headers = req.formField("headers") {
                var parsed: [String: String] = [:]
                for line in headers.split(whereSeparator: \.isNewline) {
                    let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.count == 2, !parts[0].isEmpty else {
                        throw NebulaError.unprocessable("Write one header per line as `Name: value`.", code: "invalid_headers")
                    }
                    parsed[parts[0]] = parts[1]
                }
                input.headers = parsed
            }
            input.bodyTemplate = req.formField("bodyTemplate")
            if let changes = req.formField("changesSomething"), changes != "auto" { input.changesSomething = changes == "true" }
            if let timeout = req.formField("timeoutSeconds") {
                guard let seconds = Int(timeout) else { throw NebulaError.unprocessable("timeoutSeconds is between 1 and 120.", code: "invalid_timeout") }
                input.timeoutSeconds = seconds
            }
            _ = try await req.nebula.aiAgents.createFunction(input, by: try req.actor)
        }
    }

    @Sendable static func deleteFunction(req: Request) async throws -> Response {
        try await formAction(req, backTo: path, success: "HTTP function removed.") {
            try await req.nebula.aiAgents.deleteFunction(try req.uuidParameter(), by: try req.actor)
        }
    }
}

/// `/ai/executions/{id}`: one run, step by step.
enum ExecutionPage {
    @Sendable static func show(req: Request) async throws -> Response {
        let actor = try req.actor
        let execution = try await req.nebula.aiAgents.execution(try req.uuidParameter(), by: actor)
        let context = try await req.pageContext("\(execution.agent): execution", active: .aiAgents)
        return req.render(view(context, execution, canDecide: actor.role >= .operator))
    }

    /// While a run goes on, its page reloads itself at each step (live.js, `data-live-reload`).
    static func liveReload(_ id: UUID) -> any Component {
        Span { LiveIndicator() }
            .attribute(named: "data-live-reload", value: EventType.aiExecutionUpdated.rawValue)
            .attribute(named: "data-live-subject", value: "ai-execution:\(id.uuidString)")
    }

    static func view(_ context: PageContext, _ execution: AgentExecutionDTO, canDecide: Bool) -> HTML {
        let csrf = context.csrfToken
        return Layout.page(context) {
            Card(title: "Run of \(execution.agent)", subtitle: execution.message,
                 actions: execution.status.isFinal ? nil : Self.liveReload(execution.id)) {
                DetailList([
                    ("Status", StatusBadge(label(execution.status), tone: tone(execution.status))),
                    ("Why", Text(execution.reason ?? "—")),
                    ("Started by", Text(execution.username)),
                    ("Started", execution.createdAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                    ("Steps", Text("\(execution.stepCount)")),
                    ("Tokens", Text("\(execution.promptTokens) prompt + \(execution.completionTokens) completion")),
                    ("Running time", Text(seconds(execution.durationMs))),
                    ("Conversation", execution.conversationId.map { Link("open in Jarvis", url: "/jarvis?c=\($0)") as any Component } ?? Text("—")),
                ])
                if let answer = execution.answer, !answer.isEmpty {
                    H3("Answer")
                    Paragraph(answer).class("agent-answer")
                }
            }
            if execution.status == .waitingApproval, let call = execution.pendingCall {
                Card(title: "Waiting for approval", subtitle: "\(call.name) changes something. Approve to run it with your rights, or decline: the agent is told and answers without it.",
                     classes: "card-warning") {
                    CodeBlock("\(call.name) \(call.arguments)")
                    if canDecide {
                        CSRFForm(action: "/ai/executions/\(execution.id)/approve", csrfToken: csrf, classes: "inline-form") { SubmitButton("Approve and continue") }
                        CSRFForm(action: "/ai/executions/\(execution.id)/reject", csrfToken: csrf, classes: "stack") {
                            FormField(label: "Note for the agent when declining (optional)", name: "note", placeholder: "not during the backup window")
                            Div { SubmitButton("Decline", style: .danger) }.class("button-row")
                        }
                    } else {
                        Paragraph("An operator or admin decides.").class("muted")
                    }
                }
            }
            for step in execution.steps ?? [] {
                Card(title: "Step \(step.position)", subtitle: [step.provider.map { "\($0)\(step.model.map { " / \($0)" } ?? "")" },
                                                               "\(step.promptTokens + step.completionTokens) tokens", seconds(step.durationMs)]
                    .compactMap { $0 }.joined(separator: " · ")) {
                    if let error = step.error { Paragraph("Error: \(error)").class("error-text") }
                    if !step.text.isEmpty { Paragraph(step.text) }
                    if !step.toolCalls.isEmpty {
                        DataTable(caption: "Tool calls of step \(step.position)", headers: ["Tool", "Arguments", "Outcome", "Result"], rows: step.toolCalls.map { call in
                            [Mono(call.name) as any Component, Mono(String(call.arguments.prefix(300))),
                             Div {
                                StatusBadge(call.status.rawValue.replacingOccurrences(of: "_", with: " "), tone: tone(call.status))
                                if let by = call.decidedBy { Paragraph("decided by \(by)").class("muted") }
                             },
                             wrapped(call.result.map { String($0.prefix(2000)) } ?? "—")]
                        }, emptyTitle: "", emptyMessage: "")
                    }
                }
            }
            Div { LinkButton("All agents and executions", href: AgentsPages.path) }.class("button-row")
        }
    }

    /// Preformatted text that wraps (tool results are long single lines of JSON).
    static func wrapped(_ text: String) -> any Component {
        tag("pre", [.value("class", "code-block log")]) { tag("code") { Text(text) } }
    }

    @Sendable static func approve(req: Request) async throws -> Response { try await decide(req, approve: true) }

    @Sendable static func reject(req: Request) async throws -> Response { try await decide(req, approve: false) }

    static func decide(_ req: Request, approve: Bool) async throws -> Response {
        let id = try req.uuidParameter()
        let page = "/ai/executions/\(id)"
        do {
            let run = try await req.nebula.aiAgents.decide(id, approve: approve, note: req.formField("note"), by: try req.actor) { _ in }
            // Show the outcome when the run ends soon; otherwise the page shows it running.
            _ = await withTaskGroup(of: Bool.self) { group in
                group.addTask { _ = await run.value; return true }
                group.addTask { try? await Task.sleep(for: .seconds(20)); return false }
                defer { group.cancelAll() }
                return await group.next() ?? false
            }
            return req.redirect(to: page, flash: Flash(kind: .success, message: approve ? "Approved: the run continued." : "Declined: the agent was told."))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: page, flash: Flash(kind: .error, message: error.message))
        }
    }

    static func label(_ status: AgentExecutionStatus) -> String { status.rawValue.replacingOccurrences(of: "_", with: " ") }

    static func tone(_ status: AgentExecutionStatus) -> StatusBadge.Tone {
        switch status {
        case .succeeded: .green
        case .running: .blue
        case .waitingApproval, .stopped: .amber
        case .failed, .rejected: .red
        }
    }

    static func tone(_ status: AgentToolCallStatus) -> StatusBadge.Tone {
        switch status {
        case .ok: .green
        case .waitingApproval: .amber
        case .error, .blocked, .declined, .invalidArguments, .unknownTool: .red
        case .skipped: .grey
        }
    }

    static func seconds(_ milliseconds: Int) -> String {
        milliseconds < 1000 ? "\(milliseconds) ms" : String(format: "%.1f s", Double(milliseconds) / 1000)
    }
}
