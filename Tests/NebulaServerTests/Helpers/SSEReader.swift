import AsyncHTTPClient
import Foundation
import NIOCore
@testable import NebulaServer

/// Reads a Server-Sent Events stream the way a browser's EventSource does, one message at a time.
final class SSEReader: Sendable {
    struct Message: Sendable, Equatable {
        var id: String?
        var event: String?
        var data: String
    }

    private let messages: AsyncStream<Message>
    private let task: Task<Void, Never>
    let status: Int

    private init(messages: AsyncStream<Message>, task: Task<Void, Never>, status: Int) {
        self.messages = messages
        self.task = task
        self.status = status
    }

    static func open(_ url: String, token: String? = nil, headers: [(String, String)] = []) async throws -> SSEReader {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Accept", value: "text/event-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await TestApp.client.execute(request, timeout: .seconds(60))
        let (stream, continuation) = AsyncStream<Message>.makeStream()
        let task = Task {
            var buffer = ""
            do {
                for try await chunk in response.body {
                    buffer += String(buffer: chunk)
                    while let end = buffer.range(of: "\n\n") {
                        let block = String(buffer[..<end.lowerBound])
                        buffer = String(buffer[end.upperBound...])
                        var message = Message(id: nil, event: nil, data: "")
                        var dataLines: [String] = []
                        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                            if line.hasPrefix("id: ") { message.id = String(line.dropFirst(4)) }
                            else if line.hasPrefix("event: ") { message.event = String(line.dropFirst(7)) }
                            else if line.hasPrefix("data: ") { dataLines.append(String(line.dropFirst(6))) }
                            else if line.hasPrefix(": heartbeat") { message.event = "(heartbeat)" }
                        }
                        message.data = dataLines.joined(separator: "\n")
                        if message.event != nil || !dataLines.isEmpty { continuation.yield(message) }
                    }
                }
            } catch {}
            continuation.finish()
        }
        return SSEReader(messages: stream, task: task, status: Int(response.status.code))
    }

    /// The next message matching `predicate`, or nil after `timeout`.
    func next(timeout: Duration = .seconds(10), where predicate: @escaping @Sendable (Message) -> Bool = { $0.event != "(heartbeat)" }) async -> Message? {
        let messages = messages
        return await withTaskGroup(of: Message?.self) { group in
            group.addTask {
                for await message in messages where predicate(message) { return message }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    func close() { task.cancel() }
}
