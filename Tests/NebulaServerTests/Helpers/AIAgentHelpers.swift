import AIProviders
import AsyncHTTPClient
import Foundation
import NebulaCore
import NebulaTestSupport
@testable import NebulaServer
import NIOCore
import NIOHTTP1
import Testing

/// What the agent routes act on in the access tests: an HTTP function that changes something
/// (aimed at a closed loopback port), an agent that may call it, and an execution of that agent
/// waiting for the approval of its call.
struct AIAgentTargets: Sendable {
    var agentID: UUID
    var functionID: UUID
    var executionID: UUID

    static func make(in app: TestApp, suffix: String, provider: String = "auto") async throws -> AIAgentTargets {
        let agents = try app.services.aiAgents
        let function = try await agents.createFunction(AIFunctionInput(
            name: "t_fn_\(suffix)", description: "Pokes a closed port.", parameters: nil, method: "POST",
            urlTemplate: "http://127.0.0.1:9/poke", headers: nil, bodyTemplate: nil, changesSomething: true, timeoutSeconds: 5), by: .system())
        let agent = try await agents.createAgent(AgentInput(name: "t-agent-\(suffix)", description: "Target agent", systemPrompt: "Be brief.",
                                                            provider: provider, model: nil, temperature: nil, tools: [function.name], maxSteps: 4,
                                                            maxSeconds: 60, blockedPatterns: nil, requireApproval: true), by: .system())
        let execution = try await waitingExecution(of: agent, calling: function.name, by: "root", on: app)
        return AIAgentTargets(agentID: agent.id, functionID: function.id, executionID: execution)
    }

    /// An execution of `agent` whose first step called `tool` and waits for approval, as the loop leaves it.
    static func waitingExecution(of agent: AgentDTO, calling tool: String, by username: String, on app: TestApp) async throws -> UUID {
        let db = app.app.db
        let call = ToolCall(id: "call_target", name: tool, arguments: "{}")
        let row = AgentExecutionRecord()
        row.agentID = agent.id
        row.agentName = agent.name
        row.username = username
        row.status = AgentExecutionStatus.waitingApproval.rawValue
        row.reason = "\(tool) changes something and waits for an operator's approval."
        row.message = "Poke it."
        row.transcript = try AIAgentsService.encode([ChatMessage(role: .user, content: "Poke it."),
                                                     ChatMessage(role: .assistant, content: "", toolCalls: [call])])
        row.pending = try AIAgentsService.encode(PendingCalls(step: 1, index: 0))
        row.steps = 1
        row.promptTokens = 2
        row.completionTokens = 1
        row.durationMilliseconds = 10
        row.declined = false
        try await row.create(on: db)
        let step = AgentStepRecord()
        step.executionID = try row.requireID()
        step.position = 1
        step.text = ""
        step.toolCalls = try AIAgentsService.encode([AgentToolCallDTO(id: call.id, name: tool, arguments: "{}", status: .waitingApproval, result: nil,
                                                                      changesSomething: true, durationMs: nil, decidedBy: nil)])
        step.promptTokens = 2
        step.completionTokens = 1
        step.durationMilliseconds = 5
        try await step.create(on: db)
        return try row.requireID()
    }
}

/// A fake model provider registered with the control plane, in one of the two tool-call styles.
enum FakeStyle: String, Sendable, CaseIterable {
    /// OpenAI-compatible `/v1/chat/completions`: tool-call arguments streamed in fragments.
    case openAI
    /// Ollama `/api/chat`: one object per tool call, arguments as a JSON object.
    case ollama
}

extension TestApp {
    /// Registers `fake` as provider `name` (the OpenAI-compatible or the Ollama API of it).
    func addFakeProvider(_ fake: FakeModelServer, style: FakeStyle, name: String = "fake", token: String) async throws {
        let body: [String: Any] = style == .openAI
            ? ["name": name, "kind": "openai", "baseURL": fake.openAIBaseURL.absoluteString, "isLocal": true, "defaultModel": "tiny-model"]
            : ["name": name, "kind": "ollama", "baseURL": fake.url.absoluteString, "defaultModel": "tiny-model"]
        let response = try await request(.POST, "/api/v1/ai/providers", token: token, json: Self.json(body))
        #expect(response.status == .created, "adding the fake provider: \(response.body)")
    }

    /// Creates an agent through the API; `fields` override the defaults (provider `fake`).
    func createAgent(token: String, _ fields: [String: Any]) async throws -> AgentDTO {
        var body: [String: Any] = ["name": "agent-\(UUID().uuidString.prefix(6).lowercased())", "systemPrompt": "You are Jarvis.", "provider": "fake",
                                   "tools": ["list_servers"], "maxSteps": 8, "maxSeconds": 120]
        body.merge(fields) { $1 }
        let response = try await request(.POST, "/api/v1/ai/agents", token: token, json: Self.json(body))
        #expect(response.status == .created, "creating the agent: \(response.body)")
        return try response.decode(AgentDTO.self)
    }

    /// Runs an agent without streaming and returns the execution as the API answers it.
    func runAgent(_ id: UUID, token: String, message: String) async throws -> AgentExecutionDTO {
        // A whole run is several model calls and tool calls: on a starved runner it can take a while.
        let response = try await request(.POST, "/api/v1/ai/agents/\(id)/run", token: token, json: Self.json(["message": message]), timeout: .seconds(120))
        #expect(response.status == .ok, "running the agent: \(response.body)")
        return try response.decode(AgentExecutionDTO.self)
    }

    func execution(_ id: UUID, token: String) async throws -> AgentExecutionDTO {
        let response = try await request(.GET, "/api/v1/ai/executions/\(id)", token: token)
        #expect(response.status == .ok, "reading the execution: \(response.body)")
        return try response.decode(AgentExecutionDTO.self)
    }

    /// POSTs `json` and reads the whole Server-Sent Events answer (the stream ends with the run or its pause).
    func postEvents(_ path: String, token: String, json: String) async throws -> (status: Int, messages: [SSEReader.Message]) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
        var messages: [SSEReader.Message] = []
        for block in body.components(separatedBy: "\n\n") {
            var message = SSEReader.Message(id: nil, event: nil, data: "")
            var data: [String] = []
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { message.event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            message.data = data.joined(separator: "\n")
            if message.event != nil { messages.append(message) }
        }
        return (Int(response.status.code), messages)
    }

    static func json(_ value: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
    }
}

extension FakeModelServer.ScriptedToolCall {
    static func call(_ name: String, _ arguments: String, id: String = "call_\(UUID().uuidString.prefix(8).lowercased())") -> Self {
        .init(id: id, name: name, arguments: arguments)
    }
}
