/// Stops calling a provider that keeps failing: after `failureThreshold` failures in a row it
/// refuses requests for `cooldown`, then lets exactly one probe through; the probe's success
/// closes it again, its failure re-opens it for another cooldown.
public actor CircuitBreaker {
    /// Where the breaker stands.
    public enum State: Sendable, Equatable {
        /// Requests pass.
        case closed
        /// Requests are refused until the instant (then one probe passes).
        case open(until: ContinuousClock.Instant)
        /// One probe may pass (or is in flight); its outcome decides.
        case halfOpen
    }

    /// Where the breaker stands now (an expired `.open` turns `.halfOpen` at the next ``allowRequest()``).
    public private(set) var state: State = .closed
    private let failureThreshold: Int
    private let cooldown: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private var failures = 0
    private var probeInFlight = false

    /// A closed breaker. `now` is injectable for tests.
    public init(failureThreshold: Int = 3, cooldown: Duration = .seconds(30), now: @Sendable @escaping () -> ContinuousClock.Instant = { .now }) {
        self.failureThreshold = max(1, failureThreshold)
        self.cooldown = cooldown
        self.now = now
    }

    /// Whether a request may go out now. Closed: yes. Open: no until the cooldown ends, then the
    /// first caller gets the half-open probe and everyone else is refused until it reports back.
    public func allowRequest() -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until):
            guard now() >= until else { return false }
            state = .halfOpen
            probeInFlight = true
            return true
        case .halfOpen:
            guard !probeInFlight else { return false }
            probeInFlight = true
            return true
        }
    }

    /// A request succeeded: the breaker closes and the failure count starts over.
    public func recordSuccess() {
        state = .closed
        failures = 0
        probeInFlight = false
    }

    /// A request failed: counts towards the threshold, or re-opens a half-open breaker.
    public func recordFailure() {
        switch state {
        case .closed:
            failures += 1
            if failures >= failureThreshold { open() }
        case .halfOpen:
            open()
        case .open:
            break
        }
    }

    private func open() {
        state = .open(until: now() + cooldown)
        failures = 0
        probeInFlight = false
    }
}
