import Foundation

/// How a blocking call run with `Deadline.run` ended.
enum DeadlineOutcome<Value: Sendable>: Sendable {
    case finished(Value)
    case timedOut
}

/// Runs blocking system calls (statvfs on a network mount) off the concurrency pool, and stops
/// waiting for them after a deadline. A call that hangs keeps its dispatch thread; callers make sure
/// they do not start the same hanging call again (see `HostSampler`).
enum Deadline {
    static func run<Value: Sendable>(timeout: Duration, _ work: @escaping @Sendable () -> Value) async -> DeadlineOutcome<Value> {
        let (outcomes, continuation) = AsyncStream<DeadlineOutcome<Value>>.makeStream(bufferingPolicy: .bufferingOldest(1))
        DispatchQueue.global(qos: .utility).async {
            continuation.yield(.finished(work()))
            continuation.finish()
        }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + timeout.inSeconds) {
            continuation.yield(.timedOut)
            continuation.finish()
        }
        for await outcome in outcomes { return outcome }
        return .timedOut
    }
}
