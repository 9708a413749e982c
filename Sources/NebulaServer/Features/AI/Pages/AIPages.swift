import AIProviders
import Foundation
import NebulaCore
import Plot
import Vapor

/// The AI pages' routes, registered from `routes.swift`: `/ai` (providers and usage) and
/// `/jarvis` (the chat). Page routes carry the same `Endpoint` description as `WebPages`'.
struct AIWebPages: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void = { method, path, role, audit, handler in
            routes.on(method, path, use: handler).userInfo[AnySendableHashable(Endpoint.userInfoKey)] =
                Endpoint(role: role, audit: audit, summary: "page", tag: Endpoint.pagesTag)
        }
        AIPages.register(page)
        JarvisPage.register(page)
    }
}

/// `/ai`: the model providers with their health, latency, circuit and models; adding, editing,
/// enabling, checking and removing one; usage over the last 30 days. Every change goes through
/// `AIService`, which checks the role and writes the audit entry.
enum AIPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["ai"], .viewer, nil, overview)
        page(.POST, ["ai", "providers"], .admin, "ai.provider.create", createProvider)
        page(.POST, ["ai", "providers", ":id", "settings"], .admin, "ai.provider.update", updateProvider)
        page(.POST, ["ai", "providers", ":id", "enabled"], .admin, "ai.provider.update", setEnabled)
        page(.POST, ["ai", "providers", ":id", "check"], .viewer, "ai.provider.check", check)
        page(.POST, ["ai", "providers", ":id", "delete"], .admin, "ai.provider.delete", deleteProvider)
    }

    static let providerFields = ["name", "kind", "baseURL", "apiKeySecret", "locality", "priority", "defaultModel", "timeoutSeconds"]
    static let usageDays = 30

    // MARK: Overview

    @Sendable static func overview(req: Request) async throws -> Response {
        try await renderOverview(req, flash: nil, status: .ok)
    }

    static func renderOverview(_ req: Request, flash: Flash?, status: HTTPResponseStatus, form: [String: String] = [:]) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let providers = try await services.ai.providers(by: actor)
        let usage = try await services.ai.usage(days: usageDays, by: actor)
        var context = try await req.pageContext("AI providers", active: .aiProviders)
        if let flash { context.flash = flash }
        let isAdmin = actor.role >= .admin
        let csrf = context.csrfToken
        let healthy = providers.filter { $0.enabled && $0.health == "ok" }.count
        let modelCount = providers.filter(\.enabled).reduce(0) { $0 + $1.models.count }
        let requests = usage.reduce(0) { $0 + $1.requests }
        let errors = usage.reduce(0) { $0 + $1.errors }
        let html = Layout.page(context, actions: LinkButton("Open Jarvis", href: "/jarvis", style: .primary)) {
            StatGrid {
                StatCard(label: "Providers", value: "\(providers.count)", href: nil,
                         detail: providers.isEmpty ? "none configured" : "\(healthy) answering")
                StatCard(label: "Models", value: "\(modelCount)", href: nil, detail: "on enabled providers")
                StatCard(label: "Requests", value: "\(requests)", href: nil, detail: "last \(usageDays) days")
                StatCard(label: "Errors", value: "\(errors)", href: nil,
                         detail: requests == 0 ? "no requests yet" : (Double(errors) / Double(requests)).percent + " of requests")
            }
            Card(title: "Providers",
                 subtitle: "“auto” tries local providers first, then by priority (lower first); a provider that keeps failing is skipped until its circuit closes again.") {
                if providers.isEmpty {
                    EmptyState(title: "No providers yet",
                               message: isAdmin ? "Add an Ollama node, any OpenAI-compatible server (llama.cpp, vLLM, LM Studio) or Anthropic below."
                                                : "An administrator can add one.")
                } else {
                    Div {
                        for provider in providers { providerCard(provider, isAdmin: isAdmin, csrf: csrf) }
                    }.class("ai-provider-grid")
                }
            }
            if isAdmin { addProviderCard(csrf: csrf, form: form) }
            Card(title: "Usage", subtitle: "Last \(usageDays) days" + (isAdmin ? ", everyone" : ", your own requests") + ".") {
                DataTable(caption: "AI usage", headers: ["User", "Provider", "Model", "Requests", "Errors", "Tokens in / out", "Avg. first token", "Avg. answer"],
                          rows: usage.map { row in
                              [Text(row.username) as any Component,
                               Text(row.provider),
                               Mono(row.model),
                               Span("\(row.requests)").class("num"),
                               row.errors > 0 ? StatusBadge("\(row.errors)", tone: .red) as any Component : Span("0").class("num muted"),
                               Span("\(row.promptTokens) / \(row.completionTokens)").class("num"),
                               Span(row.averageFirstTokenMs.map(milliseconds) ?? "—").class("num"),
                               Span(milliseconds(row.averageDurationMs)).class("num")]
                          },
                          emptyTitle: "No requests yet", emptyMessage: "Ask Jarvis something; every answer is counted here.")
            }
            tag("script", [.value("type", "module"), .value("src", "/js/jarvis.js")])
        }
        return req.render(html, status: status)
    }

    static func providerCard(_ provider: AIProviderDTO, isAdmin: Bool, csrf: String?) -> any Component {
        tag("article", [.value("class", "ai-provider" + (provider.enabled ? "" : " is-disabled")), .value("data-provider", provider.name)]) {
            Div {
                Div {
                    tag("a", [.value("class", "ai-provider-name"), .value("href", "/ai/providers/\(provider.id)")]) { Text(provider.name) }
                    Span(provider.kind.label).class("ai-provider-kind")
                }.class("ai-provider-title")
                healthBadge(provider.health)
            }.class("ai-provider-head")
            Div {
                if let latency = provider.latencyMs { StatusBadge("\(latency) ms", tone: .grey) }
                circuitBadge(provider.circuit)
                StatusBadge(provider.isLocal ? "local" : "cloud", tone: provider.isLocal ? .blue : .grey)
                StatusBadge(provider.models.count == 1 ? "1 model" : "\(provider.models.count) models", tone: .grey)
                if !provider.enabled { StatusBadge("disabled", tone: .amber) }
            }.class("badge-row")
            if provider.health == "down", let error = provider.healthError {
                Paragraph(error).class("form-error ai-provider-error")
            }
            tag("dl", [.value("class", "ai-provider-facts")]) {
                fact("Address", Mono(provider.baseURL))
                fact("Default model", provider.defaultModel.map { Mono($0) as any Component } ?? Text("first listed"))
                fact("Priority", Text("\(provider.priority)"))
                fact("API key", Text(provider.apiKeySecret.map { "vault: \($0)" } ?? "none"))
                fact("Checked", provider.checkedAt.map { RelativeTime($0) as any Component } ?? Text("never"))
            }
            Div {
                CSRFForm(action: "/ai/providers/\(provider.id)/check", csrfToken: csrf, classes: "inline-form") {
                    SubmitButton("Check now", style: .secondary)
                }
                if isAdmin {
                    CSRFForm(action: "/ai/providers/\(provider.id)/enabled", csrfToken: csrf, classes: "inline-form") {
                        voidTag("input", [.value("type", "hidden"), .value("name", "enabled"), .value("value", provider.enabled ? "false" : "true")])
                        SubmitButton(provider.enabled ? "Disable" : "Enable", style: .secondary)
                    }
                    CSRFForm(action: "/ai/providers/\(provider.id)/delete", csrfToken: csrf, classes: "inline-form",
                             confirm: "Remove provider \(provider.name)? Conversations keep their messages; a key stored for it in the vault is deleted.") {
                        SubmitButton("Delete", style: .danger)
                    }
                }
            }.class("button-row")
            if isAdmin {
                tag("details", [.value("class", "ai-provider-edit")]) {
                    tag("summary") { Text("Edit settings") }
                    CSRFForm(action: "/ai/providers/\(provider.id)/settings", csrfToken: csrf, classes: "form-grid") {
                        FormField(label: "Base URL", name: "baseURL", value: provider.baseURL, placeholder: provider.kind.exampleURL, required: true)
                        FormField(label: "New API key", name: "apiKey", type: "password",
                                  hint: "Leave empty to keep the current key. Stored encrypted in the vault.", autocomplete: "off")
                        FormField(label: "Or a vault secret", name: "apiKeySecret", value: provider.apiKeySecret ?? "",
                                  hint: "The name of a secret on the Secrets page; empty removes the key.")
                        SelectField(label: "Locality", name: "locality", options: [("local", "Local: tried first by auto"), ("cloud", "Cloud")],
                                    selected: provider.isLocal ? "local" : "cloud", id: "locality-\(provider.id)")
                        FormField(label: "Priority", name: "priority", type: "number", value: String(provider.priority), hint: "0–1000, lower is tried first.")
                        FormField(label: "Default model", name: "defaultModel", value: provider.defaultModel ?? "",
                                  placeholder: provider.models.first?.name ?? "llama3.1:8b")
                        FormField(label: "Timeout (seconds)", name: "timeoutSeconds", type: "number", value: String(provider.timeoutSeconds))
                        SubmitButton("Save changes", style: .secondary)
                    }
                }
            }
        }
    }

    static func addProviderCard(csrf: String?, form: [String: String]) -> Card {
        let kind = AIProviderKind(rawValue: form["kind"] ?? "") ?? .ollama
        return Card(title: "Add a provider", subtitle: "Nebula asks the provider for its models right away, so you see at once whether it answers.", id: "add-provider") {
            CSRFForm(action: "/ai/providers", csrfToken: csrf, classes: "form-grid ai-provider-form") {
                FormField(label: "Name", name: "name", value: form["name"] ?? "", placeholder: "gpu-box", required: true,
                          hint: "Lowercase letters, digits and dashes; pick it in Jarvis and in the API.")
                tag("div", [.value("class", "field")]) {
                    tag("label", [.value("for", "field-kind"), .value("class", "field-label")]) { Text("Kind") }
                    tag("select", [.value("id", "field-kind"), .value("name", "kind"), .value("class", "input select"), .value("data-ai-kind", "kind")]) {
                        for option in AIProviderKind.allCases {
                            tag("option", [.value("value", option.rawValue), .value("data-example-url", option.exampleURL), .flag("selected", option == kind)]) {
                                Text(option.label)
                            }
                        }
                    }
                }
                FormField(label: "Base URL", name: "baseURL", value: form["baseURL"] ?? "", placeholder: kind.exampleURL,
                          hint: "Ollama: http://host:11434 · OpenAI-compatible: ends with /v1 · Anthropic: https://api.anthropic.com")
                FormField(label: "API key", name: "apiKey", type: "password",
                          hint: "Optional for local servers. Stored encrypted in the vault as ai.<name>; never shown again.", autocomplete: "off")
                FormField(label: "Or an existing vault secret", name: "apiKeySecret", value: form["apiKeySecret"] ?? "", placeholder: "openai-key",
                          hint: "The name of a secret on the Secrets page.")
                SelectField(label: "Locality", name: "locality",
                            options: [("", "Guess from the address"), ("local", "Local: tried first by auto"), ("cloud", "Cloud")],
                            selected: form["locality"] ?? "")
                FormField(label: "Priority", name: "priority", type: "number", value: form["priority"] ?? "100", hint: "0–1000, lower is tried first.")
                FormField(label: "Default model", name: "defaultModel", value: form["defaultModel"] ?? "", placeholder: "llama3.1:8b",
                          hint: "Optional: used when a chat names no model.")
                FormField(label: "Timeout (seconds)", name: "timeoutSeconds", type: "number", value: form["timeoutSeconds"] ?? String(AIService.defaultTimeoutSeconds),
                          hint: "How long one whole answer may take (5–3600).")
                SubmitButton("Add provider")
            }
        }
    }

    /// A provider's last health check as a badge (the providers list and a provider's page).
    static func healthBadge(_ health: String) -> any Component {
        switch health {
        case "ok": StatusBadge("ok", tone: .green)
        case "down": StatusBadge("down", tone: .red)
        default: StatusBadge("not checked", tone: .grey)
        }
    }

    /// Whether the router is calling the provider (closed) or skipping it after failures (open).
    static func circuitBadge(_ circuit: String) -> any Component {
        switch circuit {
        case "open": StatusBadge("circuit open", tone: .red)
        case "half-open": StatusBadge("circuit half-open", tone: .amber)
        default: StatusBadge("circuit closed", tone: .grey)
        }
    }

    private static func fact(_ label: String, _ value: any Component) -> any Component {
        Div {
            tag("dt") { Text(label) }
            tag("dd") { value }
        }
    }

    static func milliseconds(_ value: Int) -> String {
        value < 1000 ? "\(value) ms" : (Double(value) / 1000).fixed(1) + " s"
    }

    // MARK: Actions

    @Sendable static func createProvider(req: Request) async throws -> Response {
        var form: [String: String] = [:]
        for name in providerFields { form[name] = req.formField(name) ?? "" }
        func value(_ name: String) -> String? { form[name].flatMap { $0.isEmpty ? nil : $0 } }
        do {
            guard let kind = AIProviderKind(rawValue: form["kind"] ?? "") else {
                throw NebulaError.unprocessable("Choose the kind: Ollama, OpenAI-compatible or Anthropic.", code: "invalid_kind")
            }
            let input = AIProviderInput(name: value("name"), kind: kind, baseURL: value("baseURL"), apiKeySecret: value("apiKeySecret"),
                                        apiKey: req.formField("apiKey"), isLocal: locality(value("locality")),
                                        priority: try number(value("priority"), "The priority"), enabled: true,
                                        defaultModel: value("defaultModel"), timeoutSeconds: try number(value("timeoutSeconds"), "The timeout"))
            let provider = try await req.nebula.ai.createProvider(input, by: try req.actor)
            return req.redirect(to: "/ai", flash: Flash(kind: provider.health == "ok" ? .success : .error, message: "Added \(provider.name). " + healthSentence(provider)))
        } catch let error as NebulaError where error.status.code < 500 || error.status == .badGateway {
            return try await renderOverview(req, flash: Flash(kind: .error, message: error.message), status: error.status, form: form)
        }
    }

    @Sendable static func updateProvider(req: Request) async throws -> Response {
        do {
            let services = try req.nebula
            let actor = try req.actor
            let id = try req.uuidParameter()
            let current = try await services.ai.provider(id, by: actor)
            let secret = req.formField("apiKeySecret") ?? ""
            let input = AIProviderInput(baseURL: req.formField("baseURL"),
                                        apiKeySecret: secret == (current.apiKeySecret ?? "") ? nil : secret,
                                        apiKey: req.formField("apiKey"), isLocal: locality(req.formField("locality")),
                                        priority: try number(req.formField("priority"), "The priority"),
                                        defaultModel: req.formField("defaultModel") ?? (current.defaultModel == nil ? nil : ""),
                                        timeoutSeconds: try number(req.formField("timeoutSeconds"), "The timeout"))
            let provider = try await services.ai.updateProvider(id, input, by: actor)
            return req.redirect(to: "/ai", flash: Flash(kind: provider.health == "ok" ? .success : .error, message: "Saved \(provider.name). " + healthSentence(provider)))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/ai", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func setEnabled(req: Request) async throws -> Response {
        let enabled = req.formField("enabled") != "false"
        return try await formAction(req, backTo: "/ai", success: enabled ? "The provider is enabled." : "The provider is disabled; auto no longer uses it.") {
            _ = try await req.nebula.ai.updateProvider(try req.uuidParameter(), AIProviderInput(enabled: enabled), by: try req.actor)
        }
    }

    @Sendable static func check(req: Request) async throws -> Response {
        do {
            let services = try req.nebula
            let actor = try req.actor
            let provider = try await services.ai.check(try req.uuidParameter(), by: actor)
            return req.redirect(to: "/ai", flash: Flash(kind: provider.health == "ok" ? .success : .error, message: healthSentence(provider)))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/ai", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func deleteProvider(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/ai", success: "The provider is removed.") {
            try await req.nebula.ai.deleteProvider(try req.uuidParameter(), by: try req.actor)
        }
    }

    // MARK: Form helpers

    static func healthSentence(_ provider: AIProviderDTO) -> String {
        switch provider.health {
        case "ok":
            let models = provider.models.count == 1 ? "1 model" : "\(provider.models.count) models"
            return "\(provider.name) answered" + (provider.latencyMs.map { " in \($0) ms" } ?? "") + " with \(models)."
        case "down":
            return "\(provider.name) does not answer: \(provider.healthError ?? "no reason given")"
        default:
            return "\(provider.name) has not been checked yet."
        }
    }

    static func locality(_ raw: String?) -> Bool? {
        switch raw {
        case "local": true
        case "cloud": false
        default: nil
        }
    }

    static func number(_ raw: String?, _ what: String) throws -> Int? {
        guard let raw, !raw.isEmpty else { return nil }
        guard let value = Int(raw) else { throw NebulaError.unprocessable("\(what) is a whole number, not “\(raw)”.", code: "invalid_number") }
        return value
    }
}
