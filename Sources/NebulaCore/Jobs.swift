import Foundation

/// Where a durable job is in its life.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    /// A finished job never changes status again.
    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// How long to wait before attempt `attempt + 1` after `attempt` failed:
/// exponential from `base`, capped at `cap`, with "full jitter" so that many failing jobs
/// do not retry in lock-step.
public struct RetryBackoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .seconds(2), cap: Duration = .seconds(600)) {
        self.base = base
        self.cap = cap
    }

    /// The upper bound of the delay after `attempt` failures (1-based): `min(cap, base * 2^(attempt-1))`.
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let exponent = max(0, min(attempt - 1, 30))
        let seconds = base.seconds * pow(2, Double(exponent))
        return .milliseconds(Int64(min(seconds, cap.seconds) * 1000))
    }

    /// A delay drawn uniformly between half the ceiling and the ceiling ("equal jitter"),
    /// so a retry never comes immediately but retries still spread out.
    public func delay<G: RandomNumberGenerator>(afterAttempt attempt: Int, using generator: inout G) -> Duration {
        let ceiling = ceiling(afterAttempt: attempt).seconds
        let seconds = Double.random(in: (ceiling / 2)...ceiling, using: &generator)
        return .milliseconds(Int64(seconds * 1000))
    }

    public func delay(afterAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }
}

extension Duration {
    /// The duration as fractional seconds.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
