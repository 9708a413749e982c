import AIProviders
import Foundation
import NebulaCore
import Plot
import Vapor

/// The pages of one provider, registered on their own (`routes.swift`).
struct AIProviderPages: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        func page(_ method: HTTPMethod, _ path: [PathComponent], _ role: Role, _ audit: String?, _ handler: @escaping @Sendable (Request) async throws -> Response) {
            routes.on(method, path, use: handler).userInfo[AnySendableHashable(Endpoint.userInfoKey)] =
                Endpoint(role: role, audit: audit, summary: "page", tag: Endpoint.pagesTag)
        }
        let provider: [PathComponent] = ["ai", "providers", ":id"]
        page(.GET, provider, .viewer, nil, AIProviderPage.show)
        page(.POST, provider + ["models", "pull"], .operator, "ai.model.pull", AIProviderPage.pull)
        page(.POST, provider + ["models", "delete"], .operator, "ai.model.delete", AIProviderPage.delete)
        page(.POST, provider + ["models", "load"], .operator, "ai.model.load", AIProviderPage.load)
        page(.POST, provider + ["models", "unload"], .operator, "ai.model.unload", AIProviderPage.unload)
    }
}

/// What `/ai/providers/{id}` shows, filled by the services so a test renders it without a server.
struct AIProviderPageModel: Sendable {
    var provider: AIProviderDTO
    /// Ollama only: what the node has now, or why it could not be asked.
    var node: Result<OllamaModelsDTO, NebulaError>?
    /// Ollama only: pulls in progress with their log so far.
    var activePulls: [(job: JobDTO, model: String, log: [JobLogLineDTO])]
    /// Ollama only: the last finished pulls.
    var recentPulls: [(job: JobDTO, model: String)]
    var canOperate: Bool
    var now: Date
}

/// `/ai/providers/{id}`: one provider's health and models. For an Ollama node also the models in
/// memory with their VRAM and when they unload, Load / Unload / Delete, and pulls with live progress.
enum AIProviderPage {
    @Sendable static func show(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        if req.query[String.self, at: "check"] != nil {
            _ = try await services.ai.check(id, by: actor)
        }
        let model = try await makeModel(id, services: services, actor: actor)
        var context = try await req.pageContext(model.provider.name, active: .aiProviders)
        if req.query[String.self, at: "check"] != nil, context.flash == nil {
            context.flash = Flash(kind: model.provider.health == "ok" ? .success : .error,
                                  message: model.provider.health == "ok" ? "\(model.provider.name) answered." : "\(model.provider.name) does not answer: \(model.provider.healthError ?? "no reason given")")
        }
        return req.render(render(model, context: context))
    }

    static func makeModel(_ id: UUID, services: NebulaServices, actor: Actor) async throws -> AIProviderPageModel {
        let provider = try await services.ai.provider(id, by: actor)
        var page = AIProviderPageModel(provider: provider, node: nil, activePulls: [], recentPulls: [], canOperate: actor.role >= .operator, now: Date())
        guard provider.kind == .ollama else { return page }
        do {
            page.node = .success(try await services.aiModels.models(of: id, by: actor))
        } catch let error as NebulaError {
            page.node = .failure(error)
        }
        for pull in try await services.aiModels.pulls(of: id, includeFinished: true, limit: 20) {
            if pull.job.status.isFinal {
                if page.recentPulls.count < 5 { page.recentPulls.append((pull.job, pull.payload.model)) }
            } else {
                page.activePulls.append((pull.job, pull.payload.model, try await services.jobs.logLines(jobID: pull.job.id, after: 0, limit: 500)))
            }
        }
        return page
    }

    // MARK: View

    static func render(_ page: AIProviderPageModel, context: PageContext) -> HTML {
        let provider = page.provider
        let csrf = context.csrfToken
        let base = "/ai/providers/\(provider.id)"
        return Layout.page(context, actions: Div {
            LinkButton("All providers", href: "/ai")
            LinkButton("Check now", href: base + "?check=1")
        }.class("button-row")) {
            Card(title: "Provider", subtitle: "\(provider.kind.label) · \(provider.isLocal ? "local" : "cloud") · \(provider.enabled ? "enabled" : "disabled")") {
                DetailList([
                    ("Health", Div {
                        AIPages.healthBadge(provider.health)
                        if let latency = provider.latencyMs { StatusBadge("\(latency) ms", tone: latency < 500 ? .grey : .amber) }
                        AIPages.circuitBadge(provider.circuit)
                    }.class("badge-row")),
                    ("Base URL", Mono(provider.baseURL)),
                    ("Last checked", provider.checkedAt.map { RelativeTime($0) as any Component } ?? Text("never")),
                    ("Priority", Text("\(provider.priority) (lower is tried first)")),
                    ("Default model", provider.defaultModel.map { Mono($0) as any Component } ?? Text("none")),
                    ("Timeout", Text("\(provider.timeoutSeconds) s")),
                ])
                if let error = provider.healthError, provider.health == "down" { Paragraph(error).class("form-error") }
            }
            if provider.kind == .ollama {
                ollamaCards(page, base: base, csrf: csrf)
            } else {
                Card(title: "Models", subtitle: "What \(provider.name) listed at its last check. Pulling, loading and deleting models is for Ollama nodes.") {
                    DataTable(caption: "Models", headers: ["Model", "Size", "Parameters", "Quantization"], rows: provider.models.map { model in
                        [Mono(model.name) as any Component, Text(model.sizeBytes.map(AIModelManagement.size) ?? "—"),
                         Text(model.parameterSize ?? "—"), Text(model.quantization ?? "—")]
                    }, emptyTitle: "No models listed", emptyMessage: provider.health == "ok" ? "The provider listed no models." : "Check the provider: it has not answered yet.")
                }
            }
        }
    }

    static func ollamaCards(_ page: AIProviderPageModel, base: String, csrf: String?) -> any Component {
        let provider = page.provider
        let node: OllamaModelsDTO? = if case .success(let models) = page.node { models } else { nil }
        let failure: NebulaError? = if case .failure(let error) = page.node { error } else { nil }
        return ComponentGroup {
            if let failure {
                Card(title: "The node does not answer") {
                    Paragraph(failure.message).class("form-error")
                    Paragraph("The installed models below are from the last successful check; Load, Unload and Delete need the node.").class("muted")
                }
            }
            Card(title: "In memory", subtitle: "Models Ollama holds loaded now; each unloads when its keep-alive ends unless it is used again.") {
                DataTable(caption: "Running models", headers: ["Model", "Memory", "VRAM", "Unloads", ""], rows: (node?.running ?? []).map { model in
                    [Mono(model.name) as any Component,
                     Text(AIModelManagement.size(model.sizeBytes)),
                     Text(vram(model)),
                     unloads(model.expiresAt, now: page.now),
                     page.canOperate ? modelButton("Unload", action: base + "/models/unload", model: model.name, csrf: csrf) : Text("")]
                }, emptyTitle: node == nil ? "Unknown" : "Nothing loaded", emptyMessage: node == nil ? "The node could not be asked." : "Load a model below, or send it a chat.")
            }
            Card(title: "Installed", subtitle: installedSubtitle(node)) {
                if let node {
                    DataTable(caption: "Installed models", headers: ["Model", "Size", "Family", "Parameters", "Quantization", ""], rows: node.installed.map { model in
                        [Div {
                            Mono(model.name)
                            if model.running { StatusBadge("in memory", tone: .blue) }
                         } as any Component,
                         Text(model.sizeBytes.map(AIModelManagement.size) ?? "—"),
                         Text(model.family ?? "—"),
                         Text(model.parameterSize ?? "—"),
                         Text(model.quantization ?? "—"),
                         page.canOperate ? Div {
                             if model.running {
                                 modelButton("Unload", action: base + "/models/unload", model: model.name, csrf: csrf)
                             } else {
                                 modelButton("Load", action: base + "/models/load", model: model.name, csrf: csrf)
                             }
                             modelButton("Delete", action: base + "/models/delete", model: model.name, csrf: csrf, style: .danger,
                                         confirm: "Delete \(model.name) from \(provider.name)? Pulling it again downloads it again.")
                         }.class("button-row") as any Component : Text("")]
                    }, emptyTitle: "No models yet", emptyMessage: page.canOperate ? "Pull one below, e.g. llama3.2:3b." : "An operator can pull one.")
                } else {
                    DataTable(caption: "Installed models (last check)", headers: ["Model", "Size", "Family", "Parameters", "Quantization"], rows: provider.models.map { model in
                        [Mono(model.name) as any Component, Text(model.sizeBytes.map(AIModelManagement.size) ?? "—"), Text(model.family ?? "—"),
                         Text(model.parameterSize ?? "—"), Text(model.quantization ?? "—")]
                    }, emptyTitle: "No models known", emptyMessage: "The node has not answered a check yet.")
                }
            }
            Card(title: "Pull a model", subtitle: "Downloads from the Ollama library (or hf.co/…) onto this node as a job; it continues if you leave this page.") {
                for pull in page.activePulls {
                    Div {
                        Div {
                            Mono(pull.model)
                            StatusBadge(pull.job.status.rawValue, liveJobID: pull.job.id.uuidString)
                            LinkButton("Job details", href: "/jobs/\(pull.job.id)")
                        if page.canOperate {
                            CSRFForm(action: "/jobs/\(pull.job.id)/cancel", csrfToken: csrf, classes: "inline-form", confirm: "Stop pulling \(pull.model)?") {
                                SubmitButton("Cancel", style: .danger)
                            }
                        }
                        }.class("button-row")
                        ProgressBar(fraction: pull.job.progress, label: "Pulling \(pull.model)", liveJobID: pull.job.id.uuidString)
                        JobLog(jobID: pull.job.id.uuidString, lines: pull.log.suffix(12).map(\.line), lastLineID: pull.log.last?.id, reloadOnEnd: true)
                    }.class("stack ai-pull")
                }
                if page.canOperate {
                    CSRFForm(action: base + "/models/pull", csrfToken: csrf, classes: "stack") {
                        FormField(label: "Model", name: "model", placeholder: "llama3.1:8b", required: true,
                                  hint: "A name from ollama.com/library (llama3.1:8b, qwen2:0.5b), a namespace (library/qwen2:0.5b) or a Hugging Face GGUF (hf.co/org/repo:Q4_K_M).")
                        SubmitButton("Pull")
                    }
                } else {
                    Paragraph("An operator can pull models.").class("muted")
                }
                if !page.recentPulls.isEmpty {
                    DataTable(caption: "Recent pulls", headers: ["Model", "Outcome", "Finished", ""], rows: page.recentPulls.map { pull in
                        [Mono(pull.model) as any Component,
                         Div {
                             StatusBadge(pull.job.status.rawValue)
                             if let error = pull.job.lastError, pull.job.status == .failed { Paragraph(error).class("muted") }
                         },
                         pull.job.finishedAt.map { RelativeTime($0) as any Component } ?? Text("—"),
                         Link("Log", url: "/jobs/\(pull.job.id)")]
                    }, emptyTitle: "", emptyMessage: "")
                }
            }
        }
    }

    static func installedSubtitle(_ node: OllamaModelsDTO?) -> String {
        guard let node else { return "From the last successful check." }
        let total = node.installed.compactMap(\.sizeBytes).reduce(0, +)
        return "\(node.installed.count) model\(node.installed.count == 1 ? "" : "s") on disk, \(AIModelManagement.size(total)) in all."
    }

    /// A one-button form that sends `model` to `action`.
    static func modelButton(_ title: String, action: String, model: String, csrf: String?, style: ButtonStyle = .secondary, confirm: String? = nil) -> any Component {
        CSRFForm(action: action, csrfToken: csrf, classes: "inline-form", confirm: confirm) {
            voidTag("input", [.value("type", "hidden"), .value("name", "model"), .value("value", model)])
            tag("button", [.value("type", "submit"), .value("class", "btn btn-sm btn-" + style.rawValue),
                           .value("aria-label", "\(title) \(model)")]) { Text(title) }
        }
    }

    /// "1.4 GB (100% GPU)", "3 GB (40% GPU)", "0 bytes (CPU)".
    static func vram(_ model: RunningModelDTO) -> String {
        guard model.sizeVRAM > 0 else { return "none (CPU)" }
        let share = model.sizeBytes > 0 ? Double(model.sizeVRAM) / Double(model.sizeBytes) : 1
        return "\(AIModelManagement.size(model.sizeVRAM)) (\(min(1, share).percent) GPU)"
    }

    /// "in 4 min", "in 45 s", "kept loaded" (Ollama's far-future expiry for keep_alive -1), with the time in the title.
    static func unloads(_ expiresAt: Date?, now: Date) -> any Component {
        guard let expiresAt else { return Text("—") }
        let seconds = Int(expiresAt.timeIntervalSince(now))
        let text: String
        switch seconds {
        case ..<1: text = "now"
        case ..<60: text = "in \(seconds) s"
        case ..<3600: text = "in \(seconds / 60) min"
        case ..<(48 * 3600): text = "in \(seconds / 3600) h \(seconds % 3600 / 60) min"
        case ..<(365 * 86400): text = "in \(seconds / 86400) days"
        default: text = "kept loaded"
        }
        return tag("span", [.value("title", ISO8601DateFormatter().string(from: expiresAt))]) { Text(text) }
    }


    // MARK: Actions

    @Sendable static func pull(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let back = "/ai/providers/\(id)"
        do {
            let accepted = try await req.nebula.aiModels.pull(req.formField("model"), on: id, by: try req.actor)
            return req.redirect(to: back, flash: Flash(kind: .success, message: "Pulling \(accepted.model) on \(accepted.provider); the progress is below."))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: back, flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        try await act(req) { models, model, id, actor in try await models.delete(model, on: id, by: actor) }
    }

    @Sendable static func load(req: Request) async throws -> Response {
        try await act(req) { models, model, id, actor in try await models.load(model, on: id, by: actor) }
    }

    @Sendable static func unload(req: Request) async throws -> Response {
        try await act(req) { models, model, id, actor in try await models.unload(model, on: id, by: actor) }
    }

    private static func act(_ req: Request, _ body: (AIModelManagement, String?, UUID, Actor) async throws -> ModelActionDTO) async throws -> Response {
        let id = try req.uuidParameter()
        let back = "/ai/providers/\(id)"
        do {
            let done = try await body(try req.nebula.aiModels, req.formField("model"), id, try req.actor)
            return req.redirect(to: back, flash: Flash(kind: .success, message: done.message))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: back, flash: Flash(kind: .error, message: error.message))
        }
    }
}
