import AIProviders
import NebulaTestSupport

/// The events of a stream and the error that ended it, if any.
struct Collected: Sendable {
    var events: [ChatStreamEvent] = []
    var error: (any Error)?

    var text: String {
        events.map { if case .text(let piece) = $0 { piece } else { "" } }.joined()
    }

    var toolCalls: [ToolCall] {
        events.compactMap { if case .toolCall(let call) = $0 { call } else { nil } }
    }

    var usage: TokenUsage? {
        events.compactMap { if case .usage(let usage) = $0 { usage } else { nil } }.last
    }

    var finished: Bool {
        events.contains { if case .finished = $0 { true } else { false } }
    }

    var providerError: AIProviderError? { error as? AIProviderError }
}

func collect(_ stream: AsyncThrowingStream<ChatStreamEvent, any Error>) async -> Collected {
    var collected = Collected()
    do {
        for try await event in stream { collected.events.append(event) }
    } catch {
        collected.error = error
    }
    return collected
}

/// A problem the fake server found with a request; answered with status 400 so the test fails.
func badRequest(_ problem: String) -> TestHTTPServer.Reply {
    .json(#"{"error":{"message":"fake server: \#(problem)","type":"invalid_request_error"}}"#, status: .badRequest)
}
