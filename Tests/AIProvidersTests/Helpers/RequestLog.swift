import NIOConcurrencyHelpers

/// What a fake server received, in order, for tests that check a sequence of requests.
final class RequestLog: Sendable {
    private let box = NIOLockedValueBox<[String]>([])

    func append(_ entry: String) { box.withLockedValue { $0.append(entry) } }

    var entries: [String] { box.withLockedValue { $0 } }
}
