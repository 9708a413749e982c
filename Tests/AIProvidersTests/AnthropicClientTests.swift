import AIProviders
import Foundation
import NebulaTestSupport
import NIOHTTP1
import Testing

/// Anthropic's Messages wire format: SSE `event:`/`data:` pairs up to `message_stop`.
@Suite(.timeLimit(.minutes(1)))
struct AnthropicClientTests {
    static let key = "sk-ant-test-0123456789abcdef"

    static func sse(_ events: [String]) -> [String] {
        events.map { data in
            let type = (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])?["type"] as? String ?? "unknown"
            return "event: \(type)\ndata: \(data)\n\n"
        }
    }

    static let start = #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#

    /// Checks what every messages request must carry; nil when it is right.
    static func problem(_ request: TestHTTPServer.Request) -> String? {
        guard request.method == "POST", request.path == "/v1/messages" else { return "unexpected \(request.method) \(request.path)" }
        guard request.headers.first(name: "x-api-key") == key else { return "missing x-api-key" }
        guard request.headers.first(name: "anthropic-version") == "2023-06-01" else { return "missing anthropic-version" }
        guard let body = request.json(), body["model"] as? String == "claude-x", body["stream"] as? Bool == true,
              body["max_tokens"] as? Int == 1024 else { return "bad body" }
        guard body["system"] as? String == "Be brief." else { return "system prompt not on top" }
        guard let messages = body["messages"] as? [[String: Any]], messages.first?["role"] as? String == "user",
              !messages.contains(where: { $0["role"] as? String == "system" }) else { return "bad messages" }
        let roles = messages.compactMap { $0["role"] as? String }
        guard zip(roles, roles.dropFirst()).allSatisfy({ $0 != $1 }) else { return "roles do not alternate" }
        return nil
    }

    func client(_ server: TestHTTPServer) -> AnthropicClient {
        AnthropicClient(baseURL: server.url, apiKey: Self.key, timeout: .seconds(30))
    }

    let hello = ChatRequest(model: "claude-x", messages: [.init(role: .system, content: "Be brief."), .init(role: .user, content: "Hi")])

    @Test func textStreamedInChunksAssemblesWithUsage() async throws {
        // setup
        let events = Self.sse([
            Self.start,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"ping"}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"All "}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"servers "}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"are up."}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            #"{"type":"message_stop"}"#,
        ])
        try await withTestHTTPServer({ request in
            if let problem = Self.problem(request) { return badRequest(problem) }
            return .streamed(events, contentType: "text/event-stream")
        }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.error == nil)
            #expect(result.text == "All servers are up.")
            #expect(result.events.suffix(2) == [.usage(TokenUsage(promptTokens: 25, completionTokens: 15)), .finished(reason: "end_turn")])
        }
    }

    @Test func toolUseAssembledFromPartialJSON() async throws {
        // setup
        let events = Self.sse([
            Self.start,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"disk_usage","input":{}}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"host\": \"n"}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"as\"}"}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}"#,
            #"{"type":"message_stop"}"#,
        ])
        var request = hello
        request.tools = [ToolDefinition(name: "disk_usage", description: "Disk usage", parametersJSON: #"{"type":"object","properties":{"host":{"type":"string"}}}"#)]
        request.messages += [
            .init(role: .assistant, content: "Let me look.", toolCalls: [.init(id: "toolu_00", name: "disk_usage", arguments: #"{"host":"web"}"#)]),
            .init(role: .tool, content: "42% used", toolCallID: "toolu_00"),
            .init(role: .user, content: "And the NAS?"),
        ]
        try await withTestHTTPServer({ request in
            if let problem = Self.problem(request) { return badRequest(problem) }
            let body = request.json() ?? [:]
            guard let tool = (body["tools"] as? [[String: Any]])?.first, tool["name"] as? String == "disk_usage",
                  (tool["input_schema"] as? [String: Any])?["type"] as? String == "object" else { return badRequest("bad tools") }
            let messages = body["messages"] as? [[String: Any]] ?? []
            guard messages.count == 3 else { return badRequest("expected user, assistant, user; got \(messages.count)") }
            let assistant = messages[1]["content"] as? [[String: Any]] ?? []
            guard let use = assistant.first(where: { $0["type"] as? String == "tool_use" }), use["id"] as? String == "toolu_00",
                  (use["input"] as? [String: Any])?["host"] as? String == "web" else { return badRequest("bad tool_use block") }
            let results = messages[2]["content"] as? [[String: Any]] ?? []
            guard results.first?["type"] as? String == "tool_result", results.first?["tool_use_id"] as? String == "toolu_00",
                  results.first?["content"] as? String == "42% used", results.last?["type"] as? String == "text" else { return badRequest("bad tool_result") }
            return .streamed(events, contentType: "text/event-stream")
        }) { server in
            // act
            let result = await collect(client(server).stream(request))
            // verify
            #expect(result.error == nil, "\(String(describing: result.error))")
            #expect(result.text == "Checking.")
            #expect(result.toolCalls == [ToolCall(id: "toolu_01", name: "disk_usage", arguments: #"{"host": "nas"}"#)])
            #expect(result.events.last == .finished(reason: "tool_use"))
        }
    }

    @Test func modelsAreListed() async throws {
        // setup
        try await withTestHTTPServer({ request in
            guard request.method == "GET", request.path == "/v1/models", request.headers.first(name: "x-api-key") == Self.key,
                  request.headers.first(name: "anthropic-version") == "2023-06-01" else { return badRequest("bad models request") }
            return .json(#"{"data":[{"type":"model","id":"claude-x","display_name":"Claude X","created_at":"2025-01-01T00:00:00Z"}],"has_more":false}"#)
        }) { server in
            // act
            let models = try await client(server).models()
            // verify
            #expect(models.map(\.name) == ["claude-x"])
        }
    }

    @Test func refusedKeyIsAuthenticationFailedWithoutTheKey() async throws {
        // setup
        try await withTestHTTPServer({ _ in
            .json(#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key \#(Self.key)"}}"#, status: .unauthorized)
        }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .authenticationFailed)
            #expect(result.providerError?.message.contains(Self.key) == false)
        }
    }

    @Test func unknownModelIsModelNotFound() async throws {
        // setup
        try await withTestHTTPServer({ _ in
            .json(#"{"type":"error","error":{"type":"not_found_error","message":"model: nope"}}"#, status: .notFound)
        }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .modelNotFound)
        }
    }

    @Test func errorEventMidStreamIsThrown() async throws {
        // setup
        let events = Self.sse([
            Self.start,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ])
        try await withTestHTTPServer({ _ in .streamed(events, contentType: "text/event-stream") }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .rateLimited)
            #expect(!result.finished)
        }
    }

    @Test func malformedEventIsInvalidResponse() async throws {
        // setup
        let events = [Self.sse([Self.start]).joined(), "event: content_block_delta\ndata: {\"type\":\n\n"]
        try await withTestHTTPServer({ _ in .streamed(events, contentType: "text/event-stream") }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.providerError?.code == .invalidResponse)
        }
    }

    @Test func droppedConnectionMidStreamIsStreamInterrupted() async throws {
        // setup
        let events = Self.sse([
            Self.start,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Partial"}}"#,
        ])
        try await withTestHTTPServer({ _ in .streamed(events, contentType: "text/event-stream", abort: true) }) { server in
            // act
            let result = await collect(client(server).stream(hello))
            // verify
            #expect(result.text == "Partial")
            #expect(result.providerError?.code == .streamInterrupted)
            #expect(result.providerError?.message.contains("7 characters") == true)
            #expect(!result.finished)
        }
    }

    @Test func refusedPortIsUnreachableQuickly() async throws {
        // setup
        let port = try await closedTCPPort()
        let client = AnthropicClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, apiKey: Self.key, timeout: .seconds(90))
        let start = ContinuousClock.now
        // act
        let result = await collect(client.stream(hello))
        // verify
        #expect(result.providerError?.code == .unreachable)
        // Refused at once, not retried until the 90 s deadline (a starved CI runner can take seconds).
        #expect(ContinuousClock.now - start < .seconds(45))
    }
}
