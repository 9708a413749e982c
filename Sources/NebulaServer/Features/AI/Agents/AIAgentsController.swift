import AIProviders
import Foundation
import NebulaCore
import Vapor

/// `/api/v1/ai/agents`, `/api/v1/ai/functions`, `/api/v1/ai/tools` and `/api/v1/ai/executions`:
/// Jarvis agent profiles, HTTP functions, the tool registry, runs and their approvals.
struct AIAgentsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let agents: [PathComponent] = ["ai", "agents"]
        let agent = agents + [":id"]
        let functions: [PathComponent] = ["ai", "functions"]
        let function = functions + [":id"]
        let executions: [PathComponent] = ["ai", "executions"]
        let execution = executions + [":id"]
        let tag = "AI agents"
        routes.endpoint(.GET, agents, role: .viewer, summary: "Agent profiles: prompt, model, tools and guardrails", tag: tag,
                        response: AgentListDoc.doc, use: list)
        routes.endpoint(.POST, agents, role: .admin, audit: "ai.agent.create",
                        summary: "Add an agent profile; 422 invalid_name, unknown_provider, unknown_tool, invalid_max_steps (1–50), invalid_max_seconds (5–1800), invalid_blocked_pattern, invalid_temperature",
                        tag: tag, request: AgentInputDoc.doc, response: AgentDoc.doc, status: .created, use: create)
        routes.endpoint(.GET, agent, role: .viewer, summary: "One agent profile", tag: tag, response: AgentDoc.doc, use: show)
        routes.endpoint(.PUT, agent, role: .admin, audit: "ai.agent.update", summary: "Change an agent profile (fields as for create, all optional)", tag: tag,
                        request: AgentUpdateDoc.doc, response: AgentDoc.doc, use: update)
        routes.endpoint(.DELETE, agent, role: .admin, audit: "ai.agent.delete", summary: "Remove an agent profile (its executions stay in the history)",
                        tag: tag, status: .noContent, use: delete)
        routes.endpoint(.POST, agent + ["run"], role: .viewer, audit: "ai.agent.run",
                        summary: "Run the agent on a message. Without stream: the whole execution (its status says how it ended or that it waits for approval). stream: true answers with Server-Sent Events step, delta, tool_call, tool_result, approval_required, done, error. Tools act with the caller's rights",
                        tag: tag, request: AgentRunInputDoc.doc, response: AgentExecutionDoc.doc, use: run)
        routes.endpoint(.GET, functions, role: .viewer, summary: "User-defined HTTP functions (secret references shown, never their values)", tag: tag,
                        response: AIFunctionListDoc.doc, use: listFunctions)
        routes.endpoint(.POST, functions, role: .admin, audit: "ai.function.create",
                        summary: "Add an HTTP function: JSON Schema parameters, method, URL template with {param}, headers with {{secret:NAME}}, optional body template; 422 invalid_parameters, invalid_url, unknown_placeholder, unknown_secret, literal_credential",
                        tag: tag, request: AIFunctionInputDoc.doc, response: AIFunctionDoc.doc, status: .created, use: createFunction)
        routes.endpoint(.GET, function, role: .viewer, summary: "One HTTP function", tag: tag, response: AIFunctionDoc.doc, use: showFunction)
        routes.endpoint(.PUT, function, role: .admin, audit: "ai.function.update", summary: "Change an HTTP function (its name stays)", tag: tag,
                        request: AIFunctionUpdateDoc.doc, response: AIFunctionDoc.doc, use: updateFunction)
        routes.endpoint(.DELETE, function, role: .admin, audit: "ai.function.delete", summary: "Remove an HTTP function (and take it from every agent)",
                        tag: tag, status: .noContent, use: deleteFunction)
        routes.endpoint(.GET, ["ai", "tools"], role: .viewer, summary: "Every tool an agent may be given: built-in tools and HTTP functions, with schemas",
                        tag: tag, response: AgentToolListDoc.doc, use: tools)
        routes.endpoint(.GET, executions, role: .viewer, summary: "Agent executions, newest first (operators and admins: everyone's; viewers: their own)", tag: tag,
                        response: AgentExecutionListDoc.doc,
                        query: [QueryDoc(name: "agent", description: "Only this agent's (its id)"), QueryDoc(name: "limit", description: "1–500 (default 100)", schema: .integer)],
                        use: listExecutions)
        routes.endpoint(.GET, execution, role: .viewer, summary: "One execution with its steps, tool calls, results, tokens and durations", tag: tag,
                        response: AgentExecutionDoc.doc, use: showExecution)
        routes.endpoint(.POST, execution + ["approve"], role: .operator, audit: "ai.execution.approve",
                        summary: "Approve the tool call an execution waits for; the run continues with the approver's rights (stream: true streams the rest); 409 not_waiting",
                        tag: tag, request: AgentDecisionDoc.doc, response: AgentExecutionDoc.doc, use: approve)
        routes.endpoint(.POST, execution + ["reject"], role: .operator, audit: "ai.execution.reject",
                        summary: "Decline the tool call an execution waits for: the model is told the operator declined, and the run continues to its answer",
                        tag: tag, request: AgentDecisionDoc.doc, response: AgentExecutionDoc.doc, use: reject)
    }

    // MARK: Agents

    @Sendable func list(req: Request) async throws -> ListPage<AgentDTO> {
        let items = try await req.nebula.aiAgents.agents(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func create(req: Request) async throws -> Response {
        let input = try req.decodeJSON(AgentInput.self, allowedKeys: Set(AgentInput.keys))
        return try await req.nebula.aiAgents.createAgent(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func show(req: Request) async throws -> AgentDTO {
        try await req.nebula.aiAgents.agent(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func update(req: Request) async throws -> AgentDTO {
        let input = try req.decodeJSON(AgentInput.self, allowedKeys: Set(AgentInput.keys))
        return try await req.nebula.aiAgents.updateAgent(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.aiAgents.deleteAgent(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func run(req: Request) async throws -> Response {
        let input = try req.decodeJSON(AgentRunInput.self, allowedKeys: Set(AgentRunInput.keys))
        let actor = try req.actor
        let service = try req.nebula.aiAgents
        let id = try req.uuidParameter()
        if input.stream == true {
            let (events, sink) = AsyncStream<AgentEvent>.makeStream()
            let started = try await service.start(agent: id, input, by: actor) { sink.yield($0) }
            return Self.stream(events, sink: sink, run: started.run)
        }
        let started = try await service.start(agent: id, input, by: actor) { _ in }
        return try await Self.outcome(of: started.run, id: started.id, service: service, actor: actor).encodeResponse(for: req)
    }

    // MARK: Functions

    @Sendable func listFunctions(req: Request) async throws -> ListPage<AIFunctionDTO> {
        let items = try await req.nebula.aiAgents.functions(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func createFunction(req: Request) async throws -> Response {
        let input = try req.decodeJSON(AIFunctionInput.self, allowedKeys: Set(AIFunctionInput.keys))
        return try await req.nebula.aiAgents.createFunction(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func showFunction(req: Request) async throws -> AIFunctionDTO {
        try await req.nebula.aiAgents.function(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func updateFunction(req: Request) async throws -> AIFunctionDTO {
        let input = try req.decodeJSON(AIFunctionInput.self, allowedKeys: Set(AIFunctionInput.keys))
        return try await req.nebula.aiAgents.updateFunction(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func deleteFunction(req: Request) async throws -> HTTPStatus {
        try await req.nebula.aiAgents.deleteFunction(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func tools(req: Request) async throws -> ListPage<AgentToolDTO> {
        let items = try await req.nebula.aiAgents.toolList(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    // MARK: Executions

    @Sendable func listExecutions(req: Request) async throws -> ListPage<AgentExecutionDTO> {
        let agent = try req.query[String.self, at: "agent"].map { raw in
            guard let id = UUID(uuidString: raw) else { throw NebulaError.invalid("agent is an agent's id (a UUID).", code: "invalid_agent") }
            return id
        }
        let items = try await req.nebula.aiAgents.executions(agent: agent, limit: req.query[Int.self, at: "limit"] ?? 100, by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func showExecution(req: Request) async throws -> AgentExecutionDTO {
        try await req.nebula.aiAgents.execution(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func approve(req: Request) async throws -> Response { try await decide(req, approve: true) }

    @Sendable func reject(req: Request) async throws -> Response { try await decide(req, approve: false) }

    private func decide(_ req: Request, approve: Bool) async throws -> Response {
        let input = (req.body.data?.readableBytes ?? 0) == 0 ? AgentDecisionInput()
            : try req.decodeJSON(AgentDecisionInput.self, allowedKeys: Set(AgentDecisionInput.keys))
        let actor = try req.actor
        let service = try req.nebula.aiAgents
        let id = try req.uuidParameter()
        if input.stream == true {
            let (events, sink) = AsyncStream<AgentEvent>.makeStream()
            let run = try await service.decide(id, approve: approve, note: input.note, by: actor) { sink.yield($0) }
            return Self.stream(events, sink: sink, run: run)
        }
        let run = try await service.decide(id, approve: approve, note: input.note, by: actor) { _ in }
        return try await Self.outcome(of: run, id: id, service: service, actor: actor).encodeResponse(for: req)
    }

    /// The execution as the run left it (ended or waiting).
    static func outcome(of run: Task<AgentExecutionDTO?, Never>, id: UUID, service: AIAgentsService, actor: Actor) async throws -> AgentExecutionDTO {
        if let dto = await run.value { return dto }
        return try await service.execution(id, by: actor)
    }

    // MARK: Streaming

    struct StepEvent: Encodable { var executionId: UUID; var step: Int }
    struct DeltaEvent: Encodable { var text: String }
    struct ToolCallEvent: Encodable { var step: Int; var id: String; var name: String; var arguments: String }
    struct ToolResultEvent: Encodable {
        var step: Int
        var id: String
        var name: String
        var status: AgentToolCallStatus
        var result: String?
        var durationMs: Int?
    }
    struct FailureEvent: Encodable { var code: String; var message: String; var executionId: UUID? }

    /// The run's events as Server-Sent Events; the run goes on if the client leaves.
    static func stream(_ events: AsyncStream<AgentEvent>, sink: AsyncStream<AgentEvent>.Continuation, run: Task<AgentExecutionDTO?, Never>) -> Response {
        Task {
            _ = await run.value
            sink.finish()
        }
        return ServerSentEvents.response(heartbeat: .seconds(15)) { continuation in
            for await event in events {
                continuation.yield(message(event))
            }
            continuation.finish()
        }
    }

    static func message(_ event: AgentEvent) -> SSEMessage {
        switch event {
        case .step(let id, let position): .json(StepEvent(executionId: id, step: position), event: "step", id: nil)
        case .delta(let text): .json(DeltaEvent(text: text), event: "delta", id: nil)
        case .toolCall(let step, let call): .json(ToolCallEvent(step: step, id: call.id, name: call.name, arguments: call.arguments), event: "tool_call", id: nil)
        case .toolResult(let step, let call):
            .json(ToolResultEvent(step: step, id: call.id, name: call.name, status: call.status, result: call.result, durationMs: call.durationMs),
                  event: "tool_result", id: nil)
        case .approvalRequired(let execution): .json(execution, event: "approval_required", id: nil)
        case .done(let execution): .json(execution, event: "done", id: nil)
        case .failed(let code, let message, let execution): .json(FailureEvent(code: code, message: message, executionId: execution?.id), event: "error", id: nil)
        }
    }
}
