import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1

/// A scriptable stand-in for model providers over loopback HTTP, speaking their documented wire
/// formats on one port:
/// - OpenAI-compatible (`openAIBaseURL`): `GET /v1/models`, `POST /v1/chat/completions` (SSE or one object);
/// - Ollama (`url`): `GET /api/tags`, `GET /api/ps`, `GET /api/version`, `POST /api/chat` (NDJSON or one
///   object), `POST /api/generate` (load / unload), `DELETE /api/delete`, `POST /api/pull` (NDJSON progress);
/// - Anthropic (`url`): `POST /v1/messages` (typed SSE events or one message), `GET /v1/models`
///   (answered in Anthropic's shape when the request carries `anthropic-version`).
///
/// Every chat request takes the next ``Turn`` of the script (``script(_:)``), or ``defaultTurn`` when
/// the script is empty. Requests are validated like the real APIs do (a problem is answered with 400
/// and a message starting `fake server:`), and one for a model not in ``installedModels`` is answered
/// 404 without taking a turn. A chat marks its model loaded (``loadedModels``, `GET /api/ps`), as Ollama does.
///
/// Usage reported: prompt tokens = whitespace-separated words of all message texts (system included),
/// at least 1; completion tokens = the number of pieces the answer was streamed in (text pieces, or
/// tool-call argument pieces).
public final class FakeModelServer: Sendable {
    /// A tool call the model makes in a ``Turn/toolCalls(_:)`` turn; `arguments` is JSON object text.
    public struct ScriptedToolCall: Sendable, Hashable {
        public var id: String
        public var name: String
        public var arguments: String

        public init(id: String, name: String, arguments: String) {
            self.id = id
            self.name = name
            self.arguments = arguments
        }
    }

    /// What the model does for one chat request.
    public enum Turn: Sendable, Hashable {
        /// Answers `text` in `chunks` pieces, `delay` apart.
        case answer(String, chunks: Int = 5, delay: Duration = .milliseconds(5))
        /// Calls tools (OpenAI: arguments streamed in at least 2 pieces per call, finish `tool_calls`;
        /// Anthropic: `tool_use` blocks, stop `tool_use`; Ollama: one line, arguments as an object).
        case toolCalls([ScriptedToolCall])
        /// Answers HTTP `status` with the provider's error body carrying `message`; nothing is streamed.
        case failBeforeFirstToken(status: Int, message: String)
        /// Streams `after` as text pieces, then closes the connection without finishing the answer.
        case failMidStream(after: String)
        /// Sends the headers (and the role / message start frame) at once, the first text after `firstTokenAfter`.
        case slow(firstTokenAfter: Duration, text: String)
        /// Sends a stream frame that is not JSON (a whole body that is not JSON when not streaming).
        case malformed
    }

    private struct State: Sendable {
        var installed: [String]
        /// Loaded model → when it unloads.
        var loaded: [(name: String, expires: Date)] = []
        var script: [Turn] = []
        var defaultTurn: Turn = .answer("Hello from the fake model.")
        var requests: [TestHTTPServer.Request] = []
        var pullDelay: Duration = .milliseconds(20)
        var pullSteps = 10
        var pullFailure: String?
        var counter = 0
    }

    static let chatPaths: Set<String> = ["/v1/chat/completions", "/api/chat", "/v1/messages"]

    private let state: NIOLockedValueBox<State>
    private let http: TestHTTPServer
    /// When set, OpenAI requests must carry `Authorization: Bearer <apiKey>` and Anthropic ones
    /// `x-api-key: <apiKey>` (401 in the provider's shape otherwise). Ollama takes no key.
    public let apiKey: String?

    private init(state: NIOLockedValueBox<State>, http: TestHTTPServer, apiKey: String?) {
        self.state = state
        self.http = http
        self.apiKey = apiKey
    }

    /// Starts a fake offering `models` (its installed models: listed by every provider API, and the
    /// only ones chat accepts). Call ``stop()`` when done.
    public static func start(models: [String] = ["tiny-model"], apiKey: String? = nil) async throws -> FakeModelServer {
        let state = NIOLockedValueBox(State(installed: models))
        let handler = Handler(state: state, apiKey: apiKey)
        let http = try await TestHTTPServer.start { request in await handler.handle(request) }
        return FakeModelServer(state: state, http: http, apiKey: apiKey)
    }

    /// Closes the listener and every connection (an answer still streaming is cut off).
    public func stop() async {
        await http.stop()
    }

    /// `http://127.0.0.1:<port>`: the Ollama and Anthropic base URL.
    public var url: URL { http.url }
    /// `http://127.0.0.1:<port>/v1`: the OpenAI-compatible base URL.
    public var openAIBaseURL: URL { http.url.appendingPathComponent("v1") }
    public var port: Int { http.port }

    /// Every request received, in order.
    public var requests: [TestHTTPServer.Request] { state.withLockedValue { $0.requests } }
    /// The chat requests received (`/v1/chat/completions`, `/api/chat`, `/v1/messages`), in order.
    public var chatRequests: [TestHTTPServer.Request] { requests.filter { Self.chatPaths.contains($0.path) && $0.method == "POST" } }
    /// How many chat requests were received (rejected ones included).
    public var chatRequestCount: Int { chatRequests.count }

    /// Sets the turns the next chat requests take, one each, replacing any not taken yet.
    public func script(_ turns: [Turn]) {
        state.withLockedValue { $0.script = turns }
    }

    /// How many scripted turns are not taken yet.
    public var scriptedTurnsLeft: Int { state.withLockedValue { $0.script.count } }

    /// The turn a chat request takes when the script is empty; `.answer("Hello from the fake model.")` at first.
    public var defaultTurn: Turn {
        get { state.withLockedValue { $0.defaultTurn } }
        set { state.withLockedValue { $0.defaultTurn = newValue } }
    }

    /// The models on "disk", in order (what `/api/tags` and `/v1/models` list).
    public var installedModels: [String] {
        get { state.withLockedValue { $0.installed } }
        set { state.withLockedValue { $0.installed = newValue } }
    }

    /// The models in "memory" (what `/api/ps` lists), loaded by a chat or `POST /api/generate`.
    public var loadedModels: [String] {
        state.withLockedValue { state in state.loaded.map(\.name).filter { state.installed.contains($0) } }
    }

    /// The pause between `/api/pull` progress lines; 20 ms at first.
    public var pullDelay: Duration {
        get { state.withLockedValue { $0.pullDelay } }
        set { state.withLockedValue { $0.pullDelay = newValue } }
    }

    /// How many `pulling <digest>` progress lines a pull sends; 10 at first.
    public var pullSteps: Int {
        get { state.withLockedValue { $0.pullSteps } }
        set { state.withLockedValue { $0.pullSteps = max(1, newValue) } }
    }

    /// The next `/api/pull` sends `{"error": message}` half-way through its progress (status 200, as
    /// Ollama does) and installs nothing.
    public func failNextPull(message: String) {
        state.withLockedValue { $0.pullFailure = message }
    }

    // MARK: - Request handling

    /// Answers requests against the shared state (a separate value so the server's closure needs no
    /// reference to the not yet created ``FakeModelServer``).
    private struct Handler: Sendable {
        let state: NIOLockedValueBox<State>
        let apiKey: String?

        typealias Request = TestHTTPServer.Request
        typealias Reply = TestHTTPServer.Reply

        func handle(_ request: Request) async -> Reply {
            state.withLockedValue { $0.requests.append(request) }
            switch (request.method, request.path) {
            case ("GET", "/v1/models"):
                return request.headers.contains(name: "anthropic-version") ? anthropicModels(request) : openAIModels(request)
            case ("POST", "/v1/chat/completions"): return await openAIChat(request)
            case ("POST", "/v1/messages"): return await anthropicMessages(request)
            case ("GET", "/api/tags"): return ollamaTags()
            case ("GET", "/api/ps"): return ollamaRunning()
            case ("GET", "/api/version"): return .json(#"{"version":"0.12.6"}"#)
            case ("POST", "/api/chat"): return await ollamaChat(request)
            case ("POST", "/api/generate"): return ollamaGenerate(request)
            case ("DELETE", "/api/delete"): return ollamaDelete(request)
            case ("POST", "/api/pull"): return ollamaPull(request)
            default:
                if request.path.hasPrefix("/api/") {
                    return Reply(status: .notFound, body: "404 page not found", headers: [("Content-Type", "text/plain")])
                }
                return openAIError(404, "fake server: no route for \(request.method) \(request.path)", code: "unknown_url")
            }
        }

        // MARK: Shared

        /// What the turn means, whatever the wire format.
        enum Plan {
            case text(pieces: [String], delay: Duration, firstTokenAfter: Duration?)
            case tools([(call: ScriptedToolCall, pieces: [String])])
            case fail(status: Int, message: String)
            case cut(pieces: [String])
            case malformed

            var completionTokens: Int {
                switch self {
                case .text(let pieces, _, _), .cut(let pieces): max(pieces.count, 1)
                case .tools(let calls): max(calls.reduce(0) { $0 + $1.pieces.count }, 1)
                case .fail, .malformed: 0
                }
            }
        }

        /// Takes the next turn, marks `model` loaded, and numbers the answer.
        func nextTurn(model: String) -> (plan: Plan, number: Int) {
            state.withLockedValue { state in
                let turn = state.script.isEmpty ? state.defaultTurn : state.script.removeFirst()
                state.counter += 1
                state.loaded.removeAll { $0.name == model }
                state.loaded.append((model, Date().addingTimeInterval(300)))
                return (Self.plan(turn), state.counter)
            }
        }

        static func plan(_ turn: Turn) -> Plan {
            switch turn {
            case .answer(let text, let chunks, let delay):
                return .text(pieces: pieces(text, count: chunks), delay: delay, firstTokenAfter: nil)
            case .toolCalls(let calls):
                return .tools(calls.map { ($0, pieces($0.arguments, count: 3)) })
            case .failBeforeFirstToken(let status, let message):
                return .fail(status: status, message: message)
            case .failMidStream(let after):
                return .cut(pieces: pieces(after, count: 3))
            case .slow(let wait, let text):
                return .text(pieces: pieces(text, count: 5), delay: .milliseconds(5), firstTokenAfter: wait)
            case .malformed:
                return .malformed
            }
        }

        /// `text` cut into `count` pieces of near-equal length (fewer when it is shorter; none when empty).
        static func pieces(_ text: String, count: Int) -> [String] {
            let characters = Array(text)
            guard !characters.isEmpty else { return [] }
            let n = max(1, min(count, characters.count))
            return (0..<n).map { String(characters[$0 * characters.count / n ..< ($0 + 1) * characters.count / n]) }
        }

        /// The installed name `model` refers to (`x` and `x:latest` are the same model), or nil.
        func resolve(_ model: String) -> String? {
            Self.resolve(model, in: state.withLockedValue { $0.installed })
        }

        static func resolve(_ model: String, in installed: [String]) -> String? {
            func bare(_ name: String) -> String { name.hasSuffix(":latest") ? String(name.dropLast(7)) : name }
            return installed.first { $0 == model } ?? installed.first { bare($0) == bare(model) }
        }

        static func json(_ value: Any) -> String {
            guard JSONSerialization.isValidJSONObject(value),
                  let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
            else { return "{}" }
            return String(decoding: data, as: UTF8.self)
        }

        static func reply(_ value: Any, status: Int = 200) -> Reply {
            .json(json(value), status: HTTPResponseStatus(statusCode: status))
        }

        /// Whitespace-separated words of every text in `messages` and `system`, at least 1.
        static func promptTokens(_ body: [String: Any]) -> Int {
            func words(_ value: Any?) -> Int {
                switch value {
                case let text as String: return text.split(whereSeparator: \.isWhitespace).count
                case let list as [Any]: return list.reduce(0) { $0 + words($1) }
                case let object as [String: Any]: return words(object["content"]) + words(object["text"])
                default: return 0
                }
            }
            return max(1, words(body["messages"]) + words(body["system"]))
        }

        static func arguments(_ text: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }

        static func now() -> Int { Int(Date().timeIntervalSince1970) }

        static func iso8601(_ date: Date) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: date)
        }

        static func sse(_ value: Any, event: String? = nil) -> String {
            (event.map { "event: \($0)\n" } ?? "") + "data: \(json(value))\n\n"
        }

        // MARK: OpenAI-compatible

        static func openAIErrorKind(_ status: Int) -> (type: String, code: String?) {
            switch status {
            case 401: ("invalid_request_error", "invalid_api_key")
            case 429: ("requests", "rate_limit_exceeded")
            case 400..<500: ("invalid_request_error", nil)
            default: ("server_error", nil)
            }
        }

        func openAIError(_ status: Int, _ message: String, code: String? = nil) -> Reply {
            let kind = Self.openAIErrorKind(status)
            let machineCode: Any = (code ?? kind.code).map { $0 as Any } ?? NSNull()
            let error: [String: Any] = ["message": message, "type": kind.type, "param": NSNull(), "code": machineCode]
            return Self.reply(["error": error], status: status)
        }

        func openAIAuthorized(_ request: Request) -> Reply? {
            guard let apiKey, request.headers.first(name: "Authorization") != "Bearer \(apiKey)" else { return nil }
            return openAIError(401, "Incorrect API key provided. You can find your API key in your account settings.")
        }

        func openAIModels(_ request: Request) -> Reply {
            if let refused = openAIAuthorized(request) { return refused }
            let models = state.withLockedValue { $0.installed }
            let data = models.map { ["id": $0, "object": "model", "created": 1_700_000_000, "owned_by": "fake"] as [String: Any] }
            return Self.reply(["object": "list", "data": data])
        }

        /// Why an OpenAI chat body would be refused, or nil.
        static func openAIProblem(_ body: [String: Any]?) -> String? {
            guard let body else { return "the body is not a JSON object" }
            guard let model = body["model"] as? String, !model.isEmpty else { return "`model` is missing" }
            guard let messages = body["messages"] as? [[String: Any]], !messages.isEmpty else { return "`messages` must be a non-empty array of objects" }
            var callIDs: Set<String> = []
            for (index, message) in messages.enumerated() {
                let role = message["role"] as? String ?? ""
                guard ["system", "developer", "user", "assistant", "tool"].contains(role) else { return "messages[\(index)].role '\(role)' is not valid" }
                let content = message["content"]
                guard content is String || content is [Any] || (content is NSNull && role == "assistant") || (content == nil && role == "assistant") else {
                    return "messages[\(index)].content must be a string"
                }
                for call in message["tool_calls"] as? [[String: Any]] ?? [] {
                    guard role == "assistant", let id = call["id"] as? String, call["type"] as? String == "function",
                          let function = call["function"] as? [String: Any], function["name"] is String, function["arguments"] is String
                    else { return "messages[\(index)].tool_calls must be {id, type: function, function: {name, arguments: string}}" }
                    callIDs.insert(id)
                }
                if role == "tool" {
                    guard let id = message["tool_call_id"] as? String, callIDs.contains(id) else {
                        return "messages[\(index)] with role 'tool' must answer a preceding tool_calls id"
                    }
                }
            }
            if let tools = body["tools"] {
                guard let tools = tools as? [[String: Any]], tools.allSatisfy({ tool in
                    let function = tool["function"] as? [String: Any]
                    return tool["type"] as? String == "function" && function?["name"] is String
                        && (function?["parameters"] == nil || function?["parameters"] is [String: Any])
                }) else { return "`tools` must be [{type: function, function: {name, description, parameters: object}}]" }
            }
            if body["stream_options"] != nil, body["stream"] as? Bool != true { return "`stream_options` is only allowed when `stream` is true" }
            return nil
        }

        func openAIChat(_ request: Request) async -> Reply {
            if let refused = openAIAuthorized(request) { return refused }
            let body = request.json()
            if let problem = Self.openAIProblem(body) { return openAIError(400, "fake server: \(problem)") }
            guard let body, let asked = body["model"] as? String, let model = resolve(asked) else {
                let name = request.json()?["model"] as? String ?? ""
                return openAIError(404, "The model `\(name)` does not exist or you do not have access to it.", code: "model_not_found")
            }
            let (plan, number) = nextTurn(model: model)
            let id = "chatcmpl-fake\(number)"
            let created = Self.now()
            let usage: [String: Any] = {
                let prompt = Self.promptTokens(body), completion = plan.completionTokens
                return ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
            }()
            guard body["stream"] as? Bool == true else {
                return await openAIWhole(plan, id: id, created: created, model: asked, usage: usage)
            }
            let includeUsage = (body["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true
            func chunk(_ delta: [String: Any], finish: String? = nil) -> String {
                var chunk: [String: Any] = [
                    "id": id, "object": "chat.completion.chunk", "created": created, "model": asked, "system_fingerprint": "fp_fake",
                    "choices": [["index": 0, "delta": delta, "logprobs": NSNull(), "finish_reason": finish ?? NSNull()] as [String: Any]],
                ]
                if includeUsage { chunk["usage"] = NSNull() }
                return Self.sse(chunk)
            }
            let usageFrame = Self.sse(["id": id, "object": "chat.completion.chunk", "created": created, "model": asked,
                                       "system_fingerprint": "fp_fake", "choices": [Any](), "usage": usage] as [String: Any])
            let ending = (includeUsage ? [usageFrame] : []) + ["data: [DONE]\n\n"]
            let role = chunk(["role": "assistant", "content": ""])
            switch plan {
            case .text(let pieces, let delay, let wait):
                let frames = [role] + pieces.map { chunk(["content": $0]) } + [chunk([:], finish: "stop")] + ending
                return Reply(headers: Self.sseHeaders, chunks: frames, delay: delay, pauseBefore: wait.map { [1: $0] } ?? [:])
            case .tools(let calls):
                var frames = [chunk(["role": "assistant", "content": NSNull()])]
                for (index, (call, pieces)) in calls.enumerated() {
                    let start: [String: Any] = ["index": index, "id": call.id, "type": "function", "function": ["name": call.name, "arguments": ""]]
                    frames.append(chunk(["tool_calls": [start]]))
                    for piece in pieces {
                        frames.append(chunk(["tool_calls": [["index": index, "function": ["arguments": piece]] as [String: Any]]]))
                    }
                }
                frames += [chunk([:], finish: "tool_calls")] + ending
                return Reply(headers: Self.sseHeaders, chunks: frames, delay: .milliseconds(5))
            case .fail(let status, let message):
                return openAIError(status, message)
            case .cut(let pieces):
                return Reply(headers: Self.sseHeaders, chunks: [role] + pieces.map { chunk(["content": $0]) }, delay: .milliseconds(5), abort: true)
            case .malformed:
                return Reply(headers: Self.sseHeaders, chunks: [role, "data: {\"choices\": [this is not JSON\n\n", "data: [DONE]\n\n"], delay: .milliseconds(5))
            }
        }

        static let sseHeaders = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]

        func openAIWhole(_ plan: Plan, id: String, created: Int, model: String, usage: [String: Any]) async -> Reply {
            func completion(_ message: [String: Any], finish: String) -> [String: Any] {
                ["id": id, "object": "chat.completion", "created": created, "model": model, "system_fingerprint": "fp_fake",
                 "choices": [["index": 0, "message": message, "logprobs": NSNull(), "finish_reason": finish] as [String: Any]], "usage": usage]
            }
            switch plan {
            case .text(let pieces, _, let wait):
                if let wait { try? await Task.sleep(for: wait) }
                return Self.reply(completion(["role": "assistant", "content": pieces.joined(), "refusal": NSNull()], finish: "stop"))
            case .tools(let calls):
                let toolCalls = calls.map { ["id": $0.call.id, "type": "function", "function": ["name": $0.call.name, "arguments": $0.call.arguments]] as [String: Any] }
                return Self.reply(completion(["role": "assistant", "content": NSNull(), "tool_calls": toolCalls, "refusal": NSNull()], finish: "tool_calls"))
            case .fail(let status, let message):
                return openAIError(status, message)
            case .cut(let pieces):
                let whole = Self.json(completion(["role": "assistant", "content": pieces.joined()], finish: "stop"))
                return Reply(chunks: [String(whole.prefix(whole.count / 2))], delay: .milliseconds(5), abort: true)
            case .malformed:
                return .json("this is not JSON")
            }
        }

        // MARK: Ollama

        static func ollamaError(_ message: String, status: Int) -> Reply {
            reply(["error": message], status: status)
        }

        static func notFound(_ model: String) -> Reply {
            ollamaError("model \"\(model)\" not found, try pulling it first", status: 404)
        }

        /// A stable fake digest (64 hex digits) and size for a model name.
        static func identity(_ name: String) -> (digest: String, size: Int) {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            let hex = (0..<4).map { String(format: "%016llx", hash &* UInt64($0 * 2 + 1)) }.joined()
            return (hex, 1_000_000_000 + Int(hash % 3_000_000_000))
        }

        static func entry(_ name: String) -> [String: Any] {
            let (digest, size) = identity(name)
            return [
                "name": name, "model": name, "modified_at": "2026-01-01T00:00:00Z", "size": size, "digest": digest,
                "details": ["parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                            "parameter_size": "1.2B", "quantization_level": "Q4_K_M"] as [String: Any],
            ]
        }

        func ollamaTags() -> Reply {
            Self.reply(["models": state.withLockedValue { $0.installed }.map(Self.entry)])
        }

        func ollamaRunning() -> Reply {
            let loaded = state.withLockedValue { state in state.loaded.filter { state.installed.contains($0.name) } }
            let models = loaded.map { model -> [String: Any] in
                var entry = Self.entry(model.name)
                entry["modified_at"] = nil
                let size = (entry["size"] as? Int ?? 0) * 6 / 5
                entry["size"] = size
                entry["size_vram"] = size
                entry["context_length"] = 4096
                entry["expires_at"] = Self.iso8601(model.expires)
                return entry
            }
            return Self.reply(["models": models])
        }

        /// Why an Ollama chat body would be refused, or nil.
        static func ollamaProblem(_ body: [String: Any]?) -> String? {
            guard let body else { return "the body is not a JSON object" }
            guard let model = body["model"] as? String, !model.isEmpty else { return "model is required" }
            guard let messages = body["messages"] as? [[String: Any]] else { return "messages must be an array of objects" }
            for (index, message) in messages.enumerated() {
                guard ["system", "user", "assistant", "tool"].contains(message["role"] as? String ?? "") else { return "messages[\(index)] has an invalid role" }
                guard message["content"] == nil || message["content"] is String else { return "messages[\(index)].content must be a string" }
                for call in message["tool_calls"] as? [[String: Any]] ?? [] {
                    guard let function = call["function"] as? [String: Any], function["name"] is String, function["arguments"] is [String: Any] else {
                        return "messages[\(index)].tool_calls[].function must be {name, arguments: object}"
                    }
                }
            }
            if let tools = body["tools"], !(tools is [[String: Any]]) { return "tools must be an array of objects" }
            return nil
        }

        func ollamaChat(_ request: Request) async -> Reply {
            let body = request.json()
            if let problem = Self.ollamaProblem(body) { return Self.ollamaError("fake server: \(problem)", status: 400) }
            guard let body, let asked = body["model"] as? String, let model = resolve(asked) else {
                return Self.notFound(request.json()?["model"] as? String ?? "")
            }
            let (plan, _) = nextTurn(model: model)
            let createdAt = Self.iso8601(Date())
            func line(_ message: [String: Any], done: Bool = false) -> [String: Any] {
                ["model": asked, "created_at": createdAt, "message": (["role": "assistant", "content": ""] as [String: Any]).merging(message) { $1 }, "done": done]
            }
            var last = line([:], done: true)
            last["done_reason"] = "stop"
            last["prompt_eval_count"] = Self.promptTokens(body)
            last["eval_count"] = plan.completionTokens
            for key in ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"] { last[key] = 1_000_000 }
            let ndjson = [("Content-Type", "application/x-ndjson")]
            let streaming = body["stream"] as? Bool ?? true
            switch plan {
            case .text(let pieces, let delay, let wait):
                if !streaming {
                    if let wait { try? await Task.sleep(for: wait) }
                    var whole = last
                    whole["message"] = ["role": "assistant", "content": pieces.joined()]
                    return Self.reply(whole)
                }
                let lines = pieces.map { Self.json(line(["content": $0])) + "\n" } + [Self.json(last) + "\n"]
                return Reply(headers: ndjson, chunks: lines, delay: delay, pauseBefore: wait.map { [0: $0] } ?? [:])
            case .tools(let calls):
                let toolCalls = calls.map { ["function": ["name": $0.call.name, "arguments": Self.arguments($0.call.arguments)]] as [String: Any] }
                if !streaming {
                    var whole = last
                    whole["message"] = ["role": "assistant", "content": "", "tool_calls": toolCalls]
                    return Self.reply(whole)
                }
                return Reply(headers: ndjson, chunks: [Self.json(line(["tool_calls": toolCalls])) + "\n", Self.json(last) + "\n"], delay: .milliseconds(5))
            case .fail(let status, let message):
                return Self.ollamaError(message, status: status)
            case .cut(let pieces):
                if !streaming {
                    var whole = last
                    whole["message"] = ["role": "assistant", "content": pieces.joined()]
                    let text = Self.json(whole)
                    return Reply(chunks: [String(text.prefix(text.count / 2))], delay: .milliseconds(5), abort: true)
                }
                return Reply(headers: ndjson, chunks: pieces.map { Self.json(line(["content": $0])) + "\n" }, delay: .milliseconds(5), abort: true)
            case .malformed:
                if !streaming { return .json("this is not JSON") }
                return Reply(headers: ndjson, chunks: ["{\"message\": this is not JSON\n", Self.json(last) + "\n"], delay: .milliseconds(5))
            }
        }

        /// `keep_alive` as seconds: nil for the default (5 minutes), 0 to unload, negative to keep forever.
        static func keepAlive(_ value: Any?) -> Double? {
            switch value {
            case let number as NSNumber: return number.doubleValue
            case let text as String:
                let units: [(String, Double)] = [("ms", 0.001), ("h", 3600), ("m", 60), ("s", 1)]
                for (unit, seconds) in units where text.hasSuffix(unit) {
                    if let amount = Double(text.dropLast(unit.count)) { return amount * seconds }
                }
                return Double(text)
            default: return nil
            }
        }

        func ollamaGenerate(_ request: Request) -> Reply {
            guard let body = request.json(), let asked = body["model"] as? String, !asked.isEmpty else {
                return Self.ollamaError("fake server: model is required", status: 400)
            }
            guard let model = resolve(asked) else { return Self.notFound(asked) }
            if let prompt = body["prompt"] as? String, !prompt.isEmpty {
                return Self.ollamaError("fake server: /api/generate with a prompt is not scripted; use /api/chat", status: 400)
            }
            let keep = Self.keepAlive(body["keep_alive"]) ?? 300
            let unload = keep == 0
            state.withLockedValue { state in
                state.loaded.removeAll { $0.name == model }
                if !unload {
                    let expires = keep < 0 ? Date.distantFuture : Date().addingTimeInterval(keep)
                    state.loaded.append((model, expires))
                }
            }
            return Self.reply(["model": asked, "created_at": Self.iso8601(Date()), "response": "", "done": true, "done_reason": unload ? "unload" : "load"])
        }

        func ollamaDelete(_ request: Request) -> Reply {
            let body = request.json()
            guard let asked = (body?["model"] ?? body?["name"]) as? String, !asked.isEmpty else {
                return Self.ollamaError("fake server: model is required", status: 400)
            }
            guard let model = resolve(asked) else { return Self.ollamaError("model '\(asked)' not found", status: 404) }
            state.withLockedValue { state in
                state.installed.removeAll { $0 == model }
                state.loaded.removeAll { $0.name == model }
            }
            return .json("")
        }

        func ollamaPull(_ request: Request) -> Reply {
            let body = request.json()
            guard let asked = (body?["model"] ?? body?["name"]) as? String, !asked.isEmpty else {
                return Self.ollamaError("fake server: model is required", status: 400)
            }
            let (delay, steps, failure) = state.withLockedValue { state in
                defer { state.pullFailure = nil }
                return (state.pullDelay, state.pullSteps, state.pullFailure)
            }
            let box = self.state
            let install: @Sendable () -> Void = {
                box.withLockedValue { state in
                    if Self.resolve(asked, in: state.installed) == nil { state.installed.append(asked) }
                }
            }
            guard body?["stream"] as? Bool ?? true else {
                if let failure { return Self.ollamaError(failure, status: 500) }
                install()
                return Self.reply(["status": "success"])
            }
            let (digest, total) = Self.identity(asked)
            let short = String(digest.prefix(12))
            var lines = [Self.json(["status": "pulling manifest"])]
            let progress = (1...steps).map { step in
                Self.json(["status": "pulling \(short)", "digest": "sha256:\(digest)", "total": total, "completed": total * step / steps] as [String: Any])
            }
            if let failure {
                lines += progress.prefix(max(1, steps / 2)) + [Self.json(["error": failure])]
                return Reply(headers: [("Content-Type", "application/x-ndjson")], chunks: lines.map { $0 + "\n" }, delay: delay)
            }
            lines += progress
            lines += ["verifying sha256 digest", "writing manifest"].map { Self.json(["status": $0]) }
            lines.append(Self.json(["status": "success"]))
            // Listed from the moment `success` goes out, as Ollama lists it once the pull succeeded.
            let last = lines.count - 1
            return Reply(headers: [("Content-Type", "application/x-ndjson")], chunks: lines.map { $0 + "\n" }, delay: delay,
                         beforeChunk: { index in if index == last { install() } })
        }

        // MARK: Anthropic

        static func anthropicErrorType(_ status: Int) -> String {
            switch status {
            case 401: "authentication_error"
            case 403: "permission_error"
            case 404: "not_found_error"
            case 413: "request_too_large"
            case 429: "rate_limit_error"
            case 529: "overloaded_error"
            case 400..<500: "invalid_request_error"
            default: "api_error"
            }
        }

        static func anthropicError(_ status: Int, _ message: String) -> Reply {
            reply(["type": "error", "error": ["type": anthropicErrorType(status), "message": message]], status: status)
        }

        func anthropicRefusal(_ request: Request) -> Reply? {
            if let apiKey, request.headers.first(name: "x-api-key") != apiKey { return Self.anthropicError(401, "invalid x-api-key") }
            if !request.headers.contains(name: "anthropic-version") { return Self.anthropicError(400, "anthropic-version: header is required") }
            return nil
        }

        func anthropicModels(_ request: Request) -> Reply {
            if let refused = anthropicRefusal(request) { return refused }
            let models = state.withLockedValue { $0.installed }
            let data = models.map { ["type": "model", "id": $0, "display_name": $0, "created_at": "2026-01-01T00:00:00Z"] }
            return Self.reply(["data": data, "has_more": false, "first_id": models.first.map { $0 as Any } ?? NSNull(), "last_id": models.last.map { $0 as Any } ?? NSNull()] as [String: Any])
        }

        /// Why an Anthropic messages body would be refused, or nil.
        static func anthropicProblem(_ body: [String: Any]?) -> String? {
            guard let body else { return "the body is not a JSON object" }
            guard let model = body["model"] as? String, !model.isEmpty else { return "model: Field required" }
            guard let maxTokens = body["max_tokens"] as? Int, maxTokens > 0 else { return "max_tokens: Field required (a positive integer)" }
            guard let messages = body["messages"] as? [[String: Any]], !messages.isEmpty else { return "messages: at least one message is required" }
            if let system = body["system"], !(system is String || system is [[String: Any]]) { return "system: must be a string or text blocks" }
            var toolUseIDs: Set<String> = []
            for (index, message) in messages.enumerated() {
                let role = message["role"] as? String ?? ""
                guard role == "user" || role == "assistant" else { return "messages.\(index).role: must be 'user' or 'assistant' (system goes on top)" }
                if message["content"] is String { continue }
                guard let blocks = message["content"] as? [[String: Any]] else { return "messages.\(index).content: must be a string or blocks" }
                for block in blocks {
                    switch block["type"] as? String {
                    case "text":
                        guard block["text"] is String else { return "messages.\(index): text block without text" }
                    case "tool_use":
                        guard role == "assistant", let id = block["id"] as? String, block["name"] is String, block["input"] is [String: Any] else {
                            return "messages.\(index): tool_use must be {id, name, input: object} in an assistant turn"
                        }
                        toolUseIDs.insert(id)
                    case "tool_result":
                        guard role == "user", let id = block["tool_use_id"] as? String, toolUseIDs.contains(id) else {
                            return "messages.\(index): tool_result must answer an earlier tool_use id in a user turn"
                        }
                    default:
                        return "messages.\(index): unknown content block type"
                    }
                }
            }
            if let tools = body["tools"] {
                guard let tools = tools as? [[String: Any]], tools.allSatisfy({ $0["name"] is String && $0["input_schema"] is [String: Any] }) else {
                    return "tools: must be [{name, description, input_schema: object}]"
                }
            }
            return nil
        }

        func anthropicMessages(_ request: Request) async -> Reply {
            if let refused = anthropicRefusal(request) { return refused }
            let body = request.json()
            if let problem = Self.anthropicProblem(body) { return Self.anthropicError(400, "fake server: \(problem)") }
            guard let body, let asked = body["model"] as? String, let model = resolve(asked) else {
                return Self.anthropicError(404, "model: \(request.json()?["model"] as? String ?? "")")
            }
            let (plan, number) = nextTurn(model: model)
            let id = "msg_fake\(number)"
            let input = Self.promptTokens(body), output = plan.completionTokens
            func event(_ value: [String: Any]) -> String { Self.sse(value, event: value["type"] as? String) }
            let start = event(["type": "message_start", "message": [
                "id": id, "type": "message", "role": "assistant", "content": [Any](), "model": asked,
                "stop_reason": NSNull(), "stop_sequence": NSNull(), "usage": ["input_tokens": input, "output_tokens": 1],
            ] as [String: Any]])
            func ending(_ reason: String) -> [String] {
                [event(["type": "message_delta", "delta": ["stop_reason": reason, "stop_sequence": NSNull()] as [String: Any], "usage": ["output_tokens": output]]),
                 event(["type": "message_stop"])]
            }
            let textStart = event(["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]])
            func textDelta(_ piece: String) -> String {
                event(["type": "content_block_delta", "index": 0, "delta": ["type": "text_delta", "text": piece]])
            }
            let streaming = body["stream"] as? Bool == true
            if !streaming {
                return await anthropicWhole(plan, id: id, model: asked, input: input, output: output)
            }
            switch plan {
            case .text(let pieces, let delay, let wait):
                let frames = [start, textStart, event(["type": "ping"])] + pieces.map(textDelta)
                    + [event(["type": "content_block_stop", "index": 0])] + ending("end_turn")
                return Reply(headers: Self.sseHeaders, chunks: frames, delay: delay, pauseBefore: wait.map { [3: $0] } ?? [:])
            case .tools(let calls):
                var frames = [start]
                for (index, (call, pieces)) in calls.enumerated() {
                    frames.append(event(["type": "content_block_start", "index": index, "content_block": [
                        "type": "tool_use", "id": call.id, "name": call.name, "input": [String: Any](),
                    ] as [String: Any]]))
                    for piece in [""] + pieces {
                        frames.append(event(["type": "content_block_delta", "index": index, "delta": ["type": "input_json_delta", "partial_json": piece]]))
                    }
                    frames.append(event(["type": "content_block_stop", "index": index]))
                }
                return Reply(headers: Self.sseHeaders, chunks: frames + ending("tool_use"), delay: .milliseconds(5))
            case .fail(let status, let message):
                return Self.anthropicError(status, message)
            case .cut(let pieces):
                return Reply(headers: Self.sseHeaders, chunks: [start, textStart] + pieces.map(textDelta), delay: .milliseconds(5), abort: true)
            case .malformed:
                return Reply(headers: Self.sseHeaders, chunks: [start, "event: content_block_delta\ndata: {\"type\": this is not JSON\n\n"] + ending("end_turn"),
                             delay: .milliseconds(5))
            }
        }

        func anthropicWhole(_ plan: Plan, id: String, model: String, input: Int, output: Int) async -> Reply {
            func message(_ content: [[String: Any]], stop: String) -> [String: Any] {
                ["id": id, "type": "message", "role": "assistant", "model": model, "content": content, "stop_reason": stop,
                 "stop_sequence": NSNull(), "usage": ["input_tokens": input, "output_tokens": output]]
            }
            switch plan {
            case .text(let pieces, _, let wait):
                if let wait { try? await Task.sleep(for: wait) }
                return Self.reply(message([["type": "text", "text": pieces.joined()]], stop: "end_turn"))
            case .tools(let calls):
                let blocks = calls.map { ["type": "tool_use", "id": $0.call.id, "name": $0.call.name, "input": Self.arguments($0.call.arguments)] as [String: Any] }
                return Self.reply(message(blocks, stop: "tool_use"))
            case .fail(let status, let text):
                return Self.anthropicError(status, text)
            case .cut(let pieces):
                let whole = Self.json(message([["type": "text", "text": pieces.joined()]], stop: "end_turn"))
                return Reply(chunks: [String(whole.prefix(whole.count / 2))], delay: .milliseconds(5), abort: true)
            case .malformed:
                return .json("this is not JSON")
            }
        }
    }
}
