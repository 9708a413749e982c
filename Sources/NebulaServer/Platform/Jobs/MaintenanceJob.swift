import Foundation
import NebulaCore

/// `maintenance.retention`: deletes events, audit entries, finished jobs and login attempts older
/// than their retention, and the features' finished work (runbook runs, notification deliveries)
/// as old as finished jobs. Queued hourly by ``MaintenanceScheduler``; operators can run it now.
struct RetentionJob: JobHandler {
    /// A feature's history that ages like finished jobs: `prune` deletes what ended before the date.
    struct FinishedWork: Sendable {
        var what: String
        var prune: @Sendable (Date) async throws -> Int
    }

    let type = RetentionJob.jobType
    static let jobType = "maintenance.retention"
    let runnableByOperators = true
    let settings: SettingsService
    let events: EventBus
    let audit: AuditLog
    let identity: IdentityService
    var finishedWork: [FinishedWork] = []

    func run(_ job: JobContext) async throws {
        let current = try await settings.current()
        let now = Date()
        let day: TimeInterval = 24 * 3600
        await job.log("keeping \(current.eventRetentionDays) d of events, \(current.auditRetentionDays) d of audit, \(current.jobRetentionDays) d of finished jobs")
        let events = try await events.deleteOlder(than: now.addingTimeInterval(-Double(current.eventRetentionDays) * day))
        await job.log("deleted \(events) events")
        await job.progress(0.25)
        try Task.checkCancellation()
        let audit = try await audit.deleteOlder(than: now.addingTimeInterval(-Double(current.auditRetentionDays) * day))
        await job.log("deleted \(audit) audit entries")
        await job.progress(0.5)
        try Task.checkCancellation()
        let jobs = try await job.queue.deleteFinished(olderThan: now.addingTimeInterval(-Double(current.jobRetentionDays) * day))
        await job.log("deleted \(jobs) finished jobs and their logs")
        for work in finishedWork {
            let deleted = try await work.prune(now.addingTimeInterval(-Double(current.jobRetentionDays) * day))
            await job.log("deleted \(deleted) \(work.what)")
        }
        await job.progress(0.75)
        let attempts = try await identity.deleteOldLoginAttempts(before: now.addingTimeInterval(-day))
        await job.log("deleted \(attempts) login attempts older than a day and expired sessions")
        await job.progress(1)
    }
}

/// Queues each recurring maintenance job on its own schedule, unless one of that type is already
/// waiting or running — so a slow run never piles up copies of itself.
final class MaintenanceScheduler: Sendable {
    /// A job type and how often it runs.
    struct Schedule: Sendable {
        var type: String
        var every: Duration
        /// Delay of the first run after start, so a restart loop does not run the job each time.
        var firstRunAfter: TimeInterval = 60
    }

    let queue: JobQueue
    let schedules: [Schedule]
    private let tasks = LockedValue<[Task<Void, Never>]>([])

    init(queue: JobQueue, schedules: [Schedule] = MaintenanceScheduler.standard) {
        self.queue = queue
        self.schedules = schedules
    }

    /// Retention hourly; metric rollups every 15 minutes.
    static let standard: [Schedule] = [
        Schedule(type: RetentionJob.jobType, every: .seconds(3600)),
        Schedule(type: MetricsRollupJob.jobType, every: .seconds(900)),
    ]

    func start() {
        let loops = schedules.map { schedule in
            Task { [queue] in
                while !Task.isCancelled {
                    do {
                        let pending = try await queue.list(status: .queued, type: schedule.type, limit: 1, offset: 0).total
                            + queue.list(status: .running, type: schedule.type, limit: 1, offset: 0).total
                        if pending == 0 {
                            try await queue.enqueue(type: schedule.type, runAt: Date().addingTimeInterval(schedule.firstRunAfter), by: .system("scheduler"))
                        }
                    } catch {
                        queue.logger.warning("could not schedule \(schedule.type): \(String(reflecting: error))")
                    }
                    try? await Task.sleep(for: schedule.every)
                }
            }
        }
        tasks.withLock { $0 = loops }
    }

    func stop() {
        tasks.withLock { $0.forEach { $0.cancel() } }
    }
}
