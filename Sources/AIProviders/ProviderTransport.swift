import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// HTTP exchanges with one provider, with the deadline applied and transport failures mapped to
/// ``AIProviderError``. `secret` is scrubbed from every message it produces.
struct ProviderTransport: Sendable {
    var client: HTTPClient
    var timeout: Duration
    /// "Ollama", "Anthropic", …, for messages.
    var provider: String
    var secret: String?
    var headers: [(String, String)]

    struct Reply: Sendable {
        var status: Int
        var body: Data
    }

    static let maxBody = 32 << 20

    func request(_ method: HTTPMethod, _ url: String, json body: Data?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        return request
    }

    /// One request whose whole answer is read.
    func send(_ method: HTTPMethod, _ url: String, json body: Data? = nil) async throws(AIProviderError) -> Reply {
        let request = request(method, url, json: body)
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanosecondsClamped))
            let bytes = try await response.body.collect(upTo: Self.maxBody)
            return Reply(status: Int(response.status.code), body: Data(buffer: bytes))
        } catch {
            throw scrub(transportError(error, url: url))
        }
    }

    /// Starts a request whose answer is streamed; the deadline covers the whole answer.
    func open(_ method: HTTPMethod, _ url: String, json body: Data?, timeout: Duration? = nil) async throws(AIProviderError) -> HTTPClientResponse {
        let request = request(method, url, json: body)
        do {
            return try await client.execute(request, deadline: .now() + .nanoseconds((timeout ?? self.timeout).nanosecondsClamped))
        } catch {
            throw scrub(transportError(error, url: url))
        }
    }

    /// The error with `secret` replaced by `***` wherever it appears.
    func scrub(_ error: AIProviderError) -> AIProviderError {
        guard let secret, secret.count >= 4 else { return error }
        return AIProviderError(code: error.code, message: error.message.replacingOccurrences(of: secret, with: "***"), httpStatus: error.httpStatus)
    }

    func target(_ url: String) -> String {
        guard let components = URLComponents(string: url), let host = components.host else { return "the API" }
        return components.port.map { "\(host):\($0)" } ?? host
    }

    static func isTimeout(_ error: any Error) -> Bool {
        guard let client = error as? HTTPClientError else { return false }
        switch client {
        case .deadlineExceeded, .readTimeout, .connectTimeout, .getConnectionFromPoolTimeout, .writeTimeout: return true
        default: return false
        }
    }

    func timeoutError(_ url: String, after limit: Duration? = nil) -> AIProviderError {
        AIProviderError(code: .timedOut, message: "\(provider) at \(target(url)) did not answer within \(Self.format(limit ?? timeout)). Check that it is running and not overloaded, or raise the timeout.")
    }

    func transportError(_ error: any Error, url: String) -> AIProviderError {
        if Self.isTimeout(error) { return timeoutError(url) }
        if let client = error as? HTTPClientError, client == .bodyLengthMismatch {
            return AIProviderError(code: .invalidResponse, message: "\(provider) at \(target(url)) sent an answer that could not be read (\(client)).")
        }
        let text = String(describing: error)
        let why = text.lowercased().contains("refused") ? "connection refused" : String(text.prefix(300))
        return AIProviderError(code: .unreachable, message: "\(provider) at \(target(url)) could not be reached (\(why)). Check the URL and that the service is running and reachable from this server.")
    }

    /// The error for a non-2xx answer. `providerCode` is the provider's machine code when it gave
    /// one (OpenAI `error.code`/`type`, Anthropic `error.type`).
    func statusError(_ status: Int, providerMessage: String?, providerCode: String?, model: String?) -> AIProviderError {
        let said = providerMessage.map { " It said: \(String($0.prefix(500)))" } ?? ""
        let code = providerCode?.lowercased() ?? ""
        let lowerMessage = providerMessage?.lowercased() ?? ""
        var error: AIProviderError
        if status == 401 || status == 403 || code.contains("authentication") || code == "invalid_api_key" {
            error = AIProviderError(code: .authenticationFailed, message: "\(provider) refused the API key (HTTP \(status)).\(said) Check the key in the provider's settings.")
        } else if code == "model_not_found" || (status == 404 && (model != nil || lowerMessage.contains("model"))) {
            let name = model.map { "'\($0)'" } ?? "the model"
            error = AIProviderError(code: .modelNotFound, message: "\(provider) has no model \(name) (HTTP \(status)).\(said) Pull or enable it, or pick one from the model list.")
        } else if status == 429 || status == 529 || code.contains("rate_limit") || code.contains("overloaded") {
            error = AIProviderError(code: .rateLimited, message: "\(provider) is rate-limiting or overloaded (HTTP \(status)).\(said) Try again later.")
        } else if status == 404 {
            error = AIProviderError(code: .rejected, message: "\(provider) does not know this endpoint (HTTP 404).\(said) Check the base URL.")
        } else if status == 408 || status == 504 {
            error = AIProviderError(code: .timedOut, message: "\(provider) timed out (HTTP \(status)).\(said) Try again, or use a smaller model or prompt.")
        } else {
            error = AIProviderError(code: .rejected, message: "\(provider) refused the request (HTTP \(status)).\(said)")
        }
        error.httpStatus = status
        return scrub(error)
    }

    static func format(_ duration: Duration) -> String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}

/// Reads the lines of a streamed answer; returns the events each yields. Shared loop: ``runStream``.
protocol StreamDecoder: Sendable {
    associatedtype Event: Sendable
    /// Feeds one line of the body (without its line break).
    mutating func consume(line: String) throws(AIProviderError) -> [Event]
    /// True once the provider's finishing frame was read.
    var isFinished: Bool { get }
    /// Events at a clean end of the body without a finishing frame, or nil when that is an interruption.
    mutating func endOfBody() -> [Event]?
    /// How much of the answer an event carries, for the "cut off after N characters" message.
    static func characters(in event: Event) -> Int
}

extension StreamDecoder where Event == ChatStreamEvent {
    static func characters(in event: ChatStreamEvent) -> Int {
        switch event {
        case .text(let text): text.count
        case .toolCall(let call): call.arguments.count
        default: 0
        }
    }
}

/// Splits a byte stream into lines (`\n`, an optional `\r` before it dropped).
struct LineSplitter {
    private var pending: [UInt8] = []

    mutating func append(_ buffer: ByteBuffer) -> [String] {
        pending.append(contentsOf: buffer.readableBytesView)
        var lines: [String] = []
        var start = 0
        for index in pending.indices where pending[index] == UInt8(ascii: "\n") {
            var end = index
            if end > start, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            lines.append(String(decoding: pending[start..<end], as: UTF8.self))
            start = index + 1
        }
        pending.removeFirst(start)
        return lines
    }

    /// What is left after the body ended (a last line without a line break).
    mutating func rest() -> String? {
        defer { pending.removeAll() }
        let text = String(decoding: pending, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

/// The stream every provider returns: sends the request, checks the status (`statusError` reads a
/// non-2xx body), feeds lines to `decoder`, and finishes or throws per ``ChatProvider/stream(_:)``.
/// `timeout` (the transport's when nil) bounds the whole exchange, body included.
func runStream<Decoder: StreamDecoder>(
    transport: ProviderTransport,
    method: HTTPMethod = .POST,
    url: String,
    timeout: Duration? = nil,
    body: @escaping @Sendable () throws(AIProviderError) -> Data,
    decoder: Decoder,
    statusError: @escaping @Sendable (Int, Data) -> AIProviderError
) -> AsyncThrowingStream<Decoder.Event, any Error> {
    let (stream, continuation) = AsyncThrowingStream<Decoder.Event, any Error>.makeStream()
    let limit = timeout ?? transport.timeout
    let task = Task {
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await exchange(transport: transport, method: method, url: url, timeout: limit, body: body,
                                       decoder: decoder, statusError: statusError, continuation: continuation)
                }
                group.addTask {
                    try await Task.sleep(for: limit)
                    throw transport.timeoutError(url, after: limit)
                }
                try await group.next()
                group.cancelAll()
            }
            continuation.finish()
        } catch let error as AIProviderError {
            continuation.finish(throwing: transport.scrub(error))
        } catch {
            continuation.finish()   // cancelled: the consumer has gone
        }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
}

private func exchange<Decoder: StreamDecoder>(
    transport: ProviderTransport,
    method: HTTPMethod,
    url: String,
    timeout: Duration,
    body: @Sendable () throws(AIProviderError) -> Data,
    decoder: Decoder,
    statusError: @Sendable (Int, Data) -> AIProviderError,
    continuation: AsyncThrowingStream<Decoder.Event, any Error>.Continuation
) async throws {
    var decoder = decoder
    var characters = 0
    func deliver(_ events: [Decoder.Event]) {
        for event in events {
            characters += Decoder.characters(in: event)
            continuation.yield(event)
        }
    }
    func interrupted() -> AIProviderError {
        AIProviderError(code: .streamInterrupted, message: "\(transport.provider) at \(transport.target(url)) closed the connection before the answer was complete: the answer was cut off after \(characters) characters. Try again; check the server's logs if it keeps happening.")
    }
    let response = try await transport.open(method, url, json: try body(), timeout: timeout)
    guard (200..<300).contains(Int(response.status.code)) else {
        let data = (try? await response.body.collect(upTo: ProviderTransport.maxBody)).map { Data(buffer: $0) } ?? Data()
        throw statusError(Int(response.status.code), data)
    }
    var lines = LineSplitter()
    var handedOver = false
    do {
        for try await chunk in response.body {
            for line in lines.append(chunk) {
                deliver(try decoder.consume(line: line))
                if decoder.isFinished { return }
                // A burst of frames would be decoded in one go before the consumer ran: let it
                // take the first event now (time to first token), then carry on.
                if !handedOver, characters > 0 {
                    handedOver = true
                    await Task.yield()
                }
            }
        }
    } catch let error as AIProviderError {
        throw error
    } catch {
        if Task.isCancelled || error is CancellationError { throw CancellationError() }
        if ProviderTransport.isTimeout(error) { throw transport.timeoutError(url, after: timeout) }
        throw interrupted()
    }
    if let last = lines.rest() {
        deliver(try decoder.consume(line: last))
        if decoder.isFinished { return }
    }
    guard let events = decoder.endOfBody() else { throw interrupted() }
    deliver(events)
}

/// Reads and writes JSON without fixed models (providers vary in optional fields).
enum JSON {
    static func object(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    static func object(_ text: String) -> [String: Any]? {
        object(Data(text.utf8))
    }

    static func data(_ value: Any) throws(AIProviderError) -> Data {
        do {
            return try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw AIProviderError(code: .rejected, message: "The request could not be encoded as JSON (\(error)).")
        }
    }

    /// `value` as compact JSON text (`{}` when it cannot be encoded).
    static func text(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func int(_ value: Any?) -> Int? {
        if let number = value as? Int { return number }
        if let number = value as? Double, number.rounded() == number { return Int(number) }
        if let number = value as? NSNumber { return number.intValue }
        return nil
    }

    /// A tool's parameters schema as an object, or `.rejected` naming the tool.
    static func schema(_ tool: ToolDefinition) throws(AIProviderError) -> [String: Any] {
        guard let schema = object(tool.parametersJSON) else {
            throw AIProviderError(code: .rejected, message: "The parameters of tool '\(tool.name)' are not a JSON object; fix its JSON Schema.")
        }
        return schema
    }

    /// Tool call arguments text as an object (`{}` when empty or not an object).
    static func arguments(_ text: String) -> [String: Any] {
        object(text) ?? [:]
    }

    /// The `error` of an error body: (message, code) from `{"error":{"message","type","code"}}`,
    /// `{"error":"text"}` or `{"message"}`.
    static func providerError(_ data: Data) -> (message: String?, code: String?) {
        guard let body = object(data) else {
            let text = String(decoding: data.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (text.isEmpty ? nil : text, nil)
        }
        if let error = body["error"] as? [String: Any] {
            let code = (error["code"] as? String) ?? (error["type"] as? String)
            return (error["message"] as? String, code)
        }
        if let text = body["error"] as? String { return (text, nil) }
        return (body["message"] as? String, nil)
    }
}

extension Duration {
    /// Nanoseconds, clamped to `Int64`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? Int64.min : Int64.max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

extension URL {
    /// The URL text with `path` appended, one slash between.
    func appending(api path: String) -> String {
        var base = absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/" + path
    }
}
