import AIProviders
import Fluent
import Foundation
import NebulaCore
import NebulaTestSupport
@testable import NebulaServer
import NIOHTTP1
import Testing

@Suite struct AIAgentsTests {
    typealias Call = FakeModelServer.ScriptedToolCall

    /// The messages of the `index`-th chat request the fake received.
    static func messages(_ fake: FakeModelServer, request index: Int) -> [[String: Any]] {
        let requests = fake.chatRequests
        guard index < requests.count else { return [] }
        return requests[index].json()?["messages"] as? [[String: Any]] ?? []
    }

    static func toolMessages(_ fake: FakeModelServer, request index: Int) -> [String] {
        messages(fake, request: index).filter { $0["role"] as? String == "tool" }.map { $0["content"] as? String ?? "" }
    }

    @Test(arguments: TestDatabase.all)
    func aToolCallGoesBackToTheModelUntilItAnswersInBothStyles(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            for style in FakeStyle.allCases {
                // setup
                let fake = try await FakeModelServer.start()
                defer { Task { await fake.stop() } }
                let admin = try await app.token(role: .admin)
                _ = try await app.services.fleet.ensureLocalServer(hostName: "nas")
                try await app.addFakeProvider(fake, style: style, name: "fake-\(style.rawValue.lowercased())", token: admin)
                let agent = try await app.createAgent(token: admin, ["provider": "fake-\(style.rawValue.lowercased())", "tools": ["list_servers", "server_metrics"]])
                fake.script([.toolCalls([.call("list_servers", "{}", id: "call_a1")]), .answer("You have one server: nas.")])
                // act
                let execution = try await app.runAgent(agent.id, token: admin, message: "Which servers do I have?")
                // verify
                #expect(execution.status == .succeeded, "\(style): \(execution.reason ?? "")")
                #expect(execution.answer == "You have one server: nas.")
                let steps = try #require(execution.steps)
                #expect(steps.count == 2)
                let call = try #require(steps.first?.toolCalls.first)
                #expect(call.name == "list_servers" && call.status == .ok)
                #expect(call.result?.contains(#""name":"nas""#) == true, "\(call.result ?? "")")
                #expect(steps[1].toolCalls.isEmpty && steps[1].text == "You have one server: nas.")
                // Tokens per step as the provider reported them, and their totals.
                #expect(steps.allSatisfy { $0.promptTokens > 0 && $0.completionTokens > 0 })
                #expect(execution.promptTokens == steps.reduce(0) { $0 + $1.promptTokens })
                #expect(execution.completionTokens == steps.reduce(0) { $0 + $1.completionTokens })
                #expect(fake.chatRequestCount == 2)
                // The second request carried the tool's result as a tool message, and the tool definitions.
                let results = Self.toolMessages(fake, request: 1)
                #expect(results.count == 1 && results[0].contains("nas"))
                let tools = fake.chatRequests[0].json()?["tools"] as? [[String: Any]] ?? []
                #expect(tools.count == 2)
                // Persisted and listed; saved in a conversation; audited; accounted as agent usage.
                let listed = try await app.request(.GET, "/api/v1/ai/executions?agent=\(agent.id)", token: admin)
                #expect(listed.body.contains(execution.id.uuidString))
                let conversation = try #require(execution.conversationId)
                let saved = try await app.request(.GET, "/api/v1/ai/conversations/\(conversation)", token: admin)
                #expect(saved.body.contains("Which servers do I have?") && saved.body.contains("You have one server: nas."))
                #expect(try await app.auditEntries(action: "ai.agent.run").contains { $0.target == "ai-agent:\(agent.name)" })
                let usage = try await AIUsageRecord.query(on: app.app.db).filter(\.$source == "agent").count()
                #expect(usage >= 2)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func badArgumentsUnknownToolsAndFailingToolsBecomeResultsTheModelReads(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let fake = try await FakeModelServer.start()
            defer { Task { await fake.stop() } }
            let admin = try await app.token(role: .admin)
            try await app.addFakeProvider(fake, style: .openAI, token: admin)
            let agent = try await app.createAgent(token: admin, ["tools": ["server_metrics", "list_servers"]])
            fake.script([
                .toolCalls([.call("server_metrics", #"{"server": 42}"#), .call("no_such_tool", "{}"), .call("server_metrics", #"{"server":"ghost"}"#),
                            .call("list_servers", "not json at all"), .call("server_metrics", #"{"server":"nas","extra":true}"#)]),
                .answer("I could not find that server."),
            ])
            // act
            let execution = try await app.runAgent(agent.id, token: admin, message: "How is ghost doing?")
            // verify: the loop went on and the model got every problem in words
            #expect(execution.status == .succeeded, "\(execution.reason ?? "")")
            let calls = try #require(execution.steps?.first?.toolCalls)
            #expect(calls.map(\.status) == [.invalidArguments, .unknownTool, .error, .invalidArguments, .invalidArguments])
            #expect(calls[0].result?.contains("arguments.server must be a string") == true, "\(calls[0].result ?? "")")
            #expect(calls[1].result?.contains("no tool named no_such_tool") == true)
            #expect(calls[2].result?.contains("no server named ghost") == true, "\(calls[2].result ?? "")")
            #expect(calls[3].result?.contains("must be a JSON object") == true)
            #expect(calls[4].result?.contains("arguments.extra is not a known parameter") == true, "\(calls[4].result ?? "")")
            let results = Self.toolMessages(fake, request: 1)
            #expect(results.count == 5 && results[2].contains("ghost"))
        }
    }

    @Test(arguments: TestDatabase.all)
    func aBlockedPatternRefusesTheCall(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let fake = try await FakeModelServer.start()
            defer { Task { await fake.stop() } }
            let admin = try await app.token(role: .admin)
            _ = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            try await app.addFakeProvider(fake, style: .ollama, token: admin)
            let agent = try await app.createAgent(token: admin, ["tools": ["container_logs"], "blockedPatterns": ["prod-?db", "rm\\s+-rf"]])
            fake.script([.toolCalls([.call("container_logs", #"{"server":"nas","container":"prod-db"}"#)]), .answer("That container is off limits.")])
            // act
            let execution = try await app.runAgent(agent.id, token: admin, message: "Show me the prod-db logs")
            // verify
            #expect(execution.status == .succeeded)
            let call = try #require(execution.steps?.first?.toolCalls.first)
            #expect(call.status == .blocked)
            #expect(call.result?.hasPrefix("Refused: the arguments match the blocked pattern /prod-?db/") == true, "\(call.result ?? "")")
            #expect(Self.toolMessages(fake, request: 1).first?.hasPrefix("Refused") == true)
        }
    }

    @Test(arguments: TestDatabase.all)
    func aChangingHTTPFunctionWaitsForApprovalAndItsSecretNeverShows(_ database: TestDatabase) async throws {
        let secret = "s3cr3t-token-8f2c91"
        let received = LockedValue<[TestHTTPServer.Request]>([])
        let service = try await TestHTTPServer.start { request in
            received.withLock { $0.append(request) }
            // An API that echoes the credential back: the agent must not keep or show it.
            return .json(#"{"restarted":true,"echo":"\#(request.headers.first(name: "X-Token") ?? "")"}"#)
        }
        defer { Task { await service.stop() } }
        try await withApp(database) { app in
            // setup
            let fake = try await FakeModelServer.start()
            defer { Task { await fake.stop() } }
            let admin = try await app.token(role: .admin, username: "root")
            let operatorToken = try await app.token(role: .operator)
            _ = try await app.services.secrets.store(name: "svc-token", value: secret, description: nil, replace: false, by: .system())
            try await app.addFakeProvider(fake, style: .openAI, token: admin)
            let function = try await app.request(.POST, "/api/v1/ai/functions", token: admin, json: TestApp.json([
                "name": "restart_service", "description": "Restarts a service by name.", "method": "POST",
                "parameters": ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"], "additionalProperties": false],
                "urlTemplate": "\(service.url.absoluteString)/restart/{name}?via=agent",
                "headers": ["X-Token": "{{secret:svc-token}}"], "bodyTemplate": #"{"service":"{name}"}"#,
            ]))
            #expect(function.status == .created, "\(function.body)")
            let agent = try await app.createAgent(token: admin, ["tools": ["restart_service"], "requireApproval": true])
            fake.script([.toolCalls([.call("restart_service", #"{"name":"web \"1\""}"#)]), .answer("Restarted web 1.")])
            // act 1: the run pauses before the call
            let waiting = try await app.runAgent(agent.id, token: admin, message: "Restart web 1")
            // verify 1
            #expect(waiting.status == .waitingApproval)
            #expect(waiting.pendingCall?.name == "restart_service")
            #expect(received.withLock { $0.isEmpty })
            #expect(try await app.request(.POST, "/api/v1/ai/executions/\(waiting.id)/approve", token: try await app.token(role: .viewer), json: "{}").status == .forbidden)
            // act 2: an operator approves and watches the rest stream
            let stream = try await app.postEvents("/api/v1/ai/executions/\(waiting.id)/approve", token: operatorToken, json: #"{"stream":true}"#)
            // verify 2: the call ran once with the secret header and the URL-encoded argument, and the run went on
            #expect(stream.status == 200)
            let events = stream.messages.map { $0.event ?? "" }
            #expect(events.first == "tool_result" && events.contains("step") && events.contains("delta") && events.last == "done", "\(events)")
            let requests = received.withLock { $0 }
            #expect(requests.count == 1)
            #expect(requests.first?.path == #"/restart/web "1""#)
            #expect(requests.first?.query["via"] == "agent")
            #expect(requests.first?.headers.first(name: "X-Token") == secret)
            #expect(requests.first.map { String(decoding: $0.body, as: UTF8.self) } == #"{"service":"web \"1\""}"#)
            let done = try #require(stream.messages.last)
            #expect(done.data.contains(#""status":"succeeded""#))
            let execution = try await app.execution(waiting.id, token: admin)
            #expect(execution.status == .succeeded && execution.answer == "Restarted web 1.")
            let call = try #require(execution.steps?.first?.toolCalls.first)
            #expect(call.status == .ok && call.decidedBy != nil)
            #expect(call.result?.contains("••••") == true, "\(call.result ?? "")")
            #expect(try await app.auditEntries(action: "ai.agent.tool").contains { ($0.detail ?? "").contains("restart_service") })
            #expect(try await app.auditEntries(action: "ai.execution.approve").filter { $0.outcome == .success }.count == 1)
            // The secret value is nowhere: API answers, the stream, audit, conversation, what the model was sent.
            var seen = stream.messages.map(\.data).joined()
            for path in ["/api/v1/ai/executions/\(waiting.id)", "/api/v1/ai/executions", "/api/v1/ai/functions", "/api/v1/ai/tools",
                         "/api/v1/ai/conversations/\(try #require(execution.conversationId))", "/api/v1/audit?limit=500"] {
                seen += try await app.request(.GET, path, token: admin).body
            }
            seen += try await app.auditEntries().map { "\($0.detail ?? "") \($0.target ?? "")" }.joined()
            seen += fake.chatRequests.map { String(decoding: $0.body, as: UTF8.self) }.joined()
            seen += LogCapture.allText
            let stored = try await AgentExecutionRecord.find(waiting.id, on: app.app.db)
            seen += (stored?.transcript ?? "") + (try await AgentStepRecord.query(on: app.app.db).all().map(\.toolCalls).joined())
            #expect(!seen.contains(secret))
            #expect(seen.contains("{{secret:svc-token}}"))
        }
    }

    @Test(arguments: TestDatabase.all)
    func rejectingTellsTheModelTheOperatorDeclined(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let fake = try await FakeModelServer.start()
            defer { Task { await fake.stop() } }
            let admin = try await app.token(role: .admin)
            _ = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            try await app.addFakeProvider(fake, style: .ollama, token: admin)
            let agent = try await app.createAgent(token: admin, ["tools": ["restart_container", "list_servers"]])
            fake.script([.toolCalls([.call("list_servers", "{}"), .call("restart_container", #"{"server":"nas","container":"web"}"#)]),
                         .answer("OK, I left web running.")])
            let waiting = try await app.runAgent(agent.id, token: admin, message: "Restart web on nas")
            #expect(waiting.status == .waitingApproval)
            #expect(waiting.steps?.first?.toolCalls.first?.status == .ok)
            // act
            let response = try await app.request(.POST, "/api/v1/ai/executions/\(waiting.id)/reject", token: admin, json: #"{"note":"not during the backup"}"#)
            // verify
            #expect(response.status == .ok, "\(response.body)")
            let execution = try response.decode(AgentExecutionDTO.self)
            #expect(execution.status == .rejected)
            #expect(execution.answer == "OK, I left web running.")
            let call = try #require(execution.steps?.first?.toolCalls.last)
            #expect(call.status == .declined && call.decidedBy != nil)
            let results = Self.toolMessages(fake, request: 1)
            #expect(results.count == 2 && results[1].contains("The operator declined this call: not during the backup"), "\(results)")
            #expect(try await app.auditEntries(action: "ai.agent.tool").isEmpty)
            #expect(try await app.auditEntries(action: "ai.execution.reject").count == 1)
            // A decided execution cannot be decided again.
            let again = try await app.request(.POST, "/api/v1/ai/executions/\(waiting.id)/approve", token: admin, json: "{}")
            #expect(again.status == .conflict && again.errorCode == "not_waiting")
        }
    }

    @Test(arguments: TestDatabase.all)
    func maxStepsStopsARunThatNeverAnswers(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let fake = try await FakeModelServer.start()
            defer { Task { await fake.stop() } }
            let admin = try await app.token(role: .admin)
            try await app.addFakeProvider(fake, style: .openAI, token: admin)
            let agent = try await app.createAgent(token: admin, ["maxSteps": 3])
            fake.defaultTurn = .toolCalls([.call("list_servers", "{}", id: "call_loop")])
            // act
            let execution = try await app.runAgent(agent.id, token: admin, message: "Loop forever")
            // verify
            #expect(execution.status == .stopped)
            #expect(execution.reason?.contains("limit of 3 steps") == true, "\(execution.reason ?? "")")
            #expect(execution.stepCount == 3 && execution.steps?.count == 3)
            #expect(fake.chatRequestCount == 3)
        }
    }

    @Test(arguments: TestDatabase.all)
    func maxSecondsStopsASlowModel(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let fake = try await FakeModelServer.start()
            defer { Task { await fake.stop() } }
            let admin = try await app.token(role: .admin)
            try await app.addFakeProvider(fake, style: .openAI, token: admin)
            let agent = try await app.createAgent(token: admin, ["maxSeconds": 5])
            fake.script([.slow(firstTokenAfter: .seconds(30), text: "Too late.")])
            // act
            let execution = try await app.runAgent(agent.id, token: admin, message: "Take your time")
            // verify
            #expect(execution.status == .stopped)
            #expect(execution.reason?.contains("time limit of 5 seconds") == true, "\(execution.reason ?? "")")
        }
    }

    @Test(arguments: TestDatabase.all)
    func aStreamedRunSendsStepsDeltasToolCallsResultsAndDone(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let fake = try await FakeModelServer.start()
            defer { Task { await fake.stop() } }
            let viewer = try await app.token(role: .viewer)
            let admin = try await app.token(role: .admin)
            try await app.addFakeProvider(fake, style: .openAI, token: admin)
            let agent = try await app.createAgent(token: admin, ["tools": ["list_incidents"]])
            fake.script([.toolCalls([.call("list_incidents", #"{"status":"open"}"#)]), .answer("No open incidents, all is calm.")])
            // act
            let stream = try await app.postEvents("/api/v1/ai/agents/\(agent.id)/run", token: viewer, json: #"{"message":"Anything on fire?","stream":true}"#)
            // verify
            #expect(stream.status == 200)
            let events = stream.messages.map { $0.event ?? "" }.filter { $0 != "delta" }
            #expect(events == ["step", "tool_call", "tool_result", "step", "done"], "\(events)")
            #expect(stream.messages.filter { $0.event == "delta" }.count >= 2)
            #expect(stream.messages.first { $0.event == "tool_result" }?.data.contains(#""status":"ok""#) == true)
            #expect(stream.messages.last?.data.contains("No open incidents, all is calm.") == true)
            // Viewers see their own executions only; a provider failure is an error event.
            let other = try await app.token(role: .viewer)
            #expect(try await app.request(.GET, "/api/v1/ai/executions", token: other).body.contains(agent.name) == false)
            fake.script([.failBeforeFirstToken(status: 500, message: "model crashed")])
            let failed = try await app.postEvents("/api/v1/ai/agents/\(agent.id)/run", token: viewer, json: #"{"message":"Again?","stream":true}"#)
            #expect(failed.messages.map(\.event) == ["step", "error"])
            #expect(failed.messages.last?.data.contains("model crashed") == true)
        }
    }

    @Test(arguments: TestDatabase.all)
    func profilesAndFunctionsAreValidatedAtTheEdge(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let admin = try await app.token(role: .admin)
            let viewer = try await app.token(role: .viewer)
            let base: [String: Any] = ["name": "checker", "tools": ["list_servers"]]
            let cases: [([String: Any], String)] = [
                (["maxSteps": 0], "invalid_max_steps"), (["maxSteps": 51], "invalid_max_steps"), (["maxSeconds": 4], "invalid_max_seconds"),
                (["maxSeconds": 1801], "invalid_max_seconds"), (["tools": ["list_servers", "launch_rockets"]], "unknown_tool"),
                (["blockedPatterns": ["("]], "invalid_blocked_pattern"), (["temperature": 2.5], "invalid_temperature"),
                (["provider": "nowhere"], "unknown_provider"), (["name": "Bad Name!"], "invalid_name"),
            ]
            // act + verify: agents
            for (fields, code) in cases {
                let response = try await app.request(.POST, "/api/v1/ai/agents", token: admin, json: TestApp.json(base.merging(fields) { $1 }))
                #expect(response.status == .unprocessableEntity && response.errorCode == code, "\(fields) → \(response.body)")
            }
            #expect(try await app.request(.POST, "/api/v1/ai/agents", token: viewer, json: TestApp.json(base)).status == .forbidden)
            let made = try await app.request(.POST, "/api/v1/ai/agents", token: admin, json: TestApp.json(base))
            #expect(made.status == .created)
            let agent = try made.decode(AgentDTO.self)
            #expect(agent.maxSteps == 8 && agent.maxSeconds == 120 && agent.requireApproval && agent.provider == "auto")
            #expect(try await app.request(.POST, "/api/v1/ai/agents", token: admin, json: TestApp.json(base)).errorCode == "name_taken")
            #expect(try await app.request(.GET, "/api/v1/ai/agents/\(agent.id)", token: viewer).status == .ok)
            #expect(try await app.request(.POST, "/api/v1/ai/agents/\(agent.id)/run", token: viewer, json: #"{"message":"  "}"#).errorCode == "empty_message")
            // act + verify: functions
            let function: [String: Any] = ["name": "lights_on", "description": "Turns on a light.", "method": "POST",
                                           "parameters": ["type": "object", "properties": ["room": ["type": "string"]]],
                                           "urlTemplate": "http://127.0.0.1:9/light/{room}"]
            let functionCases: [([String: Any], String)] = [
                (["parameters": ["type": "string"]], "invalid_parameters"),
                (["parameters": ["type": "object", "properties": ["room": ["type": "text"]]]], "invalid_parameters"),
                (["parameters": ["type": "object", "patternProperties": [:]]], "invalid_parameters"),
                (["urlTemplate": "http://127.0.0.1:9/light/{floor}"], "unknown_placeholder"),
                (["urlTemplate": "ftp://nas/{room}"], "invalid_url"),
                (["headers": ["Authorization": "Bearer abc123"]], "literal_credential"),
                (["headers": ["Authorization": "Bearer {{secret:missing-one}}"]], "unknown_secret"),
                (["method": "TRACE"], "invalid_method"), (["name": "Lights On"], "invalid_name"), (["timeoutSeconds": 0], "invalid_timeout"),
            ]
            for (fields, code) in functionCases {
                let response = try await app.request(.POST, "/api/v1/ai/functions", token: admin, json: TestApp.json(function.merging(fields) { $1 }))
                #expect(response.status == .unprocessableEntity && response.errorCode == code, "\(fields) → \(response.body)")
            }
            let builtIn = try await app.request(.POST, "/api/v1/ai/functions", token: admin, json: TestApp.json(function.merging(["name": "list_servers"]) { $1 }))
            #expect(builtIn.status == .conflict && builtIn.errorCode == "name_taken")
            #expect(try await app.request(.POST, "/api/v1/ai/functions", token: admin, json: TestApp.json(function)).status == .created)
            let tools = try await app.request(.GET, "/api/v1/ai/tools", token: viewer).decode(ListPage<AgentToolDTO>.self).items
            #expect(tools.map(\.name) == BuiltInTools.all.map(\.name) + ["lights_on"])
            #expect(tools.first { $0.name == "lights_on" }?.changesSomething == true)
            #expect(tools.first { $0.name == "restart_container" }?.changesSomething == true)
            #expect(tools.first { $0.name == "run_diagnose_runbook" }?.changesSomething == false)
            let updated = try await app.request(.PUT, "/api/v1/ai/agents/\(agent.id)", token: admin, json: #"{"tools":["lights_on"],"maxSteps":3}"#)
            #expect(try updated.decode(AgentDTO.self).tools == ["lights_on"])
        }
    }

    @Test(arguments: TestDatabase.all)
    func anExecutionInterruptedByARestartIsMarkedFailed(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup: an execution a process that died was running
            let agent = try await app.services.aiAgents.createAgent(AgentInput(name: "orphan-maker"), by: .system())
            let row = AgentExecutionRecord()
            row.agentID = agent.id
            row.agentName = agent.name
            row.username = "root"
            row.status = AgentExecutionStatus.running.rawValue
            row.message = "Do something long"
            row.transcript = "[]"
            row.steps = 1
            row.promptTokens = 0
            row.completionTokens = 0
            row.durationMilliseconds = 0
            row.declined = false
            row.instance = "a-process-that-died"
            row.heartbeatAt = Date().addingTimeInterval(-600)
            try await row.create(on: app.app.db)
            let id = try row.requireID()
            await app.stop()
            // act
            let restarted = try await TestApp.start(config: app.config, directory: app.directory)
            defer { Task { await restarted.stop() } }
            var status = ""
            for _ in 0..<100 {
                status = try await AgentExecutionRecord.find(id, on: restarted.app.db)?.status ?? ""
                if status != "running" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            // verify
            let after = try #require(try await AgentExecutionRecord.find(id, on: restarted.app.db))
            #expect(after.status == "failed")
            #expect(after.reason?.hasPrefix("Interrupted: the server running it stopped or restarted") == true)
            #expect(after.finishedAt != nil)
            await restarted.stop()
        }
    }
}
