import AIProviders
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import NebulaServer
import Testing

/// Where the real model server of `make test-llm` listens (`http://127.0.0.1:PORT/v1`), or nil.
enum LLMPeer {
    static var url: String? {
        ProcessInfo.processInfo.environment["NEBULA_TEST_LLM_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static let skipReason: Comment = "NEBULA_TEST_LLM_URL is not set: `make test-llm` starts a real model (llama-cpp-python + SmolLM2-135M) and runs these"

    /// A request that may take as long as a small model on two cores needs (`TestApp.request` gives 30 s).
    static func slowRequest(_ app: TestApp, _ method: NIOHTTP1.HTTPMethod, _ path: String, token: String, json: String? = nil,
                            timeout: Duration = .seconds(240)) async throws -> (status: Int, object: [String: Any], body: String) {
        var request = HTTPClientRequest(url: app.baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await TestApp.client.execute(request, timeout: .seconds(timeout.components.seconds))
        let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
        let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object, body)
    }

    /// Adds the real server as the only provider and returns it with its model list checked.
    static func provider(_ app: TestApp, admin: String) async throws -> AIProviderDTO {
        let url = try #require(url)
        return try await AI.addProvider(app, token: admin, #"{"name":"smol","kind":"openai","baseURL":"\#(url)","isLocal":true,"timeoutSeconds":120}"#)
    }
}

/// The gateway against a real model: llama-cpp-python's OpenAI-compatible server running
/// SmolLM2-135M-Instruct (`make test-llm`; skipped otherwise). A 135M model says little of
/// sense, so the tests check the plumbing — a non-empty answer arrives, streamed and not, usage is
/// recorded, the OpenAI-compatible endpoint answers in OpenAI's shape — not what the model says.
/// SQLite only: the model server is the peer under test here, not the database.
@Suite(.serialized, .enabled(if: LLMPeer.url != nil, LLMPeer.skipReason))
struct LLMIntegrationTests {
    static let question = "Name one colour of the sky. Answer in a few words."

    @Test func chatStreamedAndWholeWithUsageRecorded() async throws {
        try await withApp(.sqlite) { app in
            // setup
            let admin = try await app.token(role: .admin)
            let provider = try await LLMPeer.provider(app, admin: admin)
            try #require(provider.health == "ok", "the gateway could not list the model server's models: \(provider.healthError ?? "")")
            let model = try #require(provider.models.first?.name, "the model server lists no model")
            // act
            let whole = try await app.request(.POST, "/api/v1/ai/chat", token: admin,
                                              json: #"{"message":"\#(Self.question)","provider":"smol","maxTokens":24,"temperature":0}"#)
            let streamed = try await app.request(.POST, "/api/v1/ai/chat", token: admin,
                                                 json: #"{"message":"\#(Self.question)","provider":"smol","maxTokens":24,"temperature":0,"stream":true}"#)
            let usage = try await app.request(.GET, "/api/v1/ai/usage", token: admin).decode(AI.Usage.self)
            // verify: the whole answer
            try #require(whole.status == .ok, "\(whole.body)")
            let answer = try whole.decode(ChatAnswerDTO.self)
            #expect(answer.provider == "smol" && answer.model == model)
            #expect(!answer.message.content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "empty answer: \(whole.body)")
            #expect(["stop", "length"].contains(answer.finishReason), "\(answer.finishReason)")
            #expect(answer.firstTokenMs != nil && answer.durationMs >= (answer.firstTokenMs ?? 0))
            #expect(answer.attempts.map(\.outcome) == ["used"])
            // verify: the streamed answer
            #expect(streamed.status == .ok && streamed.headers.contentType?.subType == "event-stream")
            let events = AI.events(streamed.body)
            #expect(events.first?.name == "start", "\(streamed.body)")
            #expect(events.last?.name == "done", "\(streamed.body)")
            #expect(!AI.text(events).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no text streamed: \(streamed.body)")
            #expect(events.filter { $0.name == "delta" }.count > 1, "a real server streams token by token")
            // verify: usage, one row per request, with the server's token counts
            let row = try #require(usage.items.first { $0.provider == "smol" }, "\(usage.items)")
            #expect(row.model == model && row.requests == 2 && row.errors == 0, "\(row)")
            #expect(row.promptTokens > 0 && row.completionTokens > 0, "no token counts recorded: \(row)")
            #expect(row.averageFirstTokenMs != nil)
        }
    }

    @Test func openAICompatibleEndpointAnswersInOpenAIsShape() async throws {
        try await withApp(.sqlite) { app in
            // setup
            let admin = try await app.token(role: .admin)
            let viewer = try await app.token(role: .viewer)
            let provider = try await LLMPeer.provider(app, admin: admin)
            try #require(provider.health == "ok", "\(provider.healthError ?? "")")
            let model = try #require(provider.models.first?.name)
            let messages = #"[{"role":"system","content":"You are brief."},{"role":"user","content":"\#(Self.question)"}]"#
            // act
            let models = try await app.request(.GET, "/api/v1/ai/openai/v1/models", token: viewer)
            let whole = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: viewer,
                                              json: #"{"model":"smol/\#(model)","messages":\#(messages),"max_tokens":24,"temperature":0}"#)
            let streamed = try await app.request(.POST, "/api/v1/ai/openai/v1/chat/completions", token: viewer,
                                                 json: #"{"model":"auto","messages":\#(messages),"max_tokens":24,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}"#)
            // verify: the model list names the real model
            let listed = (try JSONSerialization.jsonObject(with: models.data) as? [String: Any])?["data"] as? [[String: Any]] ?? []
            #expect(Set(listed.compactMap { $0["id"] as? String }).isSuperset(of: ["auto", model, "smol/\(model)"]), "\(models.body)")
            // verify: a chat.completion object
            try #require(whole.status == .ok, "\(whole.body)")
            #expect(whole.headers.contentType?.subType == "json")
            let object = try #require(try JSONSerialization.jsonObject(with: whole.data) as? [String: Any], "\(whole.body)")
            #expect((object["id"] as? String)?.hasPrefix("chatcmpl-") == true)
            #expect(object["object"] as? String == "chat.completion" && object["model"] as? String == "smol/\(model)")
            #expect(object["created"] as? Int ?? 0 > 1_600_000_000)
            let choice = try #require((object["choices"] as? [[String: Any]])?.first, "\(whole.body)")
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(!((message["content"] as? String) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(whole.body)")
            #expect(["stop", "length"].contains(choice["finish_reason"] as? String ?? ""), "\(whole.body)")
            let usage = object["usage"] as? [String: Any] ?? [:]
            #expect((usage["completion_tokens"] as? Int ?? 0) > 0 && (usage["total_tokens"] as? Int ?? 0) > (usage["completion_tokens"] as? Int ?? 0),
                    "no usage in the completion: \(whole.body)")
            // verify: chat.completion.chunk frames, then [DONE]
            #expect(streamed.status == .ok && streamed.headers.contentType?.subType == "event-stream")
            let frames = AI.events(streamed.body).map(\.data)
            #expect(frames.last == "[DONE]", "\(streamed.body)")
            let chunks = frames.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(chunks.count == frames.count - 1, "every frame before [DONE] is JSON: \(streamed.body)")
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["id"] as? String == chunks.first?["id"] as? String })
            let deltas = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]) }
            #expect(deltas.first?["role"] as? String == "assistant")
            let text = deltas.compactMap { $0["content"] as? String }.joined()
            #expect(!text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(streamed.body)")
            let finish = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) }
            #expect(finish.count == 1 && ["stop", "length"].contains(finish.first ?? ""), "one finish_reason, on the last choice chunk: \(finish)")
            #expect(((chunks.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int ?? 0) > 0, "include_usage: the last chunk carries usage")
        }
    }
    /// A real agent loop: a 135M model may or may not call a tool, and may call it badly; what is
    /// checked is that the loop ends in a final state by itself and that every step is saved.
    @Test func agentRunEndsInAFinalStateWithItsStepsSaved() async throws {
        try await withApp(.sqlite) { app in
            // setup
            let admin = try await app.token(role: .admin)
            let provider = try await LLMPeer.provider(app, admin: admin)
            try #require(provider.health == "ok", "\(provider.healthError ?? "")")
            let created = try await LLMPeer.slowRequest(app, .POST, "/api/v1/ai/agents", token: admin, json: """
                {"name":"smol-agent","systemPrompt":"You help run a homelab. Use a tool when it helps, then answer in one sentence.",
                 "provider":"smol","tools":["list_servers","list_incidents"],"maxSteps":3,"maxSeconds":180,"temperature":0}
                """)
            try #require(created.status == 201, "\(created.body)")
            let agent = try #require(created.object["id"] as? String)
            // act
            let run = try await LLMPeer.slowRequest(app, .POST, "/api/v1/ai/agents/\(agent)/run", token: admin, json: #"{"message":"Which servers do I have?"}"#)
            let executionID = try #require(run.object["id"] as? String, "\(run.status): \(run.body)")
            let stored = try await LLMPeer.slowRequest(app, .GET, "/api/v1/ai/executions/\(executionID)", token: admin)
            // verify
            #expect(run.status == 200, "\(run.body)")
            let status = run.object["status"] as? String ?? ""
            #expect(["succeeded", "failed", "stopped"].contains(status), "a final state (no approval: both tools only read): \(run.body)")
            let stepCount = run.object["stepCount"] as? Int ?? 0
            #expect((1...3).contains(stepCount), "\(run.body)")
            if status == "succeeded" {
                #expect(!((run.object["answer"] as? String) ?? "").isEmpty, "a finished run has an answer: \(run.body)")
            }
            let steps = stored.object["steps"] as? [[String: Any]] ?? []
            #expect(stored.status == 200 && stored.object["status"] as? String == status)
            #expect(steps.count == stepCount, "every step is saved: \(stored.body)")
            #expect(steps.allSatisfy { $0["provider"] as? String == "smol" || $0["error"] != nil }, "\(stored.body)")
            #expect(stored.object["finishedAt"] is String, "\(stored.body)")
        }
    }
}
