import Foundation
import NIOCore
import Vapor

/// One Server-Sent Events message.
struct SSEMessage: Sendable {
    var id: String?
    var event: String?
    var data: String

    /// The wire form: `id:`/`event:` lines, one `data:` line per line of data, a blank line.
    var encoded: String {
        var text = ""
        if let id { text += "id: \(Self.singleLine(id))\n" }
        if let event { text += "event: \(Self.singleLine(event))\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        return text + "\n"
    }

    private static func singleLine(_ value: String) -> String {
        value.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }

    static func json(_ value: some Encodable, event: String?, id: String?) -> SSEMessage {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return SSEMessage(id: id, event: event, data: data)
    }
}

enum ServerSentEvents {
    /// A streaming `text/event-stream` response that sends each message of `messages` and a comment
    /// every `heartbeat`, and stops (cancelling the producer) when the client goes away.
    static func response(heartbeat: Duration, retryMilliseconds: Int = 3000,
                         messages: @escaping @Sendable (AsyncStream<SSEMessage>.Continuation) async -> Void) -> Response {
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "event-stream", parameters: ["charset": "utf-8"])
        headers.replaceOrAdd(name: .cacheControl, value: "no-cache")
        headers.replaceOrAdd(name: "X-Accel-Buffering", value: "no")
        let body = Response.Body(asyncStream: { writer in
            let (stream, continuation) = AsyncStream<SSEMessage>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
            let producer = Task { await messages(continuation) }
            let beats = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    if Task.isCancelled { break }
                    continuation.yield(SSEMessage(id: nil, event: nil, data: "\u{0}heartbeat"))
                }
            }
            defer {
                producer.cancel()
                beats.cancel()
            }
            do {
                try await writer.write(.buffer(ByteBuffer(string: "retry: \(retryMilliseconds)\n: connected\n\n")))
                for await message in stream {
                    let text = message.data == "\u{0}heartbeat" ? ": heartbeat\n\n" : message.encoded
                    try await writer.write(.buffer(ByteBuffer(string: text)))
                }
                try await writer.write(.end)
            } catch {
                // The client went away. Vapor requires every stream to end with .end or .error.
                try? await writer.write(.error(error))
            }
        })
        return Response(status: .ok, headers: headers, body: body)
    }
}
