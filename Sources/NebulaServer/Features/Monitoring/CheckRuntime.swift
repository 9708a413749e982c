import Foundation

/// The live state of every check in this process: status, failure and success streaks, the open
/// incident, which checks are being probed right now, and results waiting to be written. The
/// database row follows it (written in batches by ``MonitoringService/flush()``), so a thousand
/// checks cost one transaction a second rather than two statements per result.
actor CheckRuntime {
    struct Live: Sendable, Equatable {
        var status: CheckStatus
        var failures: Int
        var successes: Int
        var openIncident: UUID?
        var suppressed: Bool
        var since: Date?
        var lastAt: Date?
        var lastLatency: Double?
        var lastMessage: String?

        init(_ record: CheckRecord) {
            status = record.status
            failures = record.consecutiveFailures
            successes = record.consecutiveSuccesses
            openIncident = record.openIncidentID
            suppressed = record.incidentSuppressed
            since = record.statusSince
            lastAt = record.lastCheckedAt
            lastLatency = record.lastLatencyMs
            lastMessage = record.lastMessage
        }
    }

    /// A result to insert.
    struct PendingResult: Sendable {
        var checkID: UUID
        var at: Date
        var ok: Bool
        var latencyMs: Double?
        var message: String?
    }

    /// What one result changed, decided atomically with the state update.
    struct Decision: Sendable {
        var live: Live
        var previous: CheckStatus
        var changed: Bool
        /// Open an incident now (the failure streak reached the threshold, none is open).
        var openIncident: Bool
        /// Resolve this incident now (the success streak reached the threshold).
        var resolveIncident: UUID?
    }

    private var live: [UUID: Live] = [:]
    private var running: Set<UUID> = []
    private var pending: [PendingResult] = []
    private var dirty: Set<UUID> = []

    func knows(_ id: UUID) -> Bool { live[id] != nil }

    func seed(_ id: UUID, _ state: Live) {
        if live[id] == nil { live[id] = state }
    }

    func state(of id: UUID) -> Live? { live[id] }

    /// Marks the check as being probed; false when a probe of it is already running.
    func claim(_ id: UUID) -> Bool {
        running.insert(id).inserted
    }

    func release(_ id: UUID) {
        running.remove(id)
    }

    var runningCount: Int { running.count }

    /// Applies one result: streaks, status, and whether an incident opens or resolves.
    func apply(_ id: UUID, outcome: ProbeOutcome, at: Date, failuresBeforeIncident: Int, successesBeforeResolve: Int) -> Decision? {
        guard var state = live[id] else { return nil }
        let previous = state.status
        if outcome.ok {
            state.successes += 1
            state.failures = 0
            state.suppressed = false
        } else {
            state.failures += 1
            state.successes = 0
        }
        let status: CheckStatus = outcome.ok ? .up : .down
        let changed = status != previous
        if changed {
            state.status = status
            state.since = at
        }
        state.lastAt = at
        state.lastLatency = outcome.latencyMs
        state.lastMessage = outcome.message
        let open = !outcome.ok && state.openIncident == nil && !state.suppressed && state.failures >= failuresBeforeIncident
        let resolve = outcome.ok && state.successes >= successesBeforeResolve ? state.openIncident : nil
        live[id] = state
        dirty.insert(id)
        // A healthy result that repeats the last one is stored as time and latency only.
        pending.append(PendingResult(checkID: id, at: at, ok: outcome.ok, latencyMs: outcome.latencyMs,
                                     message: outcome.ok && !changed ? nil : String(outcome.message.prefix(500))))
        return Decision(live: state, previous: previous, changed: changed, openIncident: open, resolveIncident: resolve)
    }

    func setIncident(_ id: UUID, incident: UUID?, suppressed: Bool? = nil) {
        guard var state = live[id] else { return }
        state.openIncident = incident
        if let suppressed { state.suppressed = suppressed }
        live[id] = state
        dirty.insert(id)
    }

    /// Results and changed states to write, emptied.
    func drain() -> (results: [PendingResult], states: [(UUID, Live)]) {
        let results = pending
        let states = dirty.compactMap { id in live[id].map { (id, $0) } }
        pending.removeAll(keepingCapacity: true)
        dirty.removeAll(keepingCapacity: true)
        return (results, states)
    }

    /// Puts back what a failed write could not store, so the next flush tries again.
    func requeue(_ results: [PendingResult], states: [UUID]) {
        pending.insert(contentsOf: results.suffix(50_000), at: 0)
        for id in states where live[id] != nil { dirty.insert(id) }
    }

    func forget(_ id: UUID) {
        live.removeValue(forKey: id)
        dirty.remove(id)
        pending.removeAll { $0.checkID == id }
    }
}
