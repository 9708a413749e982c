import Fluent
import Foundation
import Logging
import NebulaCore
import SQLKit

/// The background side of automation, started once by the composition root:
/// - the trigger loop: every event on the bus is matched against enabled runbooks with an alert
///   trigger (`incident.opened`, optionally one check, and a condition) or an event trigger;
/// - the scheduler: fires due schedules, each claimed with one atomic UPDATE so two replicas never
///   both fire it, applying the misfire policy to fire times missed while nothing ran;
/// - the sweeper (at start and every `sweepInterval`): fails runs whose job ended without ending
///   them, starts queued runs whose concurrency key is free, times out approvals.
final class AutomationBackground: Sendable {
    let service: AutomationService
    let logger: Logger
    let tickInterval: Duration
    let sweepInterval: Duration
    /// How late a fire may be and still count as on time (otherwise the misfire policy applies).
    let misfireGrace: TimeInterval
    private let tasks = LockedValue<[Task<Void, Never>]>([])

    init(service: AutomationService, logger: Logger, tickInterval: Duration = .seconds(1), sweepInterval: Duration = .seconds(15), misfireGrace: TimeInterval = 60) {
        self.service = service
        self.logger = logger
        self.tickInterval = tickInterval
        self.sweepInterval = sweepInterval
        self.misfireGrace = misfireGrace
    }

    func start() {
        let events = Task { [self] in
            let stream = await service.events.subscribe(types: nil, after: nil)
            for await event in stream {
                if Task.isCancelled { break }
                await handle(event)
            }
        }
        let scheduler = Task { [self] in
            while !Task.isCancelled {
                do { try await fireDueSchedules() } catch { logger.warning("automation scheduler: \(String(reflecting: error))") }
                try? await Task.sleep(for: tickInterval)
            }
        }
        let sweeper = Task { [self] in
            while !Task.isCancelled {
                do { try await sweep() } catch { logger.warning("automation sweep: \(String(reflecting: error))") }
                try? await Task.sleep(for: sweepInterval)
            }
        }
        tasks.withLock { $0 = [events, scheduler, sweeper] }
    }

    func stop() async {
        let running = tasks.withLock { current -> [Task<Void, Never>] in
            defer { current = [] }
            return current
        }
        running.forEach { $0.cancel() }
        for task in running { await task.value }
    }

    // MARK: Events

    /// Events that never trigger runbooks by wildcard: automation's own (a runbook reacting to its
    /// own run would loop) and the job queue's chatter.
    static func isInternal(_ type: String) -> Bool {
        type.hasPrefix("runbook.") || type.hasPrefix("workflow.") || type.hasPrefix("automation.") || type.hasPrefix("job.") || type == "server.metrics"
    }

    func handle(_ event: EventEnvelope) async {
        guard event.id > 0 else { return }  // broadcasts (live readings) are not events to react to
        let type = event.type.rawValue
        do {
            let candidates = try await RunbookRecord.query(on: service.db).filter(\.$enabled == true)
                .filter(\.$triggerType ~~ ["alert", "event"]).all()
            for record in candidates {
                guard let document = try? RunbookParser.parse(yaml: record.yaml) else { continue }
                let trigger = document.trigger
                var context: [String: TemplateValue]
                var incidentID: UUID?
                switch trigger.type {
                case .alert:
                    guard type == "incident.opened" else { continue }
                    if let check = trigger.check, check != event.data["check"] { continue }
                    incidentID = event.data["incidentID"].flatMap(UUID.init(uuidString:))
                    context = try await alertContext(event)
                case .event:
                    guard let wanted = trigger.event else { continue }
                    if wanted == "*" ? Self.isInternal(type) : wanted != type { continue }
                    if event.data["runbook"] == record.name { continue }
                    context = Self.eventContext(event)
                default:
                    continue
                }
                if let source = trigger.condition {
                    var values = context
                    values["inputs"] = .object((try? RunbookInputs.resolve([:], declared: document.inputs)) ?? [:])
                    let holds: Bool
                    do {
                        holds = try Condition(parsing: source).evaluate(TemplateContext(values))
                    } catch {
                        logger.info("runbook \(record.name): its trigger condition cannot be evaluated for event \(event.id): \(error.message)")
                        continue
                    }
                    guard holds else { continue }
                }
                do {
                    try await service.trigger(record, document: document, kind: trigger.type.rawValue, context: context, incidentID: incidentID, sourceEvent: event.id)
                } catch {
                    // Another replica recorded the same event first (the unique key), or the database failed.
                    logger.debug("runbook \(record.name) not started for event \(event.id): \(String(reflecting: error))")
                }
            }
        } catch {
            logger.warning("automation could not match event \(event.id): \(String(reflecting: error))")
        }
    }

    /// An incident's facts as `incident.*`, `service.*` (container, health endpoint, restart count) and `check.*`.
    func alertContext(_ event: EventEnvelope) async throws -> [String: TemplateValue] {
        let data = event.data
        var service: [String: TemplateValue] = [
            "name": .string(data["check"] ?? ""), "health": "unhealthy", "check": .string(data["check"] ?? ""),
            "restart_count": 0,
        ]
        if let container = data["container"] {
            service["container"] = .string(container)
            service["container_id"] = .string(container)
            if let serverID = data["serverID"].flatMap(UUID.init(uuidString:)) {
                service["restart_count"] = .number(Double(try await DockerAction.recentRestarts(of: container, on: serverID, db: self.service.db)))
            }
        }
        if let url = data["url"] { service["health_endpoint"] = .string(url); service["url"] = .string(url) }
        if let host = data["host"] { service["host"] = .string(host) }
        if let server = data["serverID"] { service["server_id"] = .string(server); service["server"] = .string(server) }
        var incident = TemplateValue.strings(data).objectValue ?? [:]
        incident["id"] = .string(data["incidentID"] ?? "")
        var trigger = incident
        trigger["type"] = "alert"
        trigger["event"] = .string(event.type.rawValue)
        return ["incident": .object(incident), "service": .object(service), "check": ["name": .string(data["check"] ?? ""), "id": .string(data["checkID"] ?? "")],
                "trigger": .object(trigger)]
    }

    static func eventContext(_ event: EventEnvelope) -> [String: TemplateValue] {
        var facts = TemplateValue.strings(event.data).objectValue ?? [:]
        facts["type"] = .string(event.type.rawValue)
        facts["id"] = .number(Double(event.id))
        facts["subject"] = event.subject.map { .string($0) } ?? .null
        facts["actor"] = event.actor.map { .string($0) } ?? .null
        facts["data"] = .strings(event.data)
        var trigger = facts
        trigger["type"] = "event"
        trigger["event"] = .string(event.type.rawValue)
        return ["event": .object(facts), "trigger": .object(trigger)]
    }

    // MARK: Schedules

    /// Fires every schedule that is due. Each is claimed by moving its `next_fire_at` into the future
    /// in one UPDATE that only matches while it is still due (PostgreSQL re-checks the condition
    /// after a concurrent update's row lock; SQLite serialises writers), so exactly one replica fires it.
    func fireDueSchedules(now: Date = Date()) async throws {
        guard let sql = service.db as? any SQLDatabase else { return }
        let due = try await AutomationSchedule.query(on: service.db).filter(\.$nextFireAt <= now).all()
        for schedule in due {
            guard let scheduledAt = schedule.nextFireAt, let id = schedule.id else { continue }
            let zone = TimeZone(identifier: schedule.timezone) ?? TimeZone(secondsFromGMT: 0) ?? .current
            let cron = try? CronSchedule(parsing: schedule.cron, timeZone: zone)
            let next = cron?.nextFire(after: now)
            struct Claimed: Decodable { var id: UUID }
            let claimed = try await sql.raw("""
                UPDATE automation_schedules SET next_fire_at = \(bind: next), last_fired_at = \(bind: now)
                WHERE id = \(bind: id) AND next_fire_at <= \(bind: now) RETURNING id
                """).first(decoding: Claimed.self)
            guard claimed != nil else { continue }
            guard let record = try await RunbookRecord.find(schedule.runbookID, on: service.db), record.enabled,
                  let document = try? RunbookParser.parse(yaml: record.yaml) else { continue }
            let late = now.timeIntervalSince(scheduledAt)
            if late > misfireGrace && schedule.misfire == RunbookDocument.Trigger.Misfire.skip.rawValue {
                logger.info("runbook \(record.name): skipped the fire due \(scheduledAt) (\(Int(late)) s late, misfire: skip)")
                continue
            }
            let iso = ISO8601DateFormatter()
            let context: [String: TemplateValue] = ["trigger": ["type": "schedule", "cron": .string(schedule.cron), "timezone": .string(schedule.timezone),
                                                                "scheduled_at": .string(iso.string(from: scheduledAt)), "fired_at": .string(iso.string(from: now)),
                                                                "late_seconds": .number(late.rounded()), "misfired": .bool(late > misfireGrace)]]
            try await service.trigger(record, document: document, kind: "schedule", context: context, incidentID: nil, sourceEvent: nil)
        }
    }

    // MARK: Sweep

    /// Repairs what a crash or a lost job can leave: no run stays `running` or `queued` forever.
    func sweep(now: Date = Date()) async throws {
        let db = service.db
        let engine = RunbookEngine(service: service)
        for run in try await RunbookRun.query(on: db).filter(\.$status ~~ [.running, .queued]).all() {
            guard let jobID = run.jobID else { continue }
            let job = try await JobRecord.find(jobID, on: db)
            guard job == nil || job?.status.isFinal == true else { continue }
            // The job may have just ended after finishing the run: look again before failing it.
            guard let fresh = try await RunbookRun.find(try run.requireID(), on: db), fresh.status == run.status, fresh.jobID == jobID else { continue }
            let reason = job == nil ? "its job is gone" : "its job ended (\(job?.status.rawValue ?? "")\(job?.lastError.map { ": \($0.prefix(300))" } ?? ""))"
            try await engine.skipRemaining(try await engine.loadJournal(try run.requireID()), note: "the run was abandoned")
            try await engine.finish(fresh, status: .failed, error: "the run was abandoned: \(reason) without finishing it")
        }
        // Queued behind a concurrency key whose holder is gone.
        let waiting = try await RunbookRun.query(on: db).filter(\.$status == .queued).filter(\.$jobID == nil).all()
        for key in Set(waiting.compactMap(\.concurrencyKey)) { try await engine.startNextQueued(key: key) }
        // Approvals nobody decided in time count as rejected.
        for run in try await RunbookRun.query(on: db).filter(\.$status == .waitingApproval).filter(\.$approvalDeadline < now).all() {
            _ = try? await service.decide(try run.requireID(), approved: false, reason: "no decision before the approval timed out", by: .system("automation"))
        }
    }
}
