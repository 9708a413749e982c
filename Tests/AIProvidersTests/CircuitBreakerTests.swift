import AIProviders
import NIOConcurrencyHelpers
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let instant = NIOLockedValueBox(ContinuousClock.now)

    var now: ContinuousClock.Instant { instant.withLockedValue { $0 } }

    func advance(by duration: Duration) { instant.withLockedValue { $0 += duration } }
}

@Suite struct CircuitBreakerTests {
    let clock = ManualClock()

    func breaker() -> CircuitBreaker {
        let clock = self.clock
        return CircuitBreaker(failureThreshold: 3, cooldown: .seconds(30), now: { clock.now })
    }

    @Test func opensAfterThresholdFailuresAndRefusesWhileOpen() async {
        // setup
        let breaker = breaker()
        // act
        await breaker.recordFailure()
        await breaker.recordFailure()
        let allowedBeforeThreshold = await breaker.allowRequest()
        await breaker.recordFailure()
        clock.advance(by: .seconds(29))
        let allowedWhileOpen = await breaker.allowRequest()
        // verify
        #expect(allowedBeforeThreshold)
        #expect(!allowedWhileOpen)
        guard case .open = await breaker.state else { Issue.record("expected open"); return }
    }

    @Test func successResetsTheFailureCount() async {
        // setup
        let breaker = breaker()
        // act
        await breaker.recordFailure()
        await breaker.recordFailure()
        await breaker.recordSuccess()
        await breaker.recordFailure()
        // verify
        #expect(await breaker.state == .closed)
        #expect(await breaker.allowRequest())
    }

    @Test func letsExactlyOneProbeAfterCooldownAndClosesOnSuccess() async {
        // setup
        let breaker = breaker()
        for _ in 0..<3 { await breaker.recordFailure() }
        clock.advance(by: .seconds(30))
        // act
        let probe = await breaker.allowRequest()
        let second = await breaker.allowRequest()
        let stateDuringProbe = await breaker.state
        await breaker.recordSuccess()
        // verify
        #expect(probe)
        #expect(!second)
        #expect(stateDuringProbe == .halfOpen)
        #expect(await breaker.state == .closed)
        #expect(await breaker.allowRequest())
    }

    @Test func failedProbeReopensForAnotherCooldown() async {
        // setup
        let breaker = breaker()
        for _ in 0..<3 { await breaker.recordFailure() }
        clock.advance(by: .seconds(31))
        // act
        let probe = await breaker.allowRequest()
        await breaker.recordFailure()
        let afterFailedProbe = await breaker.allowRequest()
        clock.advance(by: .seconds(30))
        let nextProbe = await breaker.allowRequest()
        // verify
        #expect(probe)
        #expect(!afterFailedProbe)
        #expect(nextProbe)
        #expect(await breaker.state == .halfOpen)
    }
}
