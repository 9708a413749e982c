import Foundation
import NebulaCore
import Testing

@Suite struct RoleTests {
    @Test func rolesAreOrderedViewerOperatorAdmin() {
        // verify
        #expect(Role.viewer < .operator)
        #expect(Role.operator < .admin)
        #expect(Role.allCases.max() == .admin)
    }
}

@Suite struct RetryBackoffTests {
    @Test func ceilingDoublesAndIsCapped() {
        // setup
        let backoff = RetryBackoff(base: .seconds(2), cap: .seconds(10))
        // act / verify
        #expect(backoff.ceiling(afterAttempt: 1) == .seconds(2))
        #expect(backoff.ceiling(afterAttempt: 2) == .seconds(4))
        #expect(backoff.ceiling(afterAttempt: 3) == .seconds(8))
        #expect(backoff.ceiling(afterAttempt: 4) == .seconds(10))
        #expect(backoff.ceiling(afterAttempt: 40) == .seconds(10))
    }

    @Test func jitteredDelayStaysBetweenHalfTheCeilingAndTheCeiling() {
        // setup
        let backoff = RetryBackoff(base: .seconds(1), cap: .seconds(60))
        var delays: Set<Int64> = []
        // act
        for _ in 0..<200 {
            let delay = backoff.delay(afterAttempt: 3)
            // verify
            #expect(delay >= .seconds(2) && delay <= .seconds(4))
            delays.insert(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
        }
        #expect(delays.count > 20, "jitter must spread retries")
    }
}

@Suite struct EventTypeTests {
    @Test(arguments: ["job.succeeded", "secret.created", "user.logged_in"])
    func acceptsDottedLowercaseNames(_ name: String) {
        #expect(EventType.isValid(name))
    }

    @Test(arguments: ["", "Job.Succeeded", "job succeeded", "job;drop", String(repeating: "a", count: 101)])
    func refusesOtherNames(_ name: String) {
        #expect(!EventType.isValid(name))
    }
}
