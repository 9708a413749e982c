import AIProviders
import Foundation
import NebulaCore
import Vapor

/// Create or change an agent profile; on update every field is optional.
struct AgentInput: Codable, Sendable {
    var name: String?
    var description: String?
    var systemPrompt: String?
    /// A provider name, or `auto` (local first).
    var provider: String?
    /// Empty: the provider's default model.
    var model: String?
    var temperature: Double?
    var tools: [String]?
    var maxSteps: Int?
    var maxSeconds: Int?
    var blockedPatterns: [String]?
    var requireApproval: Bool?

    static let keys = ["name", "description", "systemPrompt", "provider", "model", "temperature", "tools", "maxSteps", "maxSeconds",
                       "blockedPatterns", "requireApproval"]
}

struct AgentDTO: Content, Equatable {
    var id: UUID
    var name: String
    var description: String
    var systemPrompt: String
    var provider: String
    var model: String?
    var temperature: Double?
    var tools: [String]
    var maxSteps: Int
    var maxSeconds: Int
    var blockedPatterns: [String]
    var requireApproval: Bool
    var createdBy: String
    var createdAt: Date?
    var updatedAt: Date?
}

/// Create or change a user-defined HTTP function; on update every field is optional.
struct AIFunctionInput: Codable, Sendable {
    var name: String?
    var description: String?
    /// A JSON Schema with `"type": "object"`.
    var parameters: TemplateValue?
    var method: String?
    /// `https://host/path/{param}`: each placeholder a declared parameter, inserted URL-encoded.
    var urlTemplate: String?
    /// Values may hold `{{secret:name}}`, resolved from the vault at call time.
    var headers: [String: String]?
    /// Text with `{param}` placeholders (inserted JSON-escaped); empty sends the arguments as JSON
    /// for POST, PUT and PATCH.
    var bodyTemplate: String?
    var changesSomething: Bool?
    var timeoutSeconds: Int?

    static let keys = ["name", "description", "parameters", "method", "urlTemplate", "headers", "bodyTemplate", "changesSomething", "timeoutSeconds"]
}

struct AIFunctionDTO: Content, Equatable {
    var id: UUID
    var name: String
    var description: String
    var parameters: TemplateValue
    var method: String
    var urlTemplate: String
    /// As written: secret references, never their values.
    var headers: [String: String]
    var bodyTemplate: String?
    var changesSomething: Bool
    var timeoutSeconds: Int
    var createdBy: String
    var createdAt: Date?
    var updatedAt: Date?
}

/// A tool an agent may be given.
struct AgentToolDTO: Content, Equatable {
    var name: String
    var description: String
    var parameters: TemplateValue
    var changesSomething: Bool
    /// `built-in` or `http`.
    var kind: String
    var functionId: UUID?
}

/// `POST /api/v1/ai/agents/{id}/run`.
struct AgentRunInput: Codable, Sendable {
    var message: String?
    /// Continue this saved conversation (its earlier messages are sent too); a new one otherwise.
    var conversationId: UUID?
    var stream: Bool?

    static let keys = ["message", "conversationId", "stream"]
}

/// `POST /api/v1/ai/executions/{id}/approve|reject` (the body is optional).
struct AgentDecisionInput: Codable, Sendable {
    var stream: Bool?
    var note: String?

    static let keys = ["stream", "note"]
}

enum AgentExecutionStatus: String, Codable, Sendable, CaseIterable {
    case running
    case waitingApproval = "waiting_approval"
    case succeeded, failed, stopped, rejected

    var isFinal: Bool { ![.running, .waitingApproval].contains(self) }
}

/// What became of one tool call.
enum AgentToolCallStatus: String, Codable, Sendable {
    /// The tool ran and answered.
    case ok
    /// The tool ran and failed; the model got the error.
    case error
    /// No tool of that name is given to the agent.
    case unknownTool = "unknown_tool"
    /// The arguments broke the tool's schema (or were not JSON).
    case invalidArguments = "invalid_arguments"
    /// The arguments matched one of the agent's blocked patterns.
    case blocked
    /// Waits for a person (the tool changes something).
    case waitingApproval = "waiting_approval"
    /// A person declined it.
    case declined
    /// Not reached: the run stopped before (time limit, restart).
    case skipped
}

struct AgentToolCallDTO: Codable, Sendable, Equatable {
    /// The provider's call id.
    var id: String
    var name: String
    /// The arguments as the model sent them (JSON text).
    var arguments: String
    var status: AgentToolCallStatus
    /// What the model was given back (bounded; secrets masked).
    var result: String?
    var changesSomething: Bool
    var durationMs: Int?
    /// Who approved or declined it.
    var decidedBy: String?
}

struct AgentStepDTO: Codable, Sendable, Equatable {
    var position: Int
    var provider: String?
    var model: String?
    var text: String
    var toolCalls: [AgentToolCallDTO]
    var promptTokens: Int
    var completionTokens: Int
    var durationMs: Int
    var error: String?
    var createdAt: Date?
}

struct AgentExecutionDTO: Content, Equatable {
    var id: UUID
    var agentId: UUID
    var agent: String
    var username: String
    var conversationId: UUID?
    var status: AgentExecutionStatus
    /// Why it stopped, failed or waits.
    var reason: String?
    var message: String
    var answer: String?
    var stepCount: Int
    var promptTokens: Int
    var completionTokens: Int
    var durationMs: Int
    /// The call that waits for approval, when status is `waiting_approval`.
    var pendingCall: AgentToolCallDTO?
    /// Only in single-execution answers.
    var steps: [AgentStepDTO]?
    var createdAt: Date?
    var finishedAt: Date?
}
