import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Talks to a server with OpenAI's chat completions API: llama.cpp's server, vLLM, LocalAI,
/// LM Studio, Ollama's `/v1`, OpenAI itself. Streams `POST {base}/chat/completions` (SSE) and lists
/// `GET {base}/models`.
public struct OpenAICompatibleClient: ChatProvider {
    let baseURL: URL
    let transport: ProviderTransport

    /// A client for the API at `baseURL` (including the version, e.g. `http://127.0.0.1:8080/v1`).
    /// `apiKey` is sent as `Authorization: Bearer` when given. `timeout` bounds a whole answer.
    public init(baseURL: URL, apiKey: String?, httpClient: HTTPClient = AIProviderHTTP.client, timeout: Duration = .seconds(120)) {
        self.baseURL = baseURL
        var headers = [("Accept", "application/json")]
        if let apiKey, !apiKey.isEmpty { headers.append(("Authorization", "Bearer \(apiKey)")) }
        self.transport = ProviderTransport(client: httpClient, timeout: timeout, provider: "The OpenAI-compatible server", secret: apiKey, headers: headers)
    }

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatStreamEvent, any Error> {
        let transport = self.transport
        let model = request.model
        return runStream(
            transport: transport,
            url: baseURL.appending(api: "chat/completions"),
            body: { () throws(AIProviderError) in try JSON.data(Self.body(request)) },
            decoder: OpenAIStreamDecoder(transport: transport),
            statusError: { status, data in
                let said = JSON.providerError(data)
                return transport.statusError(status, providerMessage: said.message, providerCode: said.code, model: model)
            }
        )
    }

    public func models() async throws(AIProviderError) -> [ModelInfo] {
        let url = baseURL.appending(api: "models")
        let reply = try await transport.send(.GET, url)
        guard (200..<300).contains(reply.status) else {
            let said = JSON.providerError(reply.body)
            throw transport.statusError(reply.status, providerMessage: said.message, providerCode: said.code, model: nil)
        }
        guard let data = JSON.object(reply.body)?["data"] as? [[String: Any]] else {
            throw AIProviderError(code: .invalidResponse, message: "\(transport.provider) at \(transport.target(url)) answered the model list without a `data` array. Check that the base URL ends with the API version (e.g. /v1).")
        }
        return data.compactMap { ($0["id"] as? String).map { ModelInfo(name: $0) } }
    }

    static func body(_ request: ChatRequest) throws(AIProviderError) -> [String: Any] {
        var body: [String: Any] = [
            "model": request.model,
            "stream": true,
            "stream_options": ["include_usage": true],
            "messages": request.messages.map(message),
        ]
        if !request.tools.isEmpty {
            var tools: [[String: Any]] = []
            for tool in request.tools {
                tools.append(["type": "function", "function": ["name": tool.name, "description": tool.description, "parameters": try JSON.schema(tool)]])
            }
            body["tools"] = tools
        }
        if let temperature = request.temperature { body["temperature"] = temperature }
        if let maxTokens = request.maxTokens { body["max_tokens"] = maxTokens }
        return body
    }

    static func message(_ message: ChatMessage) -> [String: Any] {
        var out: [String: Any] = ["role": message.role.rawValue]
        out["content"] = message.content.isEmpty && !message.toolCalls.isEmpty ? NSNull() : message.content
        if !message.toolCalls.isEmpty {
            out["tool_calls"] = message.toolCalls.map { call -> [String: Any] in
                ["id": call.id, "type": "function", "function": ["name": call.name, "arguments": call.arguments]]
            }
        }
        if let id = message.toolCallID { out["tool_call_id"] = id }
        return out
    }
}

/// Reads `data: {chunk}` SSE lines up to `data: [DONE]`.
struct OpenAIStreamDecoder: StreamDecoder {
    let transport: ProviderTransport
    private(set) var isFinished = false
    private var finishReason: String?
    /// Tool calls by `index`, assembled from fragments.
    private var calls: [Int: ToolCall] = [:]

    init(transport: ProviderTransport) {
        self.transport = transport
    }

    mutating func consume(line: String) throws(AIProviderError) -> [ChatStreamEvent] {
        guard line.hasPrefix("data:") else { return [] }   // comments, `event:`, blank separators
        // Spaces around the payload dropped by hand: trimmingCharacters costs a fifth of the
        // gateway's time per streamed chunk.
        var payload = line.dropFirst(5).drop { $0 == " " || $0 == "\t" }
        while let last = payload.last, last == " " || last == "\t" { payload = payload.dropLast() }
        if payload == "[DONE]" {
            isFinished = true
            return finish()
        }
        guard let chunk = JSON.object(Data(payload.utf8)) else {
            throw AIProviderError(code: .invalidResponse, message: "\(transport.provider) sent a stream frame that is not JSON: \(payload.prefix(200))")
        }
        if chunk["error"] != nil {
            let said = JSON.providerError(Data(payload.utf8))
            throw transport.statusError(JSON.int((chunk["error"] as? [String: Any])?["code"]) ?? 500, providerMessage: said.message, providerCode: said.code, model: nil)
        }
        var events: [ChatStreamEvent] = []
        if let choice = (chunk["choices"] as? [[String: Any]])?.first {
            if let delta = choice["delta"] as? [String: Any] {
                if let text = delta["content"] as? String, !text.isEmpty { events.append(.text(text)) }
                for fragment in delta["tool_calls"] as? [[String: Any]] ?? [] {
                    let index = JSON.int(fragment["index"]) ?? calls.count
                    var call = calls[index] ?? ToolCall(id: "", name: "", arguments: "")
                    if let id = fragment["id"] as? String, !id.isEmpty { call.id = id }
                    let function = fragment["function"] as? [String: Any]
                    if let name = function?["name"] as? String, !name.isEmpty { call.name = name }
                    if let arguments = function?["arguments"] as? String { call.arguments += arguments }
                    calls[index] = call
                }
            }
            if let reason = choice["finish_reason"] as? String { finishReason = reason }
        }
        if let usage = chunk["usage"] as? [String: Any],
           let prompt = JSON.int(usage["prompt_tokens"]), let completion = JSON.int(usage["completion_tokens"]) {
            events.append(.usage(TokenUsage(promptTokens: prompt, completionTokens: completion)))
        }
        return events
    }

    private mutating func finish() -> [ChatStreamEvent] {
        var events: [ChatStreamEvent] = calls.keys.sorted().compactMap { index in
            guard var call = calls[index] else { return nil }
            if call.id.isEmpty { call.id = "call_\(index)" }
            if call.arguments.isEmpty { call.arguments = "{}" }
            return .toolCall(call)
        }
        calls.removeAll()
        events.append(.finished(reason: finishReason ?? "stop"))
        return events
    }

    /// Some servers omit `[DONE]`: a clean end after a `finish_reason` counts as finished.
    mutating func endOfBody() -> [ChatStreamEvent]? {
        guard finishReason != nil else { return nil }
        return finish()
    }
}
