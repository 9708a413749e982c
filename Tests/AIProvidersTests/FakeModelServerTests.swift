import AIProviders
import AsyncHTTPClient
import Foundation
import NebulaTestSupport
import NIOCore
import Testing

/// FakeModelServer driven through the real clients: every scripted turn must come out of
/// OpenAICompatibleClient, OllamaClient and AnthropicClient as the real providers' answers would.
@Suite(.timeLimit(.minutes(1)))
struct FakeModelServerTests {
    /// One of the wire formats the fake speaks.
    enum Wire: String, CaseIterable, Sendable {
        case openAI, ollama, anthropic

        func client(_ fake: FakeModelServer, timeout: Duration = .seconds(30)) -> any ChatProvider {
            switch self {
            case .openAI: OpenAICompatibleClient(baseURL: fake.openAIBaseURL, apiKey: fake.apiKey, timeout: timeout)
            case .ollama: OllamaClient(baseURL: fake.url, timeout: timeout)
            case .anthropic: AnthropicClient(baseURL: fake.url, apiKey: fake.apiKey ?? "sk-ant-unused", timeout: timeout)
            }
        }

        /// The finish reason of a plain answer and of a tool-calling one.
        var reasons: (answer: String, tools: String) {
            switch self {
            case .openAI: ("stop", "tool_calls")
            case .ollama: ("stop", "stop")
            case .anthropic: ("end_turn", "tool_use")
            }
        }
    }

    /// 3 words of prompt: "Be brief." and "Hi".
    static func hello(_ model: String = "tiny-model") -> ChatRequest {
        ChatRequest(model: model, messages: [.init(role: .system, content: "Be brief."), .init(role: .user, content: "Hi")])
    }

    static func withFake<T>(models: [String] = ["tiny-model"], apiKey: String? = nil, _ body: (FakeModelServer) async throws -> T) async throws -> T {
        let fake = try await FakeModelServer.start(models: models, apiKey: apiKey)
        do {
            let result = try await body(fake)
            await fake.stop()
            return result
        } catch {
            await fake.stop()
            throw error
        }
    }

    static func object(_ text: String) -> NSDictionary? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? NSDictionary
    }

    // MARK: - Chat, every wire format

    @Test(arguments: Wire.allCases)
    func scriptedAnswerStreamsInChunksWithUsage(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.answer("Disk is fine on every host.", chunks: 4)])
            // act
            let result = await collect(wire.client(fake).stream(Self.hello()))
            // verify
            #expect(result.error == nil)
            #expect(result.text == "Disk is fine on every host.")
            #expect(result.events.filter { if case .text = $0 { true } else { false } }.count == 4)
            #expect(result.usage == TokenUsage(promptTokens: 3, completionTokens: 4))
            #expect(result.events.last == .finished(reason: wire.reasons.answer))
            #expect(fake.chatRequestCount == 1)
            #expect(fake.scriptedTurnsLeft == 0)
        }
    }

    @Test(arguments: Wire.allCases)
    func toolCallsAreAssembled(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.toolCalls([
                .init(id: "call_disk", name: "disk_usage", arguments: #"{"host":"nas","mount":"/srv"}"#),
                .init(id: "call_ps", name: "list_containers", arguments: "{}"),
            ])])
            var request = Self.hello()
            request.tools = [ToolDefinition(name: "disk_usage", description: "Disk usage", parametersJSON: #"{"type":"object"}"#)]
            // act
            let result = await collect(wire.client(fake).stream(request))
            // verify
            #expect(result.error == nil)
            #expect(result.text.isEmpty)
            #expect(result.toolCalls.map(\.name) == ["disk_usage", "list_containers"])
            // Ollama's wire format carries no call ids: the client numbers them.
            #expect(result.toolCalls.map(\.id) == (wire == .ollama ? ["call_0", "call_1"] : ["call_disk", "call_ps"]))
            #expect(Self.object(result.toolCalls.first?.arguments ?? "") == ["host": "nas", "mount": "/srv"])
            #expect(Self.object(result.toolCalls.last?.arguments ?? "") == [:])
            #expect(result.events.last == .finished(reason: wire.reasons.tools))
        }
    }

    @Test(arguments: Wire.allCases)
    func failureBeforeFirstTokenIsThrownWithoutEvents(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.failBeforeFirstToken(status: 429, message: "Too many requests: slow down")])
            // act
            let result = await collect(wire.client(fake).stream(Self.hello()))
            // verify
            #expect(result.events.isEmpty)
            #expect(result.providerError?.code == .rateLimited)
            #expect(result.providerError?.message.contains("slow down") == true)
        }
    }

    @Test(arguments: Wire.allCases)
    func midStreamFailureIsStreamInterruptedAfterSomeText(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.failMidStream(after: "Half an answer")])
            // act
            let result = await collect(wire.client(fake).stream(Self.hello()))
            // verify
            #expect(result.text == "Half an answer")
            #expect(result.providerError?.code == .streamInterrupted)
            #expect(!result.finished)
        }
    }

    @Test(arguments: Wire.allCases)
    func malformedFrameIsInvalidResponse(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.malformed])
            // act
            let result = await collect(wire.client(fake).stream(Self.hello()))
            // verify
            #expect(result.providerError?.code == .invalidResponse)
            #expect(!result.finished)
        }
    }

    @Test(arguments: Wire.allCases)
    func slowFirstTokenStillArrives(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.slow(firstTokenAfter: .milliseconds(300), text: "Finally.")])
            let start = ContinuousClock.now
            // act
            let result = await collect(wire.client(fake).stream(Self.hello()))
            // verify
            #expect(result.error == nil)
            #expect(result.text == "Finally.")
            #expect(ContinuousClock.now - start >= .milliseconds(300))   // a lower bound: the fake waited
        }
    }

    @Test(arguments: Wire.allCases)
    func firstTokenLaterThanTheClientTimeoutIsTimedOut(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.slow(firstTokenAfter: .seconds(50), text: "Too late.")])
            // act
            let result = await collect(wire.client(fake, timeout: .seconds(1)).stream(Self.hello()))
            // verify
            #expect(result.text.isEmpty)
            #expect(result.providerError?.code == .timedOut)
        }
    }

    @Test(arguments: Wire.allCases)
    func unknownModelIsModelNotFoundAndTakesNoTurn(_ wire: Wire) async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.answer("Kept for later.")])
            // act
            let result = await collect(wire.client(fake).stream(Self.hello("no-such-model")))
            // verify
            #expect(result.events.isEmpty)
            #expect(result.providerError?.code == .modelNotFound)
            #expect(fake.scriptedTurnsLeft == 1)
            #expect(fake.chatRequestCount == 1)
        }
    }

    @Test(arguments: Wire.allCases)
    func modelsAreListed(_ wire: Wire) async throws {
        try await Self.withFake(models: ["tiny-model", "qwen3:0.6b"]) { fake in
            // act
            let models = try await wire.client(fake).models()
            // verify
            #expect(models.map(\.name) == ["tiny-model", "qwen3:0.6b"])
            if wire == .ollama {
                #expect(models.allSatisfy { $0.family == "llama" && $0.quantization == "Q4_K_M" && ($0.sizeBytes ?? 0) > 0 })
            }
        }
    }

    // MARK: - Script, default turn, requests

    @Test func turnsAreTakenInOrderThenTheDefaultTurn() async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.answer("First."), .answer("Second.")])
            let client = Wire.openAI.client(fake)
            // act
            var texts: [String] = []
            for _ in 0..<3 { texts.append(await collect(client.stream(Self.hello())).text) }
            fake.defaultTurn = .answer("Changed default.")
            texts.append(await collect(client.stream(Self.hello())).text)
            // verify
            #expect(texts == ["First.", "Second.", "Hello from the fake model.", "Changed default."])
            #expect(fake.chatRequestCount == 4)
        }
    }

    @Test func requestsAreRecordedWithTheirBodies() async throws {
        try await Self.withFake { fake in
            // act
            _ = await collect(Wire.openAI.client(fake).stream(Self.hello()))
            _ = try await Wire.ollama.client(fake).models()
            // verify
            let requests = fake.requests
            #expect(requests.map { "\($0.method) \($0.path)" } == ["POST /v1/chat/completions", "GET /api/tags"])
            let body = try #require(requests.first?.json())
            #expect(body["model"] as? String == "tiny-model")
            #expect((body["messages"] as? [[String: Any]])?.count == 2)
            #expect(requests.first?.headers.first(name: "Content-Type") == "application/json")
        }
    }

    @Test func invalidConversationIsRefusedLikeTheRealAPI() async throws {
        try await Self.withFake { fake in
            // setup: a tool result that answers no tool call
            let request = ChatRequest(model: "tiny-model", messages: [.init(role: .user, content: "Hi"), .init(role: .tool, content: "ok", toolCallID: "call_nowhere")])
            // act
            let openAI = await collect(Wire.openAI.client(fake).stream(request))
            let anthropic = await collect(Wire.anthropic.client(fake).stream(request))
            // verify
            #expect(openAI.providerError?.code == .rejected)
            #expect(openAI.providerError?.message.contains("fake server:") == true)
            #expect(anthropic.providerError?.code == .rejected)
            #expect(fake.scriptedTurnsLeft == 0)
        }
    }

    @Test func apiKeyIsRequiredWhenSet() async throws {
        try await Self.withFake(apiKey: "sk-fake-0123456789") { fake in
            // setup
            let wrongOpenAI = OpenAICompatibleClient(baseURL: fake.openAIBaseURL, apiKey: "sk-wrong-0123456789", timeout: .seconds(30))
            let wrongAnthropic = AnthropicClient(baseURL: fake.url, apiKey: "sk-wrong-0123456789", timeout: .seconds(30))
            // act
            let refusedOpenAI = await collect(wrongOpenAI.stream(Self.hello()))
            let refusedAnthropic = await collect(wrongAnthropic.stream(Self.hello()))
            let answered = await collect(Wire.openAI.client(fake).stream(Self.hello()))
            // verify
            #expect(refusedOpenAI.providerError?.code == .authenticationFailed)
            #expect(refusedAnthropic.providerError?.code == .authenticationFailed)
            #expect(answered.text == "Hello from the fake model.")
        }
    }

    @Test func openAIAnswersWholeWhenNotStreaming() async throws {
        try await Self.withFake { fake in
            // setup
            fake.script([.toolCalls([.init(id: "call_1", name: "disk_usage", arguments: #"{"host":"nas"}"#)])])
            var request = HTTPClientRequest(url: fake.openAIBaseURL.appendingPathComponent("chat/completions").absoluteString)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"model":"tiny-model","messages":[{"role":"user","content":"How full is the NAS?"}]}"#))
            // act
            let response = try await AIProviderHTTP.client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            // verify
            #expect(response.status == .ok)
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any])
            #expect(answer["object"] as? String == "chat.completion")
            let choice = try #require((answer["choices"] as? [[String: Any]])?.first)
            #expect(choice["finish_reason"] as? String == "tool_calls")
            let call = try #require(((choice["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]])?.first)
            #expect((call["function"] as? [String: Any])?["arguments"] as? String == #"{"host":"nas"}"#)
            let usage = try #require(answer["usage"] as? [String: Any])
            #expect(usage["prompt_tokens"] as? Int == 5)
            #expect(usage["total_tokens"] as? Int == (usage["prompt_tokens"] as? Int ?? 0) + (usage["completion_tokens"] as? Int ?? 0))
        }
    }

    // MARK: - Ollama model management

    @Test func pullStreamsGrowingProgressToSuccessThenListsTheModel() async throws {
        try await Self.withFake { fake in
            // setup
            fake.pullSteps = 4
            fake.pullDelay = .milliseconds(5)
            let client = OllamaClient(baseURL: fake.url, timeout: .seconds(30))
            // act
            var progress: [PullProgress] = []
            for try await step in client.pull("qwen3:0.6b") { progress.append(step) }
            let models = try await client.models()
            // verify
            #expect(progress.first?.status == "pulling manifest")
            #expect(progress.last?.status == "success")
            let layers = progress.filter { $0.digest != nil }
            #expect(layers.count == 4)
            #expect(layers.allSatisfy { $0.status.hasPrefix("pulling ") && $0.digest?.hasPrefix("sha256:") == true })
            let completed = layers.compactMap(\.completed)
            #expect(completed == completed.sorted() && Set(completed).count == 4)
            #expect(completed.last == layers.last?.total)
            #expect(models.map(\.name) == ["tiny-model", "qwen3:0.6b"])
        }
    }

    @Test func failedPullThrowsAndInstallsNothing() async throws {
        try await Self.withFake { fake in
            // setup
            fake.pullSteps = 4
            fake.failNextPull(message: "pull model manifest: file does not exist")
            let client = OllamaClient(baseURL: fake.url, timeout: .seconds(30))
            // act
            var progress: [PullProgress] = []
            var thrown: (any Error)?
            do {
                for try await step in client.pull("no-such-model") { progress.append(step) }
            } catch { thrown = error }
            let models = try await client.models()
            var again: [PullProgress] = []
            for try await step in client.pull("no-such-model") { again.append(step) }
            // verify
            #expect((thrown as? AIProviderError)?.code == .modelNotFound)
            #expect(progress.first?.status == "pulling manifest")
            #expect(progress.count > 1)
            #expect(!progress.contains { $0.status == "success" })
            #expect(models.map(\.name) == ["tiny-model"])
            #expect(again.last?.status == "success")   // only the next pull fails
        }
    }

    @Test func loadAndUnloadShowInRunningModels() async throws {
        try await Self.withFake { fake in
            // setup
            let client = OllamaClient(baseURL: fake.url, timeout: .seconds(30))
            // act
            let before = try await client.runningModels()
            try await client.load("tiny-model")
            let loaded = try await client.runningModels()
            try await client.unload("tiny-model")
            let after = try await client.runningModels()
            // verify
            #expect(before.isEmpty)
            #expect(loaded.map(\.name) == ["tiny-model"])
            #expect((loaded.first?.sizeVRAM ?? 0) > 0)
            #expect((loaded.first?.expiresAt ?? .distantPast) > Date())
            #expect(after.isEmpty)
            #expect(fake.loadedModels.isEmpty)
        }
    }

    @Test func chatLoadsItsModel() async throws {
        try await Self.withFake { fake in
            // act
            _ = await collect(Wire.ollama.client(fake).stream(Self.hello()))
            let running = try await OllamaClient(baseURL: fake.url, timeout: .seconds(30)).runningModels()
            // verify
            #expect(running.map(\.name) == ["tiny-model"])
        }
    }

    @Test func loadingAnUnknownModelIsModelNotFound() async throws {
        try await Self.withFake { fake in
            // act
            var failure: AIProviderError?
            do throws(AIProviderError) { try await OllamaClient(baseURL: fake.url, timeout: .seconds(30)).load("no-such-model") } catch { failure = error }
            // verify
            #expect(failure?.code == .modelNotFound)
        }
    }

    @Test func deleteRemovesTheModelAndAnUnknownOneIsModelNotFound() async throws {
        try await Self.withFake(models: ["tiny-model", "other-model"]) { fake in
            // setup
            let client = OllamaClient(baseURL: fake.url, timeout: .seconds(30))
            try await client.load("tiny-model")
            // act
            try await client.delete("tiny-model")
            let models = try await client.models()
            var failure: AIProviderError?
            do throws(AIProviderError) { try await client.delete("tiny-model") } catch { failure = error }
            // verify
            #expect(models.map(\.name) == ["other-model"])
            #expect(try await client.runningModels().isEmpty)
            #expect(failure?.code == .modelNotFound)
            #expect(fake.installedModels == ["other-model"])
        }
    }
}
