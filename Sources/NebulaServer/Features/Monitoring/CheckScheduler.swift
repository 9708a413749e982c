import Fluent
import Foundation
import Logging
import NebulaCore

/// Runs every enabled check on its interval. First runs are spread over the interval with
/// jitter (so a thousand checks created at once do not fire in the same second), at most
/// `concurrency` probes run at once, and a check is never probed twice at the same time (a slow
/// probe makes its next run wait, it does not pile up). Results are written once a second in one
/// transaction; rollups and pruning run every five minutes.
///
/// One process runs the checks: with several replicas sharing PostgreSQL, start the scheduler
/// on one of them (`NEBULA_JOB_WORKER=false` replicas do not run it).
final class CheckScheduler: Sendable {
    let monitoring: MonitoringService
    let events: EventBus
    let logger: Logger
    let concurrency: Int
    let tick: Duration
    let rollupEvery: TimeInterval
    private let loop = BackgroundTask()
    /// Set by the event watcher when a check was created, changed or deleted.
    private let reloadRequested = LockedValue(false)

    init(monitoring: MonitoringService, events: EventBus, logger: Logger, concurrency: Int = 32, tick: Duration = .milliseconds(250),
         rollupEvery: TimeInterval = 300) {
        self.monitoring = monitoring
        self.events = events
        self.logger = logger
        self.concurrency = concurrency
        self.tick = tick
        self.rollupEvery = rollupEvery
    }

    func start() {
        loop.start { [self] in await run() }
    }

    func stop() async {
        await loop.stop()
        try? await monitoring.flush()
        await monitoring.probes.shutdown()
    }

    private struct Entry {
        var check: CheckConfig
        var next: ContinuousClock.Instant
    }

    private func run() async {
        // Edits take effect at once: a check event makes the loop re-read the list.
        let watcher = Task { [events, reloadRequested] in
            for await _ in await events.subscribe(types: [.checkCreated, .checkUpdated, .checkDeleted], after: nil) {
                reloadRequested.withLock { $0 = true }
            }
        }
        defer { watcher.cancel() }
        var entries: [UUID: Entry] = [:]
        var lastLoad = ContinuousClock.now - .seconds(3600)
        var lastFlush = ContinuousClock.now
        var lastRollup = ContinuousClock.now - .seconds(rollupEvery) + .seconds(60)
        let inFlight = LockedValue(0)
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let now = ContinuousClock.now
                if now - lastLoad > .seconds(30) || reloadRequested.withLock({ flag in defer { flag = false }; return flag }) {
                    entries = await reload(entries, now: now)
                    lastLoad = now
                }
                for (id, entry) in entries where entry.next <= now {
                    guard inFlight.withLock({ $0 }) < concurrency else { break }
                    entries[id]?.next = max(entry.next + .seconds(entry.check.interval), now)
                    inFlight.withLock { $0 += 1 }
                    let check = entry.check
                    group.addTask { [monitoring] in
                        _ = await monitoring.runScheduled(check)
                        inFlight.withLock { $0 -= 1 }
                    }
                }
                if now - lastFlush >= .seconds(1) {
                    do { try await monitoring.flush() } catch { logger.warning("could not store check results", metadata: ["error": "\(error)"]) }
                    lastFlush = now
                }
                if now - lastRollup >= .seconds(rollupEvery) {
                    do {
                        let report = try await monitoring.rollUpAndPrune()
                        logger.debug("monitoring rollup", metadata: ["rows": "\(report.rollupRows)", "pruned": "\(report.prunedResults)"])
                    } catch {
                        logger.warning("could not roll up check results", metadata: ["error": "\(error)"])
                    }
                    lastRollup = now
                }
                try? await Task.sleep(for: tick)
            }
        }
    }

    /// The enabled checks; new ones get a first run at a random point of their interval, edited
    /// ones keep their place unless the interval shrank below the wait.
    private func reload(_ current: [UUID: Entry], now: ContinuousClock.Instant) async -> [UUID: Entry] {
        do {
            let records = try await CheckRecord.query(on: monitoring.db).filter(\.$enabled == true).all()
            var next: [UUID: Entry] = [:]
            for record in records {
                let check = CheckConfig(record)
                if let existing = current[check.id] {
                    let latest = now + .seconds(check.interval)
                    next[check.id] = Entry(check: check, next: min(existing.next, latest))
                } else {
                    let jitter = Double.random(in: 0..<Double(min(check.interval, 60)))
                    next[check.id] = Entry(check: check, next: now + .milliseconds(Int64(jitter * 1000)))
                }
            }
            return next
        } catch {
            logger.warning("could not load checks", metadata: ["error": "\(error)"])
            return current
        }
    }
}

/// Appends runbook runs and notifications that name an incident to its timeline.
final class IncidentTimelineListener: Sendable {
    let monitoring: MonitoringService
    let events: EventBus
    let logger: Logger
    private let loop = BackgroundTask()

    static let types: Set<EventType> = ["runbook.run_started", "runbook.run_finished", "workflow.run_started", "workflow.run_finished",
                                        "notification.delivered", "notification.failed"]

    init(monitoring: MonitoringService, events: EventBus, logger: Logger) {
        self.monitoring = monitoring
        self.events = events
        self.logger = logger
    }

    func start() {
        loop.start { [monitoring, events, logger] in
            for await event in await events.subscribe(types: Self.types, after: nil) {
                guard let (incident, kind, message) = Self.entry(for: event) else { continue }
                do {
                    try await monitoring.appendTimeline(incident, kind: kind, message: message, actor: event.actor)
                } catch {
                    logger.warning("could not add to an incident's timeline", metadata: ["event": "\(event.type)", "error": "\(error)"])
                }
            }
        }
    }

    func stop() async { await loop.stop() }

    /// The timeline line an event deserves, or nil when it names no incident.
    static func entry(for event: EventEnvelope) -> (UUID, String, String)? {
        let data = event.data
        guard let incident = data["incidentID"].flatMap(UUID.init(uuidString:)) else { return nil }
        switch event.type.rawValue {
        case "runbook.run_started", "workflow.run_started":
            let what = event.type.rawValue.hasPrefix("workflow") ? "Workflow" : "Runbook"
            return (incident, "runbook", "\(what) \(data["runbook"] ?? "?") started (run \(data["runID"] ?? "?")).")
        case "runbook.run_finished", "workflow.run_finished":
            let what = event.type.rawValue.hasPrefix("workflow") ? "Workflow" : "Runbook"
            let error = data["error"].map { ": \($0)" } ?? "."
            return (incident, "runbook", "\(what) \(data["runbook"] ?? "?") finished \(data["status"] ?? "")\(error)")
        case "notification.delivered":
            return (incident, "notification", "Notified \(data["channel"] ?? "a channel"): \(data["title"] ?? "")")
        case "notification.failed":
            return (incident, "notification", "Could not notify \(data["channel"] ?? "a channel"): \(data["title"] ?? "")")
        default:
            return nil
        }
    }
}
