import AIProviders
import Foundation
import NebulaCore
import NebulaTestSupport
@testable import NebulaServer
import Testing

/// The AI gateway: providers with keys in the vault and health badges, `auto` routing with
/// fallback before the first token and a circuit breaker per provider, errors after streaming
/// started shown as errors, saved conversations, usage, and the OpenAI-compatible endpoint —
/// all against loopback servers speaking Ollama's and OpenAI's wire formats.
@Suite struct AITests {
    @Test(arguments: TestDatabase.all)
    func providersKeepTheirKeyInTheVaultAndShowHealthLatencyAndModels(_ database: TestDatabase) async throws {
        let key = "sk-test-\(UUID().uuidString.prefix(12))"
        try await AI.withFakes(1, models: ["tiny-model", "coder:7b"], apiKey: key) { fakes in
            try await withApp(database) { app in
                // setup
                let admin = try await app.token(role: .admin)
                let viewer = try await app.token(role: .viewer)
                let closed = try LoopbackPorts.freePort()
                // act
                let cloud = try await AI.openAI(app, token: admin, name: "cloud", fakes[0], extra: #","isLocal":false,"apiKey":"\#(key)""#)
                let wrongKey = try await AI.openAI(app, token: admin, name: "wrong-key", fakes[0], extra: #","isLocal":false,"apiKey":"not-the-key""#)
                let down = try await AI.addProvider(app, token: admin, #"{"name":"gpu-box","kind":"ollama","baseURL":"http://127.0.0.1:\#(closed)"}"#)
                let listed = try await app.request(.GET, "/api/v1/ai/providers", token: viewer)
                let asViewer = try await app.request(.POST, "/api/v1/ai/providers", token: viewer, json: #"{"name":"x","kind":"ollama","baseURL":"http://127.0.0.1:1"}"#)
                let badName = try await app.request(.POST, "/api/v1/ai/providers", token: admin, json: #"{"name":"Bad Name","kind":"ollama","baseURL":"http://127.0.0.1:1"}"#)
                let noKind = try await app.request(.POST, "/api/v1/ai/providers", token: admin, json: #"{"name":"nokind","baseURL":"http://127.0.0.1:1"}"#)
                let badURL = try await app.request(.POST, "/api/v1/ai/providers", token: admin, json: #"{"name":"badurl","kind":"openai","baseURL":"ftp://x"}"#)
                let anthropicNoKey = try await app.request(.POST, "/api/v1/ai/providers", token: admin, json: #"{"name":"claude","kind":"anthropic"}"#)
                let unknownSecret = try await app.request(.POST, "/api/v1/ai/providers", token: admin, json: #"{"name":"s","kind":"openai","baseURL":"http://127.0.0.1:1/v1","apiKeySecret":"no-such-secret"}"#)
                let taken = try await app.request(.POST, "/api/v1/ai/providers", token: admin, json: #"{"name":"cloud","kind":"openai","baseURL":"http://127.0.0.1:1/v1"}"#)
                let renamed = try await app.request(.PUT, "/api/v1/ai/providers/\(cloud.id)", token: admin, json: #"{"name":"other"}"#)
                let changed = try await app.request(.PUT, "/api/v1/ai/providers/\(cloud.id)", token: admin, json: #"{"priority":5,"defaultModel":"coder:7b"}"#)
                let deleted = try await app.request(.DELETE, "/api/v1/ai/providers/\(wrongKey.id)", token: admin)
                let audit = try await app.auditEntries(action: "ai.provider.create")
                // verify
                #expect(cloud.health == "ok" && cloud.healthError == nil, "\(cloud)")
                #expect(cloud.latencyMs != nil && cloud.models.map(\.name) == ["tiny-model", "coder:7b"])
                #expect(cloud.hasAPIKey && cloud.apiKeySecret == "ai.cloud" && !cloud.isLocal && cloud.circuit == "closed")
                #expect(fakes[0].requests.contains { $0.headers.first(name: "Authorization") == "Bearer \(key)" })
                #expect(wrongKey.health == "down" && wrongKey.healthError?.contains("refused the API key") == true, "\(wrongKey)")
                #expect(down.health == "down" && down.isLocal && down.healthError?.isEmpty == false, "\(down)")
                #expect(listed.status == .ok && !listed.body.contains(key), "the key never leaves the vault")
                #expect(try listed.decode(AI.Providers.self).items.map(\.name) == ["gpu-box", "cloud", "wrong-key"], "local first")
                #expect(asViewer.status == .forbidden)
                #expect(badName.status == .unprocessableEntity && badName.errorCode == "invalid_name")
                #expect(noKind.status == .unprocessableEntity && noKind.errorCode == "invalid_kind")
                #expect(badURL.status == .unprocessableEntity && badURL.errorCode == "invalid_url")
                #expect(anthropicNoKey.status == .unprocessableEntity && anthropicNoKey.errorCode == "missing_api_key", "\(anthropicNoKey.body)")
                #expect(unknownSecret.status == .unprocessableEntity && unknownSecret.errorCode == "unknown_secret")
                #expect(taken.status == .conflict && taken.errorCode == "name_taken")
                #expect(renamed.status == .unprocessableEntity && renamed.errorCode == "name_immutable")
                #expect(try changed.decode(AIProviderDTO.self).priority == 5 && (try changed.decode(AIProviderDTO.self).defaultModel) == "coder:7b")
                #expect(deleted.status == .noContent)
                let secrets = try await app.request(.GET, "/api/v1/secrets", token: admin).body
                #expect(secrets.contains("ai.cloud") && !secrets.contains("ai.wrong-key"), "a deleted provider's own key leaves the vault")
                #expect(audit.filter { $0.outcome == .success }.count == 3 && !audit.contains { ($0.detail ?? "").contains(key) })
                #expect(!LogCapture.allText.contains(key), "the key is never logged")
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func aStreamedChatIsSavedWithItsUsageAndTheNextMessageCarriesTheHistory(_ database: TestDatabase) async throws {
        try await AI.withFakes(1) { fakes in
            try await withApp(database) { app in
                // setup
                let admin = try await app.token(role: .admin)
                let user = try await app.token(role: .viewer, username: "alice")
                let other = try await app.token(role: .viewer, username: "bob")
                let local = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                fakes[0].script([.answer("Hello **homelab**.", chunks: 4), .answer("Second answer.", chunks: 2)])
                // act
                let first = try await app.request(.POST, "/api/v1/ai/chat", token: user, json: #"{"message":"Hi there","stream":true}"#)
                let events = AI.events(first.body)
                let start = try #require(events.first { $0.name == "start" }).json()
                let conversationID = try #require(start["conversationId"] as? String)
                let second = try await app.request(.POST, "/api/v1/ai/chat", token: user,
                                                   json: #"{"message":"And again?","conversationId":"\#(conversationID)"}"#)
                let detail = try await app.request(.GET, "/api/v1/ai/conversations/\(conversationID)", token: user).decode(ConversationDetailDTO.self)
                let list = try await app.request(.GET, "/api/v1/ai/conversations", token: user).body
                let foreign = try await app.request(.GET, "/api/v1/ai/conversations/\(conversationID)", token: other)
                let usage = try await app.request(.GET, "/api/v1/ai/usage", token: user).decode(AI.Usage.self)
                // verify
                #expect(first.status == .ok && first.headers.contentType?.subType == "event-stream")
                #expect(start["provider"] as? String == "gpu-box" && start["model"] as? String == "tiny-model", "\(start)")
                #expect(AI.text(events) == "Hello **homelab**.")
                #expect(events.filter { $0.name == "delta" }.count == 4, "streamed in the provider's pieces")
                let done = try #require(events.last { $0.name == "done" }).json()
                #expect(done["finishReason"] as? String == "stop" && done["firstTokenMs"] != nil && done["messageId"] != nil, "\(done)")
                #expect(!events.contains { $0.name == "error" })
                #expect(second.status == .ok, "\(second.body)")
                #expect(try second.decode(ChatAnswerDTO.self).message.content == "Second answer.")
                #expect(detail.messages.map(\.role) == [.user, .assistant, .user, .assistant])
                #expect(detail.messages.map(\.content) == ["Hi there", "Hello **homelab**.", "And again?", "Second answer."])
                #expect(detail.messages[1].provider == "gpu-box" && detail.messages[1].model == "tiny-model")
                #expect(detail.conversation.title == "Hi there" && detail.conversation.owner == "alice")
                #expect(list.contains(conversationID))
                #expect(foreign.status == .notFound, "another user's conversation is not theirs to read")
                let history = try #require(fakes[0].chatRequests.last?.json()?["messages"] as? [[String: Any]])
                #expect(history.compactMap { $0["content"] as? String } == ["Hi there", "Hello **homelab**.", "And again?"], "the history goes with the question")
                let row = try #require(usage.items.first)
                #expect(usage.items.count == 1 && row.username == "alice" && row.provider == "gpu-box" && row.model == "tiny-model")
                #expect(row.requests == 2 && row.errors == 0 && row.completionTokens == 6 && row.promptTokens > 0, "\(row)")
                #expect(row.averageFirstTokenMs != nil)
                #expect(local.isLocal)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func anthropicAnswersThroughTheGatewayWithToolCallsAssembled(_ database: TestDatabase) async throws {
        let key = "sk-ant-\(UUID().uuidString.prefix(12))"
        try await AI.withFakes(1, models: ["claude-test"], apiKey: key) { fakes in
            try await withApp(database) { app in
                // setup
                let admin = try await app.token(role: .admin)
                let claude = try await AI.addProvider(app, token: admin,
                                                      #"{"name":"claude","kind":"anthropic","baseURL":"\#(fakes[0].url.absoluteString)","apiKey":"\#(key)"}"#)
                fakes[0].script([.answer("Bonjour.", chunks: 2),
                                 .toolCalls([.init(id: "toolu_1", name: "list_incidents", arguments: #"{"open":true}"#)])])
                // act
                let answer = try await app.request(.POST, "/api/v1/ai/chat", token: admin,
                                                   json: #"{"message":"Say hello","provider":"claude","system":"Answer in French."}"#)
                let tool = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: admin,
                                                 json: #"{"model":"claude/claude-test","messages":[{"role":"user","content":"Open incidents?"}],"tools":[{"type":"function","function":{"name":"list_incidents","parameters":{"type":"object"}}}]}"#)
                // verify
                #expect(claude.health == "ok" && claude.models.map(\.name) == ["claude-test"], "\(claude)")
                #expect(try answer.decode(ChatAnswerDTO.self).message.content == "Bonjour.", "\(answer.body)")
                let sent = try #require(fakes[0].chatRequests.first?.json())
                #expect(sent["system"] as? String == "Answer in French.", "the system prompt is Anthropic's top-level field")
                #expect(fakes[0].chatRequests.first?.headers.first(name: "x-api-key") == key)
                let completion = try JSONSerialization.jsonObject(with: Data(tool.body.utf8)) as? [String: Any]
                let message = (completion?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
                let call = (message?["tool_calls"] as? [[String: Any]])?.first
                #expect(call?["id"] as? String == "toolu_1" && (call?["function"] as? [String: Any])?["arguments"] as? String == #"{"open":true}"#, "\(tool.body)")
                #expect((completion?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "tool_calls")
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func autoFallsBackBeforeTheFirstTokenAndAnOpenCircuitCostsNoMoreCalls(_ database: TestDatabase) async throws {
        try await AI.withFakes(2) { fakes in
            // A cooldown no test run outlasts: the circuit stays open for the whole test.
            try await withApp(database, configure: { $0.aiBreakerFailures = 3; $0.aiBreakerCooldown = .seconds(600) }) { app in
                // setup: the local node fails every request; the cloud one answers
                let admin = try await app.token(role: .admin)
                let local = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                _ = try await AI.openAI(app, token: admin, name: "cloud", fakes[1])
                fakes[0].defaultTurn = .failBeforeFirstToken(status: 500, message: "CUDA out of memory")
                fakes[1].defaultTurn = .answer("From the cloud.")
                // act: three requests while the local node fails, then two more
                var answers: [ChatAnswerDTO] = []
                for _ in 0..<5 {
                    let response = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"status?","model":"tiny-model"}"#)
                    try #require(response.status == .ok, "\(response.body)")
                    answers.append(try response.decode(ChatAnswerDTO.self))
                }
                let opened = try await AI.provider(app, token: admin, local.id)
                // verify
                #expect(answers.allSatisfy { $0.provider == "cloud" && $0.message.content == "From the cloud." })
                #expect(answers[0].attempts.map(\.outcome) == ["failed", "used"], "\(answers[0].attempts)")
                #expect(answers[0].attempts[0].error?.contains("CUDA out of memory") == true)
                #expect(answers[3].attempts.map(\.outcome) == ["circuit_open", "used"], "\(answers[3].attempts)")
                #expect(fakes[0].chatRequestCount == 3, "an outage costs three failed calls, not one per request")
                #expect(opened.circuit == "open")
                #expect(fakes[1].chatRequestCount == 5)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func afterTheCooldownOneProbeClosesTheCircuitOfARecoveredProvider(_ database: TestDatabase) async throws {
        try await AI.withFakes(2) { fakes in
            try await withApp(database, configure: { $0.aiBreakerFailures = 1; $0.aiBreakerCooldown = .seconds(1) }) { app in
                // setup: the local node fails once (the circuit opens), then recovers
                let admin = try await app.token(role: .admin)
                let local = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                _ = try await AI.openAI(app, token: admin, name: "cloud", fakes[1])
                fakes[0].script([.failBeforeFirstToken(status: 503, message: "loading model")])
                fakes[0].defaultTurn = .answer("Local again.")
                fakes[1].defaultTurn = .answer("From the cloud.")
                let first = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"status?"}"#).decode(ChatAnswerDTO.self)
                // act: after the cooldown
                try await Task.sleep(for: .seconds(3))
                let probe = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"status?"}"#).decode(ChatAnswerDTO.self)
                let closed = try await AI.provider(app, token: admin, local.id)
                // verify
                #expect(first.provider == "cloud" && first.attempts.map(\.outcome) == ["failed", "used"], "\(first.attempts)")
                #expect(probe.provider == "gpu-box" && probe.message.content == "Local again.", "\(probe.attempts)")
                #expect(closed.circuit == "closed")
                #expect(fakes[0].chatRequestCount == 2)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func aFailureAfterStreamingStartedIsAnErrorNeverAFinishedAnswer(_ database: TestDatabase) async throws {
        try await AI.withFakes(2) { fakes in
            try await withApp(database) { app in
                // setup
                let admin = try await app.token(role: .admin)
                _ = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                _ = try await AI.openAI(app, token: admin, name: "cloud", fakes[1])
                fakes[0].script([.failMidStream(after: "The first half of"), .failMidStream(after: "Half again")])
                // act
                let streamed = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"Tell me a story","stream":true}"#)
                let events = AI.events(streamed.body)
                let conversation = try #require(events.first { $0.name == "start" }?.json()["conversationId"] as? String)
                let whole = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"Once more","conversationId":"\#(conversation)"}"#)
                let detail = try await app.request(.GET, "/api/v1/ai/conversations/\(conversation)", token: admin).decode(ConversationDetailDTO.self)
                // verify
                #expect(AI.text(events) == "The first half of")
                let failure = try #require(events.last).json()
                #expect(events.last?.name == "error" && failure["code"] as? String == "stream_interrupted", "\(streamed.body)")
                #expect(failure["received"] as? Int == 17)
                #expect(!events.contains { $0.name == "done" }, "a cut-off answer is never reported finished")
                #expect(fakes[1].chatRequestCount == 0, "no fallback once the answer started")
                #expect(whole.status == .badGateway && whole.errorCode == "stream_interrupted", "\(whole.body)")
                #expect(detail.messages.map(\.content) == ["Tell me a story", "The first half of", "Once more", "Half again"], "nothing is lost")
                #expect(detail.messages[1].error?.isEmpty == false && detail.messages[3].error?.isEmpty == false)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func aSlowProviderTimesOutAndBadInputGetsClearErrors(_ database: TestDatabase) async throws {
        try await AI.withFakes(1) { fakes in
            try await withApp(database) { app in
                // setup
                let admin = try await app.token(role: .admin)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0], extra: #","timeoutSeconds":5"#)
                // act
                fakes[0].script([.slow(firstTokenAfter: .seconds(60), text: "too late")])
                let slow = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"quick?"}"#)
                fakes[0].script([.malformed])
                let malformed = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"and now?","provider":"gpu-box"}"#)
                let unknownModel = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"hi","model":"llama9:900b"}"#)
                let unknownProvider = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"hi","provider":"nowhere"}"#)
                let empty = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"   "}"#)
                let noMessages = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"messages":[]}"#)
                let huge = String(repeating: "a", count: 1_100_000)
                let oversized = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"\#(huge)"}"#)
                let hot = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"hi","temperature":7}"#)
                let unknownField = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"hi","prompt":"x"}"#)
                _ = try await app.request(.PUT, "/api/v1/ai/providers/\(provider.id)", token: admin, json: #"{"enabled":false}"#)
                let disabled = try await app.request(.POST, "/api/v1/ai/chat", token: admin, json: #"{"message":"hi","provider":"gpu-box"}"#)
                let conversations = try await app.request(.GET, "/api/v1/ai/conversations", token: admin).decode(ListPage<ConversationDTO>.self)
                // verify
                #expect(slow.status == .gatewayTimeout && slow.errorCode == "provider_timeout", "\(slow.body)")
                #expect(malformed.status == .badGateway && malformed.errorCode == "provider_error", "\(malformed.body)")
                #expect(malformed.body.contains("could not be read") || malformed.body.contains("not JSON") || malformed.body.contains("invalid"), "\(malformed.body)")
                #expect(unknownModel.status == .notFound && unknownModel.errorCode == "model_not_found", "\(unknownModel.body)")
                #expect(unknownModel.body.contains("tiny-model"), "the error names what is available")
                #expect(unknownProvider.status == .notFound && unknownProvider.errorCode == "unknown_provider")
                #expect(empty.status == .unprocessableEntity && empty.errorCode == "empty_messages")
                #expect(noMessages.status == .unprocessableEntity && noMessages.errorCode == "empty_messages")
                #expect(oversized.status == .payloadTooLarge, "\(oversized.body.prefix(300))")
                #expect(hot.status == .unprocessableEntity && hot.errorCode == "invalid_temperature")
                #expect(unknownField.status == .badRequest && unknownField.errorCode == "unknown_field")
                #expect(disabled.status == .conflict && disabled.errorCode == "provider_disabled", "a change is seen by the next request: \(disabled.body)")
                // The questions that failed at the provider are kept, each in its conversation.
                let kept = conversations.items.filter { ["quick?", "and now?"].contains($0.title) }
                #expect(kept.count == 2 && kept.allSatisfy { $0.messageCount == 1 }, "\(conversations.items.map(\.title))")
                let usage = try await app.request(.GET, "/api/v1/ai/usage", token: admin).decode(AI.Usage.self)
                #expect(usage.items.first?.errors == 2, "failed calls are counted: \(usage.items)")
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func theOpenAICompatibleEndpointStreamsChunksToolCallsAndOpenAIShapedErrors(_ database: TestDatabase) async throws {
        try await AI.withFakes(1, models: ["tiny-model", "coder:7b"]) { fakes in
            try await withApp(database) { app in
                // setup
                let admin = try await app.token(role: .admin)
                let viewer = try await app.token(role: .viewer)
                _ = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                fakes[0].script([
                    .answer("Four.", chunks: 2),
                    .answer("Streamed reply.", chunks: 3),
                    .toolCalls([.init(id: "call_1", name: "list_servers", arguments: #"{"tag":"rack-1"}"#)]),
                ])
                let tools = #","tools":[{"type":"function","function":{"name":"list_servers","description":"List servers","parameters":{"type":"object","properties":{"tag":{"type":"string"}}}}}]"#
                // act
                let models = try await app.request(.GET, "/api/v1/ai/openai/v1/models", token: viewer)
                let whole = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: viewer,
                                                  json: #"{"model":"coder:7b","messages":[{"role":"user","content":"2+2?"}],"top_p":0.9}"#)
                let streamed = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: viewer,
                                                     json: #"{"model":"gpu-box/tiny-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hello"}]}]}"#)
                let toolCall = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: viewer,
                                                     json: #"{"model":"auto","stream":true,"messages":[{"role":"user","content":"Which servers?"}]\#(tools)}"#)
                let unknownModel = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: viewer,
                                                         json: #"{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}"#)
                let noToken = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", json: #"{"model":"auto","messages":[{"role":"user","content":"hi"}]}"#)
                let noMessages = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: viewer, json: #"{"model":"auto","messages":[]}"#)
                // verify
                let ids = (try JSONSerialization.jsonObject(with: Data(models.body.utf8)) as? [String: Any])?["data"] as? [[String: Any]]
                #expect(ids?.compactMap { $0["id"] as? String } == ["auto", "tiny-model", "coder:7b", "gpu-box/tiny-model", "gpu-box/coder:7b"], "\(models.body)")
                let completion = try #require(try JSONSerialization.jsonObject(with: Data(whole.body.utf8)) as? [String: Any], "\(whole.body)")
                #expect(completion["object"] as? String == "chat.completion" && completion["model"] as? String == "gpu-box/coder:7b")
                let choice = try #require((completion["choices"] as? [[String: Any]])?.first)
                #expect((choice["message"] as? [String: Any])?["content"] as? String == "Four." && choice["finish_reason"] as? String == "stop")
                #expect((completion["usage"] as? [String: Any])?["completion_tokens"] as? Int == 2)
                let frames = AI.events(streamed.body).map(\.data)
                #expect(frames.last == "[DONE]", "\(streamed.body)")
                let chunks = frames.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
                let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
                #expect((deltas.first?["delta"] as? [String: Any])?["role"] as? String == "assistant")
                #expect(deltas.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined() == "Streamed reply.")
                #expect(deltas.filter { !($0["finish_reason"] is NSNull) }.compactMap { $0["finish_reason"] as? String } == ["stop"], "finish_reason only on the last chunk")
                #expect((chunks.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int == 3, "usage in a final chunk when asked")
                let sentMessages = try #require(fakes[0].chatRequests[1].json()?["messages"] as? [[String: Any]])
                #expect(sentMessages.compactMap { $0["content"] as? String } == ["Be brief.", "Hello"])
                let toolFrames = AI.events(toolCall.body).map(\.data).dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                let call = toolFrames.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["tool_calls"] as? [[String: Any]] }.first?.first
                #expect((call?["function"] as? [String: Any])?["name"] as? String == "list_servers", "\(toolCall.body)")
                #expect((call?["function"] as? [String: Any])?["arguments"] as? String == #"{"tag":"rack-1"}"#)
                #expect(toolFrames.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }.last == "tool_calls")
                let sentTools = try #require(fakes[0].chatRequests[2].json()?["tools"] as? [[String: Any]])
                #expect((sentTools.first?["function"] as? [String: Any])?["name"] as? String == "list_servers", "the client's tools reach the model")
                for (response, status, type, code) in [(unknownModel, 404, "not_found_error", "model_not_found"), (noToken, 401, "authentication_error", "unauthenticated"),
                                                       (noMessages, 400, "invalid_request_error", "empty_messages")] {
                    let error = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])?["error"] as? [String: Any]
                    #expect(Int(response.status.code) == status && error?["type"] as? String == type && error?["code"] as? String == code, "\(response.body)")
                    #expect(error?["message"] as? String != nil && error?.keys.contains("param") == true)
                }
            }
        }
    }
}
