import AIProviders
import Foundation
import NebulaTestSupport
import NIOHTTP1
import Testing

/// Ollama's native wire format: NDJSON lines up to `"done": true`.
@Suite(.timeLimit(.minutes(1)))
struct OllamaClientTests {
    let hello = ChatRequest(model: "llama3.2", messages: [.init(role: .user, content: "Hi")], temperature: 0.2, maxTokens: 64)

    static func ndjson(_ lines: [String]) -> [String] { lines.map { $0 + "\n" } }

    static func chatProblem(_ request: TestHTTPServer.Request) -> String? {
        guard request.method == "POST", request.path == "/api/chat" else { return "unexpected \(request.method) \(request.path)" }
        guard let body = request.json(), body["model"] as? String == "llama3.2", body["stream"] as? Bool == true else { return "bad body" }
        guard let options = body["options"] as? [String: Any], options["temperature"] as? Double == 0.2,
              options["num_predict"] as? Int == 64 else { return "bad options" }
        guard (body["messages"] as? [[String: Any]])?.first?["content"] as? String == "Hi" else { return "bad messages" }
        return nil
    }

    @Test func textStreamedInChunksAssemblesWithUsage() async throws {
        // setup
        let lines = Self.ndjson([
            #"{"model":"llama3.2","message":{"role":"assistant","content":"Disk "},"done":false}"#,
            #"{"model":"llama3.2","message":{"role":"assistant","content":"is "},"done":false}"#,
            #"{"model":"llama3.2","message":{"role":"assistant","content":"fine."},"done":false}"#,
            #"{"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":26,"eval_count":3}"#,
        ])
        try await withTestHTTPServer({ request in
            if let problem = Self.chatProblem(request) { return badRequest(problem) }
            return .streamed(lines, contentType: "application/x-ndjson")
        }) { server in
            // act
            let result = await collect(OllamaClient(baseURL: server.url, timeout: .seconds(30)).stream(hello))
            // verify
            #expect(result.error == nil)
            #expect(result.text == "Disk is fine.")
            #expect(result.events.suffix(2) == [.usage(TokenUsage(promptTokens: 26, completionTokens: 3)), .finished(reason: "stop")])
        }
    }

    @Test func toolCallWithObjectArguments() async throws {
        // setup
        let lines = Self.ndjson([
            #"{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"disk_usage","arguments":{"host":"nas","mount":"/srv"}}}]},"done":false}"#,
            #"{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":40,"eval_count":12}"#,
        ])
        var request = hello
        request.tools = [ToolDefinition(name: "disk_usage", description: "Disk usage", parametersJSON: #"{"type":"object","properties":{"host":{"type":"string"}}}"#)]
        try await withTestHTTPServer({ request in
            if let problem = Self.chatProblem(request) { return badRequest(problem) }
            guard let tools = request.json()?["tools"] as? [[String: Any]],
                  (tools.first?["function"] as? [String: Any])?["name"] as? String == "disk_usage" else { return badRequest("bad tools") }
            return .streamed(lines, contentType: "application/x-ndjson")
        }) { server in
            // act
            let result = await collect(OllamaClient(baseURL: server.url, timeout: .seconds(30)).stream(request))
            // verify
            #expect(result.error == nil)
            let call = try #require(result.toolCalls.first)
            #expect(call.id == "call_0")
            #expect(call.name == "disk_usage")
            #expect(try JSONSerialization.jsonObject(with: Data(call.arguments.utf8)) as? [String: String] == ["host": "nas", "mount": "/srv"])
        }
    }

    @Test func modelsAreListed() async throws {
        // setup
        try await withTestHTTPServer({ request in
            guard request.method == "GET", request.path == "/api/tags" else { return badRequest("bad request") }
            return .json(#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":2019393189,"details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}"#)
        }) { server in
            // act
            let models = try await OllamaClient(baseURL: server.url, timeout: .seconds(30)).models()
            // verify
            #expect(models == [ModelInfo(name: "llama3.2:latest", sizeBytes: 2_019_393_189, family: "llama", parameterSize: "3.2B", quantization: "Q4_K_M")])
        }
    }

    @Test func runningModelsAreListed() async throws {
        // setup
        try await withTestHTTPServer({ request in
            guard request.method == "GET", request.path == "/api/ps" else { return badRequest("bad request") }
            return .json(#"{"models":[{"name":"llama3.2:latest","size":3500000000,"size_vram":3000000000,"expires_at":"2026-06-04T14:38:31.837534562-07:00"}]}"#)
        }) { server in
            // act
            let models = try await OllamaClient(baseURL: server.url, timeout: .seconds(30)).runningModels()
            // verify
            #expect(models.map(\.name) == ["llama3.2:latest"])
            #expect(models.first?.sizeVRAM == 3_000_000_000)
            #expect(models.first?.expiresAt != nil)
        }
    }

    @Test func unknownModelIsModelNotFound() async throws {
        // setup
        try await withTestHTTPServer({ _ in .json(#"{"error":"model 'nope' not found"}"#, status: .notFound) }) { server in
            // act
            let result = await collect(OllamaClient(baseURL: server.url, timeout: .seconds(30)).stream(hello))
            // verify
            #expect(result.providerError?.code == .modelNotFound)
        }
    }

    @Test func errorLineMidStreamIsThrown() async throws {
        // setup
        let lines = Self.ndjson([#"{"message":{"role":"assistant","content":"Hi"},"done":false}"#, #"{"error":"out of memory"}"#])
        try await withTestHTTPServer({ _ in .streamed(lines, contentType: "application/x-ndjson") }) { server in
            // act
            let result = await collect(OllamaClient(baseURL: server.url, timeout: .seconds(30)).stream(hello))
            // verify
            #expect(result.providerError?.code == .rejected)
            #expect(result.providerError?.message.contains("out of memory") == true)
            #expect(!result.finished)
        }
    }

    @Test func malformedLineIsInvalidResponse() async throws {
        // setup
        let lines = Self.ndjson([#"{"message":{"role":"assistant","content":"Hi"},"done":false}"#, #"{"message":"#])
        try await withTestHTTPServer({ _ in .streamed(lines, contentType: "application/x-ndjson") }) { server in
            // act
            let result = await collect(OllamaClient(baseURL: server.url, timeout: .seconds(30)).stream(hello))
            // verify
            #expect(result.providerError?.code == .invalidResponse)
        }
    }

    @Test func droppedConnectionMidStreamIsStreamInterrupted() async throws {
        // setup
        let lines = Self.ndjson([#"{"message":{"role":"assistant","content":"Half an "},"done":false}"#,
                                 #"{"message":{"role":"assistant","content":"answer"},"done":false}"#])
        try await withTestHTTPServer({ _ in .streamed(lines, contentType: "application/x-ndjson", abort: true) }) { server in
            // act
            let result = await collect(OllamaClient(baseURL: server.url, timeout: .seconds(30)).stream(hello))
            // verify
            #expect(result.text == "Half an answer")
            #expect(result.providerError?.code == .streamInterrupted)
            #expect(!result.finished)
        }
    }

    @Test func refusedPortIsUnreachableQuickly() async throws {
        // setup
        let port = try await closedTCPPort()
        let client = OllamaClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, timeout: .seconds(90))
        let start = ContinuousClock.now
        // act
        var failure: AIProviderError?
        do throws(AIProviderError) { _ = try await client.models() } catch { failure = error }
        let result = await collect(client.stream(hello))
        // verify
        #expect(failure?.code == .unreachable)
        #expect(result.providerError?.code == .unreachable)
        // Refused at once, not retried until the 90 s deadline (a starved CI runner can take seconds).
        #expect(ContinuousClock.now - start < .seconds(45))
    }

    @Test func pullStreamsProgress() async throws {
        // setup
        let lines = Self.ndjson([
            #"{"status":"pulling manifest"}"#,
            #"{"status":"pulling 6a0746a1ec1a","digest":"sha256:6a0746a1ec1a","total":2019377376,"completed":1000}"#,
            #"{"status":"pulling 6a0746a1ec1a","digest":"sha256:6a0746a1ec1a","total":2019377376,"completed":2019377376}"#,
            #"{"status":"verifying sha256 digest"}"#,
            #"{"status":"success"}"#,
        ])
        try await withTestHTTPServer({ request in
            guard request.method == "POST", request.path == "/api/pull", request.json()?["model"] as? String == "llama3.2" else { return badRequest("bad pull") }
            return .streamed(lines, contentType: "application/x-ndjson")
        }) { server in
            // act
            var progress: [PullProgress] = []
            for try await step in OllamaClient(baseURL: server.url, timeout: .seconds(30)).pull("llama3.2") { progress.append(step) }
            // verify
            #expect(progress.map(\.status) == ["pulling manifest", "pulling 6a0746a1ec1a", "pulling 6a0746a1ec1a", "verifying sha256 digest", "success"])
            #expect(progress[2].completed == 2_019_377_376)
            #expect(progress[1].total == 2_019_377_376)
        }
    }

    @Test func pullErrorLineIsThrown() async throws {
        // setup
        let lines = Self.ndjson([#"{"status":"pulling manifest"}"#, #"{"error":"pull model manifest: file does not exist"}"#])
        try await withTestHTTPServer({ _ in .streamed(lines, contentType: "application/x-ndjson") }) { server in
            // act
            var progress: [PullProgress] = []
            var thrown: (any Error)?
            do {
                for try await step in OllamaClient(baseURL: server.url, timeout: .seconds(30)).pull("nope") { progress.append(step) }
            } catch { thrown = error }
            // verify
            #expect(progress.count == 1)
            #expect((thrown as? AIProviderError)?.code == .modelNotFound)
        }
    }

    @Test func loadUnloadAndDeleteSendTheRightRequests() async throws {
        // setup
        let seen = RequestLog()
        try await withTestHTTPServer({ request in
            seen.append("\(request.method) \(request.path) \(String(decoding: request.body, as: UTF8.self))")
            if request.path == "/api/delete" { return .json("") }
            return .json(#"{"model":"llama3.2","created_at":"2026-01-01T00:00:00Z","response":"","done":true,"done_reason":"load"}"#)
        }) { server in
            let client = OllamaClient(baseURL: server.url, timeout: .seconds(30))
            // act
            try await client.load("llama3.2")
            try await client.unload("llama3.2")
            try await client.delete("llama3.2")
            // verify
            #expect(seen.entries == [
                #"POST /api/generate {"model":"llama3.2"}"#,
                #"POST /api/generate {"keep_alive":0,"model":"llama3.2"}"#,
                #"DELETE /api/delete {"model":"llama3.2"}"#,
            ])
        }
    }

    @Test func deletingAnUnknownModelIsModelNotFound() async throws {
        // setup
        try await withTestHTTPServer({ _ in .json(#"{"error":"model 'nope' not found"}"#, status: .notFound) }) { server in
            // act
            var failure: AIProviderError?
            do throws(AIProviderError) { try await OllamaClient(baseURL: server.url, timeout: .seconds(30)).delete("nope") } catch { failure = error }
            // verify
            #expect(failure?.code == .modelNotFound)
        }
    }
}
