import Foundation
import NebulaCore

/// `maintenance.retention`: deletes events, audit entries, finished jobs and login attempts older
/// than their retention. Queued hourly by ``MaintenanceScheduler``; operators can run it now.
struct RetentionJob: JobHandler {
    let type = RetentionJob.jobType
    static let jobType = "maintenance.retention"
    let runnableByOperators = true
    let settings: SettingsService
    let events: EventBus
    let audit: AuditLog
    let identity: IdentityService
    let fleet: FleetService
    /// Raw metric samples kept until rollups exist (a later step keeps raw 24 h, rollups longer).
    static let metricSampleRetentionDays = 30.0

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
        await job.progress(0.75)
        let attempts = try await identity.deleteOldLoginAttempts(before: now.addingTimeInterval(-day))
        await job.log("deleted \(attempts) login attempts older than a day and expired sessions")
        let samples = try await fleet.deleteSamples(olderThan: now.addingTimeInterval(-Self.metricSampleRetentionDays * day))
        await job.log("deleted \(samples) metric samples older than \(Int(Self.metricSampleRetentionDays)) d")
        await job.progress(1)
    }
}

/// Queues the retention job every `interval` unless one is already waiting or running.
final class MaintenanceScheduler: Sendable {
    let queue: JobQueue
    let interval: Duration
    private let task = LockedValue<Task<Void, Never>?>(nil)

    init(queue: JobQueue, interval: Duration = .seconds(3600)) {
        self.queue = queue
        self.interval = interval
    }

    func start() {
        let loop = Task { [queue, interval] in
            while !Task.isCancelled {
                do {
                    let pending = try await queue.list(status: .queued, type: RetentionJob.jobType, limit: 1, offset: 0).total
                        + queue.list(status: .running, type: RetentionJob.jobType, limit: 1, offset: 0).total
                    if pending == 0 {
                        try await queue.enqueue(type: RetentionJob.jobType, runAt: Date().addingTimeInterval(60), by: .system("scheduler"))
                    }
                } catch {
                    queue.logger.warning("could not schedule maintenance: \(String(reflecting: error))")
                }
                try? await Task.sleep(for: interval)
            }
        }
        task.withLock { $0 = loop }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}
