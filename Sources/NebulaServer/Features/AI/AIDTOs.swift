import AIProviders
import Foundation
import Vapor

/// Which API a provider speaks.
enum AIProviderKind: String, Codable, Sendable, CaseIterable {
    /// Ollama's native API (`/api/chat`, `/api/tags`, model management).
    case ollama
    /// OpenAI's chat completions API: OpenAI, LM Studio, vLLM, llama.cpp server, OpenRouter, LocalAI.
    case openai
    /// Anthropic's Messages API.
    case anthropic

    var label: String {
        switch self {
        case .ollama: "Ollama"
        case .openai: "OpenAI-compatible"
        case .anthropic: "Anthropic"
        }
    }

    /// Where a provider of this kind usually listens, for forms.
    var exampleURL: String {
        switch self {
        case .ollama: "http://gpu-box.lan:11434"
        case .openai: "http://127.0.0.1:8080/v1"
        case .anthropic: "https://api.anthropic.com"
        }
    }
}

/// Add or change a provider. Absent fields keep their value on update.
struct AIProviderInput: Codable, Sendable {
    var name: String?
    var kind: AIProviderKind?
    var baseURL: String?
    /// The name of a vault secret holding the API key (made on the Secrets page).
    var apiKeySecret: String?
    /// The API key itself: stored in the vault as `ai.<name>`, never returned.
    var apiKey: String?
    var isLocal: Bool?
    var priority: Int?
    var enabled: Bool?
    var defaultModel: String?
    /// How long one whole answer may take (5–3600 s, default 300).
    var timeoutSeconds: Int?

    static let keys = ["name", "kind", "baseURL", "apiKeySecret", "apiKey", "isLocal", "priority", "enabled", "defaultModel", "timeoutSeconds"]
}

/// A provider as the API and pages show it: settings, the last health check and its models.
struct AIProviderDTO: Content, Equatable {
    var id: UUID
    var name: String
    var kind: AIProviderKind
    var baseURL: String
    var apiKeySecret: String?
    var hasAPIKey: Bool
    var isLocal: Bool
    var priority: Int
    var enabled: Bool
    var defaultModel: String?
    var timeoutSeconds: Int
    /// `unknown` (never checked), `ok` or `down`.
    var health: String
    var healthError: String?
    var latencyMs: Int?
    var models: [ModelInfo]
    var checkedAt: Date?
    /// `closed`, `open` (refusing requests until the cooldown ends) or `half-open`.
    var circuit: String
}

/// One message a client sends.
struct ChatMessageInput: Codable, Sendable {
    var role: ChatRole
    var content: String
    var toolCalls: [ToolCall]?
    var toolCallID: String?
}

/// `POST /api/v1/ai/chat`. Either `messages` (a whole conversation, saved only with `save: true`)
/// or `message` (one more user message in `conversationId`, or in a new saved conversation).
struct ChatInput: Codable, Sendable {
    /// A provider name, or `auto` (the default): local first, then the others.
    var provider: String?
    var model: String?
    var message: String?
    var messages: [ChatMessageInput]?
    var conversationId: UUID?
    var system: String?
    var temperature: Double?
    var maxTokens: Int?
    var stream: Bool?
    var save: Bool?

    static let keys = ["provider", "model", "message", "messages", "conversationId", "system", "temperature", "maxTokens", "stream", "save"]
}

/// One provider tried by the router and why it was passed over.
struct RouteAttempt: Content, Equatable {
    var provider: String
    var model: String
    /// `used`, `failed`, `circuit_open` or `no_model`.
    var outcome: String
    var error: String?
}

/// A whole (non-streamed) answer.
struct ChatAnswerDTO: Content {
    var conversationId: UUID?
    var provider: String
    var model: String
    var message: ChatMessage
    var finishReason: String
    var usage: TokenUsage?
    var firstTokenMs: Int?
    var durationMs: Int
    var attempts: [RouteAttempt]
}

struct ConversationDTO: Content {
    var id: UUID
    var title: String
    var owner: String
    var provider: String
    var model: String?
    var systemPrompt: String?
    var agentId: UUID?
    var messageCount: Int
    var createdAt: Date?
    var updatedAt: Date?
}

struct ConversationMessageDTO: Content {
    var id: UUID
    var role: ChatRole
    var content: String
    var toolCalls: [ToolCall]
    var toolCallID: String?
    var provider: String?
    var model: String?
    var error: String?
    var createdAt: Date?
}

struct ConversationDetailDTO: Content {
    var conversation: ConversationDTO
    var messages: [ConversationMessageDTO]
}

struct ConversationInput: Codable, Sendable {
    var title: String?
    var provider: String?
    var model: String?
    var systemPrompt: String?
    var agentId: UUID?

    static let keys = ["title", "provider", "model", "systemPrompt", "agentId"]
}

/// Usage of one user, provider and model over a period.
struct AIUsageSummary: Content, Equatable {
    var username: String
    var provider: String
    var model: String
    var requests: Int
    var errors: Int
    var promptTokens: Int
    var completionTokens: Int
    var averageFirstTokenMs: Int?
    var averageDurationMs: Int
}
