import AIProviders
import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/ai`: providers (with health, circuit and models), the streaming chat, saved
/// conversations and usage.
struct AIController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let ai: [PathComponent] = ["ai"]
        let providers = ai + ["providers"]
        let provider = providers + [":id"]
        let conversations = ai + ["conversations"]
        let conversation = conversations + [":id"]
        let tag = "AI"
        routes.endpoint(.GET, providers, role: .viewer, summary: "Model providers with health, latency, circuit state and models (keys never shown)", tag: tag,
                        response: AIProviderListDoc.doc, use: list)
        routes.endpoint(.POST, providers, role: .admin, audit: "ai.provider.create",
                        summary: "Add a provider: kind ollama, openai (any OpenAI-compatible server) or anthropic; the API key goes to the vault (apiKey) or names a vault secret (apiKeySecret)",
                        tag: tag, request: AIProviderInputDoc.doc, response: AIProviderDoc.doc, status: .created, use: create)
        routes.endpoint(.GET, provider, role: .viewer, summary: "One provider", tag: tag, response: AIProviderDoc.doc, use: show)
        routes.endpoint(.PUT, provider, role: .admin, audit: "ai.provider.update", summary: "Change a provider's URL, key, locality, priority, default model or timeout",
                        tag: tag, request: AIProviderUpdateDoc.doc, response: AIProviderDoc.doc, use: update)
        routes.endpoint(.DELETE, provider, role: .admin, audit: "ai.provider.delete", summary: "Remove a provider (its own vault key too)", tag: tag,
                        status: .noContent, use: delete)
        routes.endpoint(.POST, provider + ["check"], role: .viewer, audit: "ai.provider.check", summary: "Check the provider now: health, latency and its model list", tag: tag,
                        response: AIProviderDoc.doc, use: check)
        routes.endpoint(.GET, ai + ["models"], role: .viewer, summary: "Every model of every enabled provider, local first", tag: tag,
                        response: AIModelListDoc.doc, use: models)
        routes.endpoint(.POST, ai + ["chat"], role: .viewer, audit: "ai.chat",
                        summary: "Ask a model. provider: a name or auto (local first, cloud when local is down or lacks the model). stream: true answers with Server-Sent Events start, delta, tool_call, usage, done or error",
                        tag: tag, request: ChatInputDoc.doc, response: ChatAnswerDoc.doc, produces: "application/json", use: chat)
        routes.endpoint(.GET, conversations, role: .viewer, summary: "Your saved conversations, newest first", tag: tag, response: ConversationListDoc.doc, use: listConversations)
        routes.endpoint(.POST, conversations, role: .viewer, audit: "ai.conversation.create", summary: "Start an empty conversation", tag: tag,
                        request: ConversationInputDoc.doc, response: ConversationDoc.doc, status: .created, use: createConversation)
        routes.endpoint(.GET, conversation, role: .viewer, summary: "A conversation with its messages", tag: tag, response: ConversationDetailDoc.doc, use: showConversation)
        routes.endpoint(.PUT, conversation, role: .viewer, audit: "ai.conversation.update", summary: "Rename a conversation or change its provider, model or system prompt",
                        tag: tag, request: ConversationInputDoc.doc, response: ConversationDoc.doc, use: updateConversation)
        routes.endpoint(.DELETE, conversation, role: .viewer, audit: "ai.conversation.delete", summary: "Delete a conversation", tag: tag,
                        status: .noContent, use: deleteConversation)
        routes.endpoint(.GET, ai + ["usage"], role: .viewer, summary: "Requests, errors, tokens and latency per user, provider and model (admins: everyone)", tag: tag,
                        response: AIUsageListDoc.doc, query: [QueryDoc(name: "days", description: "How many days back (1–400, default 30)", schema: .integer)],
                        use: usage)
    }

    @Sendable func list(req: Request) async throws -> ListPage<AIProviderDTO> {
        let items = try await req.nebula.ai.providers(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func create(req: Request) async throws -> Response {
        let input = try req.decodeJSON(AIProviderInput.self, allowedKeys: Set(AIProviderInput.keys))
        return try await req.nebula.ai.createProvider(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func show(req: Request) async throws -> AIProviderDTO {
        try await req.nebula.ai.provider(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func update(req: Request) async throws -> AIProviderDTO {
        let input = try req.decodeJSON(AIProviderInput.self, allowedKeys: Set(AIProviderInput.keys))
        return try await req.nebula.ai.updateProvider(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.ai.deleteProvider(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func check(req: Request) async throws -> AIProviderDTO {
        try await req.nebula.ai.check(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func models(req: Request) async throws -> ListPage<AIModelDTO> {
        let actor = try req.actor
        let items = try await req.nebula.ai.providers(by: actor).filter(\.enabled).flatMap { provider in
            provider.models.map { AIModelDTO(id: "\(provider.name)/\($0.name)", name: $0.name, provider: provider.name, isLocal: provider.isLocal,
                                             health: provider.health, sizeBytes: $0.sizeBytes, parameterSize: $0.parameterSize) }
        }
        return ListPage(items: items, total: items.count)
    }

    @Sendable func chat(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ChatInput.self, allowedKeys: Set(ChatInput.keys))
        let actor = try req.actor
        let services = try req.nebula
        let prepared = try await services.aiConversations.prepare(input, source: "chat", by: actor)
        let routed = try await services.aiRouter.open(prepared.route)
        let audited = PendingAudit {
            try await services.audit.record("ai.chat", target: prepared.conversationID.map { "conversation:\($0)" }, by: actor,
                                            detail: "\(routed.provider)/\(routed.model)")
        }
        let chat = ChatTurn(prepared: prepared, routed: routed, conversations: services.aiConversations, audited: audited)
        if input.stream == true {
            return ServerSentEvents.response(heartbeat: .seconds(15)) { continuation in
                await chat.stream(into: continuation)
            }
        }
        return try await chat.whole().encodeResponse(for: req)
    }

    @Sendable func listConversations(req: Request) async throws -> ListPage<ConversationDTO> {
        let items = try await req.nebula.aiConversations.list(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func createConversation(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ConversationInput.self, allowedKeys: Set(ConversationInput.keys))
        let actor = try req.actor
        let made = try await req.nebula.aiConversations.create(input, by: actor)
        try await req.nebula.audit.record("ai.conversation.create", target: "conversation:\(made.id)", by: actor)
        return try await made.encodeResponse(status: .created, for: req)
    }

    @Sendable func showConversation(req: Request) async throws -> ConversationDetailDTO {
        try await req.nebula.aiConversations.detail(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func updateConversation(req: Request) async throws -> ConversationDTO {
        let input = try req.decodeJSON(ConversationInput.self, allowedKeys: Set(ConversationInput.keys))
        let actor = try req.actor
        let id = try req.uuidParameter()
        let changed = try await req.nebula.aiConversations.update(id, input, by: actor)
        try await req.nebula.audit.record("ai.conversation.update", target: "conversation:\(id)", by: actor)
        return changed
    }

    @Sendable func deleteConversation(req: Request) async throws -> HTTPStatus {
        let actor = try req.actor
        let id = try req.uuidParameter()
        try await req.nebula.aiConversations.delete(id, by: actor)
        try await req.nebula.audit.record("ai.conversation.delete", target: "conversation:\(id)", by: actor)
        return .noContent
    }

    @Sendable func usage(req: Request) async throws -> ListPage<AIUsageSummary> {
        let days = req.query[Int.self, at: "days"] ?? 30
        let items = try await req.nebula.ai.usage(days: days, by: try req.actor)
        return ListPage(items: items, total: items.count)
    }
}

/// An audit entry written while an answer streams: started before the first token goes out (so
/// the write does not delay it) and settled before the response ends, so the entry exists once
/// the client has the whole answer.
struct PendingAudit: Sendable {
    private let task: Task<Void, any Error>

    init(_ write: @escaping @Sendable () async throws -> Void) {
        task = Task { try await write() }
    }

    func settle() async throws {
        try await task.value
    }
}

/// One model as the pickers show it.
struct AIModelDTO: Content, Equatable {
    /// `provider/model`: names exactly one provider's model.
    var id: String
    var name: String
    var provider: String
    var isLocal: Bool
    var health: String
    var sizeBytes: Int64?
    var parameterSize: String?
}

/// A started answer on its way to the client: streamed as SSE, or collected whole; saved in the
/// conversation either way, with its error when it was cut off.
struct ChatTurn: Sendable {
    let prepared: PreparedChat
    let routed: RoutedChat
    let conversations: AIConversations
    let audited: PendingAudit

    struct Start: Encodable {
        var conversationId: UUID?
        var provider: String
        var model: String
        var attempts: [RouteAttempt]
    }

    struct Delta: Encodable { var text: String }

    struct Done: Encodable {
        var finishReason: String
        var usage: TokenUsage?
        var firstTokenMs: Int?
        var durationMs: Int
        var messageId: UUID?
    }

    struct Failure: Encodable {
        var code: String
        var message: String
        /// Characters of the answer that arrived before it broke (kept in the conversation).
        var received: Int
        var messageId: UUID?
    }

    func stream(into continuation: AsyncStream<SSEMessage>.Continuation) async {
        continuation.yield(.json(Start(conversationId: prepared.conversationID, provider: routed.provider, model: routed.model, attempts: routed.attempts),
                                 event: "start", id: nil))
        var outcome = ChatOutcome()
        var firstToken: Duration?
        do {
            for try await event in routed.events {
                if firstToken == nil { firstToken = ContinuousClock.now - routed.startedAt }
                outcome.take(event)
                switch event {
                case .text(let piece): continuation.yield(.json(Delta(text: piece), event: "delta", id: nil))
                case .toolCall(let call): continuation.yield(.json(call, event: "tool_call", id: nil))
                case .usage(let usage): continuation.yield(.json(usage, event: "usage", id: nil))
                case .finished: break
                }
            }
            // Every complete answer ends with `.finished`; without it the client went away (Stop).
            if outcome.finishReason == nil { outcome.error = "Stopped before the answer was complete." }
            let saved = try? await conversations.saveAnswer(outcome, provider: routed.provider, model: routed.model, in: prepared.conversationID)
            continuation.yield(.json(Done(finishReason: outcome.finishReason ?? "stop", usage: outcome.usage, firstTokenMs: firstToken.map(AIService.milliseconds),
                                          durationMs: AIService.milliseconds(ContinuousClock.now - routed.startedAt), messageId: saved ?? nil),
                                     event: "done", id: nil))
        } catch {
            let problem = Self.problem(error)
            outcome.error = problem.message
            let saved = try? await conversations.saveAnswer(outcome, provider: routed.provider, model: routed.model, in: prepared.conversationID)
            continuation.yield(.json(Failure(code: problem.code, message: problem.message, received: outcome.text.count, messageId: saved ?? nil),
                                     event: "error", id: nil))
        }
        // The status line went out with the first event: a failed audit write cannot change it.
        try? await audited.settle()
        continuation.finish()
    }

    /// The whole answer; a failure after it started is a 502 naming what arrived (and saved).
    func whole() async throws -> ChatAnswerDTO {
        var outcome = ChatOutcome()
        var firstToken: Duration?
        do {
            for try await event in routed.events {
                if firstToken == nil { firstToken = ContinuousClock.now - routed.startedAt }
                outcome.take(event)
            }
        } catch {
            let problem = Self.problem(error)
            outcome.error = problem.message
            _ = try? await conversations.saveAnswer(outcome, provider: routed.provider, model: routed.model, in: prepared.conversationID)
            throw NebulaError(.badGateway, code: problem.code,
                              "\(routed.provider) failed after \(outcome.text.count) characters of the answer: \(problem.message)")
        }
        _ = try await conversations.saveAnswer(outcome, provider: routed.provider, model: routed.model, in: prepared.conversationID)
        try await audited.settle()
        return ChatAnswerDTO(conversationId: prepared.conversationID, provider: routed.provider, model: routed.model,
                             message: ChatMessage(role: .assistant, content: outcome.text, toolCalls: outcome.toolCalls),
                             finishReason: outcome.finishReason ?? "stop", usage: outcome.usage, firstTokenMs: firstToken.map(AIService.milliseconds),
                             durationMs: AIService.milliseconds(ContinuousClock.now - routed.startedAt), attempts: routed.attempts)
    }

    static func problem(_ error: any Error) -> (code: String, message: String) {
        switch error {
        case let error as AIProviderError: (error.code.rawValue, error.message)
        case let error as NebulaError: (error.code, error.message)
        case is CancellationError: ("cancelled", "The answer was cancelled.")
        default: ("provider_error", String(describing: error))
        }
    }
}
