import Foundation
import Logging
import NebulaCore
import Synchronization

/// Claims due jobs and runs them, at most `concurrency` at a time, renewing each job's lease
/// while it runs. One per process; started and stopped by the composition root.
final class JobWorker: Sendable {
    let queue: JobQueue
    let owner: String
    let concurrency: Int
    let pollInterval: Duration
    let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var loop: Task<Void, Never>?
        /// Running attempts by lease token.
        var running: [String: Task<Void, Never>] = [:]
        /// Set by `abandon()`: finish nothing, as if the process had been killed.
        var abandoned = false
        var stopping = false
    }

    init(queue: JobQueue, owner: String = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8))",
         concurrency: Int, pollInterval: Duration, logger: Logger) {
        self.queue = queue
        self.owner = owner
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.logger = logger
    }

    func start() {
        state.withLock { state in
            guard state.loop == nil else { return }
            state.loop = Task { await self.loop() }
        }
    }

    /// Stops claiming, cancels running jobs and gives them back to the queue so that they run
    /// again at once (here after a restart, or on another replica).
    func stop() async {
        let (loop, running) = state.withLock { state in
            state.stopping = true
            return (state.loop, Array(state.running.values))
        }
        loop?.cancel()
        running.forEach { $0.cancel() }
        await loop?.value
        for task in running { await task.value }
    }

    /// Stops everything without writing anything, the way `kill -9` would: leased jobs stay
    /// `running` until their lease expires. For crash-recovery tests.
    func abandon() async {
        let (loop, running) = state.withLock { state in
            state.abandoned = true
            state.stopping = true
            return (state.loop, Array(state.running.values))
        }
        loop?.cancel()
        running.forEach { $0.cancel() }
        await loop?.value
        for task in running { await task.value }
    }

    var runningCount: Int { state.withLock { $0.running.count } }

    private func loop() async {
        while !Task.isCancelled {
            var claimedAny = false
            while runningCount < concurrency, !Task.isCancelled {
                do {
                    guard let job = try await queue.claim(worker: owner) else { break }
                    if try await queue.settleUnrunnable(job, owner: job.leaseOwner ?? owner) { continue }
                    claimedAny = true
                    launch(job)
                } catch {
                    logger.error("could not claim a job: \(String(reflecting: error))")
                    break
                }
            }
            if Task.isCancelled { break }
            if !claimedAny || runningCount >= concurrency {
                await queue.waitForWork(timeout: pollInterval)
            }
        }
    }

    private func launch(_ job: JobRecord) {
        guard let id = job.id else { return }
        let context = JobContext(id: id, type: job.type, payload: job.payload, attempt: job.attempts, queue: queue)
        let handler = queue.handler(for: job.type)
        let lease = job.leaseOwner ?? owner
        let task = Task {
            await self.execute(context, lease: lease, handler: handler)
            self.state.withLock { _ = $0.running.removeValue(forKey: lease) }
            self.queue.wake()
        }
        state.withLock { $0.running[lease] = task }
    }

    private func execute(_ context: JobContext, lease: String, handler: (any JobHandler)?) async {
        let id = context.id
        await queue.events.publish(.jobStarted, subject: "job:\(id)", data: ["type": context.type, "attempt": String(context.attempt)])
        guard let handler else {
            await finish(id, lease: lease, .failed("No handler for job type '\(context.type)' in this version of Nebula Command."))
            return
        }
        let cancelledByRequest = Mutex(false)
        let work = Task { try await handler.run(context) }
        let heartbeat = Task {
            let interval = Duration.milliseconds(max(200, Int64(queue.lease.seconds * 1000 / 3)))
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                do {
                    let beat = try await queue.heartbeat(jobID: id, owner: lease)
                    if !beat.stillOurs || beat.cancelRequested {
                        cancelledByRequest.withLock { $0 = beat.cancelRequested }
                        work.cancel()
                        return
                    }
                } catch {
                    logger.warning("heartbeat for job \(id) failed: \(String(reflecting: error))")
                }
            }
        }
        let result = await withTaskCancellationHandler {
            await work.result
        } onCancel: {
            work.cancel()
        }
        heartbeat.cancel()
        let outcome: JobQueue.Outcome
        switch result {
        case .success:
            outcome = .succeeded
        case .failure(let error):
            if cancelledByRequest.withLock({ $0 }) {
                outcome = .cancelled
            } else if state.withLock({ $0.stopping }) {
                outcome = .released
            } else {
                outcome = .failed(Self.describe(error))
            }
        }
        await finish(id, lease: lease, outcome)
    }

    private func finish(_ id: UUID, lease: String, _ outcome: JobQueue.Outcome) async {
        guard !state.withLock({ $0.abandoned }) else { return }
        do {
            try await queue.finish(jobID: id, owner: lease, outcome: outcome)
        } catch {
            logger.error("could not record the end of job \(id): \(String(reflecting: error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? NebulaError { return error.message }
        if error is CancellationError { return "cancelled" }
        return String(describing: error)
    }
}
