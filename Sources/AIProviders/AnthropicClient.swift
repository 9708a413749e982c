import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Talks to Anthropic's Messages API: streams `POST /v1/messages` (SSE) and lists `GET /v1/models`.
public struct AnthropicClient: ChatProvider {
    /// `https://api.anthropic.com`.
    public static let defaultBaseURL = URL(string: "https://api.anthropic.com") ?? URL(fileURLWithPath: "/")
    /// The `anthropic-version` header sent with every request.
    public static let apiVersion = "2023-06-01"
    /// `max_tokens` when the request gives none (the API requires one).
    public static let defaultMaxTokens = 1024

    let baseURL: URL
    let transport: ProviderTransport

    /// A client with `apiKey` (sent as `x-api-key`). `timeout` bounds one whole answer.
    public init(baseURL: URL = AnthropicClient.defaultBaseURL, apiKey: String, httpClient: HTTPClient = AIProviderHTTP.client, timeout: Duration = .seconds(120)) {
        self.baseURL = baseURL
        self.transport = ProviderTransport(client: httpClient, timeout: timeout, provider: "Anthropic", secret: apiKey,
                                           headers: [("Accept", "application/json"), ("x-api-key", apiKey), ("anthropic-version", Self.apiVersion)])
    }

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatStreamEvent, any Error> {
        let transport = self.transport
        let model = request.model
        return runStream(
            transport: transport,
            url: baseURL.appending(api: "v1/messages"),
            body: { () throws(AIProviderError) in try JSON.data(Self.body(request)) },
            decoder: AnthropicStreamDecoder(transport: transport, model: model),
            statusError: { status, data in
                let said = JSON.providerError(data)
                return transport.statusError(status, providerMessage: said.message, providerCode: said.code, model: model)
            }
        )
    }

    public func models() async throws(AIProviderError) -> [ModelInfo] {
        let url = baseURL.appending(api: "v1/models?limit=1000")
        let reply = try await transport.send(.GET, url)
        guard (200..<300).contains(reply.status) else {
            let said = JSON.providerError(reply.body)
            throw transport.statusError(reply.status, providerMessage: said.message, providerCode: said.code, model: nil)
        }
        guard let data = JSON.object(reply.body)?["data"] as? [[String: Any]] else {
            throw AIProviderError(code: .invalidResponse, message: "Anthropic at \(transport.target(url)) answered the model list without a `data` array.")
        }
        return data.compactMap { ($0["id"] as? String).map { ModelInfo(name: $0) } }
    }

    /// The request body: system text on top, user/assistant turns alternating (consecutive
    /// messages of one role merged), tool results as `tool_result` blocks of a user turn.
    static func body(_ request: ChatRequest) throws(AIProviderError) -> [String: Any] {
        var system: [String] = []
        var turns: [(role: String, blocks: [[String: Any]])] = []
        func add(_ role: String, _ blocks: [[String: Any]]) {
            guard !blocks.isEmpty else { return }
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role, blocks))
            }
        }
        for message in request.messages {
            switch message.role {
            case .system:
                system.append(message.content)
            case .user:
                add("user", message.content.isEmpty ? [] : [["type": "text", "text": message.content]])
            case .tool:
                add("user", [["type": "tool_result", "tool_use_id": message.toolCallID ?? "", "content": message.content]])
            case .assistant:
                var blocks: [[String: Any]] = message.content.isEmpty ? [] : [["type": "text", "text": message.content]]
                for call in message.toolCalls {
                    blocks.append(["type": "tool_use", "id": call.id, "name": call.name, "input": JSON.arguments(call.arguments)])
                }
                add("assistant", blocks)
            }
        }
        var body: [String: Any] = [
            "model": request.model,
            "stream": true,
            "max_tokens": request.maxTokens ?? defaultMaxTokens,
            "messages": turns.map { ["role": $0.role, "content": $0.blocks] as [String: Any] },
        ]
        if !system.isEmpty { body["system"] = system.joined(separator: "\n\n") }
        if !request.tools.isEmpty {
            var tools: [[String: Any]] = []
            for tool in request.tools {
                tools.append(["name": tool.name, "description": tool.description, "input_schema": try JSON.schema(tool)])
            }
            body["tools"] = tools
        }
        if let temperature = request.temperature { body["temperature"] = temperature }
        return body
    }
}

/// Reads the Messages SSE stream (`data:` lines carry the event's `type`) up to `message_stop`.
struct AnthropicStreamDecoder: StreamDecoder {
    let transport: ProviderTransport
    let model: String
    private(set) var isFinished = false
    private var inputTokens = 0
    private var outputTokens = 0
    private var stopReason: String?
    /// Tool use blocks by content block index, arguments assembled from `partial_json` pieces.
    private var calls: [Int: ToolCall] = [:]

    init(transport: ProviderTransport, model: String) {
        self.transport = transport
        self.model = model
    }

    mutating func consume(line: String) throws(AIProviderError) -> [ChatStreamEvent] {
        guard line.hasPrefix("data:") else { return [] }   // `event:` lines repeat the type
        let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
        guard let event = JSON.object(payload), let type = event["type"] as? String else {
            throw AIProviderError(code: .invalidResponse, message: "Anthropic sent a stream event that is not JSON: \(payload.prefix(200))")
        }
        switch type {
        case "message_start":
            let usage = (event["message"] as? [String: Any])?["usage"] as? [String: Any]
            inputTokens = JSON.int(usage?["input_tokens"]) ?? 0
            outputTokens = JSON.int(usage?["output_tokens"]) ?? 0
        case "content_block_start":
            if let block = event["content_block"] as? [String: Any], block["type"] as? String == "tool_use", let index = JSON.int(event["index"]) {
                calls[index] = ToolCall(id: block["id"] as? String ?? "call_\(index)", name: block["name"] as? String ?? "", arguments: "")
            }
        case "content_block_delta":
            let delta = event["delta"] as? [String: Any]
            switch delta?["type"] as? String {
            case "text_delta":
                if let text = delta?["text"] as? String, !text.isEmpty { return [.text(text)] }
            case "input_json_delta":
                if let index = JSON.int(event["index"]), let piece = delta?["partial_json"] as? String { calls[index]?.arguments += piece }
            default:
                break
            }
        case "content_block_stop":
            if let index = JSON.int(event["index"]), var call = calls.removeValue(forKey: index) {
                if call.arguments.isEmpty { call.arguments = "{}" }
                return [.toolCall(call)]
            }
        case "message_delta":
            if let reason = (event["delta"] as? [String: Any])?["stop_reason"] as? String { stopReason = reason }
            if let output = JSON.int((event["usage"] as? [String: Any])?["output_tokens"]) { outputTokens = output }
        case "message_stop":
            isFinished = true
            return [.usage(TokenUsage(promptTokens: inputTokens, completionTokens: outputTokens)), .finished(reason: stopReason ?? "end_turn")]
        case "error":
            let said = JSON.providerError(Data(payload.utf8))
            throw transport.statusError(500, providerMessage: said.message, providerCode: said.code, model: nil)
        default:
            break   // ping and event types added later
        }
        return []
    }

    func endOfBody() -> [ChatStreamEvent]? { nil }
}
