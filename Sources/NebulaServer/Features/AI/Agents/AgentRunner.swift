import AIProviders
import Fluent
import Foundation
import NebulaCore
import Vapor

/// What happens during a run, for a streaming client.
enum AgentEvent: Sendable {
    /// A model call starts.
    case step(executionID: UUID, position: Int)
    /// A piece of the model's text.
    case delta(String)
    /// The model asked for a tool.
    case toolCall(step: Int, call: ToolCall)
    /// What the tool call came to (ran, failed, refused, declined …).
    case toolResult(step: Int, call: AgentToolCallDTO)
    /// The run waits for a person to approve `call`.
    case approvalRequired(AgentExecutionDTO)
    /// The run ended (succeeded, stopped, rejected).
    case done(AgentExecutionDTO)
    /// The run failed.
    case failed(code: String, message: String, execution: AgentExecutionDTO?)
}

/// A person's answer to a call that waits for approval.
struct AgentDecision: Sendable {
    var approved: Bool
    var by: String
    var note: String?
}

/// Where the loop stands while waiting for a person: which step, and which of its calls waits.
struct PendingCalls: Codable, Sendable {
    var step: Int
    var index: Int
}

/// The time budget of an execution ran out.
struct AgentDeadlineExceeded: Error {}

/// The tool-calling loop. Each step sends the conversation and the agent's tool definitions
/// through the router (source `agent`), collects the text and tool calls, answers every call
/// (unknown tool, arguments against the schema, blocked patterns, approval for changes, the tool
/// itself), sends the results back as `tool` messages and goes on — until the model answers
/// without calling a tool, or `maxSteps` / `maxSeconds` is reached. Everything is persisted as it
/// happens, so a run waiting for approval continues from the database, also after a restart.
struct AgentRunner: Sendable {
    let services: NebulaServices

    var db: any Database { services.aiConversations.db }

    // MARK: Start

    /// Creates the execution (status `running`) with the first transcript, in the given or a new conversation.
    func prepare(agent: AIAgentRecord, message: String, conversationID: UUID?, by actor: Actor) async throws -> AgentExecutionRecord {
        let conversations = services.aiConversations
        var history: [ChatMessage] = []
        let conversation: UUID
        if let conversationID {
            _ = try await conversations.owned(conversationID, by: actor)
            // Earlier turns as plain text: tool calls of earlier runs stay in their executions.
            history = try await conversations.messageRecords(conversationID).map(AIConversations.chatMessage)
                .filter { ($0.role == .user || $0.role == .assistant) && $0.toolCalls.isEmpty && !$0.content.isEmpty }
            conversation = conversationID
        } else {
            conversation = try await conversations.create(ConversationInput(title: AIConversations.titleFrom(message), provider: agent.provider,
                                                                            model: agent.model, systemPrompt: nil, agentId: agent.id), by: actor).id
        }
        try await conversations.append(ChatMessage(role: .user, content: message), to: conversation)
        var transcript: [ChatMessage] = []
        if !agent.systemPrompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            transcript.append(ChatMessage(role: .system, content: agent.systemPrompt))
        }
        transcript += history.suffix(40)
        transcript.append(ChatMessage(role: .user, content: message))
        let row = AgentExecutionRecord()
        row.agentID = try agent.requireID()
        row.agentName = agent.name
        row.username = actor.username
        row.conversationID = conversation
        row.status = AgentExecutionStatus.running.rawValue
        row.message = message
        row.transcript = try AIAgentsService.encode(transcript)
        row.steps = 0
        row.promptTokens = 0
        row.completionTokens = 0
        row.durationMilliseconds = 0
        row.declined = false
        row.instance = services.aiAgentWatch.instance
        row.heartbeatAt = Date()
        try await row.create(on: db)
        return row
    }

    // MARK: The loop

    /// Runs (or continues, after `decision`) an execution until it ends or waits; nil only when
    /// the execution cannot be read at all.
    func drive(_ id: UUID, by actor: Actor, decision: AgentDecision?, emit: @escaping @Sendable (AgentEvent) -> Void) async -> AgentExecutionDTO? {
        guard let row = try? await AgentExecutionRecord.find(id, on: db) else { return nil }
        let started = ContinuousClock.now
        let spentBefore = row.durationMilliseconds
        var run = Run(row: row, started: started, spentBefore: spentBefore, emit: emit)
        do {
            guard let agent = try await AIAgentRecord.find(row.agentID, on: db) else {
                return await finish(&run, .failed, reason: "The agent profile \(row.agentName) was deleted while this run waited.", code: "agent_deleted")
            }
            let given = Set(AIAgentsService.decodeList(agent.tools))
            let tools = try await AIAgentsService(services: services).tools().filter { given.contains($0.name) }
            let deadline = started + .milliseconds(max(0, agent.maxSeconds * 1000 - spentBefore))
            let patterns = AIAgentsService.decodeList(agent.blockedPatterns).compactMap { pattern in
                (try? NSRegularExpression(pattern: pattern)).map { (pattern, $0) }
            }
            let rules = Rules(agent: agent, tools: tools, patterns: patterns, deadline: deadline, actor: actor)
            var transcript = try JSONDecoder().decode([ChatMessage].self, from: Data(row.transcript.utf8))

            // A step whose calls wait for a person: apply the decision and answer the remaining calls.
            if let pendingText = row.pending, let pending = try? JSONDecoder().decode(PendingCalls.self, from: Data(pendingText.utf8)) {
                guard let step = try await AgentStepRecord.query(on: db).filter(\.$executionID == id).filter(\.$position == pending.step).first() else {
                    return await finish(&run, .failed, reason: "The step waiting for approval is missing.", code: "step_missing")
                }
                var calls = AIAgentsService.calls(step)
                if let decision, pending.index < calls.count {
                    run.row.pending = nil
                    if decision.approved {
                        calls[pending.index].decidedBy = decision.by
                        calls[pending.index] = await execute(calls[pending.index], step: pending.step, rules: rules, run: &run)
                    } else {
                        calls[pending.index].status = .declined
                        calls[pending.index].decidedBy = decision.by
                        calls[pending.index].result = "The operator declined this call" + (decision.note.map { ": \($0.prefix(300))" } ?? ".")
                            + " Do not try it again; tell the user what you would have done instead."
                        run.row.declined = true
                    }
                    try await save(calls, in: step)
                    emit(.toolResult(step: pending.step, call: calls[pending.index]))
                    if let outcome = try await answer(&calls, from: pending.index + 1, step: step, rules: rules, run: &run) { return outcome }
                    transcript += calls.map { ChatMessage(role: .tool, content: $0.result ?? "", toolCallID: $0.id) }
                    try await persist(&run, transcript: transcript)
                } else {
                    return try await dto(run.row)
                }
            }

            while run.row.steps < agent.maxSteps {
                guard ContinuousClock.now < deadline else { return await stopForTime(&run, agent: agent) }
                let position = run.row.steps + 1
                emit(.step(executionID: id, position: position))
                let stepStarted = ContinuousClock.now
                let outcome: StepOutcome
                do {
                    outcome = try await model(transcript: transcript, rules: rules, username: row.username, emit: emit)
                } catch is AgentDeadlineExceeded {
                    return await stopForTime(&run, agent: agent)
                } catch let error where !(error is CancellationError) {
                    let problem = ChatTurn.problem(error)
                    let step = stepRecord(id: id, position: position, started: stepStarted)
                    step.error = problem.message
                    try await step.create(on: db)
                    run.row.steps = position
                    return await finish(&run, .failed, reason: "Step \(position): \(problem.message)", code: problem.code)
                }
                let step = stepRecord(id: id, position: position, started: stepStarted)
                step.provider = outcome.provider
                step.model = outcome.model
                step.text = outcome.text
                step.promptTokens = outcome.usage?.promptTokens ?? 0
                step.completionTokens = outcome.usage?.completionTokens ?? 0
                var calls = outcome.calls.map { call in
                    AgentToolCallDTO(id: call.id, name: call.name, arguments: call.arguments, status: .skipped, result: nil,
                                     changesSomething: rules.tools.first { $0.name == call.name }?.changesSomething ?? false, durationMs: nil, decidedBy: nil)
                }
                step.toolCalls = try AIAgentsService.encode(calls)
                try await step.create(on: db)
                run.row.steps = position
                run.row.promptTokens += step.promptTokens
                run.row.completionTokens += step.completionTokens
                transcript.append(ChatMessage(role: .assistant, content: outcome.text, toolCalls: outcome.calls))
                try await persist(&run, transcript: transcript)
                guard !calls.isEmpty else {
                    run.row.answer = outcome.text
                    if run.row.declined {
                        return await finish(&run, .rejected, reason: "An operator declined a tool call; the agent answered without it.", code: nil)
                    }
                    return await finish(&run, .succeeded, reason: nil, code: nil)
                }
                for call in outcome.calls { emit(.toolCall(step: position, call: call)) }
                if let ended = try await answer(&calls, from: 0, step: step, rules: rules, run: &run) { return ended }
                transcript += calls.map { ChatMessage(role: .tool, content: $0.result ?? "", toolCallID: $0.id) }
                try await persist(&run, transcript: transcript)
            }
            return await finish(&run, .stopped, reason: "Reached the agent's limit of \(agent.maxSteps) step\(agent.maxSteps == 1 ? "" : "s") before a final answer.",
                                code: "max_steps")
        } catch is CancellationError {
            return await finish(&run, .failed, reason: "Interrupted: the server stopped while this run was going on. Start it again.", code: "interrupted")
        } catch {
            return await finish(&run, .failed, reason: "The run failed: \(AIService.message(error))", code: "agent_error")
        }
    }

    /// Answers `calls[from...]` of a step in order. Returns the execution when the run paused for
    /// an approval or ran out of time (the remaining calls are left as they are), nil when every
    /// call has its result.
    private func answer(_ calls: inout [AgentToolCallDTO], from start: Int, step: AgentStepRecord, rules: Rules, run: inout Run) async throws
        -> AgentExecutionDTO? {
        var index = start
        while index < calls.count {
            if ContinuousClock.now >= rules.deadline {
                for later in index..<calls.count where calls[later].result == nil {
                    calls[later].status = .skipped
                    calls[later].result = "Not run: the agent's time limit was reached."
                }
                try await save(calls, in: step)
                return await stopForTime(&run, agent: rules.agent)
            }
            let call = calls[index]
            if let refusal = check(call, rules: rules) {
                calls[index] = refusal
            } else if call.changesSomething, rules.agent.requireApproval {
                calls[index].status = .waitingApproval
                calls[index].result = nil
                try await save(calls, in: step)
                run.row.pending = try AIAgentsService.encode(PendingCalls(step: step.position, index: index))
                let execution = await finish(&run, .waitingApproval,
                                             reason: "\(call.name) changes something and waits for an operator's approval.", code: nil)
                return execution
            } else {
                calls[index] = await execute(call, step: step.position, rules: rules, run: &run)
            }
            try await save(calls, in: step)
            run.emit(.toolResult(step: step.position, call: calls[index]))
            index += 1
        }
        return nil
    }

    /// The refusal of a call before it runs, or nil when it may run: unknown tool, arguments that
    /// are not a JSON object or break the schema, a blocked pattern.
    private func check(_ call: AgentToolCallDTO, rules: Rules) -> AgentToolCallDTO? {
        var refused = call
        guard let tool = rules.tools.first(where: { $0.name == call.name }) else {
            refused.status = .unknownTool
            refused.result = "Error: there is no tool named \(call.name.prefix(80)) for this agent. Available tools: \(rules.tools.map(\.name).joined(separator: ", "))."
            return refused
        }
        let text = call.arguments.trimmingCharacters(in: .whitespacesAndNewlines)
        guard case .object(let arguments)? = text.isEmpty ? .object([:]) : ToolSchema.parse(text) else {
            refused.status = .invalidArguments
            refused.result = "Error: the arguments of \(tool.name) must be a JSON object, got: \(text.prefix(200)). Call it again with valid JSON arguments."
            return refused
        }
        let problems = ToolSchema.violations(of: .object(arguments), against: tool.parameters)
        if !problems.isEmpty {
            refused.status = .invalidArguments
            refused.result = "Error: the arguments do not match the parameters of \(tool.name): \(problems.prefix(10).joined(separator: "; ")). Call it again with corrected arguments."
            return refused
        }
        let canonical = TemplateValue.object(arguments).jsonText
        for (pattern, regex) in rules.patterns {
            let hit = [call.arguments, canonical].contains { regex.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil }
            if hit {
                refused.status = .blocked
                refused.result = "Refused: the arguments match the blocked pattern /\(pattern)/ of this agent, so this call is not allowed. Do not retry it with the same intent."
                return refused
            }
        }
        return nil
    }

    /// Runs a call that passed the checks (or was approved), bounded by the deadline; audits calls that change something.
    private func execute(_ call: AgentToolCallDTO, step: Int, rules: Rules, run: inout Run) async -> AgentToolCallDTO {
        var done = call
        guard let tool = rules.tools.first(where: { $0.name == call.name }) else {
            done.status = .unknownTool
            done.result = "Error: there is no tool named \(call.name.prefix(80)) for this agent."
            return done
        }
        if let refusal = check(call, rules: rules) { return refusal }
        let text = call.arguments.trimmingCharacters(in: .whitespacesAndNewlines)
        let arguments = (text.isEmpty ? nil : ToolSchema.parse(text))?.objectValue ?? [:]
        let context = AgentToolContext(services: services, actor: rules.actor, deadline: rules.deadline)
        let started = ContinuousClock.now
        do {
            let result = try await Self.withDeadline(rules.deadline) { try await tool.run(arguments, context) }
            done.status = .ok
            done.result = ToolOutput.bounded(context.mask(result))
        } catch is AgentDeadlineExceeded {
            done.status = .error
            done.result = "Error: \(tool.name) did not finish before the agent's time limit."
        } catch {
            done.status = .error
            done.result = "Error: " + ToolOutput.bounded(context.mask(Self.describe(error)), limit: 2000)
        }
        done.durationMs = AIService.milliseconds(ContinuousClock.now - started)
        if tool.changesSomething {
            let arguments = context.mask(call.arguments)
            try? await services.audit.record("ai.agent.tool", target: "ai-agent:\(rules.agent.name)", outcome: done.status == .ok ? .success : .failure,
                                             by: rules.actor,
                                             detail: "\(tool.name) \(arguments.prefix(200)) (execution \(run.row.id?.uuidString ?? ""))"
                                                 + (call.decidedBy.map { ", approved by \($0)" } ?? ""))
        }
        return done
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as AgentToolFailure: error.description
        case let error as NebulaError: error.message
        case let error as AIProviderError: error.message
        default: String(describing: error)
        }
    }

    // MARK: Model

    struct StepOutcome: Sendable {
        var provider: String
        var model: String
        var text = ""
        var calls: [ToolCall] = []
        var usage: TokenUsage?
    }

    private func model(transcript: [ChatMessage], rules: Rules, username: String, emit: @escaping @Sendable (AgentEvent) -> Void) async throws -> StepOutcome {
        let agent = rules.agent
        let definitions = rules.tools.map { ToolDefinition(name: $0.name, description: $0.description, parametersJSON: $0.parameters.jsonText) }
        let route = AIRouteRequest(provider: agent.provider == "auto" ? nil : agent.provider, model: agent.model,
                                   chat: ChatRequest(model: "", messages: transcript, tools: definitions, temperature: agent.temperature),
                                   username: username, source: "agent")
        let router = services.aiRouter
        return try await Self.withDeadline(rules.deadline) {
            let routed = try await router.open(route)
            var outcome = StepOutcome(provider: routed.provider, model: routed.model)
            for try await event in routed.events {
                switch event {
                case .text(let piece):
                    outcome.text += piece
                    emit(.delta(piece))
                case .toolCall(let call): outcome.calls.append(call)
                case .usage(let usage): outcome.usage = usage
                case .finished: break
                }
            }
            return outcome
        }
    }

    /// Runs `body`, throwing ``AgentDeadlineExceeded`` (and cancelling it) when `deadline` passes first.
    static func withDeadline<T: Sendable>(_ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                throw AgentDeadlineExceeded()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw AgentDeadlineExceeded() }
            return first
        }
    }

    // MARK: Persistence

    /// The loop's working state.
    struct Run {
        var row: AgentExecutionRecord
        let started: ContinuousClock.Instant
        let spentBefore: Int
        let emit: @Sendable (AgentEvent) -> Void

        var spent: Int { spentBefore + AIService.milliseconds(ContinuousClock.now - started) }
    }

    struct Rules: Sendable {
        let agent: AIAgentRecord
        let tools: [AgentTool]
        let patterns: [(String, NSRegularExpression)]
        let deadline: ContinuousClock.Instant
        let actor: Actor
    }

    private func stepRecord(id: UUID, position: Int, started: ContinuousClock.Instant) -> AgentStepRecord {
        let step = AgentStepRecord()
        step.executionID = id
        step.position = position
        step.text = ""
        step.toolCalls = "[]"
        step.promptTokens = 0
        step.completionTokens = 0
        step.durationMilliseconds = AIService.milliseconds(ContinuousClock.now - started)
        return step
    }

    private func save(_ calls: [AgentToolCallDTO], in step: AgentStepRecord) async throws {
        step.toolCalls = try AIAgentsService.encode(calls)
        try await step.update(on: db)
    }

    private func persist(_ run: inout Run, transcript: [ChatMessage]) async throws {
        run.row.transcript = try AIAgentsService.encode(transcript)
        run.row.durationMilliseconds = run.spent
        run.row.heartbeatAt = Date()
        try await run.row.update(on: db)
        // Each step saved is news for the execution's page.
        await services.events.publish(.aiExecutionUpdated, actor: run.row.username, subject: "ai-execution:\(run.row.id?.uuidString ?? "")",
                                      data: ["status": run.row.status, "agent": run.row.agentName])
    }

    private func stopForTime(_ run: inout Run, agent: AIAgentRecord) async -> AgentExecutionDTO? {
        await finish(&run, .stopped, reason: "Reached the agent's time limit of \(agent.maxSeconds) seconds before a final answer.", code: "max_seconds")
    }

    /// Records the outcome (or the wait), tells the conversation and the client, and publishes it.
    @discardableResult
    private func finish(_ run: inout Run, _ status: AgentExecutionStatus, reason: String?, code: String?) async -> AgentExecutionDTO? {
        let row = run.row
        row.status = status.rawValue
        row.reason = reason.map { String($0.prefix(4000)) }
        row.durationMilliseconds = run.spent
        row.heartbeatAt = Date()
        if status.isFinal {
            row.finishedAt = Date()
            row.pending = nil
        }
        do {
            try await row.update(on: db)
        } catch {
            services.aiAgentWatch.logger?.error("agent execution \(row.id?.uuidString ?? "?") could not be saved: \(String(reflecting: error))")
        }
        if status.isFinal, let conversation = row.conversationID {
            let text = row.answer ?? ""
            let note = status == .succeeded || status == .rejected ? nil : reason
            _ = try? await services.aiConversations.append(ChatMessage(role: .assistant, content: text), to: conversation, error: note)
        }
        await services.events.publish(.aiExecutionUpdated, actor: row.username, subject: "ai-execution:\(row.id?.uuidString ?? "")",
                                      data: ["status": status.rawValue, "agent": row.agentName])
        let dto = try? await dto(row)
        switch status {
        case .waitingApproval: if let dto { run.emit(.approvalRequired(dto)) }
        case .failed: run.emit(.failed(code: code ?? "agent_failed", message: reason ?? "The run failed.", execution: dto))
        case .running: break
        default: if let dto { run.emit(.done(dto)) }
        }
        return dto
    }

    private func dto(_ row: AgentExecutionRecord) async throws -> AgentExecutionDTO {
        try await AIAgentsService(services: services).dto(row, withSteps: true)
    }
}
