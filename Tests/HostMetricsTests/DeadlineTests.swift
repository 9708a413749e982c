import Foundation
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
        let started = ContinuousClock.now
        // act
        let outcome = await Deadline.run(timeout: .milliseconds(100)) { () -> Int in
            usleep(1_500_000)
            return 1
        }
        // verify
        guard case .timedOut = outcome else {
            Issue.record("expected .timedOut, got \(outcome)")
            return
        }
        #expect(started.duration(to: .now) < .seconds(1))
    }
}
