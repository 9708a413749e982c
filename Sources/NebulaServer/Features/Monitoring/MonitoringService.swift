import Fluent
import Foundation
import Logging
import NebulaCore
import SQLKit
import Vapor

/// Health checks, their results, uptime and incidents. Reading needs the viewer role; creating,
/// changing, running checks and acknowledging or resolving incidents the operator role; the
/// status page switch the admin role. Every change is audited (`check.*`, `incident.*`) and
/// published as an event; the API, the pages, the scheduler and Automation all call this.
///
/// Incidents: one opens after `failuresBeforeIncident` failures in a row and resolves itself
/// after `successesBeforeResolve` successes in a row, so a flapping check does not open and close
/// incidents on every result. A check has at most one open incident (also a partial unique index).
/// Someone may resolve an incident by hand while its check still fails: then no new incident
/// opens until the check has succeeded at least once — the person said "known, leave it".
struct MonitoringService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let probes: CheckProbes
    let runtime: CheckRuntime
    let uptimeCache: UptimeCache
    let logger: Logger

    static let systemActor = Actor.system("monitoring")

    // MARK: Reading

    func list(by actor: Actor) async throws -> [CheckDTO] {
        try actor.require(.viewer)
        let records = try await CheckRecord.query(on: db).sort(\.$name).all()
        let uptime = try await uptimes()
        return records.map { CheckDTO($0, uptime: uptime[$0.id ?? UUID()] ?? UptimeDTO()) }
    }

    func find(_ id: UUID, by actor: Actor) async throws -> CheckDTO {
        try actor.require(.viewer)
        let record = try await checkRecord(id)
        return CheckDTO(record, uptime: try await uptimes()[id] ?? UptimeDTO())
    }

    /// The newest `limit` results of a check, newest first.
    func results(of id: UUID, limit: Int, by actor: Actor) async throws -> [CheckResultRowDTO] {
        try actor.require(.viewer)
        _ = try await checkRecord(id)
        try await flush()
        return try await CheckResultRecord.query(on: db).filter(\.$checkID == id).sort(\.$at, .descending).sort(\.$id, .descending)
            .limit(min(max(limit, 1), 1000)).all()
            .map { CheckResultRowDTO(at: $0.at, ok: $0.ok, latencyMs: $0.latencyMs, message: $0.message) }
    }

    func uptime(of id: UUID, hours: Int, by actor: Actor, now: Date = Date()) async throws -> CheckUptimeDTO {
        try actor.require(.viewer)
        _ = try await checkRecord(id)
        let since = MonitoringRollups.hourStart(now.addingTimeInterval(-Double(hours) * 3600))
        let rollups = try await CheckRollupRecord.query(on: db).filter(\.$checkID == id).filter(\.$hourStart >= since).sort(\.$hourStart).all()
        let uptime = try await MonitoringRollups(db: db).uptime(checks: [id], now: now)[id] ?? UptimeDTO()
        return CheckUptimeDTO(checkId: id, uptime: uptime, hours: rollups.map {
            .init(start: $0.hourStart, count: $0.count, failures: $0.failures,
                  avgLatencyMs: $0.latencyCount > 0 ? ($0.latencySum / Double($0.latencyCount) * 10).rounded() / 10 : nil,
                  maxLatencyMs: $0.latencyCount > 0 ? $0.latencyMax : nil)
        })
    }

    /// Uptime of every check, recomputed at most every 30 s (two grouped queries).
    func uptimes(now: Date = Date()) async throws -> [UUID: UptimeDTO] {
        if let cached = await uptimeCache.value(now: now) { return cached }
        let computed = try await MonitoringRollups(db: db).uptime(checks: nil, now: now)
        await uptimeCache.store(computed, at: now)
        return computed
    }

    // MARK: Checks

    func create(_ input: CheckInput, by actor: Actor) async throws -> CheckDTO {
        try actor.require(.operator)
        let record = CheckRecord()
        record.id = UUID()
        record.createdBy = actor.username
        record.status = .unknown
        record.consecutiveFailures = 0
        record.consecutiveSuccesses = 0
        record.incidentSuppressed = false
        try await apply(input, to: record, creating: true)
        do {
            try await record.create(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw nameTaken(record.name)
        }
        try await audit.record("check.create", target: "check:\(record.name)", by: actor, detail: "\(record.kind.rawValue) \(record.target)")
        await events.publish(.checkCreated, actor: actor.username, subject: "check:\(record.name)",
                             data: ["checkID": try record.requireID().uuidString, "check": record.name, "kind": record.kind.rawValue])
        return CheckDTO(record, uptime: UptimeDTO())
    }

    func update(_ id: UUID, _ input: CheckInput, by actor: Actor) async throws -> CheckDTO {
        try actor.require(.operator)
        let record = try await checkRecord(id)
        try await apply(input, to: record, creating: false)
        do {
            try await record.save(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw nameTaken(record.name)
        }
        try await audit.record("check.update", target: "check:\(record.name)", by: actor, detail: "\(record.kind.rawValue) \(record.target)")
        await events.publish(.checkUpdated, actor: actor.username, subject: "check:\(record.name)",
                             data: ["checkID": id.uuidString, "check": record.name, "kind": record.kind.rawValue])
        return CheckDTO(record, uptime: try await uptimes()[id] ?? UptimeDTO())
    }

    /// Removes the check, its results and rollups. Its incidents stay as history; an open one is
    /// resolved with a note that the check is gone.
    func delete(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let record = try await checkRecord(id)
        await runtime.forget(id)
        let now = Date()
        let resolved = try await db.transaction { tx -> IncidentRecord? in
            var resolved: IncidentRecord?
            if let open = try await IncidentRecord.query(on: tx).filter(\.$checkID == id).filter(\.$resolvedAt == nil).first() {
                open.status = .resolved
                open.resolvedAt = now
                open.resolvedBy = actor.username
                try await open.save(on: tx)
                try await Self.timeline(open.requireID(), "resolved", "The check was deleted.", actor: actor.username, at: now, on: tx)
                resolved = open
            }
            try await CheckResultRecord.query(on: tx).filter(\.$checkID == id).delete()
            try await CheckRollupRecord.query(on: tx).filter(\.$checkID == id).delete()
            try await record.delete(on: tx)
            return resolved
        }
        await runtime.forget(id)
        await uptimeCache.invalidate()
        try await audit.record("check.delete", target: "check:\(record.name)", by: actor)
        await events.publish(.checkDeleted, actor: actor.username, subject: "check:\(record.name)", data: ["checkID": id.uuidString, "check": record.name])
        if let resolved {
            await publishIncident(.incidentResolved, resolved, config: CheckConfig(record), message: "The check was deleted.", actor: actor.username)
        }
    }

    /// Validates `input` (merged over the record's settings when updating) and writes it into
    /// `record`. Throws before touching anything when a field is wrong.
    private func apply(_ input: CheckInput, to record: CheckRecord, creating: Bool) async throws {
        let name = try CheckRules.name(input.name ?? (creating ? nil : record.name))
        let kind = try CheckRules.kind(input.kind ?? (creating ? nil : record.kind.rawValue))
        let interval = input.intervalSeconds ?? (creating ? 60 : record.intervalSeconds)
        let timeout = input.timeoutSeconds ?? (creating ? min(10, max(interval - 1, 1)) : record.timeoutSeconds)
        try CheckRules.timing(interval: interval, timeout: timeout)
        let failures = input.failuresBeforeIncident ?? (creating ? 3 : record.failuresBeforeIncident)
        let successes = input.successesBeforeResolve ?? (creating ? 2 : record.successesBeforeResolve)
        try CheckRules.thresholds(failures: failures, successes: successes)
        let severity = try CheckRules.severity(input.severity) ?? (creating ? .warning : record.severity)
        let base = creating || kind != record.kind ? CheckSpec() : record.decodedSpec
        let (spec, target) = try CheckRules.normalise(base.merged(with: input.spec), kind: kind)
        if let server = spec.serverId {
            guard let row = try await ServerRecord.find(server, on: db) else {
                throw CheckRules.fail("serverId", "No server with id \(server).", code: "unknown_server")
            }
            if kind == .container, let container = spec.container {
                do {
                    _ = try await probes.containers.inspect(container, on: server, by: Self.systemActor)
                } catch let error as NebulaError where error.status == .notFound {
                    throw CheckRules.fail("container", "\(row.name) has no container named \(container).", code: "unknown_container")
                } catch let error as NebulaError where error.code == "containers_need_agent" {
                    throw CheckRules.fail("serverId", error.message, code: "containers_need_agent")
                } catch {
                    // The node may be offline right now; the check will say so when it runs.
                }
            }
        }
        if try await CheckRecord.query(on: db).filter(\.$name == name).filter(\.$id != record.id ?? UUID()).first() != nil {
            throw nameTaken(name)
        }
        record.name = name
        record.kind = kind
        record.spec = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        record.target = target
        record.intervalSeconds = interval
        record.timeoutSeconds = timeout
        record.enabled = input.enabled ?? (creating ? true : record.enabled)
        record.isPublic = input.public ?? (creating ? false : record.isPublic)
        record.severity = severity
        record.failuresBeforeIncident = failures
        record.successesBeforeResolve = successes
    }

    private func nameTaken(_ name: String) -> NebulaError {
        var error = NebulaError.conflict("A check named '\(name)' already exists; choose another name.", code: "name_taken")
        error.problems = [FieldProblem(path: "name", message: "taken")]
        return error
    }

    private func checkRecord(_ id: UUID) async throws -> CheckRecord {
        guard let record = try await CheckRecord.find(id, on: db) else { throw NebulaError.notFound("Check \(id)") }
        return record
    }

    // MARK: Running

    /// Runs the check now (waiting for a scheduled run of it to finish first), records the result
    /// and answers it. Audited as `check.run`.
    func run(_ id: UUID, by actor: Actor) async throws -> CheckResultDTO {
        try actor.require(.operator)
        let record = try await checkRecord(id)
        let result = try await runClaimed(CheckConfig(record))
        try await flush()
        // A person asked: show the new result in the uptime at once.
        await uptimeCache.invalidate()
        try await audit.record("check.run", target: "check:\(record.name)", outcome: .success, by: actor,
                               detail: "\(result.ok ? "up" : "down"): \(result.message)")
        return result
    }

    /// For Automation's `health_check` action: runs the check with this name now.
    func runNow(checkNamed name: String, by actor: Actor) async throws -> CheckResultDTO {
        try actor.require(.operator)
        guard let record = try await CheckRecord.query(on: db).filter(\.$name == name).first() else {
            throw NebulaError.unprocessable("No check named '\(name)'.", code: "unknown_check")
        }
        return try await run(record.requireID(), by: actor)
    }

    /// Probes and records once; waits (up to the check's interval) while another run holds it.
    func runClaimed(_ check: CheckConfig) async throws -> CheckResultDTO {
        let deadline = ContinuousClock.now + .seconds(check.interval + check.timeout)
        while !(await runtime.claim(check.id)) {
            guard ContinuousClock.now < deadline else {
                throw NebulaError.conflict("\(check.name) is being checked right now; try again.", code: "check_busy")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        do {
            let result = try await probeAndRecord(check)
            await runtime.release(check.id)
            return result
        } catch {
            await runtime.release(check.id)
            throw error
        }
    }

    /// A scheduled run: skipped (nil) when the check is already being probed.
    func runScheduled(_ check: CheckConfig) async -> CheckResultDTO? {
        guard await runtime.claim(check.id) else { return nil }
        defer { Task { await runtime.release(check.id) } }
        do {
            return try await probeAndRecord(check)
        } catch {
            logger.warning("could not record a result", metadata: ["check": "\(check.name)", "error": "\(error)"])
            return nil
        }
    }

    private func probeAndRecord(_ check: CheckConfig) async throws -> CheckResultDTO {
        if !(await runtime.knows(check.id)) {
            guard let record = try await CheckRecord.find(check.id, on: db) else { throw NebulaError.notFound("Check \(check.id)") }
            await runtime.seed(check.id, .init(record))
        }
        let outcome = await probes.run(check)
        return try await record(outcome, for: check, at: Date())
    }

    /// Applies a result to the check's state and acts on what changed: status events, timeline
    /// entries, incidents opened or resolved.
    func record(_ outcome: ProbeOutcome, for check: CheckConfig, at: Date) async throws -> CheckResultDTO {
        guard let decision = await runtime.apply(check.id, outcome: outcome, at: at, failuresBeforeIncident: check.failuresBeforeIncident,
                                                 successesBeforeResolve: check.successesBeforeResolve) else {
            throw NebulaError.notFound("Check \(check.id)")
        }
        if decision.changed {
            await events.publish(.checkStatusChanged, actor: nil, subject: "check:\(check.name)",
                                 data: ["checkID": check.id.uuidString, "check": check.name, "status": decision.live.status.rawValue, "message": outcome.message])
        }
        if decision.changed, let incident = decision.live.openIncident, decision.resolveIncident == nil {
            try? await Self.timeline(incident, outcome.ok ? "recovered" : "failing",
                                     outcome.ok ? "The check passed: \(outcome.message)" : "The check failed again: \(outcome.message)", actor: nil, at: at, on: db)
        }
        if decision.openIncident {
            try await openIncident(for: check, failures: decision.live.failures, message: outcome.message, at: at)
        }
        if let incident = decision.resolveIncident {
            try await resolveAutomatically(incident, check: check, successes: decision.live.successes, message: outcome.message, at: at)
        }
        return CheckResultDTO(checkId: check.id, check: check.name, at: at, ok: outcome.ok, latencyMs: outcome.latencyMs,
                              message: outcome.message, status: decision.live.status)
    }

    /// Writes waiting results (one multi-row insert) and changed check states in one transaction.
    func flush() async throws {
        let (results, states) = await runtime.drain()
        guard !results.isEmpty || !states.isEmpty else { return }
        guard let sql = db as? any SQLDatabase else { throw NebulaError.misconfigured("monitoring needs an SQL database") }
        do {
            try await (db as any Database).transaction { tx in
                guard let sql = tx as? any SQLDatabase else { return }
                for chunk in stride(from: 0, to: results.count, by: 500).map({ results[$0..<min($0 + 500, results.count)] }) {
                    let insert = sql.insert(into: CheckResultRecord.schema).columns("check_id", "at", "ok", "latency_ms", "message")
                    for result in chunk {
                        insert.values(SQLBind(result.checkID), SQLBind(result.at), SQLBind(result.ok), SQLBind(result.latencyMs),
                                      SQLBind(result.message))
                    }
                    try await insert.run()
                }
                for (id, live) in states {
                    try await sql.update(CheckRecord.schema)
                        .set("status", to: live.status.rawValue)
                        .set("consecutive_failures", to: live.failures)
                        .set("consecutive_successes", to: live.successes)
                        .set("incident_suppressed", to: live.suppressed)
                        .set("status_since", to: live.since)
                        .set("last_checked_at", to: live.lastAt)
                        .set("last_latency_ms", to: live.lastLatency)
                        .set("last_message", to: live.lastMessage.map { String($0.prefix(500)) })
                        .where("id", .equal, id)
                        .run()
                }
            }
        } catch {
            await runtime.requeue(results, states: states.map(\.0))
            throw error
        }
        _ = sql
    }

    // MARK: Incidents

    func incidents(status: IncidentStatusFilter, limit: Int, by actor: Actor) async throws -> [IncidentDTO] {
        try actor.require(.viewer)
        let query = IncidentRecord.query(on: db)
        switch status {
        case .all: break
        case .open: query.filter(\.$resolvedAt == nil)
        case .resolved: query.filter(\.$resolvedAt != nil)
        }
        return try await query.sort(\.$openedAt, .descending).limit(min(max(limit, 1), 500)).all().map { IncidentDTO($0) }
    }

    func incident(_ id: UUID, by actor: Actor) async throws -> IncidentDTO {
        try actor.require(.viewer)
        let record = try await incidentRecord(id)
        let timeline = try await IncidentEventRecord.query(on: db).filter(\.$incidentID == id).sort(\.$id).all()
        return IncidentDTO(record, timeline: timeline)
    }

    func incidents(ofCheck id: UUID, limit: Int, by actor: Actor) async throws -> [IncidentDTO] {
        try actor.require(.viewer)
        return try await IncidentRecord.query(on: db).filter(\.$checkID == id).sort(\.$openedAt, .descending).limit(limit).all().map { IncidentDTO($0) }
    }

    func acknowledge(_ id: UUID, by actor: Actor) async throws -> IncidentDTO {
        try actor.require(.operator)
        let record = try await incidentRecord(id)
        guard record.resolvedAt == nil else {
            throw NebulaError.conflict("The incident is already resolved.", code: "incident_resolved")
        }
        if record.status == .open {
            let now = Date()
            try await db.transaction { tx in
                record.status = .acknowledged
                record.acknowledgedAt = now
                record.acknowledgedBy = actor.username
                try await record.save(on: tx)
                try await Self.timeline(id, "acknowledged", "\(actor.username) acknowledged the incident.", actor: actor.username, at: now, on: tx)
            }
            let check = try await CheckRecord.find(record.checkID, on: db)
            await publishIncident(.incidentAcknowledged, record, config: check.map(CheckConfig.init), message: record.message, actor: actor.username)
        }
        try await audit.record("incident.acknowledge", target: "incident:\(id)", by: actor, detail: record.checkName)
        return try await incident(id, by: actor)
    }

    /// Resolves by hand. When the check still fails, no new incident opens until it has
    /// succeeded once (see the type's documentation).
    func resolve(_ id: UUID, note: String?, by actor: Actor) async throws -> IncidentDTO {
        try actor.require(.operator)
        let record = try await incidentRecord(id)
        guard record.resolvedAt == nil else {
            throw NebulaError.conflict("The incident is already resolved.", code: "incident_resolved")
        }
        let check = try await CheckRecord.find(record.checkID, on: db)
        let live = await runtime.state(of: record.checkID)
        let stillFailing = (live?.status ?? check?.status) == .down
        await runtime.setIncident(record.checkID, incident: nil, suppressed: stillFailing)
        let now = Date()
        let cleaned = note.map { String($0.trimmingCharacters(in: .whitespacesAndNewlines).prefix(500)) }.flatMap { $0.isEmpty ? nil : $0 }
        try await db.transaction { tx in
            record.status = .resolved
            record.resolvedAt = now
            record.resolvedBy = actor.username
            try await record.save(on: tx)
            try await CheckRecord.query(on: tx).filter(\.$id == record.checkID).set(\.$openIncidentID, to: nil)
                .set(\.$incidentSuppressed, to: stillFailing).update()
            var message = "\(actor.username) resolved the incident" + (cleaned.map { ": \($0)" } ?? ".")
            if stillFailing { message += " The check still fails; no new incident opens until it has passed once." }
            try await Self.timeline(id, "resolved", message, actor: actor.username, at: now, on: tx)
        }
        try await audit.record("incident.resolve", target: "incident:\(id)", by: actor, detail: record.checkName)
        await publishIncident(.incidentResolved, record, config: check.map(CheckConfig.init), message: cleaned ?? "Resolved by \(actor.username).", actor: actor.username)
        return try await incident(id, by: actor)
    }

    /// Adds a line to an incident's timeline (runbook runs and notifications about it).
    func appendTimeline(_ incidentID: UUID, kind: String, message: String, actor: String?) async throws {
        guard try await IncidentRecord.find(incidentID, on: db) != nil else { return }
        try await Self.timeline(incidentID, kind, message, actor: actor, at: Date(), on: db)
    }

    private func openIncident(for check: CheckConfig, failures: Int, message: String, at: Date) async throws {
        let incident = IncidentRecord()
        let id = UUID()
        incident.id = id
        incident.checkID = check.id
        incident.checkName = check.name
        incident.kind = check.kind
        incident.status = .open
        incident.severity = check.severity
        incident.message = String(message.prefix(500))
        incident.openedAt = at
        do {
            try await db.transaction { tx in
                try await incident.create(on: tx)
                try await CheckRecord.query(on: tx).filter(\.$id == check.id).set(\.$openIncidentID, to: id).update()
                try await Self.timeline(id, "opened", "Opened after \(failures) failed check\(failures == 1 ? "" : "s") in a row: \(message)", actor: nil, at: at, on: tx)
            }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            // Another process opened one first: adopt it.
            let existing = try await IncidentRecord.query(on: db).filter(\.$checkID == check.id).filter(\.$resolvedAt == nil).first()
            await runtime.setIncident(check.id, incident: existing?.id)
            return
        }
        await runtime.setIncident(check.id, incident: id)
        await publishIncident(.incidentOpened, incident, config: check, message: message, actor: nil)
    }

    private func resolveAutomatically(_ id: UUID, check: CheckConfig, successes: Int, message: String, at: Date) async throws {
        guard let incident = try await IncidentRecord.find(id, on: db), incident.resolvedAt == nil else {
            await runtime.setIncident(check.id, incident: nil)
            return
        }
        try await db.transaction { tx in
            incident.status = .resolved
            incident.resolvedAt = at
            incident.resolvedBy = Self.systemActor.username
            try await incident.save(on: tx)
            try await CheckRecord.query(on: tx).filter(\.$id == check.id).set(\.$openIncidentID, to: nil).update()
            try await Self.timeline(id, "resolved", "Resolved after \(successes) successful check\(successes == 1 ? "" : "s") in a row: \(message)", actor: nil, at: at, on: tx)
        }
        await runtime.setIncident(check.id, incident: nil)
        await publishIncident(.incidentResolved, incident, config: check, message: message, actor: nil)
    }

    private func publishIncident(_ type: EventType, _ incident: IncidentRecord, config: CheckConfig?, message: String, actor: String?) async {
        var data = config?.targetFacts ?? [:]
        data["incidentID"] = incident.id?.uuidString ?? ""
        data["checkID"] = incident.checkID.uuidString
        data["check"] = incident.checkName
        data["kind"] = incident.kind.rawValue
        data["severity"] = incident.severity.rawValue
        data["message"] = String(message.prefix(500))
        await events.publish(type, actor: actor, subject: "incident:\(incident.id?.uuidString ?? "")", data: data)
    }

    static func timeline(_ incident: UUID, _ kind: String, _ message: String, actor: String?, at: Date, on database: any Database) async throws {
        let entry = IncidentEventRecord()
        entry.incidentID = incident
        entry.at = at
        entry.kind = kind
        entry.message = String(message.prefix(1000))
        entry.actor = actor
        try await entry.create(on: database)
    }

    private func incidentRecord(_ id: UUID) async throws -> IncidentRecord {
        guard let record = try await IncidentRecord.find(id, on: db) else { throw NebulaError.notFound("Incident \(id)") }
        return record
    }

    // MARK: Settings and the status page

    func settings() async throws -> MonitoringSettingsDTO {
        let record = try await MonitoringRollups(db: db).settingsRecord()
        return MonitoringSettingsDTO(statusPageEnabled: record.statusPageEnabled, statusPageTitle: record.statusPageTitle,
                                     rawRetentionHours: record.rawRetentionHours, rollupRetentionDays: record.rollupRetentionDays)
    }

    func updateSettings(_ input: MonitoringSettingsInput, by actor: Actor) async throws -> MonitoringSettingsDTO {
        try actor.require(.admin)
        let record = try await MonitoringRollups(db: db).settingsRecord()
        if let hours = input.rawRetentionHours {
            guard (2...720).contains(hours) else { throw CheckRules.fail("rawRetentionHours", "rawRetentionHours is 2–720.", code: "invalid_retention") }
            record.rawRetentionHours = hours
        }
        if let days = input.rollupRetentionDays {
            guard (31...3650).contains(days) else { throw CheckRules.fail("rollupRetentionDays", "rollupRetentionDays is 31–3650.", code: "invalid_retention") }
            record.rollupRetentionDays = days
        }
        if let title = input.statusPageTitle {
            let trimmed = title.trimmingCharacters(in: .whitespaces)
            guard (1...80).contains(trimmed.count) else { throw CheckRules.fail("statusPageTitle", "The title is 1–80 characters.", code: "invalid_title") }
            record.statusPageTitle = trimmed
        }
        if let enabled = input.statusPageEnabled { record.statusPageEnabled = enabled }
        try await record.save(on: db)
        try await audit.record("monitoring.settings.update", target: "monitoring", by: actor,
                               detail: "status page \(record.statusPageEnabled ? "on" : "off"), raw \(record.rawRetentionHours) h, rollups \(record.rollupRetentionDays) d")
        await events.publish(.settingsUpdated, actor: actor.username, subject: "monitoring", data: ["statusPage": record.statusPageEnabled ? "on" : "off"])
        return try await settings()
    }

    /// The public status page's checks, or nil when the page is switched off. No login needed:
    /// it shows names, status and uptime only, never targets or messages.
    func statusPage() async throws -> (title: String, checks: [CheckDTO])? {
        let settings = try await settings()
        guard settings.statusPageEnabled else { return nil }
        let records = try await CheckRecord.query(on: db).filter(\.$isPublic == true).sort(\.$name).all()
        let uptime = try await uptimes()
        return (settings.statusPageTitle, records.map { CheckDTO($0, uptime: uptime[$0.id ?? UUID()] ?? UptimeDTO()) })
    }

    // MARK: Retention

    /// Rolls results up into hours and prunes what is past its retention.
    func rollUpAndPrune(now: Date = Date()) async throws -> MonitoringRollups.Report {
        try await flush()
        let report = try await MonitoringRollups(db: db).rollUpAndPrune(now: now)
        await uptimeCache.invalidate()
        return report
    }
}

enum IncidentStatusFilter: String, Sendable {
    case all, open, resolved
}

/// The last computed uptime of every check, reused for 30 seconds: uptime over a month does not
/// move in seconds, and a page of a thousand checks then costs no aggregate query at all.
actor UptimeCache {
    private var cached: (at: Date, value: [UUID: UptimeDTO])?
    let lifetime: TimeInterval

    init(lifetime: TimeInterval = 30) { self.lifetime = lifetime }

    func value(now: Date) -> [UUID: UptimeDTO]? {
        guard let cached, now.timeIntervalSince(cached.at) < lifetime, now >= cached.at else { return nil }
        return cached.value
    }

    func store(_ value: [UUID: UptimeDTO], at: Date) { cached = (at, value) }
    func invalidate() { cached = nil }
}
