import Fluent
import Foundation

/// A Jarvis agent profile: what the model is told, which model answers, which tools it may call
/// and the guardrails of its loop.
final class AIAgentRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "ai_agents"

    @ID(key: .id) var id: UUID?
    /// Unique, `[a-z0-9-]`.
    @Field(key: "name") var name: String
    @Field(key: "description") var description: String
    @Field(key: "system_prompt") var systemPrompt: String
    /// A provider name or `auto`.
    @Field(key: "provider") var provider: String
    @OptionalField(key: "model") var model: String?
    @OptionalField(key: "temperature") var temperature: Double?
    /// JSON array of tool names.
    @Field(key: "tools") var tools: String
    @Field(key: "max_steps") var maxSteps: Int
    @Field(key: "max_seconds") var maxSeconds: Int
    /// JSON array of regular expressions: a tool call whose arguments match one is refused.
    @Field(key: "blocked_patterns") var blockedPatterns: String
    /// Tools that change something wait for a person's approval.
    @Field(key: "require_approval") var requireApproval: Bool
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// A user-defined HTTP function an agent may call as a tool. Header values may name vault
/// secrets (`{{secret:name}}`), resolved at call time only.
final class AIFunctionRecord: Model, @unchecked Sendable {
    // @unchecked: see AIAgentRecord.
    static let schema = "ai_functions"

    @ID(key: .id) var id: UUID?
    /// Unique among functions and built-in tools, `[a-z][a-z0-9_]*`.
    @Field(key: "name") var name: String
    @Field(key: "description") var description: String
    /// The JSON Schema of the arguments, as JSON text.
    @Field(key: "parameters") var parameters: String
    @Field(key: "method") var method: String
    /// `https://host/path/{param}?q={other}`: placeholders are URL-encoded arguments.
    @Field(key: "url_template") var urlTemplate: String
    /// JSON object of header name → value (values may hold `{{secret:name}}`).
    @Field(key: "headers") var headers: String
    @OptionalField(key: "body_template") var bodyTemplate: String?
    @Field(key: "changes_something") var changesSomething: Bool
    @Field(key: "timeout_seconds") var timeoutSeconds: Int
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// One run of an agent: its transcript so far (to resume after an approval, also after a
/// restart), status, totals, and who runs it where.
final class AgentExecutionRecord: Model, @unchecked Sendable {
    // @unchecked: see AIAgentRecord.
    static let schema = "ai_agent_executions"

    @ID(key: .id) var id: UUID?
    @Field(key: "agent_id") var agentID: UUID
    /// The agent's name when the run started (the profile may be renamed or deleted later).
    @Field(key: "agent_name") var agentName: String
    @Field(key: "username") var username: String
    @OptionalField(key: "conversation_id") var conversationID: UUID?
    /// `running`, `waiting_approval`, `succeeded`, `failed`, `stopped` or `rejected`.
    @Field(key: "status") var status: String
    /// Why it stopped or failed; for `waiting_approval`, what waits.
    @OptionalField(key: "reason") var reason: String?
    /// The user's message that started it.
    @Field(key: "message") var message: String
    /// The model's final answer.
    @OptionalField(key: "answer") var answer: String?
    /// JSON array of ``ChatMessage``: the conversation sent to the model so far.
    @Field(key: "transcript") var transcript: String
    /// JSON of ``PendingCalls`` while a step's tool calls are not all answered (waiting for approval).
    @OptionalField(key: "pending") var pending: String?
    @Field(key: "steps") var steps: Int
    @Field(key: "prompt_tokens") var promptTokens: Int
    @Field(key: "completion_tokens") var completionTokens: Int
    /// Time spent running (waiting for an approval not counted).
    @Field(key: "duration_ms") var durationMilliseconds: Int
    /// Whether an operator declined a call during the run.
    @Field(key: "declined") var declined: Bool
    /// The process running it (see ``AgentExecutionWatch``) and when it last said so.
    @OptionalField(key: "instance") var instance: String?
    @OptionalField(key: "heartbeat_at") var heartbeatAt: Date?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @OptionalField(key: "finished_at") var finishedAt: Date?

    init() {}
}

/// One model call of an execution and what became of the tool calls it made.
final class AgentStepRecord: Model, @unchecked Sendable {
    // @unchecked: see AIAgentRecord.
    static let schema = "ai_agent_steps"

    @ID(key: .id) var id: UUID?
    @Field(key: "execution_id") var executionID: UUID
    /// 1, 2, … in order.
    @Field(key: "position") var position: Int
    @OptionalField(key: "provider") var provider: String?
    @OptionalField(key: "model") var model: String?
    /// The model's text of this step.
    @Field(key: "text") var text: String
    /// JSON array of ``AgentToolCallDTO``: each call, its arguments and its outcome.
    @Field(key: "tool_calls") var toolCalls: String
    @Field(key: "prompt_tokens") var promptTokens: Int
    @Field(key: "completion_tokens") var completionTokens: Int
    @Field(key: "duration_ms") var durationMilliseconds: Int
    @OptionalField(key: "error") var error: String?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}
}
