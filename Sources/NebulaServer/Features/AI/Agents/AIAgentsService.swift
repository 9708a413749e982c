import AIProviders
import Fluent
import Foundation
import NebulaCore
import SQLKit
import Vapor

extension EventType {
    static let aiAgentChanged: EventType = "ai.agent_changed"
    static let aiFunctionChanged: EventType = "ai.function_changed"
    static let aiExecutionUpdated: EventType = "ai.execution_updated"
}

extension NebulaServices {
    /// Jarvis agents: profiles, HTTP functions, the tool registry and executions.
    var aiAgents: AIAgentsService { AIAgentsService(services: self) }
}

/// Agent profiles and HTTP functions (admins change them, everyone reads them), the tool
/// registry, and executions: starting, approving or declining, reading.
struct AIAgentsService: Sendable {
    let services: NebulaServices

    var db: any Database { services.aiConversations.db }
    var audit: AuditLog { services.audit }
    var watch: AgentExecutionWatch { services.aiAgentWatch }
    var runner: AgentRunner { AgentRunner(services: services) }

    static let defaultMaxSteps = 8
    static let defaultMaxSeconds = 120

    // MARK: Agents

    func agents(by actor: Actor) async throws -> [AgentDTO] {
        try actor.require(.viewer)
        return try await AIAgentRecord.query(on: db).sort(\.$name).all().map(Self.dto)
    }

    func agent(_ id: UUID, by actor: Actor) async throws -> AgentDTO {
        try actor.require(.viewer)
        return try Self.dto(try await agentRecord(id))
    }

    func createAgent(_ input: AgentInput, by actor: Actor) async throws -> AgentDTO {
        try actor.require(.admin)
        let record = AIAgentRecord()
        record.name = try Self.agentName(input.name)
        record.description = try Self.text(input.description ?? "", field: "description", max: 1000)
        record.systemPrompt = try Self.text(input.systemPrompt ?? "", field: "systemPrompt", max: 20_000)
        record.provider = try await provider(input.provider)
        record.model = try AIService.modelName(input.model?.isEmpty == true ? nil : input.model)
        record.temperature = try Self.temperature(input.temperature)
        record.tools = try Self.encode(try await toolNames(input.tools ?? []))
        record.maxSteps = try Self.maxSteps(input.maxSteps ?? Self.defaultMaxSteps)
        record.maxSeconds = try Self.maxSeconds(input.maxSeconds ?? Self.defaultMaxSeconds)
        record.blockedPatterns = try Self.encode(try Self.blockedPatterns(input.blockedPatterns ?? []))
        record.requireApproval = input.requireApproval ?? true
        record.createdBy = actor.username
        try await save(record, creating: true)
        try await audit.record("ai.agent.create", target: "ai-agent:\(record.name)", by: actor)
        await services.events.publish(.aiAgentChanged, actor: actor.username, subject: "ai-agent:\(record.name)", data: ["change": "created"])
        return try Self.dto(record)
    }

    func updateAgent(_ id: UUID, _ input: AgentInput, by actor: Actor) async throws -> AgentDTO {
        try actor.require(.admin)
        let record = try await agentRecord(id)
        if let name = input.name { record.name = try Self.agentName(name) }
        if let description = input.description { record.description = try Self.text(description, field: "description", max: 1000) }
        if let prompt = input.systemPrompt { record.systemPrompt = try Self.text(prompt, field: "systemPrompt", max: 20_000) }
        if let provider = input.provider { record.provider = try await self.provider(provider) }
        if let model = input.model { record.model = try AIService.modelName(model.isEmpty ? nil : model) }
        if input.temperature != nil { record.temperature = try Self.temperature(input.temperature) }
        if let tools = input.tools { record.tools = try Self.encode(try await toolNames(tools)) }
        if let steps = input.maxSteps { record.maxSteps = try Self.maxSteps(steps) }
        if let seconds = input.maxSeconds { record.maxSeconds = try Self.maxSeconds(seconds) }
        if let patterns = input.blockedPatterns { record.blockedPatterns = try Self.encode(try Self.blockedPatterns(patterns)) }
        if let approval = input.requireApproval { record.requireApproval = approval }
        try await save(record, creating: false)
        try await audit.record("ai.agent.update", target: "ai-agent:\(record.name)", by: actor)
        await services.events.publish(.aiAgentChanged, actor: actor.username, subject: "ai-agent:\(record.name)", data: ["change": "updated"])
        return try Self.dto(record)
    }

    /// Removes a profile; its executions stay in the history (they keep the agent's name).
    func deleteAgent(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.admin)
        let record = try await agentRecord(id)
        try await record.delete(on: db)
        try await audit.record("ai.agent.delete", target: "ai-agent:\(record.name)", by: actor)
        await services.events.publish(.aiAgentChanged, actor: actor.username, subject: "ai-agent:\(record.name)", data: ["change": "deleted"])
    }

    func agentRecord(_ id: UUID) async throws -> AIAgentRecord {
        guard let record = try await AIAgentRecord.find(id, on: db) else { throw NebulaError.notFound("The agent") }
        return record
    }

    private func save(_ record: AIAgentRecord, creating: Bool) async throws {
        let clash = try await AIAgentRecord.query(on: db).filter(\.$name == record.name).first()
        if let clash, clash.id != record.id {
            throw NebulaError.conflict("There is already an agent named \(record.name); choose another name.", code: "name_taken")
        }
        do {
            if creating { try await record.create(on: db) } else { try await record.update(on: db) }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw NebulaError.conflict("There is already an agent named \(record.name); choose another name.", code: "name_taken")
        }
    }

    private func provider(_ raw: String?) async throws -> String {
        let name = (raw ?? "auto").trimmingCharacters(in: .whitespaces).lowercased()
        if name.isEmpty || name == "auto" { return "auto" }
        let known = try await services.ai.providerRecords().map(\.name)
        guard known.contains(name) else {
            throw NebulaError.unprocessable("There is no AI provider named \(name); choose one of \((known + ["auto"]).joined(separator: ", ")).",
                                            code: "unknown_provider")
        }
        return name
    }

    /// The tool names, each known (built-in or an HTTP function), without repeats.
    private func toolNames(_ names: [String]) async throws -> [String] {
        guard names.count <= 50 else { throw NebulaError.unprocessable("An agent has at most 50 tools.", code: "too_many_tools") }
        let known = Set(try await tools().map(\.name))
        var seen: [String] = []
        for name in names.map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard known.contains(name) else {
                throw NebulaError.unprocessable("There is no tool named \(name.prefix(80)); GET /api/v1/ai/tools lists them.", code: "unknown_tool")
            }
            if !seen.contains(name) { seen.append(name) }
        }
        return seen
    }

    // MARK: HTTP functions

    func functions(by actor: Actor) async throws -> [AIFunctionDTO] {
        try actor.require(.viewer)
        return try await AIFunctionRecord.query(on: db).sort(\.$name).all().map(Self.dto)
    }

    func function(_ id: UUID, by actor: Actor) async throws -> AIFunctionDTO {
        try actor.require(.viewer)
        return try Self.dto(try await functionRecord(id))
    }

    func createFunction(_ input: AIFunctionInput, by actor: Actor) async throws -> AIFunctionDTO {
        try actor.require(.admin)
        let record = AIFunctionRecord()
        record.createdBy = actor.username
        record.changesSomething = true
        record.timeoutSeconds = 15
        record.headers = "{}"
        try await apply(input, to: record, creating: true)
        try await save(record, creating: true)
        try await audit.record("ai.function.create", target: "ai-function:\(record.name)", by: actor)
        await services.events.publish(.aiFunctionChanged, actor: actor.username, subject: "ai-function:\(record.name)", data: ["change": "created"])
        return try Self.dto(record)
    }

    func updateFunction(_ id: UUID, _ input: AIFunctionInput, by actor: Actor) async throws -> AIFunctionDTO {
        try actor.require(.admin)
        let record = try await functionRecord(id)
        if let name = input.name, name != record.name {
            throw NebulaError.unprocessable("A function's name cannot change (agents refer to it); add another function instead.", code: "name_immutable")
        }
        try await apply(input, to: record, creating: false)
        try await save(record, creating: false)
        try await audit.record("ai.function.update", target: "ai-function:\(record.name)", by: actor)
        await services.events.publish(.aiFunctionChanged, actor: actor.username, subject: "ai-function:\(record.name)", data: ["change": "updated"])
        return try Self.dto(record)
    }

    /// Removes a function and takes it away from every agent that had it.
    func deleteFunction(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.admin)
        let record = try await functionRecord(id)
        try await db.transaction { tx in
            for agent in try await AIAgentRecord.query(on: tx).all() {
                let tools = Self.decodeList(agent.tools)
                if tools.contains(record.name) {
                    agent.tools = try Self.encode(tools.filter { $0 != record.name })
                    try await agent.update(on: tx)
                }
            }
            try await record.delete(on: tx)
        }
        try await audit.record("ai.function.delete", target: "ai-function:\(record.name)", by: actor)
        await services.events.publish(.aiFunctionChanged, actor: actor.username, subject: "ai-function:\(record.name)", data: ["change": "deleted"])
    }

    func functionRecord(_ id: UUID) async throws -> AIFunctionRecord {
        guard let record = try await AIFunctionRecord.find(id, on: db) else { throw NebulaError.notFound("The HTTP function") }
        return record
    }

    private func apply(_ input: AIFunctionInput, to record: AIFunctionRecord, creating: Bool) async throws {
        if creating {
            let name = (input.name ?? "").trimmingCharacters(in: .whitespaces)
            guard (1...64).contains(name.count), name.first?.isLowercase == true,
                  name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                throw NebulaError.unprocessable("A function's name is 1–64 lowercase letters, digits or '_', starting with a letter, e.g. lights_on.",
                                                code: "invalid_name")
            }
            guard BuiltInTools.named(name) == nil else {
                throw NebulaError.conflict("\(name) is a built-in tool; choose another name.", code: "name_taken")
            }
            record.name = name
        }
        if creating || input.description != nil {
            let description = (input.description ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...1000).contains(description.count) else {
                throw NebulaError.unprocessable("Describe what the function does (1–1000 characters): the model reads it to decide when to call it.",
                                                code: "invalid_description")
            }
            record.description = description
        }
        if creating || input.parameters != nil {
            let schema = input.parameters ?? BuiltInTools.schema([:])
            if let problem = ToolSchema.problem(in: schema) { throw NebulaError.unprocessable(problem + ".", code: "invalid_parameters") }
            guard schema.jsonText.utf8.count <= 16_000 else {
                throw NebulaError.unprocessable("parameters is at most 16 kB of JSON Schema.", code: "invalid_parameters")
            }
            record.parameters = schema.jsonText
        }
        if creating || input.method != nil {
            let method = (input.method ?? "GET").uppercased()
            guard HTTPFunctions.methods.contains(method) else {
                throw NebulaError.unprocessable("method is one of \(HTTPFunctions.methods.joined(separator: ", ")).", code: "invalid_method")
            }
            record.method = method
            if creating, input.changesSomething == nil { record.changesSomething = method != "GET" }
        }
        if let changes = input.changesSomething { record.changesSomething = changes }
        if let timeout = input.timeoutSeconds {
            guard (1...120).contains(timeout) else { throw NebulaError.unprocessable("timeoutSeconds is between 1 and 120.", code: "invalid_timeout") }
            record.timeoutSeconds = timeout
        }
        let declared: Set<String> = {
            guard case .object(let schema)? = ToolSchema.parse(record.parameters), case .object(let properties)? = schema["properties"] else { return [] }
            return Set(properties.keys)
        }()
        if creating || input.urlTemplate != nil {
            let template = (input.urlTemplate ?? "").trimmingCharacters(in: .whitespaces)
            let sample = HTTPFunctions.fill(template) { _ in "x" }
            guard template.count <= 2000, let url = URL(string: sample), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                  url.host?.isEmpty == false, url.user == nil else {
                throw NebulaError.unprocessable("urlTemplate is an http or https URL without credentials, e.g. http://ha.lan:8123/api/services/{domain}/{service}.",
                                                code: "invalid_url")
            }
            record.urlTemplate = template
        }
        if let unknown = HTTPFunctions.placeholders(in: record.urlTemplate).first(where: { !declared.contains($0) }) {
            throw NebulaError.unprocessable("The URL placeholder {\(unknown)} is not a declared parameter; add it to parameters.properties.",
                                            code: "unknown_placeholder")
        }
        if let headers = input.headers {
            guard headers.count <= 30 else { throw NebulaError.unprocessable("At most 30 headers.", code: "invalid_headers") }
            for (name, value) in headers {
                guard (1...100).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }),
                      value.count <= 4000, !value.contains(where: \.isNewline) else {
                    throw NebulaError.unprocessable("Header \(name.prefix(60)) is not a valid header (name: letters, digits, '-'; value: one line).",
                                                    code: "invalid_headers")
                }
                let references = HTTPFunctions.secretReferences(in: value)
                if Self.credentialHeaders(name), references.isEmpty, !value.isEmpty {
                    throw NebulaError.unprocessable("Header \(name) carries a credential: store it in the vault and write {{secret:NAME}} instead of the value.",
                                                    code: "literal_credential")
                }
                for secret in references {
                    do {
                        _ = try await services.secrets.value(of: secret)
                    } catch {
                        throw NebulaError.unprocessable("There is no vault secret named \(secret); store it on the Secrets page first.", code: "unknown_secret")
                    }
                }
            }
            record.headers = try Self.encode(headers)
        }
        if let body = input.bodyTemplate {
            guard body.utf8.count <= 16_000 else { throw NebulaError.unprocessable("bodyTemplate is at most 16 kB.", code: "invalid_body") }
            if let unknown = HTTPFunctions.placeholders(in: body).first(where: { !declared.contains($0) }) {
                throw NebulaError.unprocessable("The body placeholder {\(unknown)} is not a declared parameter.", code: "unknown_placeholder")
            }
            record.bodyTemplate = body.isEmpty ? nil : body
        }
    }

    static func credentialHeaders(_ name: String) -> Bool { HTTPFunctions.credentialHeaders.contains(name.lowercased()) }

    private func save(_ record: AIFunctionRecord, creating: Bool) async throws {
        let clash = try await AIFunctionRecord.query(on: db).filter(\.$name == record.name).first()
        if let clash, clash.id != record.id {
            throw NebulaError.conflict("There is already a function named \(record.name).", code: "name_taken")
        }
        do {
            if creating { try await record.create(on: db) } else { try await record.update(on: db) }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw NebulaError.conflict("There is already a function named \(record.name).", code: "name_taken")
        }
    }

    // MARK: Tools

    /// Every tool: the built-in ones, then the HTTP functions.
    func tools() async throws -> [AgentTool] {
        BuiltInTools.all + (try await AIFunctionRecord.query(on: db).sort(\.$name).all().map(HTTPFunctions.tool))
    }

    func toolList(by actor: Actor) async throws -> [AgentToolDTO] {
        try actor.require(.viewer)
        return try await tools().map(\.dto)
    }

    // MARK: Executions

    func executions(agent: UUID?, limit: Int = 100, by actor: Actor) async throws -> [AgentExecutionDTO] {
        try actor.require(.viewer)
        let query = AgentExecutionRecord.query(on: db)
        if let agent { query.filter(\.$agentID == agent) }
        if actor.role < .operator { query.filter(\.$username == actor.username) }
        let rows = try await query.sort(\.$createdAt, .descending).limit(min(max(limit, 1), 500)).all()
        var out: [AgentExecutionDTO] = []
        for row in rows { out.append(try await dto(row, withSteps: false)) }
        return out
    }

    func execution(_ id: UUID, by actor: Actor) async throws -> AgentExecutionDTO {
        try await dto(try await visibleExecution(id, by: actor), withSteps: true)
    }

    /// Everyone sees their own executions; operators and admins (who approve) see all.
    func visibleExecution(_ id: UUID, by actor: Actor) async throws -> AgentExecutionRecord {
        try actor.require(.viewer)
        guard let row = try await AgentExecutionRecord.find(id, on: db), row.username == actor.username || actor.role >= .operator else {
            throw NebulaError.notFound("The execution")
        }
        return row
    }

    /// Starts an execution of an agent for `message`; the run goes on in the background (see
    /// ``AgentExecutionWatch``) and `emit` sees its events.
    func start(agent id: UUID, _ input: AgentRunInput, by actor: Actor, emit: @escaping @Sendable (AgentEvent) -> Void) async throws
        -> (id: UUID, run: Task<AgentExecutionDTO?, Never>) {
        try actor.require(.viewer)
        let agent = try await agentRecord(id)
        let message = (input.message ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !message.isEmpty else { throw NebulaError.unprocessable("Send a message for the agent.", code: "empty_message") }
        guard message.utf8.count <= 100_000 else { throw NebulaError.unprocessable("The message is at most 100 kB.", code: "message_too_long") }
        let execution = try await runner.prepare(agent: agent, message: message, conversationID: input.conversationId, by: actor)
        let executionID = try execution.requireID()
        try await audit.record("ai.agent.run", target: "ai-agent:\(agent.name)", by: actor, detail: "execution \(executionID)")
        let runner = runner
        let run = watch.launch(executionID, db: db) { await runner.drive(executionID, by: actor, decision: nil, emit: emit) }
        return (executionID, run)
    }

    /// Approves or declines the call an execution waits for, and continues the run.
    func decide(_ id: UUID, approve: Bool, note: String?, by actor: Actor, emit: @escaping @Sendable (AgentEvent) -> Void) async throws
        -> Task<AgentExecutionDTO?, Never> {
        try actor.require(.operator)
        let row = try await visibleExecution(id, by: actor)
        if let note, note.count > 1000 { throw NebulaError.unprocessable("A note is at most 1000 characters.", code: "invalid_note") }
        guard row.status == AgentExecutionStatus.waitingApproval.rawValue else {
            throw NebulaError.conflict("This execution is \(row.status.replacingOccurrences(of: "_", with: " ")), not waiting for an approval.",
                                       code: "not_waiting")
        }
        guard try await claim(id) else {
            throw NebulaError.conflict("Someone else decided this approval a moment ago.", code: "already_decided")
        }
        try await audit.record(approve ? "ai.execution.approve" : "ai.execution.reject", target: "ai-execution:\(id)", by: actor,
                               detail: note.map { String($0.prefix(200)) })
        let runner = runner
        let decision = AgentDecision(approved: approve, by: actor.username, note: note)
        return watch.launch(id, db: db) { await runner.drive(id, by: actor, decision: decision, emit: emit) }
    }

    /// Moves an execution from `waiting_approval` to `running`; false when another request did first.
    private func claim(_ id: UUID) async throws -> Bool {
        guard let sql = db as? any SQLDatabase else { throw NebulaError.misconfigured("Agents need an SQL database.") }
        let rows = try await sql.update(AgentExecutionRecord.schema)
            .set("status", to: AgentExecutionStatus.running.rawValue)
            .set("instance", to: watch.instance)
            .set("heartbeat_at", to: Date())
            .where("id", .equal, id)
            .where("status", .equal, AgentExecutionStatus.waitingApproval.rawValue)
            .returning("id")
            .all()
        return !rows.isEmpty
    }

    // MARK: DTOs

    func dto(_ row: AgentExecutionRecord, withSteps: Bool) async throws -> AgentExecutionDTO {
        let id = try row.requireID()
        var pendingCall: AgentToolCallDTO?
        var steps: [AgentStepDTO]?
        if withSteps || row.status == AgentExecutionStatus.waitingApproval.rawValue {
            let rows = try await AgentStepRecord.query(on: db).filter(\.$executionID == id).sort(\.$position).all()
            let all = rows.map(Self.dto)
            pendingCall = all.last?.toolCalls.first { $0.status == .waitingApproval }
            if withSteps { steps = all }
        }
        return AgentExecutionDTO(id: id, agentId: row.agentID, agent: row.agentName, username: row.username, conversationId: row.conversationID,
                                 status: AgentExecutionStatus(rawValue: row.status) ?? .failed, reason: row.reason, message: row.message,
                                 answer: row.answer, stepCount: row.steps, promptTokens: row.promptTokens, completionTokens: row.completionTokens,
                                 durationMs: row.durationMilliseconds, pendingCall: pendingCall, steps: steps, createdAt: row.createdAt,
                                 finishedAt: row.finishedAt)
    }

    static func dto(_ row: AgentStepRecord) -> AgentStepDTO {
        AgentStepDTO(position: row.position, provider: row.provider, model: row.model, text: row.text, toolCalls: calls(row),
                     promptTokens: row.promptTokens, completionTokens: row.completionTokens, durationMs: row.durationMilliseconds,
                     error: row.error, createdAt: row.createdAt)
    }

    static func calls(_ row: AgentStepRecord) -> [AgentToolCallDTO] {
        (try? JSONDecoder().decode([AgentToolCallDTO].self, from: Data(row.toolCalls.utf8))) ?? []
    }

    static func dto(_ record: AIAgentRecord) throws -> AgentDTO {
        AgentDTO(id: try record.requireID(), name: record.name, description: record.description, systemPrompt: record.systemPrompt,
                 provider: record.provider, model: record.model, temperature: record.temperature, tools: decodeList(record.tools),
                 maxSteps: record.maxSteps, maxSeconds: record.maxSeconds, blockedPatterns: decodeList(record.blockedPatterns),
                 requireApproval: record.requireApproval, createdBy: record.createdBy, createdAt: record.createdAt, updatedAt: record.updatedAt)
    }

    static func dto(_ record: AIFunctionRecord) throws -> AIFunctionDTO {
        AIFunctionDTO(id: try record.requireID(), name: record.name, description: record.description,
                      parameters: ToolSchema.parse(record.parameters) ?? .object([:]), method: record.method, urlTemplate: record.urlTemplate,
                      headers: (try? JSONDecoder().decode([String: String].self, from: Data(record.headers.utf8))) ?? [:],
                      bodyTemplate: record.bodyTemplate, changesSomething: record.changesSomething, timeoutSeconds: record.timeoutSeconds,
                      createdBy: record.createdBy, createdAt: record.createdAt, updatedAt: record.updatedAt)
    }

    // MARK: Rules

    static func agentName(_ raw: String?) throws -> String {
        let name = (raw ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        guard (1...60).contains(name.count), name.first != "-", name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw NebulaError.unprocessable("An agent's name is 1–60 lowercase letters, digits or dashes, e.g. lab-doctor.", code: "invalid_name")
        }
        return name
    }

    static func text(_ raw: String, field: String, max: Int) throws -> String {
        guard raw.count <= max else { throw NebulaError.unprocessable("\(field) is at most \(max) characters.", code: "invalid_\(snake(field))") }
        return raw
    }

    static func snake(_ field: String) -> String {
        field.reduce("") { $0 + ($1.isUppercase ? "_" + $1.lowercased() : String($1)) }
    }

    static func temperature(_ value: Double?) throws -> Double? {
        guard let value else { return nil }
        guard (0...2).contains(value) else { throw NebulaError.unprocessable("temperature is between 0 and 2.", code: "invalid_temperature") }
        return value
    }

    static func maxSteps(_ value: Int) throws -> Int {
        guard (1...50).contains(value) else { throw NebulaError.unprocessable("maxSteps is between 1 and 50.", code: "invalid_max_steps") }
        return value
    }

    static func maxSeconds(_ value: Int) throws -> Int {
        guard (5...1800).contains(value) else { throw NebulaError.unprocessable("maxSeconds is between 5 and 1800.", code: "invalid_max_seconds") }
        return value
    }

    static func blockedPatterns(_ patterns: [String]) throws -> [String] {
        guard patterns.count <= 50 else { throw NebulaError.unprocessable("At most 50 blocked patterns.", code: "invalid_blocked_pattern") }
        for pattern in patterns {
            guard !pattern.isEmpty, pattern.count <= 500, (try? NSRegularExpression(pattern: pattern)) != nil else {
                throw NebulaError.unprocessable("The blocked pattern \(pattern.prefix(80)) is not a regular expression (1–500 characters).",
                                                code: "invalid_blocked_pattern")
            }
        }
        return patterns
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decodeList(_ text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }
}
