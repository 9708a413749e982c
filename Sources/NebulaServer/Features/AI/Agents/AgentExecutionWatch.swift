import Fluent
import Foundation
import Logging

/// Keeps agent runs alive and honest: each run goes on in its own task (a client that goes away
/// does not stop it), says it is alive every few seconds, and is cancelled — and recorded as
/// interrupted — when the server shuts down. A background sweep marks `running` executions whose
/// process died (no sign of life for ``staleAfter``) as failed, at start and every half minute,
/// so a restart never leaves one `running` forever. Runs of other live replicas keep beating and
/// are left alone.
final class AgentExecutionWatch: Sendable {
    /// This process, as written on the executions it runs.
    let instance = UUID().uuidString
    static let heartbeat: Duration = .seconds(10)
    static let staleAfter: TimeInterval = 45

    private let runs = LockedValue<[UUID: Task<AgentExecutionDTO?, Never>]>([:])
    private let sweeper = BackgroundTask()
    private let state = LockedValue<(db: (any Database)?, logger: Logger?)>((nil, nil))

    var logger: Logger? { state.withLock { $0.logger } }

    /// Starts the sweep (call once, from the composition root).
    func start(db: any Database, logger: Logger) {
        state.withLock { $0 = (db, logger) }
        sweeper.start { [self] in
            while !Task.isCancelled {
                do {
                    let marked = try await markInterrupted(on: db)
                    if marked > 0 { logger.warning("marked \(marked) interrupted agent execution(s) failed") }
                } catch {
                    logger.error("agent execution sweep failed: \(String(reflecting: error))")
                }
                try? await Task.sleep(for: .seconds(30))
            }
        }
    }

    /// Cancels every run of this process (each records itself as interrupted) and stops the sweep.
    func stop() async {
        await sweeper.stop()
        let running = runs.withLock { Array($0.values) }
        for task in running { task.cancel() }
        for task in running { _ = await task.value }
    }

    /// Runs `body` for execution `id` in its own task, beating its heartbeat meanwhile.
    func launch(_ id: UUID, db: any Database, _ body: @escaping @Sendable () async -> AgentExecutionDTO?) -> Task<AgentExecutionDTO?, Never> {
        let instance = instance
        let task = Task {
            let beat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.heartbeat)
                    if Task.isCancelled { break }
                    try? await AgentExecutionRecord.query(on: db).filter(\.$id == id)
                        .filter(\.$status == AgentExecutionStatus.running.rawValue)
                        .set(\.$heartbeatAt, to: Date()).set(\.$instance, to: instance).update()
                }
            }
            let result = await withTaskCancellationHandler {
                await body()
            } onCancel: {
                beat.cancel()
            }
            beat.cancel()
            return result
        }
        runs.withLock { $0[id] = task }
        Task { [runs] in
            _ = await task.value
            runs.withLock { running in if running[id] == task { running[id] = nil } }
        }
        return task
    }

    /// Marks `running` executions without a recent heartbeat failed; returns how many.
    func markInterrupted(on db: any Database, now: Date = Date()) async throws -> Int {
        let mine = Set(runs.withLock { Array($0.keys) })
        let stale = try await AgentExecutionRecord.query(on: db).filter(\.$status == AgentExecutionStatus.running.rawValue).all()
            .filter { row in
                guard let id = row.id, !mine.contains(id) else { return false }
                return (row.heartbeatAt ?? .distantPast) < now.addingTimeInterval(-Self.staleAfter)
            }
        for row in stale {
            let seen = row.heartbeatAt.map { ISO8601DateFormatter().string(from: $0) } ?? "never"
            row.status = AgentExecutionStatus.failed.rawValue
            row.reason = "Interrupted: the server running it stopped or restarted (last sign of life: \(seen)). Start the agent again."
            row.pending = nil
            row.finishedAt = now
            try await row.update(on: db)
        }
        return stale.count
    }
}
