import Foundation
import NebulaCore

/// Runs one type of job. Register handlers with ``JobQueue/register(_:)``; the worker calls
/// `run` for each claimed job of that type, retrying a thrown error up to `maxAttempts`.
protocol JobHandler: Sendable {
    /// The job type this handler runs, `area.verb` (`maintenance.retention`).
    var type: String { get }
    /// Attempts before the job is marked failed.
    var maxAttempts: Int { get }
    var backoff: RetryBackoff { get }
    /// Whether operators may queue it from the API and the Jobs page.
    var runnableByOperators: Bool { get }
    /// Does the work. Check `Task.isCancelled` (or call `try Task.checkCancellation()`) between
    /// steps: cancelling a job cancels this task.
    func run(_ job: JobContext) async throws
}

extension JobHandler {
    var maxAttempts: Int { 3 }
    var backoff: RetryBackoff { RetryBackoff() }
    var runnableByOperators: Bool { false }
}

/// What a running job can see and do: its payload, its log and its progress.
struct JobContext: Sendable {
    let id: UUID
    let type: String
    let payload: String
    /// 1 for the first attempt.
    let attempt: Int
    let queue: JobQueue

    /// Appends a line to the job's log (streamed live to the browser).
    func log(_ line: String) async {
        await queue.appendLog(jobID: id, line: line)
    }

    /// Reports progress from 0 to 1.
    func progress(_ fraction: Double) async {
        await queue.setProgress(jobID: id, fraction: fraction)
    }

    func decodePayload<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(payload.utf8))
    }
}
