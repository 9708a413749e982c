import Foundation
import Synchronization
import Testing
@testable import HostMetrics

/// The deadline that keeps a hanging `statvfs` (stale NFS mount) from stalling a sample.
@Suite struct DeadlineTests {
    @Test func quickWorkFinishesWithItsResult() async {
        // act
        let outcome = await Deadline.run(timeout: .seconds(2)) { 42 }
        // verify
        guard case .finished(let value) = outcome else {
            Issue.record("expected .finished, got \(outcome)")
            return
        }
        #expect(value == 42)
    }

    @Test func blockingWorkIsAbandonedAtTheDeadline() async {
        // setup
        let finished = Finished()
        // act
        // The blocked call lasts far longer than a starved test runner may take to resume (a loaded
        // CI machine has resumed this test seconds late), so "not finished yet" is a fact, not a race.
        let outcome = await Deadline.run(timeout: .milliseconds(100)) { () -> Int in
            sleep(30)
            finished.mark()
            return 1
        }
        // verify: the answer came before the blocked call returned
        guard case .timedOut = outcome else {
            Issue.record("expected .timedOut, got \(outcome)")
            return
        }
        #expect(!finished.isMarked)
    }
}

/// Set once by work that ran to its end.
private final class Finished: Sendable {
    private let state = Mutex(false)
    func mark() { state.withLock { $0 = true } }
    var isMarked: Bool { state.withLock { $0 } }
}
