import Fluent
import Foundation
import NebulaCore

/// `automation.run`: carries out one run. A run survives restarts because the job is durable
/// (a dead worker's job is claimed again when its lease expires) and the run's journal says
/// which steps already ended; see ``RunbookEngine``.
struct RunbookRunJob: JobHandler {
    static let jobType = "automation.run"
    /// Each crash of the process running it costs one attempt.
    static let attempts = 10
    let type = RunbookRunJob.jobType
    let maxAttempts = RunbookRunJob.attempts
    let backoff = RetryBackoff(base: .milliseconds(500), cap: .seconds(10))
    let automation: AutomationService

    struct Payload: Codable, Sendable {
        var run: UUID
    }

    func run(_ job: JobContext) async throws {
        let payload = try job.decodePayload(Payload.self)
        try await RunbookEngine(service: automation).execute(payload.run, attempt: job.attempt)
    }
}

/// Runs steps in dependency order (a runbook's in sequence, a workflow's ready steps at once,
/// at most ``maxParallel``), journaling each step before and after it runs.
///
/// - A step whose condition is false is skipped. After a step fails (without
///   `continue_on_failure`), the steps depending on it are skipped — except those whose
///   condition looks at step results (`{{ steps.x.failed }}`): they are the failure handlers.
///   The run then ends `failed`.
/// - On resume after a crash, ended steps are not run again; a step found `running` is run
///   again only when its action is idempotent, otherwise the run fails saying so.
/// - Before each step: cancelled → `cancelled`; automation paused → `paused` (the job ends; a
///   new one continues when automation is resumed); past the run timeout → `failed`.
/// - An approval step parks the run (`waiting_approval`) and ends the job; a decision queues a new one.
struct RunbookEngine: Sendable {
    let service: AutomationService
    static let maxParallel = 4

    var db: any Database { service.db }

    func execute(_ runID: UUID, attempt: Int = 1) async throws {
        guard let run = try await RunbookRun.find(runID, on: db) else { return }
        guard !run.status.isFinal, run.status != .waitingApproval else { return }
        let document: RunbookDocument
        do {
            document = try RunbookParser.parse(yaml: run.yaml)
        } catch {
            try await finish(run, status: .failed, error: "the runbook's YAML no longer parses: \(error.description.prefix(500))")
            return
        }
        if run.cancelRequested {
            try await finish(run, status: .cancelled, error: "cancelled")
            return
        }
        if try await service.isPaused(), !run.dryRun {
            try await park(run, paused: true)
            return
        }
        let firstStart = run.startedAt == nil
        if firstStart { run.startedAt = Date() }
        run.status = .running
        try await run.update(on: db)
        if firstStart {
            try await service.log(runID, step: nil, "run started (\(run.trigger)\(run.dryRun ? ", dry run: nothing will change" : ""))")
            await service.events.publish(document.kind == .workflow ? .workflowRunStarted : .runbookRunStarted, actor: run.createdBy, subject: "run:\(runID)",
                                         data: Self.startedData(run))
        } else {
            try await service.log(runID, step: nil, "run continues (job attempt \(attempt))")
        }
        await progress(run)

        // Crash recovery: a step left `running` was interrupted.
        var journal = try await loadJournal(runID)
        for row in journal.values where row.status == .running {
            guard let step = document.steps.first(where: { $0.id == row.stepID }), let action = RunbookActions.byName[step.action] else { continue }
            if step.action == "approval" {
                row.status = .pending
                try await row.update(on: db)
                continue
            }
            let params = row.params.map { TemplateValue.fromJSON($0).objectValue ?? [:] } ?? step.params
            if action.isIdempotent(params) || run.dryRun {
                try await service.log(runID, step: step.id, "the step \(step.id) was interrupted; running it again (\(step.action) is safe to repeat)")
                row.status = .pending
                try await row.update(on: db)
            } else {
                let reason = "interrupted while step \(step.id) was running; not retried because it may have had side effects"
                row.status = .failed
                row.error = "interrupted (the control plane stopped while it ran); not retried because it may have had side effects"
                row.finishedAt = Date()
                try await row.update(on: db)
                try await finish(run, status: .failed, error: reason)
                return
            }
        }

        let dependencies = document.dependencies
        let started = run.startedAt ?? Date()
        do {
            while true {
                journal = try await loadJournal(runID)
                guard let fresh = try await RunbookRun.find(runID, on: db) else { return }
                if fresh.cancelRequested {
                    try await finish(fresh, status: .cancelled, error: "cancelled")
                    return
                }
                let pending = document.steps.filter { journal[$0.id]?.status == .pending }
                // A run with nothing left to do ends now, even when automation was paused meanwhile.
                if pending.isEmpty { break }
                if try await service.isPaused(), !fresh.dryRun {
                    try await park(fresh, paused: true)
                    return
                }
                // Time spent waiting for a person to approve does not count against the run timeout.
                let waited = journal.values.filter { $0.action == "approval" }.reduce(0.0) { total, row in
                    total + (row.startedAt.map { (row.finishedAt ?? Date()).timeIntervalSince($0) } ?? 0)
                }
                let deadline = started.addingTimeInterval(Double(document.timeoutSeconds) + waited)
                if Date() > deadline {
                    try await skipRemaining(journal, note: "the run timed out")
                    try await finish(fresh, status: .failed, error: "the run timed out after \(document.timeoutSeconds) s")
                    return
                }
                let ready = pending.filter { step in (dependencies[step.id] ?? []).allSatisfy { journal[$0]?.status.isDone ?? true } }
                guard !ready.isEmpty else {
                    try await skipRemaining(journal, note: "its needs never ended")
                    break
                }
                let blocked = blockedSteps(document: document, journal: journal)
                let wave = Array(ready.prefix(document.kind == .workflow ? Self.maxParallel : 1))
                let vars = TemplateValue.fromJSON(fresh.vars).objectValue ?? [:]
                let context = baseContext(fresh, journal: journal, vars: vars)
                let remaining = deadline.timeIntervalSinceNow
                let outcomes = try await withThrowingTaskGroup(of: (String, StepOutcome).self) { group in
                    for step in wave {
                        guard let row = journal[step.id] else { continue }
                        let isBlocked = (dependencies[step.id] ?? []).contains { blocked.contains($0) }
                        group.addTask {
                            (step.id, try await self.runStep(step, row: row, run: fresh, context: context, blocked: isBlocked, remaining: remaining))
                        }
                    }
                    var outcomes: [(String, StepOutcome)] = []
                    for try await outcome in group { outcomes.append(outcome) }
                    return outcomes
                }
                var newVars = vars
                var parked: (String, Date)?
                for (_, outcome) in outcomes {
                    switch outcome {
                    case .done(let setVars): newVars.merge(setVars) { $1 }
                    case .park(let step, let until): parked = (step, until)
                    }
                }
                if newVars != vars {
                    fresh.vars = TemplateValue.object(newVars).storedJSON
                    try await fresh.update(on: db)
                }
                if let parked {
                    fresh.approvalStep = parked.0
                    fresh.approvalDeadline = parked.1
                    try await fresh.update(on: db)
                    try await park(fresh, paused: false)
                    return
                }
            }
        } catch is CancellationError {
            // Cancelled by a person (the job was cancelled for it), or the process is stopping
            // (then the job is given back and the run resumes from its journal).
            if let fresh = try? await RunbookRun.find(runID, on: db), fresh.cancelRequested {
                for row in try await loadJournal(runID).values where row.status == .running {
                    row.status = .failed
                    row.error = "cancelled"
                    row.finishedAt = Date()
                    try await row.update(on: db)
                }
                try await skipRemaining(try await loadJournal(runID), note: "the run was cancelled")
                try await finish(fresh, status: .cancelled, error: "cancelled")
                return
            }
            throw CancellationError()
        }
        guard let done = try await RunbookRun.find(runID, on: db) else { return }
        journal = try await loadJournal(runID)
        let failures = document.steps.filter { step in journal[step.id]?.status == .failed && !step.continueOnFailure }
        if let first = failures.first {
            try await finish(done, status: .failed, error: "step \(first.id) failed: \(journal[first.id]?.error ?? "no reason recorded")")
        } else {
            try await finish(done, status: .succeeded, error: nil)
        }
    }

    enum StepOutcome: Sendable {
        /// Ended (any way); the variables a `set` step set.
        case done([String: TemplateValue])
        /// An approval step: wait for a decision until this time.
        case park(String, Date)
    }

    /// Steps that failed without `continue_on_failure`, and (transitively) those skipped because of one.
    func blockedSteps(document: RunbookDocument, journal: [String: RunStepRecord]) -> Set<String> {
        var blocked = Set<String>()
        let byID = Dictionary(document.steps.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for step in document.steps {
            guard let row = journal[step.id] else { continue }
            if row.status == .failed && !(byID[step.id]?.continueOnFailure ?? false) { blocked.insert(step.id) }
            if row.status == .skipped, row.note?.hasPrefix(Self.blockedNote) == true { blocked.insert(step.id) }
        }
        return blocked
    }

    static let blockedNote = "skipped: an earlier step failed"

    /// What every step's templates see, before the step's own secrets are added.
    func baseContext(_ run: RunbookRun, journal: [String: RunStepRecord], vars: [String: TemplateValue]) -> [String: TemplateValue] {
        var values = TemplateValue.fromJSON(run.context).objectValue ?? [:]
        values["inputs"] = .fromJSON(run.inputs)
        values["vars"] = .object(vars)
        values["run"] = ["id": .string(run.id?.uuidString ?? ""), "runbook": .string(run.runbookName), "dry_run": .bool(run.dryRun),
                         "trigger": .string(run.trigger)]
        var steps: [String: TemplateValue] = [:]
        for (id, row) in journal {
            let output = row.output.map { TemplateValue.fromJSON($0) } ?? .null
            var entry: [String: TemplateValue] = output.objectValue ?? [:]
            entry["ok"] = .bool(row.status == .succeeded)
            entry["failed"] = .bool(row.status == .failed)
            entry["skipped"] = .bool(row.status == .skipped)
            entry["status"] = .string(row.status.rawValue)
            entry["error"] = row.error.map { .string($0) } ?? .null
            entry["output"] = output
            entry["attempts"] = .number(Double(row.attempt))
            steps[id] = .object(entry)
        }
        values["steps"] = .object(steps)
        return values
    }

    // MARK: One step

    func runStep(_ step: RunbookDocument.Step, row: RunStepRecord, run: RunbookRun, context base: [String: TemplateValue], blocked: Bool,
                 remaining: TimeInterval) async throws -> StepOutcome {
        let runID = try run.requireID()
        guard let action = RunbookActions.byName[step.action] else {
            try await end(row, .failed, error: "unknown action \(step.action)")
            return .done([:])
        }
        // The condition decides; after a failure only failure handlers (conditions on step results) run.
        let context = TemplateContext(base)
        if blocked {
            let handles = step.condition.map { (try? Condition(parsing: $0))?.references.contains { $0.hasPrefix("steps.") } ?? false } ?? false
            guard handles else {
                try await end(row, .skipped, note: Self.blockedNote)
                try await service.log(runID, step: step.id, "\(step.id): \(Self.blockedNote)")
                return .done([:])
            }
        }
        if let source = step.condition {
            do {
                let holds = try Condition(parsing: source).evaluate(context)
                if !holds {
                    let note = blocked ? Self.blockedNote : "skipped: the condition \(source) is false"
                    try await end(row, .skipped, note: note)
                    try await service.log(runID, step: step.id, "\(step.id): \(note)")
                    return .done([:])
                }
            } catch {
                let message = (error as? ConditionError)?.message ?? NebulaErrorText.describe(error)
                try await end(row, .failed, error: "the condition cannot be evaluated: \(message)")
                try await service.log(runID, step: step.id, "\(step.id): the condition cannot be evaluated: \(message)")
                return .done([:])
            }
        }
        // Secrets the parameters name, read from the vault for this step only (never in a dry run).
        let secretNames = Self.secretReferences(in: .object(step.params))
        var secretValues: [String: TemplateValue] = [:]
        var masked: [String] = []
        for name in secretNames {
            if run.dryRun {
                secretValues[name] = "••••"
                continue
            }
            do {
                let value = try await service.environment.secrets.value(of: name)
                secretValues[name] = .string(value)
                if value.count >= 3 { masked.append(value) }
            } catch {
                try await end(row, .failed, error: "the secret \(name) cannot be read from the vault: \(NebulaErrorText.describe(error))")
                return .done([:])
            }
        }
        let secrets = masked
        let mask: @Sendable (String) -> String = { text in
            secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "••••") }
        }
        var values = base
        values["secrets"] = .object(secretValues)
        let params: [String: TemplateValue]
        do {
            params = try Self.render(.object(step.params), TemplateContext(values)).objectValue ?? [:]
        } catch let error as TemplateError {
            try await end(row, .failed, error: "a parameter cannot be rendered: \(error.message)")
            try await service.log(runID, step: step.id, "\(step.id): a parameter cannot be rendered: \(error.message)")
            return .done([:])
        }
        let maskedParams = Self.masked(.object(params), mask).storedJSON
        let timeout = Duration.milliseconds(Int64(max(1, min(Double(step.timeoutSeconds), remaining)) * 1000))
        let actionContext = ActionContext(environment: service.environment, runID: runID, runbook: run.runbookName, stepID: step.id, incidentID: run.incidentID,
                                          dryRun: run.dryRun, timeout: timeout, log: { line in try? await service.log(runID, step: step.id, mask(line)) }, mask: mask)

        if run.dryRun {
            let would = await action.dryRun(params, actionContext)
            row.params = maskedParams
            row.attempt = 1
            row.startedAt = Date()
            try await end(row, .succeeded, output: ["dry_run": true, "would": .string(mask(would))], note: mask(would))
            try await service.log(runID, step: step.id, "\(step.id): \(mask(would))")
            return .done(step.action == "set" ? params : [:])
        }
        if step.action == "approval" {
            let seconds = (try? params.seconds("timeout")) ?? nil
            let until = Date().addingTimeInterval(seconds ?? ApprovalAction.defaultTimeoutSeconds)
            row.status = .running
            row.attempt = 1
            row.params = maskedParams
            row.startedAt = Date()
            row.note = params.text("message") ?? "approve to continue"
            try await row.update(on: db)
            try await service.log(runID, step: step.id, "\(step.id): waiting for approval by an \(params.text("approvers") ?? "operator") until \(ISO8601DateFormatter().string(from: until))")
            return .park(step.id, until)
        }

        var attempt = row.attempt
        while true {
            attempt += 1
            row.attempt = attempt
            row.status = .running
            row.params = maskedParams
            row.error = nil
            row.startedAt = row.startedAt ?? Date()
            try await row.update(on: db)
            await progress(run, step: step.id, status: "running")
            try await service.log(runID, step: step.id, "\(step.id): \(step.action)" + (step.retries.attempts > 1 ? " (attempt \(attempt) of \(step.retries.attempts))" : ""))
            do {
                let output = try await Self.withTimeout(timeout, step: step.id) { try await action.run(params, actionContext) }
                try await end(row, .succeeded, output: Self.masked(output, mask))
                await progress(run, step: step.id, status: "succeeded")
                return .done(step.action == "set" ? (output.objectValue ?? [:]) : [:])
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let message = mask(Self.describe(error))
                if let withOutput = error as? ActionFailureWithOutput { row.output = Self.masked(withOutput.output, mask).storedJSON }
                if attempt < step.retries.attempts {
                    let delay = step.retries.delay(afterAttempt: attempt)
                    row.error = message
                    try await row.update(on: db)
                    try await service.log(runID, step: step.id, "\(step.id): attempt \(attempt) failed: \(message); retrying in \(delay.fixed(1, trimmingZeros: true)) s")
                    try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
                    continue
                }
                try await end(row, .failed, error: message)
                try await service.log(runID, step: step.id, "\(step.id) failed: \(message)" + (step.continueOnFailure ? " (continue_on_failure)" : ""))
                await progress(run, step: step.id, status: "failed")
                return .done([:])
            }
        }
    }

    /// Records how a step ended (the journal's "after").
    func end(_ row: RunStepRecord, _ status: RunStepStatus, output: TemplateValue? = nil, error: String? = nil, note: String? = nil) async throws {
        row.status = status
        if let output { row.output = output.storedJSON }
        row.error = error
        if let note { row.note = note }
        row.finishedAt = Date()
        try await row.update(on: db)
    }

    func skipRemaining(_ journal: [String: RunStepRecord], note: String) async throws {
        for row in journal.values where row.status == .pending {
            row.status = .skipped
            row.note = "skipped: \(note)"
            row.finishedAt = Date()
            try await row.update(on: db)
        }
    }

    func loadJournal(_ runID: UUID) async throws -> [String: RunStepRecord] {
        Dictionary(try await RunStepRecord.query(on: db).filter(\.$runID == runID).all().map { ($0.stepID, $0) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Run state

    /// Ends the job without ending the run: paused, or waiting for an approval.
    func park(_ run: RunbookRun, paused: Bool) async throws {
        let runID = try run.requireID()
        run.status = paused ? .paused : .waitingApproval
        try await run.update(on: db)
        await progress(run)
        if paused {
            try await service.log(runID, step: nil, "automation is paused: the run stops here and continues when it is resumed")
        } else {
            await service.events.publish(.runbookApprovalRequested, actor: run.createdBy, subject: "run:\(runID)",
                                         data: ["runID": runID.uuidString, "runbook": run.runbookName, "step": run.approvalStep ?? "",
                                                "incidentID": run.incidentID?.uuidString ?? ""].filter { !$0.value.isEmpty })
        }
    }

    /// Ends a run: status, event, the next queued run with the same concurrency key, escalation.
    func finish(_ run: RunbookRun, status: RunStatus, error: String?) async throws {
        let runID = try run.requireID()
        run.status = status
        run.error = error.map { String($0.prefix(2000)) }
        run.finishedAt = Date()
        run.approvalStep = nil
        run.approvalDeadline = nil
        // Nothing after the end: steps that never started are recorded as skipped — before the run
        // itself is final, so whoever sees the final status also sees no step left pending.
        try await skipRemaining(try await loadJournal(runID), note: "the run ended \(status.rawValue)")
        try await run.update(on: db)
        try await service.log(runID, step: nil, "run \(status.rawValue)" + (error.map { ": \($0)" } ?? ""))
        let kind = (try? await RunbookRecord.find(run.runbookID, on: db))?.kind
        await service.events.publish(kind == "workflow" ? .workflowRunFinished : .runbookRunFinished, actor: run.createdBy, subject: "run:\(runID)",
                                     data: Self.finishedData(run))
        await progress(run)
        if let key = run.concurrencyKey, !run.dryRun { try await startNextQueued(key: key) }
        if status == .failed, !run.dryRun { try await escalateIfNeeded(run) }
    }

    /// Queues the job of the oldest run waiting for `key`, when no run holds it any more.
    func startNextQueued(key: String) async throws {
        let active = try await RunbookRun.query(on: db).filter(\.$concurrencyKey == key).filter(\.$dryRun == false)
            .filter(\.$status ~~ [.queued, .running, .waitingApproval, .paused]).sort(\.$createdAt).all()
        guard let next = active.first, next.status == .queued, next.jobID == nil else { return }
        try await service.log(try next.requireID(), step: nil, "the concurrency key is free; starting")
        try await service.enqueue(next, by: .system("automation"))
    }

    /// After `after_failures` failed runs in a row (and every as many after), tells the listed channels.
    func escalateIfNeeded(_ run: RunbookRun) async throws {
        guard let document = try? RunbookParser.parse(yaml: run.yaml), let escalation = document.escalation else { return }
        let recent = try await RunbookRun.query(on: db).filter(\.$runbookID == run.runbookID).filter(\.$dryRun == false)
            .filter(\.$status ~~ [.succeeded, .failed]).sort(\.$finishedAt, .descending).limit(200).all()
        let failures = recent.prefix { $0.status == .failed }.count
        guard failures > 0, failures % escalation.afterFailures == 0 else { return }
        let runID = try run.requireID()
        let title = "Runbook \(run.runbookName) failed \(failures) times in a row"
        let body = "The last run (\(runID)) failed: \(run.error ?? "no reason recorded")."
        var outcome = escalation.notify.isEmpty ? "notified by the routing rules" : "notified \(escalation.notify.joined(separator: ", "))"
        if let notifier = service.environment.notifier {
            do {
                _ = try await notifier.notify(NotifyRequest(category: "runbook", severity: .critical, title: title, body: body,
                                                            channels: escalation.notify.isEmpty ? nil : escalation.notify,
                                                            dedupKey: "escalation:\(run.runbookName):\(failures)", incidentID: run.incidentID,
                                                            fields: ["runbook": run.runbookName, "failures": String(failures)]),
                                              by: .system("automation"))
            } catch {
                outcome = "could not notify: \(NebulaErrorText.describe(error))"
            }
        } else {
            outcome = "notifications are not available"
        }
        try await service.log(runID, step: nil, "escalated after \(failures) failed runs: \(outcome)")
        try await service.audit.record("runbook.escalate", target: "runbook:\(run.runbookName)", by: .system("automation"), detail: outcome)
        await service.events.publish(.runbookEscalated, actor: "automation", subject: "runbook:\(run.runbookName)",
                                     data: ["runbook": run.runbookName, "failures": String(failures), "channels": escalation.notify.joined(separator: ","),
                                            "runID": runID.uuidString])
    }

    func progress(_ run: RunbookRun, step: String? = nil, status: String? = nil) async {
        var data = ["runID": run.id?.uuidString ?? "", "runStatus": run.status.rawValue]
        if let step { data["step"] = step }
        if let status { data["stepStatus"] = status }
        await service.events.broadcast(.runbookRunProgress, subject: "run:\(run.id?.uuidString ?? "")", data: data)
    }

    static func startedData(_ run: RunbookRun) -> [String: String] {
        var data = ["runID": run.id?.uuidString ?? "", "runbook": run.runbookName, "status": run.status.rawValue, "trigger": run.trigger]
        if let incident = run.incidentID { data["incidentID"] = incident.uuidString }
        if run.dryRun { data["dryRun"] = "true" }
        return data
    }

    static func finishedData(_ run: RunbookRun) -> [String: String] {
        var data = startedData(run)
        if let error = run.error { data["error"] = String(error.prefix(500)) }
        return data
    }

    // MARK: Helpers

    /// Every string in `value` rendered as a template.
    static func render(_ value: TemplateValue, _ context: TemplateContext) throws -> TemplateValue {
        switch value {
        case .string(let text):
            guard text.contains("{{") else { return value }
            return .string(try Template(parsing: text).render(context))
        case .list(let elements): return .list(try elements.map { try render($0, context) })
        case .object(let members): return .object(try members.mapValues { try render($0, context) })
        default: return value
        }
    }

    static func masked(_ value: TemplateValue, _ mask: (String) -> String) -> TemplateValue {
        switch value {
        case .string(let text): .string(mask(text))
        case .list(let elements): .list(elements.map { masked($0, mask) })
        case .object(let members): .object(members.mapValues { masked($0, mask) })
        default: value
        }
    }

    /// The secret names `{{ secrets.NAME }}` placeholders use anywhere in `value`.
    static func secretReferences(in value: TemplateValue) -> [String] {
        switch value {
        case .string(let text):
            guard text.contains("secrets."), let template = try? Template(parsing: text) else { return [] }
            return template.references.compactMap { reference in
                let parts = reference.split(separator: ".")
                return parts.count == 2 && parts[0] == "secrets" ? String(parts[1]) : nil
            }
        case .list(let elements): return Array(Set(elements.flatMap(secretReferences)))
        case .object(let members): return Array(Set(members.values.flatMap(secretReferences)))
        default: return []
        }
    }

    struct StepTimedOut: Error, CustomStringConvertible {
        let step: String
        let timeout: Duration
        var description: String { "the step timed out after \(timeout.seconds.fixed(1, trimmingZeros: true)) s" }
    }

    /// `operation`, or ``StepTimedOut`` when it takes longer than `timeout` (it is cancelled).
    static func withTimeout<T: Sendable>(_ timeout: Duration, step: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw StepTimedOut(step: step, timeout: timeout)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw StepTimedOut(step: step, timeout: timeout) }
            return first
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as ActionFailure: error.description
        case let error as ActionFailureWithOutput: error.description
        case let error as StepTimedOut: error.description
        default: NebulaErrorText.describe(error)
        }
    }
}

/// A readable one-line reason for any error.
enum NebulaErrorText {
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NebulaError: error.message
        case let error as any APIErrorConvertible: error.apiError.message
        default: String(describing: error)
        }
    }
}
