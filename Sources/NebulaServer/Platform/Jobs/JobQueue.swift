import Fluent
import Foundation
import Logging
import NebulaCore
import SQLKit
import Synchronization

/// The durable job queue: enqueue, claim with a lease, heartbeat, finish, retry, cancel.
/// Claims are one atomic SQL statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number
/// of workers in any number of processes never run the same job at once.
final class JobQueue: Sendable {
    let db: any Database
    let events: EventBus
    let audit: AuditLog
    let logger: Logger
    let lease: Duration
    let isPostgres: Bool
    private let handlers: LockedValue<[String: any JobHandler]>
    private let wakeup = Wakeup()
    private let finishedCounter: @Sendable (String, JobStatus) -> Void

    init(db: any Database, events: EventBus, audit: AuditLog, logger: Logger, lease: Duration, isPostgres: Bool,
         onFinished: @escaping @Sendable (String, JobStatus) -> Void = { _, _ in }) {
        self.db = db
        self.events = events
        self.audit = audit
        self.logger = logger
        self.lease = lease
        self.isPostgres = isPostgres
        handlers = LockedValue([:])
        finishedCounter = onFinished
    }

    func register(_ handler: any JobHandler) {
        handlers.withLock { $0[handler.type] = handler }
    }

    func handler(for type: String) -> (any JobHandler)? {
        handlers.withLock { $0[type] }
    }

    var registeredTypes: [String] { handlers.withLock { $0.keys.sorted() } }

    // MARK: Enqueue and read

    /// Queues a job. `actor` is who asked; `nil` for the system's own scheduled work.
    @discardableResult
    func enqueue(type: String, payload: String = "{}", runAt: Date = Date(), maxAttempts: Int? = nil, by actor: Actor) async throws -> JobDTO {
        guard let handler = handler(for: type) else {
            throw NebulaError.unprocessable("There is no job type '\(type)'. Known types: \(registeredTypes.joined(separator: ", ")).", code: "unknown_job_type")
        }
        let job = JobRecord()
        job.type = type
        job.payload = payload
        job.status = .queued
        job.progress = 0
        job.attempts = 0
        job.maxAttempts = maxAttempts ?? handler.maxAttempts
        job.runAt = runAt
        job.cancelRequested = false
        job.createdBy = actor.username
        job.createdAt = Date()
        try await job.create(on: db)
        let dto = JobDTO(job)
        if actor.credential != .system {
            try await audit.record("job.enqueue", target: "job:\(dto.id)", by: actor, detail: "type=\(type)")
        }
        await events.publish(.jobQueued, actor: actor.username, subject: "job:\(dto.id)", data: ["type": type])
        wakeup.signal()
        return dto
    }

    func find(_ id: UUID) async throws -> JobDTO {
        guard let job = try await JobRecord.find(id, on: db) else { throw NebulaError.notFound("Job \(id)") }
        return JobDTO(job)
    }

    func list(status: JobStatus?, type: String?, limit: Int, offset: Int) async throws -> ListPage<JobDTO> {
        let query = JobRecord.query(on: db)
        if let status { query.filter(\.$status == status) }
        if let type { query.filter(\.$type == type) }
        let total = try await query.count()
        let jobs = try await query.sort(\.$createdAt, .descending).range(offset..<(offset + limit)).all()
        return ListPage(items: jobs.map(JobDTO.init), total: total)
    }

    func counts() async throws -> [JobStatus: Int] {
        var counts: [JobStatus: Int] = [:]
        for status in JobStatus.allCases {
            counts[status] = try await JobRecord.query(on: db).filter(\.$status == status).count()
        }
        return counts
    }

    func logLines(jobID: UUID, after lastID: Int, limit: Int = 1000) async throws -> [JobLogLineDTO] {
        try await JobLogLine.query(on: db)
            .filter(\.$jobID == jobID)
            .filter(\.$id > lastID)
            .sort(\.$id, .ascending)
            .limit(limit)
            .all()
            .map { JobLogLineDTO(id: $0.id ?? 0, at: $0.at, line: $0.line) }
    }

    // MARK: Cancel

    /// A queued job is cancelled at once; a running one is asked to stop and ends `cancelled`
    /// when its worker notices (within a heartbeat).
    func cancel(_ id: UUID, by actor: Actor) async throws -> JobDTO {
        try actor.require(.operator)
        guard let job = try await JobRecord.find(id, on: db) else { throw NebulaError.notFound("Job \(id)") }
        guard !job.status.isFinal else {
            try await audit.record("job.cancel", target: "job:\(id)", outcome: .failure, by: actor, detail: "already \(job.status.rawValue)")
            throw NebulaError.conflict("Job \(id) already \(job.status.rawValue).", code: "job_finished")
        }
        if job.status == .queued {
            job.status = .cancelled
            job.finishedAt = Date()
        } else {
            job.cancelRequested = true
        }
        try await job.update(on: db)
        try await audit.record("job.cancel", target: "job:\(id)", by: actor)
        if job.status == .cancelled {
            await events.publish(.jobCancelled, actor: actor.username, subject: "job:\(id)", data: ["type": job.type])
            finishedCounter(job.type, .cancelled)
        }
        return JobDTO(job)
    }

    // MARK: Worker side

    /// Atomically takes the next due job (or one whose lease expired because its worker died)
    /// and leases it to `worker`. Each claim gets its own lease token (`worker/uuid`, in
    /// `leaseOwner`), so an attempt that lost its lease can never record a result over a later one,
    /// even in the same worker.
    func claim(worker: String, now: Date = Date()) async throws -> JobRecord? {
        guard let sql = db as? any SQLDatabase else { return nil }
        let owner = "\(worker)/\(UUID().uuidString.prefix(8))"
        let lock: SQLQueryString = isPostgres ? " FOR UPDATE SKIP LOCKED" : ""
        let expires = now.addingTimeInterval(lease.seconds)
        let statement: SQLQueryString = """
            UPDATE jobs SET status = 'running', lease_owner = \(bind: owner), lease_expires_at = \(bind: expires),
                attempts = attempts + 1, started_at = COALESCE(started_at, \(bind: now))
            WHERE id = (
                SELECT id FROM jobs
                WHERE (status = 'queued' AND run_at <= \(bind: now)) OR (status = 'running' AND lease_expires_at < \(bind: now))
                ORDER BY run_at, created_at LIMIT 1\(lock)
            )
            RETURNING id
            """
        struct Claimed: Decodable { var id: UUID }
        guard let claimed = try await sql.raw(statement).first(decoding: Claimed.self),
              let job = try await JobRecord.find(claimed.id, on: db) else { return nil }
        return job
    }

    /// Extends the lease. Returns false when the job is no longer ours (another worker took it
    /// after our lease lapsed) and `true` with `cancelRequested` otherwise.
    func heartbeat(jobID: UUID, owner: String) async throws -> (stillOurs: Bool, cancelRequested: Bool) {
        guard let job = try await JobRecord.find(jobID, on: db), job.leaseOwner == owner, job.status == .running else {
            return (false, false)
        }
        job.leaseExpiresAt = Date().addingTimeInterval(lease.seconds)
        try await job.update(on: db)
        return (true, job.cancelRequested)
    }

    enum Outcome: Sendable {
        case succeeded
        case failed(String)
        case cancelled
        /// Shutting down: give the job back, refunding the attempt, so it runs again at once.
        case released
    }

    /// Records how an attempt ended, if the job is still leased to `owner`.
    func finish(jobID: UUID, owner: String, outcome: Outcome) async throws {
        guard let job = try await JobRecord.find(jobID, on: db), job.leaseOwner == owner, job.status == .running else { return }
        let handler = handler(for: job.type)
        job.leaseOwner = nil
        job.leaseExpiresAt = nil
        let subject = "job:\(jobID)"
        switch outcome {
        case .succeeded:
            job.status = .succeeded
            job.progress = 1
            job.finishedAt = Date()
            job.lastError = nil
            try await job.update(on: db)
            await events.publish(.jobSucceeded, subject: subject, data: ["type": job.type])
            finishedCounter(job.type, .succeeded)
        case .cancelled:
            job.status = .cancelled
            job.finishedAt = Date()
            try await job.update(on: db)
            await events.publish(.jobCancelled, subject: subject, data: ["type": job.type])
            finishedCounter(job.type, .cancelled)
        case .released:
            job.status = .queued
            job.attempts = max(0, job.attempts - 1)
            job.runAt = Date()
            try await job.update(on: db)
        case .failed(let message):
            job.lastError = String(message.prefix(2000))
            if job.attempts < job.maxAttempts {
                let delay = (handler?.backoff ?? RetryBackoff()).delay(afterAttempt: job.attempts)
                job.status = .queued
                job.runAt = Date().addingTimeInterval(delay.seconds)
                try await job.update(on: db)
                await appendLog(jobID: jobID, line: "attempt \(job.attempts) failed: \(job.lastError ?? ""); retrying in \(String(format: "%.1f", delay.seconds)) s")
                await events.publish(.jobRetrying, subject: subject, data: ["type": job.type, "attempt": String(job.attempts), "retryInSeconds": String(format: "%.1f", delay.seconds)])
            } else {
                job.status = .failed
                job.finishedAt = Date()
                try await job.update(on: db)
                await appendLog(jobID: jobID, line: "attempt \(job.attempts) failed: \(job.lastError ?? ""); giving up after \(job.attempts) attempts")
                await events.publish(.jobFailed, subject: subject, data: ["type": job.type, "error": job.lastError ?? ""])
                finishedCounter(job.type, .failed)
            }
        }
    }

    /// A claimed job that must not run again: cancelled while its worker was dead, or out of attempts.
    func settleUnrunnable(_ job: JobRecord, owner: String) async throws -> Bool {
        guard let id = job.id else { return true }
        if job.cancelRequested {
            try await finish(jobID: id, owner: owner, outcome: .cancelled)
            return true
        }
        if job.attempts > job.maxAttempts {
            job.attempts = job.maxAttempts
            try await job.update(on: db)
            try await finish(jobID: id, owner: owner, outcome: .failed(job.lastError ?? "the worker running the last attempt stopped responding"))
            return true
        }
        return false
    }

    func appendLog(jobID: UUID, line: String) async {
        do {
            try await JobLogLine(jobID: jobID, at: Date(), line: String(line.prefix(8000))).create(on: db)
        } catch {
            logger.error("could not append to the log of job \(jobID): \(String(reflecting: error))")
        }
    }

    func setProgress(jobID: UUID, fraction: Double) async {
        let clamped = min(1, max(0, fraction.isFinite ? fraction : 0))
        do {
            try await JobRecord.query(on: db).set(\.$progress, to: clamped).filter(\.$id == jobID).update()
            await events.publish(.jobProgress, subject: "job:\(jobID)", data: ["progress": String(format: "%.3f", clamped)])
        } catch {
            logger.error("could not record progress of job \(jobID): \(String(reflecting: error))")
        }
    }

    func deleteFinished(olderThan cutoff: Date) async throws -> Int {
        let query = JobRecord.query(on: db)
            .filter(\.$status ~~ [JobStatus.succeeded, .failed, .cancelled])
            .filter(\.$finishedAt < cutoff)
        let count = try await query.count()
        try await query.delete()
        return count
    }

    /// Waits until a job is queued in this process or `timeout` passes.
    func waitForWork(timeout: Duration) async {
        await wakeup.wait(timeout: timeout)
    }

    func wake() { wakeup.signal() }
}

/// One background loop that a service starts once and stops on shutdown, waiting for it to end.
final class BackgroundTask: Sendable {
    private let task = LockedValue<Task<Void, Never>?>(nil)

    /// Runs `body` in a new task (replacing none: call once).
    func start(_ body: @escaping @Sendable () async -> Void) {
        let running = Task { await body() }
        task.withLock { $0 = running }
    }

    /// Cancels the loop and waits until it has ended.
    func stop() async {
        let running = task.withLock { current -> Task<Void, Never>? in
            defer { current = nil }
            return current
        }
        running?.cancel()
        await running?.value
    }
}

/// A mutex-protected value that can be shared between tasks.
final class LockedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout sending Value) throws -> sending T) rethrows -> sending T { try mutex.withLock(body) }
}

/// Lets waiters sleep until signalled or a timeout passes; a signal with nobody waiting is kept
/// for the next waiter, so a wake-up between two waits is never lost.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
        /// Waits whose timeout or cancellation came before they were registered.
        var expired: Set<UUID> = []
    }

    private let state = Mutex(State())

    func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if state.waiters.isEmpty {
                state.pending = true
                return []
            }
            let all = Array(state.waiters.values)
            state.waiters.removeAll()
            return all
        }
        waiters.forEach { $0.resume() }
    }

    func wait(timeout: Duration) async {
        let id = UUID()
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self.expire(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || state.expired.remove(id) != nil {
                        state.pending = false
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.expire(id)
        }
        timer.cancel()
        state.withLock { _ = $0.expired.remove(id) }
    }

    private func expire(_ id: UUID) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiting = state.waiters.removeValue(forKey: id) { return waiting }
            state.expired.insert(id)
            return nil
        }
        continuation?.resume()
    }
}
