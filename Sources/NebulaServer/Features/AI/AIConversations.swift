import AIProviders
import Fluent
import Foundation
import NebulaCore
import Vapor

/// A chat about to be sent: the routed request, and the conversation its answer is saved in.
struct PreparedChat: Sendable {
    var conversationID: UUID?
    var route: AIRouteRequest
}

/// How a streamed answer ended, for saving it.
struct ChatOutcome: Sendable {
    var text = ""
    var toolCalls: [ToolCall] = []
    var usage: TokenUsage?
    var finishReason: String?
    var error: String?

    /// Adds one streamed event to what has arrived.
    mutating func take(_ event: ChatStreamEvent) {
        switch event {
        case .text(let piece): text += piece
        case .toolCall(let call): toolCalls.append(call)
        case .usage(let reported): usage = reported
        case .finished(let reason): finishReason = reason
        }
    }
}

/// Saved conversations: each belongs to one user (admins may read everyone's). A user's message
/// is saved before it is sent, and an answer cut off midway is saved with its error, so nothing
/// typed is lost when a provider fails.
struct AIConversations: Sendable {
    let db: any Database
    let audit: AuditLog

    static let maxTitleLength = 80

    func list(by actor: Actor) async throws -> [ConversationDTO] {
        try actor.require(.viewer)
        let rows = try await AIConversationRecord.query(on: db).filter(\.$owner == actor.username).sort(\.$updatedAt, .descending).range(..<500).all()
        var counts: [UUID: Int] = [:]
        let ids = rows.compactMap(\.id)
        if !ids.isEmpty {
            for id in try await AIMessageRecord.query(on: db).filter(\.$conversationID ~~ ids).all(\.$conversationID) { counts[id, default: 0] += 1 }
        }
        return try rows.map { try Self.dto($0, messageCount: counts[$0.id ?? UUID()] ?? 0) }
    }

    func detail(_ id: UUID, by actor: Actor) async throws -> ConversationDetailDTO {
        let record = try await owned(id, by: actor)
        let messages = try await messageRecords(id)
        return ConversationDetailDTO(conversation: try Self.dto(record, messageCount: messages.count), messages: try messages.map(Self.dto))
    }

    func create(_ input: ConversationInput, by actor: Actor) async throws -> ConversationDTO {
        try actor.require(.viewer)
        let record = AIConversationRecord()
        record.owner = actor.username
        record.title = try Self.title(input.title ?? "New conversation")
        record.provider = input.provider?.isEmpty == false ? input.provider!.lowercased() : "auto"
        record.model = try AIService.modelName(input.model?.isEmpty == true ? nil : input.model)
        record.systemPrompt = input.systemPrompt?.isEmpty == true ? nil : input.systemPrompt
        record.agentID = input.agentId
        try await record.create(on: db)
        return try Self.dto(record, messageCount: 0)
    }

    func update(_ id: UUID, _ input: ConversationInput, by actor: Actor) async throws -> ConversationDTO {
        let record = try await owned(id, by: actor)
        if let title = input.title { record.title = try Self.title(title) }
        if let provider = input.provider { record.provider = provider.isEmpty ? "auto" : provider.lowercased() }
        if let model = input.model { record.model = try AIService.modelName(model.isEmpty ? nil : model) }
        if let prompt = input.systemPrompt { record.systemPrompt = prompt.isEmpty ? nil : prompt }
        if let agent = input.agentId { record.agentID = agent }
        try await record.update(on: db)
        return try Self.dto(record, messageCount: try await AIMessageRecord.query(on: db).filter(\.$conversationID == id).count())
    }

    func delete(_ id: UUID, by actor: Actor) async throws {
        let record = try await owned(id, by: actor)
        try await db.transaction { tx in
            try await AIMessageRecord.query(on: tx).filter(\.$conversationID == id).delete()
            try await record.delete(on: tx)
        }
    }

    // MARK: Chat

    /// Turns a chat request into what the router sends, saving the user's new message first.
    func prepare(_ input: ChatInput, source: String, by actor: Actor) async throws -> PreparedChat {
        try actor.require(.viewer)
        var route = AIRouteRequest(provider: input.provider, model: input.model, chat: ChatRequest(model: "", messages: []),
                                   username: actor.username, source: source)
        route.chat.temperature = input.temperature
        route.chat.maxTokens = input.maxTokens
        if let messages = input.messages {
            guard input.message == nil, input.conversationId == nil else {
                throw NebulaError.unprocessable("Send either messages (a whole conversation) or message with an optional conversationId, not both.",
                                                code: "invalid_messages")
            }
            route.chat.messages = (input.system.map { [ChatMessage(role: .system, content: $0)] } ?? [])
                + messages.map { ChatMessage(role: $0.role, content: $0.content, toolCalls: $0.toolCalls ?? [], toolCallID: $0.toolCallID) }
            try AIRouter.validate(route.chat)
            guard input.save == true else { return PreparedChat(conversationID: nil, route: route) }
            let conversation = try await create(ConversationInput(title: Self.titleFrom(messages.last { $0.role == .user }?.content),
                                                                  provider: input.provider, model: input.model, systemPrompt: input.system), by: actor)
            for message in route.chat.messages where message.role != .system { try await append(message, to: conversation.id) }
            return PreparedChat(conversationID: conversation.id, route: route)
        }
        guard let text = input.message, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw NebulaError.unprocessable("Send a message to answer (or messages, a whole conversation).", code: "empty_messages")
        }
        let conversation: AIConversationRecord
        if let id = input.conversationId {
            conversation = try await owned(id, by: actor)
            if let system = input.system { conversation.systemPrompt = system.isEmpty ? nil : system }
        } else {
            let made = try await create(ConversationInput(title: Self.titleFrom(text), provider: input.provider, model: input.model,
                                                          systemPrompt: input.system), by: actor)
            conversation = try await owned(made.id, by: actor)
        }
        // The pickers of this request win; otherwise what the conversation used last time.
        route.provider = input.provider ?? conversation.provider
        route.model = input.model ?? conversation.model
        let history = try await messageRecords(try conversation.requireID()).map(Self.chatMessage)
        route.chat.messages = (conversation.systemPrompt.map { [ChatMessage(role: .system, content: $0)] } ?? [])
            + history + [ChatMessage(role: .user, content: text)]
        try AIRouter.validate(route.chat)
        conversation.provider = (route.provider?.isEmpty == false ? route.provider! : "auto").lowercased()
        conversation.model = route.model
        try await conversation.update(on: db)
        try await append(ChatMessage(role: .user, content: text), to: try conversation.requireID())
        return PreparedChat(conversationID: try conversation.requireID(), route: route)
    }

    /// Saves an answer (or what arrived of it, with its error) in the conversation.
    func saveAnswer(_ outcome: ChatOutcome, provider: String?, model: String?, in conversationID: UUID?) async throws -> UUID? {
        guard let conversationID else { return nil }
        guard !outcome.text.isEmpty || !outcome.toolCalls.isEmpty || outcome.error != nil else { return nil }
        return try await append(ChatMessage(role: .assistant, content: outcome.text, toolCalls: outcome.toolCalls), to: conversationID,
                                provider: provider, model: model, error: outcome.error)
    }

    /// Appends one message at the end of a conversation.
    @discardableResult
    func append(_ message: ChatMessage, to conversationID: UUID, provider: String? = nil, model: String? = nil, error: String? = nil) async throws -> UUID {
        // The unique (conversation, position) index makes two writers at once fail rather than
        // interleave; one retry takes the next free position.
        for attempt in 0..<3 {
            let position = (try await AIMessageRecord.query(on: db).filter(\.$conversationID == conversationID).max(\.$position) ?? -1) + 1
            let row = AIMessageRecord()
            row.conversationID = conversationID
            row.position = position
            row.role = message.role.rawValue
            row.content = message.content
            row.toolCalls = message.toolCalls.isEmpty ? nil : String(decoding: try JSONEncoder().encode(message.toolCalls), as: UTF8.self)
            row.toolCallID = message.toolCallID
            row.provider = provider
            row.model = model
            row.error = error.map { String($0.prefix(2000)) }
            do {
                try await row.create(on: db)
                if let conversation = try await AIConversationRecord.find(conversationID, on: db) {
                    conversation.updatedAt = Date()
                    try await conversation.update(on: db)
                }
                return try row.requireID()
            } catch where attempt < 2 {
                continue
            }
        }
        throw NebulaError(.conflict, code: "conversation_busy", "The conversation changed while saving; send the message again.")
    }

    // MARK: Helpers

    func owned(_ id: UUID, by actor: Actor) async throws -> AIConversationRecord {
        try actor.require(.viewer)
        guard let record = try await AIConversationRecord.find(id, on: db), record.owner == actor.username || actor.role == .admin else {
            throw NebulaError.notFound("The conversation")
        }
        return record
    }

    func messageRecords(_ id: UUID) async throws -> [AIMessageRecord] {
        try await AIMessageRecord.query(on: db).filter(\.$conversationID == id).sort(\.$position).all()
    }

    static func chatMessage(_ row: AIMessageRecord) -> ChatMessage {
        ChatMessage(role: ChatRole(rawValue: row.role) ?? .user, content: row.content, toolCalls: toolCalls(row), toolCallID: row.toolCallID)
    }

    static func toolCalls(_ row: AIMessageRecord) -> [ToolCall] {
        row.toolCalls.flatMap { try? JSONDecoder().decode([ToolCall].self, from: Data($0.utf8)) } ?? []
    }

    static func dto(_ row: AIMessageRecord) throws -> ConversationMessageDTO {
        ConversationMessageDTO(id: try row.requireID(), role: ChatRole(rawValue: row.role) ?? .user, content: row.content, toolCalls: toolCalls(row),
                               toolCallID: row.toolCallID, provider: row.provider, model: row.model, error: row.error, createdAt: row.createdAt)
    }

    static func dto(_ record: AIConversationRecord, messageCount: Int) throws -> ConversationDTO {
        ConversationDTO(id: try record.requireID(), title: record.title, owner: record.owner, provider: record.provider, model: record.model,
                        systemPrompt: record.systemPrompt, agentId: record.agentID, messageCount: messageCount,
                        createdAt: record.createdAt, updatedAt: record.updatedAt)
    }

    static func title(_ raw: String) throws -> String {
        let title = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(title.count) else {
            throw NebulaError.unprocessable("A conversation's title is 1–200 characters.", code: "invalid_title")
        }
        return title
    }

    /// The first line of the first message, shortened.
    static func titleFrom(_ text: String?) -> String {
        let line = (text ?? "").split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        if line.isEmpty { return "New conversation" }
        return line.count > maxTitleLength ? String(line.prefix(maxTitleLength - 1)) + "…" : line
    }
}
