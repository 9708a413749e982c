import Fluent
import Foundation
import NebulaCore
import SQLKit
import Vapor

/// Runbooks and workflows: storing them (validated, versioned), starting runs (manual, alert,
/// event, schedule), approvals, cancelling, the global pause switch and the shipped library.
/// Reading needs the viewer role; every change the operator role. Changes are audited
/// (`runbook.*`, `workflow.*`, `automation.pause`) and published as events. The API, the pages
/// and the triggers all call this; ``RunbookEngine`` carries runs out as durable jobs.
struct AutomationService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let jobs: JobQueue
    let environment: AutomationEnvironment
    let library: RunbookLibrary

    static let pausedSettingKey = "automationPaused"

    // MARK: Reading

    func list(kind: RunbookDocument.Kind?, by actor: Actor) async throws -> [RunbookDTO] {
        try actor.require(.viewer)
        let query = RunbookRecord.query(on: db).sort(\.$name)
        if let kind { query.filter(\.$kind == kind.rawValue) }
        let records = try await query.all()
        let schedules = Dictionary(try await AutomationSchedule.query(on: db).all().map { ($0.runbookID, $0.nextFireAt) }, uniquingKeysWith: { first, _ in first })
        var result: [RunbookDTO] = []
        for record in records {
            let id = try record.requireID()
            let last = try await RunbookRun.query(on: db).filter(\.$runbookID == id).sort(\.$createdAt, .descending).first()
            result.append(RunbookDTO(record, lastRun: last, nextFireAt: schedules[id] ?? nil))
        }
        return result
    }

    func find(_ id: UUID, by actor: Actor) async throws -> RunbookDetailDTO {
        try actor.require(.viewer)
        let record = try await record(id)
        let last = try await RunbookRun.query(on: db).filter(\.$runbookID == id).sort(\.$createdAt, .descending).first()
        let next = try await AutomationSchedule.query(on: db).filter(\.$runbookID == id).first()?.nextFireAt
        let document = try? RunbookParser.parse(yaml: record.yaml)
        return RunbookDetailDTO(
            runbook: RunbookDTO(record, lastRun: last, nextFireAt: next), yaml: record.yaml,
            inputs: document?.inputs.map { .init(name: $0.name, type: $0.type.rawValue, required: $0.required, defaultValue: $0.defaultValue, description: $0.description) } ?? [],
            steps: document?.steps.map { .init(id: $0.id, name: $0.name, action: $0.action, needs: document?.dependencies[$0.id] ?? []) } ?? [])
    }

    /// Every problem in `yaml`, or none. Reads only.
    func validate(yaml: String) -> [RunbookProblem] {
        switch RunbookParser.check(yaml: yaml) {
        case .success: []
        case .failure(let problems): problems.problems
        }
    }

    // MARK: Changing runbooks

    /// Stores a new runbook (or workflow); an invalid one is refused with every problem and nothing is saved.
    func create(yaml: String, expecting kind: RunbookDocument.Kind? = nil, libraryName: String? = nil, by actor: Actor) async throws -> RunbookDTO {
        try actor.require(.operator)
        let document = try RunbookParser.parse(yaml: yaml)
        try Self.check(document, expecting: kind)
        guard try await RunbookRecord.query(on: db).filter(\.$name == document.name).first() == nil else {
            throw NebulaError.conflict("A runbook or workflow named '\(document.name)' already exists; change its name: or edit that one.", code: "name_taken")
        }
        let record = RunbookRecord()
        record.id = UUID()
        record.version = 1
        record.enabled = true
        record.libraryName = libraryName
        record.createdBy = actor.username
        Self.fill(record, from: document, yaml: yaml, by: actor)
        try await db.transaction { tx in
            try await record.create(on: tx)
            try await Self.syncSchedule(of: record, document: document, on: tx)
        }
        let noun = document.kind == .workflow ? "workflow" : "runbook"
        try await audit.record("\(noun).create", target: "\(noun):\(document.name)", by: actor, detail: libraryName.map { "from the library (\($0))" } ?? "version 1")
        await events.publish(document.kind == .workflow ? .workflowCreated : .runbookCreated, actor: actor.username, subject: "\(noun):\(document.name)",
                             data: ["id": try record.requireID().uuidString, "name": document.name])
        return RunbookDTO(record, lastRun: nil, nextFireAt: try await AutomationSchedule.query(on: db).filter(\.$runbookID == record.requireID()).first()?.nextFireAt)
    }

    /// Replaces the YAML (a new version; running runs keep theirs) and/or switches it on or off.
    func update(_ id: UUID, yaml: String?, enabled: Bool?, by actor: Actor) async throws -> RunbookDTO {
        try actor.require(.operator)
        let record = try await record(id)
        let kind = RunbookDocument.Kind(rawValue: record.kind) ?? .runbook
        var document = try? RunbookParser.parse(yaml: record.yaml)
        if let yaml {
            let parsed = try RunbookParser.parse(yaml: yaml)
            try Self.check(parsed, expecting: kind)
            if parsed.name != record.name, try await RunbookRecord.query(on: db).filter(\.$name == parsed.name).first() != nil {
                throw NebulaError.conflict("A runbook or workflow named '\(parsed.name)' already exists.", code: "name_taken")
            }
            Self.fill(record, from: parsed, yaml: yaml, by: actor)
            record.version += 1
            document = parsed
        }
        if let enabled { record.enabled = enabled }
        record.updatedBy = actor.username
        let saved = document
        try await db.transaction { tx in
            try await record.update(on: tx)
            if let saved { try await Self.syncSchedule(of: record, document: saved, on: tx) }
        }
        let noun = kind == .workflow ? "workflow" : "runbook"
        try await audit.record("\(noun).update", target: "\(noun):\(record.name)", by: actor,
                               detail: [yaml != nil ? "version \(record.version)" : nil, enabled.map { $0 ? "enabled" : "disabled" }].compactMap { $0 }.joined(separator: ", "))
        await events.publish(kind == .workflow ? .workflowUpdated : .runbookUpdated, actor: actor.username, subject: "\(noun):\(record.name)",
                             data: ["id": id.uuidString, "name": record.name, "version": String(record.version)])
        let last = try await RunbookRun.query(on: db).filter(\.$runbookID == id).sort(\.$createdAt, .descending).first()
        return RunbookDTO(record, lastRun: last, nextFireAt: try await AutomationSchedule.query(on: db).filter(\.$runbookID == id).first()?.nextFireAt)
    }

    /// Deletes a runbook with its runs and schedule; refused while one of its runs is active.
    func delete(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let record = try await record(id)
        if try await RunbookRun.query(on: db).filter(\.$runbookID == id).filter(\.$status ~~ [.running, .waitingApproval]).first() != nil {
            throw NebulaError.conflict("\(record.name) has a run in progress; cancel it first.", code: "runbook_busy")
        }
        try await db.transaction { tx in
            let runs = try await RunbookRun.query(on: tx).filter(\.$runbookID == id).all().compactMap(\.id)
            if !runs.isEmpty {
                try await RunLogLine.query(on: tx).filter(\.$runID ~~ runs).delete()
                try await RunStepRecord.query(on: tx).filter(\.$runID ~~ runs).delete()
                try await RunbookRun.query(on: tx).filter(\.$runbookID == id).delete()
            }
            try await AutomationSchedule.query(on: tx).filter(\.$runbookID == id).delete()
            try await record.delete(on: tx)
        }
        let noun = record.kind == "workflow" ? "workflow" : "runbook"
        try await audit.record("\(noun).delete", target: "\(noun):\(record.name)", by: actor)
        await events.publish(noun == "workflow" ? .workflowDeleted : .runbookDeleted, actor: actor.username, subject: "\(noun):\(record.name)",
                             data: ["id": id.uuidString, "name": record.name])
    }

    static func check(_ document: RunbookDocument, expecting kind: RunbookDocument.Kind?) throws {
        guard let kind, document.kind != kind else { return }
        throw RunbookProblems(problems: [RunbookProblem(path: "kind", message: kind == .workflow
            ? "this is a runbook; workflows say kind: workflow (or import it under /api/v1/runbooks)"
            : "this is a workflow (kind: workflow); import it under /api/v1/workflows")])
    }

    static func fill(_ record: RunbookRecord, from document: RunbookDocument, yaml: String, by actor: Actor) {
        record.name = document.name
        record.kind = document.kind.rawValue
        record.summary = document.description
        record.tier = document.tier?.rawValue
        record.triggerType = document.trigger.type.rawValue
        record.triggerEvent = switch document.trigger.type {
        case .alert: "incident.opened"
        case .event: document.trigger.event
        default: nil
        }
        record.yaml = yaml
        record.updatedBy = actor.username
    }

    /// Keeps the schedule row in step with the runbook: created or recomputed from now on every
    /// change of a schedule trigger (or enabling), removed otherwise.
    static func syncSchedule(of record: RunbookRecord, document: RunbookDocument, on db: any Database, now: Date = Date()) async throws {
        let id = try record.requireID()
        let existing = try await AutomationSchedule.query(on: db).filter(\.$runbookID == id).first()
        guard record.enabled, document.trigger.type == .schedule, let cron = document.trigger.cron else {
            try await existing?.delete(on: db)
            return
        }
        let zoneName = document.trigger.timezone ?? "UTC"
        let zone = TimeZone(identifier: zoneName) ?? TimeZone(secondsFromGMT: 0) ?? .current
        let schedule = existing ?? AutomationSchedule()
        schedule.runbookID = id
        schedule.cron = cron
        schedule.timezone = zoneName
        schedule.misfire = document.trigger.misfire.rawValue
        schedule.nextFireAt = (try? CronSchedule(parsing: cron, timeZone: zone))?.nextFire(after: now)
        if existing == nil { try await schedule.create(on: db) } else { try await schedule.update(on: db) }
    }

    // MARK: Runs

    /// Starts a run by hand (or a dry run). Refused with 409 while automation is paused.
    func start(_ id: UUID, dryRun: Bool, inputs: [String: TemplateValue], by actor: Actor) async throws -> RunSummaryDTO {
        try actor.require(.operator)
        let record = try await record(id)
        guard !(try await isPaused()) || dryRun else {
            try await audit.record("runbook.run", target: "runbook:\(record.name)", outcome: .failure, by: actor, detail: "automation paused")
            throw NebulaError.conflict("Automation is paused; resume it (PUT /api/v1/automation/paused) to start runs. A dry run still works.", code: "automation_paused")
        }
        let document = try RunbookParser.parse(yaml: record.yaml)
        let resolved = try RunbookInputs.resolve(inputs, declared: document.inputs)
        let run = try await createRun(record, document: document, trigger: "manual", context: ["trigger": ["type": "manual", "by": .string(actor.username)]],
                                      inputs: resolved, dryRun: dryRun, incidentID: nil, sourceEvent: nil, by: actor)
        return RunSummaryDTO(run)
    }

    /// Starts a run for a trigger (alert, event, schedule): recorded `skipped` while automation is
    /// paused, or when the same event already started one (another replica).
    @discardableResult
    func trigger(_ record: RunbookRecord, document: RunbookDocument, kind: String, context: [String: TemplateValue], incidentID: UUID?,
                 sourceEvent: Int64?) async throws -> RunbookRun? {
        let actor = Actor.system("automation")
        if let sourceEvent, try await RunbookRun.query(on: db).filter(\.$runbookID == record.requireID()).filter(\.$sourceEvent == sourceEvent).first() != nil {
            return nil
        }
        if try await isPaused() {
            return try await recordSkipped(record, trigger: kind, context: context, inputs: [:], incidentID: incidentID, sourceEvent: sourceEvent,
                                           reason: "automation paused")
        }
        do {
            // A triggered run has only the inputs' defaults; a required input without one skips it, with the reason.
            let inputs = try RunbookInputs.resolve([:], declared: document.inputs)
            return try await createRun(record, document: document, trigger: kind, context: context, inputs: inputs, dryRun: false, incidentID: incidentID,
                                       sourceEvent: sourceEvent, by: actor)
        } catch let error as NebulaError where error.code == "invalid_inputs" {
            return try await recordSkipped(record, trigger: kind, context: context, inputs: [:], incidentID: incidentID, sourceEvent: sourceEvent,
                                           reason: error.message)
        }
    }

    /// Creates the run and its pending journal, applies the concurrency policy, queues its job.
    private func createRun(_ record: RunbookRecord, document: RunbookDocument, trigger: String, context: [String: TemplateValue],
                           inputs: [String: TemplateValue], dryRun: Bool, incidentID: UUID?, sourceEvent: Int64?, by actor: Actor) async throws -> RunbookRun {
        let run = try Self.newRun(record, trigger: trigger, context: context, inputs: inputs, dryRun: dryRun, status: .queued,
                                  incidentID: incidentID, sourceEvent: sourceEvent, by: actor.username)
        var holder: RunbookRun?
        if let concurrency = document.concurrency {
            var values = context
            values["inputs"] = .object(inputs)
            values["run"] = ["id": .string(run.id?.uuidString ?? ""), "runbook": .string(record.name), "dry_run": .bool(dryRun)]
            do {
                let key = try Template(parsing: concurrency.key).render(TemplateContext(values))
                run.concurrencyKey = "\(record.name):\(key)"
            } catch {
                run.status = .failed
                run.error = "the concurrency key cannot be rendered: \(error.message)"
                run.finishedAt = Date()
            }
            if let key = run.concurrencyKey, !dryRun {
                holder = try await RunbookRun.query(on: db).filter(\.$concurrencyKey == key).filter(\.$dryRun == false)
                    .filter(\.$status ~~ [.queued, .running, .waitingApproval, .paused]).sort(\.$createdAt).first()
                if let holder, concurrency.policy == .skip {
                    run.status = .skipped
                    run.error = "another run (\(holder.id?.uuidString ?? "?")) holds the concurrency key \(key)"
                    run.finishedAt = Date()
                }
            }
        }
        let steps = document.steps
        try await db.transaction { tx in
            try await run.create(on: tx)
            for (position, step) in steps.enumerated() {
                let row = RunStepRecord()
                row.runID = try run.requireID()
                row.stepID = step.id
                row.position = position
                row.name = step.name
                row.action = step.action
                row.attempt = 0
                row.status = run.status == .queued ? .pending : .skipped
                if run.status != .queued { row.note = run.error }
                try await row.create(on: tx)
            }
        }
        let runID = try run.requireID()
        let noun = record.kind == "workflow" ? "workflow" : "runbook"
        try await audit.record("\(noun).run", target: "\(noun):\(record.name)", outcome: run.status == .queued ? .success : .failure, by: actor,
                               detail: "run \(runID) (\(trigger)\(dryRun ? ", dry run" : ""))" + (run.error.map { ": \($0)" } ?? ""))
        if run.status != .queued {
            await events.publish(record.kind == "workflow" ? .workflowRunFinished : .runbookRunFinished, actor: actor.username, subject: "run:\(runID)",
                                 data: RunbookEngine.finishedData(run))
            return run
        }
        if holder == nil {
            try await enqueue(run, by: actor)
        } else {
            try await log(runID, step: nil, "waiting for run \(holder?.id?.uuidString ?? "?") to end (concurrency key \(run.concurrencyKey ?? ""))")
        }
        return run
    }

    private func recordSkipped(_ record: RunbookRecord, trigger: String, context: [String: TemplateValue], inputs: [String: TemplateValue],
                               incidentID: UUID?, sourceEvent: Int64?, reason: String) async throws -> RunbookRun {
        let run = try Self.newRun(record, trigger: trigger, context: context, inputs: inputs, dryRun: false, status: .skipped,
                                  incidentID: incidentID, sourceEvent: sourceEvent, by: "automation")
        run.error = reason
        run.finishedAt = Date()
        try await run.create(on: db)
        try await audit.record("runbook.run", target: "runbook:\(record.name)", outcome: .failure, by: .system("automation"),
                               detail: "run \(try run.requireID()) (\(trigger)) skipped: \(reason)")
        await events.publish(.runbookRunFinished, actor: "automation", subject: "run:\(try run.requireID())", data: RunbookEngine.finishedData(run))
        return run
    }

    /// A run of the runbook's current version, not saved yet.
    private static func newRun(_ record: RunbookRecord, trigger: String, context: [String: TemplateValue], inputs: [String: TemplateValue],
                               dryRun: Bool, status: RunStatus, incidentID: UUID?, sourceEvent: Int64?, by creator: String) throws -> RunbookRun {
        let run = RunbookRun()
        run.id = UUID()
        run.runbookID = try record.requireID()
        run.runbookName = record.name
        run.version = record.version
        run.yaml = record.yaml
        run.trigger = trigger
        run.context = TemplateValue.object(context).storedJSON
        run.inputs = TemplateValue.object(inputs).storedJSON
        run.vars = "{}"
        run.dryRun = dryRun
        run.status = status
        run.incidentID = incidentID
        run.sourceEvent = sourceEvent
        run.cancelRequested = false
        run.createdBy = creator
        run.createdAt = Date()
        return run
    }

    /// Queues the job that carries the run out (again, after an approval or a pause).
    func enqueue(_ run: RunbookRun, by actor: Actor) async throws {
        let payload = String(decoding: try JSONEncoder().encode(RunbookRunJob.Payload(run: try run.requireID())), as: UTF8.self)
        let job = try await jobs.enqueue(type: RunbookRunJob.jobType, payload: payload, maxAttempts: RunbookRunJob.attempts, by: .system("automation"))
        run.jobID = job.id
        run.status = .queued
        try await run.update(on: db)
    }

    /// Deletes runs that ended before `cutoff`, with their journal and log (retention).
    @Sendable func deleteRuns(finishedBefore cutoff: Date) async throws -> Int {
        let final = RunStatus.allCases.filter(\.isFinal)
        let query = RunbookRun.query(on: db).filter(\.$finishedAt < cutoff).filter(\.$status ~~ final)
        let count = try await query.count()
        try await query.delete()
        return count
    }

    func runs(runbook: UUID?, status: RunStatus? = nil, limit: Int = 50, by actor: Actor) async throws -> [RunSummaryDTO] {
        try actor.require(.viewer)
        let query = RunbookRun.query(on: db).sort(\.$createdAt, .descending).limit(max(1, min(limit, 500)))
        if let runbook { query.filter(\.$runbookID == runbook) }
        if let status { query.filter(\.$status == status) }
        return try await query.all().map(RunSummaryDTO.init)
    }

    func run(_ id: UUID, by actor: Actor) async throws -> RunDetailDTO {
        try actor.require(.viewer)
        let run = try await runRecord(id)
        let steps = try await RunStepRecord.query(on: db).filter(\.$runID == id).sort(\.$position).all()
        let log = try await logLines(id, after: 0)
        return RunDetailDTO(run: RunSummaryDTO(run), inputs: .fromJSON(run.inputs), vars: .fromJSON(run.vars), steps: steps.map(RunStepDTO.init), log: log)
    }

    func logLines(_ runID: UUID, after: Int, limit: Int = 2000) async throws -> [RunLogLineDTO] {
        try await RunLogLine.query(on: db).filter(\.$runID == runID).filter(\.$id > after).sort(\.$id).limit(limit).all()
            .map { RunLogLineDTO(id: $0.id ?? 0, at: $0.at, step: $0.stepID, line: $0.line) }
    }

    func log(_ runID: UUID, step: String?, _ line: String) async throws {
        let entry = RunLogLine()
        entry.runID = runID
        entry.at = Date()
        entry.stepID = step
        entry.line = String(line.prefix(4000))
        try await entry.create(on: db)
        await events.broadcast(.runbookRunProgress, subject: "run:\(runID)", data: ["runID": runID.uuidString, "step": step ?? "", "line": entry.line,
                                                                                      "lineID": String(entry.id ?? 0)])
    }

    // MARK: Approvals and cancelling

    /// Approves the step the run waits at; the run continues in a new job.
    func approve(_ id: UUID, by actor: Actor) async throws -> RunSummaryDTO {
        try await decide(id, approved: true, reason: nil, by: actor)
    }

    /// Rejects it: the approval step fails, and the run ends failed (unless the step may fail).
    func reject(_ id: UUID, by actor: Actor) async throws -> RunSummaryDTO {
        try await decide(id, approved: false, reason: "rejected by \(actor.username)", by: actor)
    }

    func decide(_ id: UUID, approved: Bool, reason: String?, by actor: Actor) async throws -> RunSummaryDTO {
        let verb = approved ? "approve" : "reject"
        let run = try await runRecord(id)
        let document = try? RunbookParser.parse(yaml: run.yaml)
        let step = document?.steps.first { $0.id == run.approvalStep }
        let needed = Role(rawValue: step?.params.text("approvers") ?? "operator") ?? .operator
        do {
            try actor.require(needed)
        } catch {
            try await audit.record("runbook.run.\(verb)", target: "run:\(id)", outcome: .denied, by: actor)
            throw error
        }
        guard run.status == .waitingApproval, let stepID = run.approvalStep,
              let row = try await RunStepRecord.query(on: db).filter(\.$runID == id).filter(\.$stepID == stepID).first() else {
            throw NebulaError.conflict("Run \(id) is not waiting for an approval (it is \(run.status.rawValue)).", code: "not_waiting_approval")
        }
        row.status = approved ? .succeeded : .failed
        row.output = TemplateValue.object(["approved": .bool(approved), "by": .string(actor.username)]).storedJSON
        row.error = approved ? nil : reason
        row.finishedAt = Date()
        try await row.update(on: db)
        run.approvalStep = nil
        run.approvalDeadline = nil
        try await log(id, step: stepID, approved ? "approved by \(actor.username)" : (reason ?? "rejected"))
        try await enqueue(run, by: actor)
        try await audit.record("runbook.run.\(verb)", target: "run:\(id)", by: actor, detail: "\(run.runbookName) step \(stepID)" + (reason.map { ": \($0)" } ?? ""))
        return RunSummaryDTO(run)
    }

    /// Cancels a run: at once when it waits (queued, paused, for approval); a running one stops at
    /// its current step (the step is cancelled, nothing after it runs).
    func cancel(_ id: UUID, by actor: Actor) async throws -> RunSummaryDTO {
        try actor.require(.operator)
        let run = try await runRecord(id)
        guard !run.status.isFinal else {
            throw NebulaError.conflict("Run \(id) already \(run.status.rawValue).", code: "run_finished")
        }
        run.cancelRequested = true
        try await run.update(on: db)
        if run.status == .running, let job = run.jobID {
            _ = try? await jobs.cancel(job, by: .system("automation"))
        } else {
            if let job = run.jobID { _ = try? await jobs.cancel(job, by: .system("automation")) }
            try await RunbookEngine(service: self).finish(run, status: .cancelled, error: "cancelled by \(actor.username)")
        }
        try await audit.record("runbook.run.cancel", target: "run:\(id)", by: actor, detail: run.runbookName)
        return RunSummaryDTO(try await runRecord(id))
    }

    // MARK: Pause

    func isPaused() async throws -> Bool {
        try await SettingRecord.find(Self.pausedSettingKey, on: db)?.value == "true"
    }

    /// Pauses or resumes all automation. Paused: triggered runs are recorded `skipped`, manual runs
    /// are refused, running runs stop before their next step. Resumed: paused runs continue.
    func setPaused(_ paused: Bool, by actor: Actor) async throws -> AutomationPausedDTO {
        try actor.require(.operator)
        if let existing = try await SettingRecord.find(Self.pausedSettingKey, on: db) {
            existing.value = paused ? "true" : "false"
            try await existing.update(on: db)
        } else {
            try await SettingRecord(key: Self.pausedSettingKey, value: paused ? "true" : "false").create(on: db)
        }
        try await audit.record("automation.pause", target: "automation", by: actor, detail: paused ? "paused" : "resumed")
        await events.publish(.automationPausedChanged, actor: actor.username, subject: "automation", data: ["paused": paused ? "true" : "false"])
        if !paused {
            for run in try await RunbookRun.query(on: db).filter(\.$status == .paused).all() {
                try await log(try run.requireID(), step: nil, "automation resumed by \(actor.username)")
                try await enqueue(run, by: actor)
            }
        }
        return AutomationPausedDTO(paused: paused)
    }

    // MARK: Library

    func libraryEntries(by actor: Actor) async throws -> [LibraryRunbookDTO] {
        try actor.require(.viewer)
        let installed = Dictionary(try await RunbookRecord.query(on: db).all().compactMap { record in record.libraryName.map { ($0, record.id) } },
                                   uniquingKeysWith: { first, _ in first })
        return library.entries.map { entry in
            LibraryRunbookDTO(name: entry.document.name, kind: entry.document.kind.rawValue, tier: entry.document.tier?.rawValue,
                              description: entry.document.description, trigger: entry.document.trigger.type.rawValue, yaml: entry.yaml,
                              installedId: installed[entry.document.name] ?? nil)
        }
    }

    func install(library name: String, by actor: Actor) async throws -> RunbookDTO {
        try actor.require(.operator)
        guard let entry = library.entries.first(where: { $0.document.name == name }) else { throw NebulaError.notFound("Library runbook \(name)") }
        return try await create(yaml: entry.yaml, libraryName: name, by: actor)
    }

    // MARK: Records

    func record(_ id: UUID) async throws -> RunbookRecord {
        guard let record = try await RunbookRecord.find(id, on: db) else { throw NebulaError.notFound("Runbook \(id)") }
        return record
    }

    func runRecord(_ id: UUID) async throws -> RunbookRun {
        guard let run = try await RunbookRun.find(id, on: db) else { throw NebulaError.notFound("Run \(id)") }
        return run
    }
}

extension RunbookProblems: APIErrorConvertible {
    /// Where a caller does not answer with the located problems itself: 422 with paths.
    var apiError: NebulaError {
        var error = NebulaError.unprocessable("The runbook has problems: " + problems.prefix(3).map(\.description).joined(separator: "; "), code: "invalid_runbook")
        error.problems = problems.map { problem in
            FieldProblem(path: problem.path, message: (problem.line.map { "line \($0): " } ?? "") + problem.message)
        }
        return error
    }
}
