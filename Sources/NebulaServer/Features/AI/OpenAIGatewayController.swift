import AIProviders
import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/ai/openai/v1`: OpenAI's chat completions and models API in front of Nebula's router,
/// so any tool that speaks OpenAI can use the gateway (Bearer: a Nebula API token). Errors keep
/// OpenAI's `{ "error": { "message", "type", "param", "code" } }` shape (see ``OpenAIErrorBody``).
struct OpenAIGatewayController: RouteCollection {
    static let prefix = "/api/v1/ai/openai/"

    func boot(routes: any RoutesBuilder) throws {
        let base: [PathComponent] = ["ai", "openai", "v1"]
        let tag = "AI"
        routes.endpoint(.GET, base + ["models"], role: .viewer, summary: "OpenAI-compatible: the gateway's models (auto, each model, and provider/model)",
                        tag: tag, response: OpenAIModelListDoc.doc, use: models)
        routes.endpoint(.POST, base + ["chat", "completions"], role: .viewer, audit: "ai.openai.chat",
                        summary: "OpenAI-compatible chat completions through the gateway's router (stream: SSE chat.completion.chunk frames ending with [DONE])",
                        tag: tag, request: OpenAIChatDoc.doc, response: OpenAICompletionDoc.doc, use: completions)
    }

    @Sendable func models(req: Request) async throws -> OpenAIModelList {
        let providers = try await req.nebula.ai.providers(by: try req.actor).filter(\.enabled)
        var seen = Set<String>()
        var data = [OpenAIModelList.Model(id: "auto", owned_by: "nebula")]
        for provider in providers {
            for model in provider.models where seen.insert(model.name).inserted {
                data.append(.init(id: model.name, owned_by: provider.name))
            }
        }
        for provider in providers {
            data += provider.models.map { .init(id: "\(provider.name)/\($0.name)", owned_by: provider.name) }
        }
        return OpenAIModelList(data: data)
    }

    @Sendable func completions(req: Request) async throws -> Response {
        let actor = try req.actor
        let services = try req.nebula
        let body = try OpenAIChatBody.parse(req.body.data.map { Data($0.readableBytesView) } ?? Data())
        let model = body.model == "auto" ? nil : body.model
        let route = AIRouteRequest(provider: nil, model: model,
                                   chat: ChatRequest(model: "", messages: body.messages, tools: body.tools, temperature: body.temperature, maxTokens: body.maxTokens),
                                   username: actor.username, source: "openai")
        let routed = try await services.aiRouter.open(route)
        let audited = PendingAudit {
            try await services.audit.record("ai.openai.chat", target: "ai-provider:\(routed.provider)", by: actor, detail: routed.model)
        }
        let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let created = Int(Date().timeIntervalSince1970)
        let modelName = "\(routed.provider)/\(routed.model)"
        if body.stream {
            return Self.streamed(routed, id: String(id), created: created, model: modelName, includeUsage: body.includeUsage, audited: audited)
        }
        var outcome = ChatOutcome()
        do {
            for try await event in routed.events { outcome.take(event) }
        } catch {
            let problem = ChatTurn.problem(error)
            throw NebulaError(.badGateway, code: problem.code, "\(routed.provider) failed after \(outcome.text.count) characters of the answer: \(problem.message)")
        }
        try await audited.settle()
        let (text, calls, usage) = (outcome.text, outcome.toolCalls, outcome.usage)
        let reason = Self.finishReason(outcome.finishReason ?? "stop", hasToolCalls: !calls.isEmpty)
        var message: [String: Any] = ["role": "assistant", "content": calls.isEmpty || !text.isEmpty ? text : NSNull()]
        if !calls.isEmpty { message["tool_calls"] = calls.map(Self.toolCallJSON) }
        var object: [String: Any] = [
            "id": id, "object": "chat.completion", "created": created, "model": modelName,
            "choices": [["index": 0, "message": message, "finish_reason": reason]],
        ]
        if let usage { object["usage"] = Self.usageJSON(usage) }
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: .ok, headers: headers, body: .init(data: try JSONSerialization.data(withJSONObject: object)))
    }

    /// SSE `chat.completion.chunk` frames: the role first, then content and tool-call deltas, the
    /// finish reason on the last chunk, usage when asked, `[DONE]`. A failure after the start is
    /// sent as an `error` frame and the stream ends without `[DONE]`, so no client takes a cut-off
    /// answer for a finished one.
    ///
    /// Two tasks, so that waiting for the socket never holds up reading the answer: one turns events
    /// into frames and appends them to an outbox, the other writes whatever the outbox holds in one
    /// write (a frame alone when the client keeps up; every frame that came in meanwhile when a write
    /// was in flight). The reader waits when more than `outboxLimit` bytes are unsent (a slow client),
    /// and a client that goes away cancels the reader, and with it the provider's request.
    static func streamed(_ routed: RoutedChat, id: String, created: Int, model: String, includeUsage: Bool, audited: PendingAudit) -> Response {
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "event-stream", parameters: ["charset": "utf-8"])
        headers.replaceOrAdd(name: .cacheControl, value: "no-cache")
        headers.replaceOrAdd(name: "X-Accel-Buffering", value: "no")
        let prefix = #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":\#(created),"model":\#(jsonString(model)),"choices":"#
        let outboxLimit = 256 << 10

        struct Outbox: Sendable {
            var bytes = ByteBuffer()
            var finished = false
        }
        /// Appends `text` as a JSON string; plain text (most tokens) is copied as it is.
        @Sendable func appendJSONString(_ text: String, to buffer: inout ByteBuffer) {
            if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                buffer.writeInteger(UInt8(ascii: "\""))
                buffer.writeString(text)
                buffer.writeInteger(UInt8(ascii: "\""))
            } else {
                buffer.writeString(jsonString(text))
            }
        }

        let body = Response.Body(asyncStream: { writer in
            let outbox = LockedValue(Outbox())
            let (ready, ring) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let (drained, drainedRing) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

            @Sendable func post(finished: Bool = false, _ write: (inout ByteBuffer) -> Void) -> Int {
                let unsent = outbox.withLock { box -> Int in
                    write(&box.bytes)
                    box.finished = finished
                    return box.bytes.readableBytes
                }
                ring.yield()
                if finished { ring.finish() }
                return unsent
            }
            @Sendable func frame(_ choices: String, extra: String = "") -> (inout ByteBuffer) -> Void {
                { $0.writeString(prefix); $0.writeString(choices); $0.writeString(extra); $0.writeStaticString("}\n\n") }
            }

            // Reads the answer into the outbox.
            @Sendable func read() async {
                var waitForDrain = drained.makeAsyncIterator()
                _ = post(frame(#"[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]"#))
                var toolIndex = 0
                var hadToolCalls = false
                var usage: TokenUsage?
                do {
                    for try await event in routed.events {
                        let unsent: Int
                        switch event {
                        case .text(let piece):
                            unsent = post { buffer in
                                buffer.writeString(prefix)
                                buffer.writeStaticString(#"[{"index":0,"delta":{"content":"#)
                                appendJSONString(piece, to: &buffer)
                                buffer.writeStaticString(#"},"finish_reason":null}]}\#n\#n"#)
                            }
                        case .toolCall(let call):
                            hadToolCalls = true
                            let delta = #"{"tool_calls":[{"index":\#(toolIndex),"id":\#(jsonString(call.id)),"type":"function","function":{"name":\#(jsonString(call.name)),"arguments":\#(jsonString(call.arguments))}}]}"#
                            toolIndex += 1
                            unsent = post(frame(#"[{"index":0,"delta":\#(delta),"finish_reason":null}]"#))
                        case .usage(let reported):
                            usage = reported
                            unsent = 0
                        case .finished(let reason):
                            let finish = finishReason(reason, hasToolCalls: hadToolCalls)
                            unsent = post(frame(#"[{"index":0,"delta":{},"finish_reason":"\#(finish)"}]"#))
                        }
                        // A slow client: wait until the writer has caught up (or has gone).
                        while unsent > outboxLimit, outbox.withLock({ $0.bytes.readableBytes }) > outboxLimit {
                            guard await waitForDrain.next() != nil, !Task.isCancelled else { return }
                        }
                    }
                } catch {
                    let problem = ChatTurn.problem(error)
                    let payload = (try? JSONSerialization.data(withJSONObject: ["error": ["message": problem.message, "type": "api_error", "param": NSNull(), "code": problem.code]])) ?? Data()
                    _ = post(finished: true) { $0.writeString("data: " + String(decoding: payload, as: UTF8.self) + "\n\n") }
                    return
                }
                if Task.isCancelled { return }
                var tail = ""
                if includeUsage, let usage, let data = try? JSONSerialization.data(withJSONObject: usageJSON(usage)) {
                    tail = prefix + #"[],"usage":"# + String(decoding: data, as: UTF8.self) + "}\n\n"
                }
                _ = post(finished: true) { $0.writeString(tail + "data: [DONE]\n\n") }
            }

            await withTaskGroup(of: Void.self) { group in
                group.addTask { await read() }
                do {
                    var waitForFrames = ready.makeAsyncIterator()
                    while true {
                        let (batch, finished) = outbox.withLock { box -> (ByteBuffer, Bool) in
                            defer { box.bytes.clear() }
                            return (box.bytes.readableBytes > 0 ? ByteBuffer(buffer: box.bytes) : ByteBuffer(), box.finished)
                        }
                        if batch.readableBytes > 0 {
                            try await writer.write(.buffer(batch))
                            drainedRing.yield()
                            continue
                        }
                        if finished { break }
                        _ = await waitForFrames.next()
                    }
                    drainedRing.finish()
                    try? await audited.settle()
                    try await writer.write(.end)
                } catch {
                    group.cancelAll()
                    drainedRing.finish()
                    try? await writer.write(.error(error))
                }
            }
        })
        return Response(status: .ok, headers: headers, body: body)
    }

    /// OpenAI's names for why an answer ended.
    static func finishReason(_ reason: String, hasToolCalls: Bool) -> String {
        if hasToolCalls { return "tool_calls" }
        switch reason {
        case "length", "max_tokens": return "length"
        case "tool_calls", "tool_use": return "tool_calls"
        default: return "stop"
        }
    }

    static func usageJSON(_ usage: TokenUsage) -> [String: Int] {
        ["prompt_tokens": usage.promptTokens, "completion_tokens": usage.completionTokens, "total_tokens": usage.promptTokens + usage.completionTokens]
    }

    static func toolCallJSON(_ call: ToolCall) -> [String: Any] {
        ["id": call.id, "type": "function", "function": ["name": call.name, "arguments": call.arguments]]
    }

    static func jsonString(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}

/// What the compatible endpoint reads of an OpenAI chat request. Unknown fields (`top_p`, `n`,
/// `user`, …) are ignored, as OpenAI clients send many; what is read is checked.
struct OpenAIChatBody: Sendable {
    var model: String
    var messages: [ChatMessage]
    var tools: [ToolDefinition]
    var temperature: Double?
    var maxTokens: Int?
    var stream: Bool
    var includeUsage: Bool

    static func parse(_ data: Data) throws -> OpenAIChatBody {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw NebulaError.invalid("The body must be a JSON object with model and messages.")
        }
        guard let model = object["model"] as? String, !model.isEmpty else {
            throw NebulaError.invalid("model is required (a model name, provider/model, or auto).", code: "missing_model")
        }
        guard let rawMessages = object["messages"] as? [[String: Any]], !rawMessages.isEmpty else {
            throw NebulaError.invalid("messages must be a non-empty array.", code: "empty_messages")
        }
        var messages: [ChatMessage] = []
        for (index, raw) in rawMessages.enumerated() {
            guard let roleText = raw["role"] as? String else { throw NebulaError.invalid("messages[\(index)].role is missing.", code: "invalid_messages") }
            let role: ChatRole
            switch roleText {
            case "system", "developer": role = .system
            case "user": role = .user
            case "assistant": role = .assistant
            case "tool": role = .tool
            default: throw NebulaError.invalid("messages[\(index)].role \(roleText) is not system, user, assistant or tool.", code: "invalid_messages")
            }
            let content: String
            switch raw["content"] {
            case let text as String: content = text
            case let parts as [[String: Any]]: content = parts.compactMap { $0["type"] as? String == "text" ? $0["text"] as? String : nil }.joined(separator: "\n")
            case nil, is NSNull: content = ""
            default: throw NebulaError.invalid("messages[\(index)].content must be text or an array of text parts.", code: "invalid_messages")
            }
            let calls = (raw["tool_calls"] as? [[String: Any]] ?? []).compactMap { call -> ToolCall? in
                guard let function = call["function"] as? [String: Any], let name = function["name"] as? String else { return nil }
                return ToolCall(id: call["id"] as? String ?? "call_\(index)", name: name, arguments: function["arguments"] as? String ?? "{}")
            }
            messages.append(ChatMessage(role: role, content: content, toolCalls: calls, toolCallID: raw["tool_call_id"] as? String))
        }
        var tools: [ToolDefinition] = []
        for (index, raw) in (object["tools"] as? [[String: Any]] ?? []).enumerated() {
            guard let function = raw["function"] as? [String: Any], let name = function["name"] as? String else {
                throw NebulaError.invalid("tools[\(index)] must be {type: function, function: {name, description, parameters}}.", code: "invalid_tools")
            }
            let parameters = function["parameters"].flatMap { try? JSONSerialization.data(withJSONObject: $0) }.map { String(decoding: $0, as: UTF8.self) }
            tools.append(ToolDefinition(name: name, description: function["description"] as? String ?? "", parametersJSON: parameters ?? #"{"type":"object","properties":{}}"#))
        }
        let maxTokens = (object["max_completion_tokens"] as? Int) ?? (object["max_tokens"] as? Int)
        let streamOptions = object["stream_options"] as? [String: Any]
        return OpenAIChatBody(model: model, messages: messages, tools: tools, temperature: (object["temperature"] as? NSNumber)?.doubleValue,
                              maxTokens: maxTokens, stream: object["stream"] as? Bool ?? false,
                              includeUsage: streamOptions?["include_usage"] as? Bool ?? false)
    }
}

struct OpenAIModelList: Content {
    struct Model: Content {
        var id: String
        var object = "model"
        var created = 0
        var owned_by: String
    }
    var object = "list"
    var data: [Model]
}

/// OpenAI's error shape, used for every error under ``OpenAIGatewayController/prefix``.
struct OpenAIErrorBody: Codable, Sendable {
    struct Detail: Codable, Sendable {
        var message: String
        var type: String
        var param: String?
        var code: String

        // OpenAI always sends `param`, null when no parameter is to blame.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            try container.encode(param, forKey: .param)
            try container.encode(code, forKey: .code)
        }
    }
    var error: Detail

    init(status: HTTPResponseStatus, code: String, message: String) {
        let type = switch status.code {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 500...: "api_error"
        default: "invalid_request_error"
        }
        error = Detail(message: message, type: type, param: nil, code: code)
    }
}

enum OpenAIModelListDoc: Documented {
    static let schemaName = "OpenAIModelList"
    static let schema = JSONSchema.object(properties: [
        "object": .string, "data": .array(items: .object(properties: ["id": .string, "object": .string, "created": .integer, "owned_by": .string])),
    ])
}

enum OpenAIChatDoc: Documented {
    static let schemaName = "OpenAIChatRequest"
    static let schema = JSONSchema.object(properties: [
        "model": .string(description: "a model, provider/model, or auto"),
        "messages": .array(items: .object(properties: ["role": .string, "content": .string])),
        "stream": .boolean(required: false), "temperature": .number(required: false), "max_tokens": .integer(required: false),
        "tools": .array(required: false, items: .object(properties: ["type": .string, "function": .object(properties: ["name": .string])])),
    ])
    static let example: String? = #"{"model":"auto","messages":[{"role":"user","content":"Hello"}]}"#
}

enum OpenAICompletionDoc: Documented {
    static let schemaName = "OpenAIChatCompletion"
    static let schema = JSONSchema.object(properties: [
        "id": .string, "object": .string, "created": .integer, "model": .string,
        "choices": .array(items: .object(properties: ["index": .integer, "message": .object(properties: ["role": .string, "content": .string(nullable: true)]),
                                                       "finish_reason": .string])),
    ])
}
