import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A model Ollama holds in memory (`GET /api/ps`).
public struct RunningModel: Codable, Sendable, Hashable {
    /// Its name, e.g. `llama3.2:3b`.
    public var name: String
    /// Memory it takes in total.
    public var sizeBytes: Int64
    /// The part of it in GPU memory.
    public var sizeVRAM: Int64
    /// When Ollama unloads it unless it is used again.
    public var expiresAt: Date?

    /// A running model.
    public init(name: String, sizeBytes: Int64, sizeVRAM: Int64, expiresAt: Date?) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.sizeVRAM = sizeVRAM
        self.expiresAt = expiresAt
    }
}

/// One progress line of `POST /api/pull`.
public struct PullProgress: Codable, Sendable, Hashable {
    /// Ollama's words: `pulling manifest`, `pulling <digest>`, `verifying sha256 digest`, `success`.
    public var status: String
    /// The layer being downloaded.
    public var digest: String?
    /// The layer's size in bytes.
    public var total: Int64?
    /// Bytes of the layer downloaded so far.
    public var completed: Int64?

    /// A progress report.
    public init(status: String, digest: String? = nil, total: Int64? = nil, completed: Int64? = nil) {
        self.status = status
        self.digest = digest
        self.total = total
        self.completed = completed
    }
}

/// Talks to Ollama's native API: chat (`POST /api/chat`, NDJSON stream), the model list, and model
/// management (load, unload, pull, delete).
public struct OllamaClient: ChatProvider {
    let baseURL: URL
    let transport: ProviderTransport
    let pullTimeout: Duration

    /// A client for Ollama at `baseURL` (e.g. `http://127.0.0.1:11434`). `timeout` bounds one answer
    /// (a model load included); `pullTimeout` bounds a pull.
    public init(baseURL: URL, httpClient: HTTPClient = AIProviderHTTP.client, timeout: Duration = .seconds(120), pullTimeout: Duration = .seconds(6 * 3600)) {
        self.baseURL = baseURL
        self.transport = ProviderTransport(client: httpClient, timeout: timeout, provider: "Ollama", secret: nil, headers: [("Accept", "application/json")])
        self.pullTimeout = pullTimeout
    }

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatStreamEvent, any Error> {
        let transport = self.transport
        let model = request.model
        return runStream(
            transport: transport,
            url: baseURL.appending(api: "api/chat"),
            body: { () throws(AIProviderError) in try JSON.data(Self.body(request)) },
            decoder: OllamaStreamDecoder(transport: transport, model: model),
            statusError: { status, data in Self.statusError(transport, status, data, model: model) }
        )
    }

    public func models() async throws(AIProviderError) -> [ModelInfo] {
        let url = baseURL.appending(api: "api/tags")
        let body = try await object(.GET, url, model: nil)
        guard let models = body["models"] as? [[String: Any]] else {
            throw AIProviderError(code: .invalidResponse, message: "Ollama at \(transport.target(url)) answered the model list without a `models` array. Check that the URL points at Ollama (port 11434 by default).")
        }
        return models.compactMap { model in
            guard let name = model["name"] as? String else { return nil }
            let details = model["details"] as? [String: Any]
            return ModelInfo(name: name, sizeBytes: JSON.int(model["size"]).map(Int64.init), family: details?["family"] as? String,
                             parameterSize: details?["parameter_size"] as? String, quantization: details?["quantization_level"] as? String)
        }
    }

    /// The models in memory now (`GET /api/ps`).
    public func runningModels() async throws(AIProviderError) -> [RunningModel] {
        let url = baseURL.appending(api: "api/ps")
        let body = try await object(.GET, url, model: nil)
        guard let models = body["models"] as? [[String: Any]] else {
            throw AIProviderError(code: .invalidResponse, message: "Ollama at \(transport.target(url)) answered the running models without a `models` array.")
        }
        return models.compactMap { model in
            guard let name = model["name"] as? String else { return nil }
            return RunningModel(name: name, sizeBytes: Int64(JSON.int(model["size"]) ?? 0), sizeVRAM: Int64(JSON.int(model["size_vram"]) ?? 0),
                                expiresAt: (model["expires_at"] as? String).flatMap(Self.date))
        }
    }

    /// Loads `model` into memory (an empty `POST /api/generate`).
    public func load(_ model: String) async throws(AIProviderError) {
        _ = try await object(.POST, baseURL.appending(api: "api/generate"), body: JSON.data(["model": model]), model: model)
    }

    /// Unloads `model` from memory (`POST /api/generate` with `keep_alive: 0`).
    public func unload(_ model: String) async throws(AIProviderError) {
        _ = try await object(.POST, baseURL.appending(api: "api/generate"), body: JSON.data(["model": model, "keep_alive": 0]), model: model)
    }

    /// Deletes `model` from disk (`DELETE /api/delete`).
    public func delete(_ model: String) async throws(AIProviderError) {
        _ = try await object(.DELETE, baseURL.appending(api: "api/delete"), body: JSON.data(["model": model]), model: model)
    }

    /// Pulls `model` from the registry, yielding Ollama's progress lines; ends after `success`.
    /// An `{"error": …}` line is thrown (`.modelNotFound` when the registry has no such model).
    public func pull(_ model: String) -> AsyncThrowingStream<PullProgress, any Error> {
        let transport = self.transport
        return runStream(
            transport: transport,
            url: baseURL.appending(api: "api/pull"),
            timeout: pullTimeout,
            body: { () throws(AIProviderError) in try JSON.data(["model": model, "stream": true]) },
            decoder: PullDecoder(transport: transport, model: model),
            statusError: { status, data in Self.statusError(transport, status, data, model: model) }
        )
    }

    /// One request whose answer is a JSON object (or empty, or NDJSON: the last line counts).
    private func object(_ method: HTTPMethod, _ url: String, body: Data? = nil, model: String?) async throws(AIProviderError) -> [String: Any] {
        let reply = try await transport.send(method, url, json: body)
        guard (200..<300).contains(reply.status) else { throw Self.statusError(transport, reply.status, reply.body, model: model) }
        let lines = String(decoding: reply.body, as: UTF8.self).split(whereSeparator: \.isNewline)
        guard let last = lines.last else { return [:] }
        guard let object = JSON.object(String(last)) else {
            throw AIProviderError(code: .invalidResponse, message: "Ollama at \(transport.target(url)) sent an answer that is not JSON: \(last.prefix(200))")
        }
        if let error = object["error"] as? String { throw Self.errorLine(transport, error, model: model) }
        return object
    }

    static func statusError(_ transport: ProviderTransport, _ status: Int, _ data: Data, model: String?) -> AIProviderError {
        let said = JSON.providerError(data)
        let notFound = status == 404 || (said.message?.lowercased().contains("not found") ?? false)
        return transport.statusError(notFound ? 404 : status, providerMessage: said.message, providerCode: nil, model: model)
    }

    /// The error for an `{"error": …}` line inside a 200 answer.
    static func errorLine(_ transport: ProviderTransport, _ message: String, model: String?) -> AIProviderError {
        let lower = message.lowercased()
        if lower.contains("not found") || lower.contains("file does not exist") {
            return transport.statusError(404, providerMessage: message, providerCode: nil, model: model)
        }
        return AIProviderError(code: .rejected, message: "Ollama reported an error: \(message.prefix(500))")
    }

    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        // Ollama writes nanoseconds, more digits than the formatter reads: keep milliseconds.
        if let dot = text.firstIndex(of: "."),
           let zone = text[dot...].firstIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }) {
            let fraction = text[text.index(after: dot)..<zone].prefix(3)
            if let date = formatter.date(from: text[..<dot] + "." + fraction + text[zone...]) { return date }
        }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func body(_ request: ChatRequest) throws(AIProviderError) -> [String: Any] {
        var toolNames: [String: String] = [:]
        for message in request.messages { for call in message.toolCalls { toolNames[call.id] = call.name } }
        var body: [String: Any] = [
            "model": request.model,
            "stream": true,
            "messages": request.messages.map { message -> [String: Any] in
                var out: [String: Any] = ["role": message.role.rawValue, "content": message.content]
                if !message.toolCalls.isEmpty {
                    out["tool_calls"] = message.toolCalls.map { call -> [String: Any] in
                        ["function": ["name": call.name, "arguments": JSON.arguments(call.arguments)]]
                    }
                }
                if let id = message.toolCallID, let name = toolNames[id] { out["tool_name"] = name }
                return out
            },
        ]
        if !request.tools.isEmpty {
            var tools: [[String: Any]] = []
            for tool in request.tools {
                tools.append(["type": "function", "function": ["name": tool.name, "description": tool.description, "parameters": try JSON.schema(tool)]])
            }
            body["tools"] = tools
        }
        var options: [String: Any] = [:]
        if let temperature = request.temperature { options["temperature"] = temperature }
        if let maxTokens = request.maxTokens { options["num_predict"] = maxTokens }
        if !options.isEmpty { body["options"] = options }
        return body
    }
}

/// Reads `/api/chat` NDJSON lines up to `"done": true`.
struct OllamaStreamDecoder: StreamDecoder {
    let transport: ProviderTransport
    let model: String
    private(set) var isFinished = false
    private var callCount = 0

    init(transport: ProviderTransport, model: String) {
        self.transport = transport
        self.model = model
    }

    mutating func consume(line: String) throws(AIProviderError) -> [ChatStreamEvent] {
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return [] }
        guard let object = JSON.object(line) else {
            throw AIProviderError(code: .invalidResponse, message: "Ollama sent a stream line that is not JSON: \(line.prefix(200))")
        }
        if let error = object["error"] as? String { throw OllamaClient.errorLine(transport, error, model: model) }
        var events: [ChatStreamEvent] = []
        if let message = object["message"] as? [String: Any] {
            if let text = message["content"] as? String, !text.isEmpty { events.append(.text(text)) }
            for call in message["tool_calls"] as? [[String: Any]] ?? [] {
                guard let function = call["function"] as? [String: Any], let name = function["name"] as? String else { continue }
                let arguments: String
                if let text = function["arguments"] as? String { arguments = text } else { arguments = JSON.text(function["arguments"] ?? [String: Any]()) }
                let id = (call["id"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "call_\(callCount)"
                callCount += 1
                events.append(.toolCall(ToolCall(id: id, name: name, arguments: arguments)))
            }
        }
        if object["done"] as? Bool == true {
            isFinished = true
            if let prompt = JSON.int(object["prompt_eval_count"]), let completion = JSON.int(object["eval_count"]) {
                events.append(.usage(TokenUsage(promptTokens: prompt, completionTokens: completion)))
            }
            events.append(.finished(reason: object["done_reason"] as? String ?? "stop"))
        }
        return events
    }

    func endOfBody() -> [ChatStreamEvent]? { nil }
}

/// Reads `/api/pull` NDJSON progress lines up to `success`.
struct PullDecoder: StreamDecoder {
    let transport: ProviderTransport
    let model: String
    private(set) var isFinished = false

    mutating func consume(line: String) throws(AIProviderError) -> [PullProgress] {
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return [] }
        guard let object = JSON.object(line) else {
            throw AIProviderError(code: .invalidResponse, message: "Ollama sent a pull progress line that is not JSON: \(line.prefix(200))")
        }
        if let error = object["error"] as? String { throw OllamaClient.errorLine(transport, error, model: model) }
        guard let status = object["status"] as? String else {
            throw AIProviderError(code: .invalidResponse, message: "Ollama sent a pull progress line without a status: \(line.prefix(200))")
        }
        if status == "success" { isFinished = true }
        return [PullProgress(status: status, digest: object["digest"] as? String,
                             total: JSON.int(object["total"]).map(Int64.init), completed: JSON.int(object["completed"]).map(Int64.init))]
    }

    func endOfBody() -> [PullProgress]? { nil }

    static func characters(in event: PullProgress) -> Int { 0 }
}
