import AIProviders
import Foundation
import NebulaTestSupport
import NIOHTTP1
import Testing

/// The OpenAI wire format: SSE frames of `chat.completion.chunk` objects, ending `data: [DONE]`.
@Suite(.timeLimit(.minutes(1)))
struct OpenAICompatibleClientTests {
    static let key = "sk-test-0123456789abcdef"

    static func sse(_ frames: [String]) -> [String] {
        frames.map { "data: \($0)\n\n" }
    }

    static func chunk(_ delta: String, finish: String? = nil) -> String {
        let reason = finish.map { "\"\($0)\"" } ?? "null"
        return #"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":\#(delta),"finish_reason":\#(reason)}]}"#
    }

    /// Checks what every chat request must carry; nil when it is right.
    static func problem(_ request: TestHTTPServer.Request) -> String? {
        guard request.method == "POST", request.path == "/v1/chat/completions" else { return "unexpected \(request.method) \(request.path)" }
        guard request.headers.first(name: "Authorization") == "Bearer \(key)" else { return "missing bearer token" }
        guard let body = request.json() else { return "body is not JSON" }
        guard body["stream"] as? Bool == true else { return "stream is not true" }
        guard (body["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true else { return "no include_usage" }
        guard let messages = body["messages"] as? [[String: Any]], !messages.isEmpty,
              messages.allSatisfy({ $0["role"] is String }) else { return "bad messages" }
        guard body["model"] as? String == "qwen" else { return "wrong model" }
        return nil
    }

    func client(_ server: TestHTTPServer, key: String? = key) -> OpenAICompatibleClient {
        OpenAICompatibleClient(baseURL: server.url.appendingPathComponent("v1"), apiKey: key, timeout: .seconds(30))
    }

    let hello = ChatRequest(model: "qwen", messages: [.init(role: .system, content: "Be brief."), .init(role: .user, content: "Hi")])

    @Test func textStreamedInChunksAssemblesWithUsage() async throws {
        // setup
        let frames = Self.sse([
            Self.chunk(#"{"role":"assistant","content":""}"#),
            Self.chunk(#"{"content":"Hel"}"#),
            Self.chunk(#"{"content":"lo, "}"#),
            Self.chunk(#"{"content":"world"}"#),
            Self.chunk("{}", finish: "stop"),
            #"{"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}"#,
            "[DONE]",
        ])
        try await withTestHTTPServer({ request in
            if let problem = Self.problem(request) { return badRequest(problem) }
            return .streamed(frames, contentType: "text/event-stream")
        }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.error == nil)
            #expect(result.text == "Hello, world")
            #expect(result.events.contains(.usage(TokenUsage(promptTokens: 12, completionTokens: 4))))
            #expect(result.events.last == .finished(reason: "stop"))
        }
    }

    @Test func toolCallSplitAcrossChunksIsAssembled() async throws {
        // setup
        let frames = Self.sse([
            Self.chunk(#"{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"restart_container","arguments":""}}]}"#),
            Self.chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"host\":"}}]}"#),
            Self.chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"\"nas\",\"name\""}}]}"#),
            Self.chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":":\"plex\"}"}}]}"#),
            Self.chunk("{}", finish: "tool_calls"),
            "[DONE]",
        ])
        let tool = ToolDefinition(name: "restart_container", description: "Restarts a container",
                                  parametersJSON: #"{"type":"object","properties":{"host":{"type":"string"},"name":{"type":"string"}}}"#)
        var request = hello
        request.tools = [tool]
        request.messages.append(.init(role: .assistant, content: "", toolCalls: [.init(id: "call_0", name: "restart_container", arguments: "{}")]))
        request.messages.append(.init(role: .tool, content: "ok", toolCallID: "call_0"))
        try await withTestHTTPServer({ request in
            if let problem = Self.problem(request) { return badRequest(problem) }
            let body = request.json() ?? [:]
            guard let tools = body["tools"] as? [[String: Any]], tools.first?["type"] as? String == "function",
                  let function = tools.first?["function"] as? [String: Any], function["name"] as? String == "restart_container",
                  (function["parameters"] as? [String: Any])?["type"] as? String == "object" else { return badRequest("bad tools") }
            let messages = body["messages"] as? [[String: Any]] ?? []
            guard (messages[2]["tool_calls"] as? [[String: Any]])?.first?["id"] as? String == "call_0",
                  messages[3]["tool_call_id"] as? String == "call_0", messages[3]["role"] as? String == "tool" else { return badRequest("bad tool messages") }
            return .streamed(frames, contentType: "text/event-stream")
        }) { server in
            // act
            let result = await collect(client(server).stream(request))
            // verify
            #expect(result.error == nil)
            #expect(result.toolCalls == [ToolCall(id: "call_abc", name: "restart_container", arguments: #"{"host":"nas","name":"plex"}"#)])
            #expect(result.events.last == .finished(reason: "tool_calls"))
        }
    }

    @Test func modelsAreListed() async throws {
        // setup
        try await withTestHTTPServer({ request in
            guard request.method == "GET", request.path == "/v1/models",
                  request.headers.first(name: "Authorization") == "Bearer \(Self.key)" else { return badRequest("bad models request") }
            return .json(#"{"object":"list","data":[{"id":"qwen","object":"model"},{"id":"llama","object":"model"}]}"#)
        }) { server in
            // act
            let models = try await client(server).models()
            // verify
            #expect(models.map(\.name) == ["qwen", "llama"])
        }
    }

    @Test func refusedKeyIsAuthenticationFailedWithoutTheKey() async throws {
        // setup
        try await withTestHTTPServer({ _ in
            .json(#"{"error":{"message":"Incorrect API key provided: \#(Self.key)","type":"invalid_request_error","code":"invalid_api_key"}}"#, status: .unauthorized)
        }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            var modelsError: AIProviderError?
            do throws(AIProviderError) { _ = try await client(server).models() } catch { modelsError = error }
            // verify
            #expect(result.events.isEmpty)
            #expect(result.providerError?.code == .authenticationFailed)
            #expect(result.providerError?.message.contains(Self.key) == false)
            #expect(modelsError?.code == .authenticationFailed)
            #expect(modelsError?.message.contains(Self.key) == false)
        }
    }

    @Test func unknownModelIsModelNotFound() async throws {
        // setup
        try await withTestHTTPServer({ _ in
            .json(#"{"error":{"message":"The model `nope` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#, status: .notFound)
        }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .modelNotFound)
        }
    }

    @Test func rateLimitIsRateLimited() async throws {
        // setup
        try await withTestHTTPServer({ _ in
            .json(#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#, status: .tooManyRequests)
        }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .rateLimited)
        }
    }

    @Test func malformedFrameIsInvalidResponse() async throws {
        // setup
        let frames = Self.sse([Self.chunk(#"{"content":"Hi"}"#), #"{"choices":[{"delta":"#, "[DONE]"])
        try await withTestHTTPServer({ _ in .streamed(frames, contentType: "text/event-stream") }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .invalidResponse)
            #expect(!result.finished)
        }
    }

    @Test func droppedConnectionMidStreamIsStreamInterrupted() async throws {
        // setup
        let frames = Self.sse([Self.chunk(#"{"content":"The disk "}"#), Self.chunk(#"{"content":"is "}"#)])
        try await withTestHTTPServer({ _ in .streamed(frames, contentType: "text/event-stream", abort: true) }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.text == "The disk is ")
            #expect(result.providerError?.code == .streamInterrupted)
            #expect(result.providerError?.message.contains("12 characters") == true)
            #expect(!result.finished)
        }
    }

    @Test func cleanEndWithoutFinishIsStreamInterrupted() async throws {
        // setup
        let frames = Self.sse([Self.chunk(#"{"content":"Partial"}"#)])
        try await withTestHTTPServer({ _ in .streamed(frames, contentType: "text/event-stream") }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .streamInterrupted)
            #expect(!result.finished)
        }
    }

    @Test func refusedPortIsUnreachableQuickly() async throws {
        // setup
        let port = try await closedTCPPort()
        let client = OpenAICompatibleClient(baseURL: URL(string: "http://127.0.0.1:\(port)/v1")!, apiKey: Self.key, timeout: .seconds(90))
        let start = ContinuousClock.now
        // act
        let result = await collect(client.stream(hello))
        var modelsError: AIProviderError?
        do throws(AIProviderError) { _ = try await client.models() } catch { modelsError = error }
        // verify
        #expect(result.providerError?.code == .unreachable)
        #expect(modelsError?.code == .unreachable)
        // Refused at once, not retried until the 90 s deadline (a starved CI runner can take seconds).
        #expect(ContinuousClock.now - start < .seconds(45))
    }

    @Test func slowServerIsTimedOut() async throws {
        // setup
        try await withTestHTTPServer({ _ in
            var reply = TestHTTPServer.Reply.streamed(Self.sse([Self.chunk(#"{"content":"a"}"#), "[DONE]"]), contentType: "text/event-stream")
            reply.delay = .seconds(3)
            return reply
        }) { server in
            let client = OpenAICompatibleClient(baseURL: server.url.appendingPathComponent("v1"), apiKey: nil, timeout: .milliseconds(500))
            // act
            let result = await collect(client.stream(hello))
            // verify
            #expect(result.providerError?.code == .timedOut, "\(String(describing: result.error)) \(result.events)")
        }
    }
}
