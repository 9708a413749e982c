import Fluent
import Foundation

/// A model provider Nebula may send chat requests to: an Ollama node, an OpenAI-compatible server
/// or Anthropic. Its API key, when it has one, is in the vault (``apiKeySecret`` names the secret);
/// the last health check is kept here so pages and the router read it without calling out.
final class AIProviderRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "ai_providers"

    @ID(key: .id) var id: UUID?
    /// Unique, lowercase, `[a-z0-9-]`: the name used in `provider/model` and in the pickers.
    @Field(key: "name") var name: String
    /// `ollama`, `openai` or `anthropic`.
    @Field(key: "kind") var kind: String
    @Field(key: "base_url") var baseURL: String
    /// The vault secret holding the API key, if any.
    @OptionalField(key: "api_key_secret") var apiKeySecret: String?
    /// Local providers are tried first by the `auto` route.
    @Field(key: "is_local") var isLocal: Bool
    /// Lower is tried earlier among providers of the same locality.
    @Field(key: "priority") var priority: Int
    @Field(key: "enabled") var enabled: Bool
    /// The model `auto` uses on this provider when the request names none.
    @OptionalField(key: "default_model") var defaultModel: String?
    /// How long one whole answer may take.
    @Field(key: "timeout_seconds") var timeoutSeconds: Int
    /// `unknown`, `ok` or `down`.
    @Field(key: "health") var health: String
    @OptionalField(key: "health_error") var healthError: String?
    @OptionalField(key: "latency_ms") var latencyMilliseconds: Int?
    /// JSON array of ``ModelInfo`` from the last successful check.
    @Field(key: "models") var models: String
    @OptionalField(key: "checked_at") var checkedAt: Date?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// One saved chat of one user.
final class AIConversationRecord: Model, @unchecked Sendable {
    // @unchecked: see AIProviderRecord.
    static let schema = "ai_conversations"

    @ID(key: .id) var id: UUID?
    /// The owner's username; only they (and admins) see it.
    @Field(key: "owner") var owner: String
    @Field(key: "title") var title: String
    /// What the user picked: a provider name or `auto`.
    @Field(key: "provider") var provider: String
    @OptionalField(key: "model") var model: String?
    @OptionalField(key: "system_prompt") var systemPrompt: String?
    /// The agent profile this conversation runs with, if any.
    @OptionalField(key: "agent_id") var agentID: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// One message of a conversation, in order (``position``).
final class AIMessageRecord: Model, @unchecked Sendable {
    // @unchecked: see AIProviderRecord.
    static let schema = "ai_messages"

    @ID(key: .id) var id: UUID?
    @Field(key: "conversation_id") var conversationID: UUID
    @Field(key: "position") var position: Int
    @Field(key: "role") var role: String
    @Field(key: "content") var content: String
    /// JSON array of ``ToolCall`` an assistant message made.
    @OptionalField(key: "tool_calls") var toolCalls: String?
    @OptionalField(key: "tool_call_id") var toolCallID: String?
    /// Which provider and model wrote an assistant message.
    @OptionalField(key: "provider") var provider: String?
    @OptionalField(key: "model") var model: String?
    /// Why an answer is incomplete (cut off mid-stream): the text before it is kept.
    @OptionalField(key: "error") var error: String?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}
}

/// One model call: who, which provider and model, tokens, time to first token and duration.
final class AIUsageRecord: Model, @unchecked Sendable {
    // @unchecked: see AIProviderRecord.
    static let schema = "ai_usage"

    @ID(key: .id) var id: UUID?
    @Field(key: "username") var username: String
    /// `chat`, `openai` (the compatible endpoint) or `agent`.
    @Field(key: "source") var source: String
    @Field(key: "provider") var provider: String
    @Field(key: "model") var model: String
    @Field(key: "prompt_tokens") var promptTokens: Int
    @Field(key: "completion_tokens") var completionTokens: Int
    @OptionalField(key: "first_token_ms") var firstTokenMilliseconds: Int?
    @Field(key: "duration_ms") var durationMilliseconds: Int
    /// `ok` or the error code.
    @Field(key: "outcome") var outcome: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}
}
