import Foundation
import NebulaCore
@testable import NebulaServer

/// Job handlers the job tests register: real work (they record what happened), driven by their payload.
struct FlakyJob: JobHandler {
    let type = "test.flaky"
    let maxAttempts: Int
    let backoff = RetryBackoff(base: .milliseconds(200), cap: .seconds(1))
    /// How many attempts fail before one succeeds.
    let failures: Int
    let attempts: AttemptLog

    func run(_ job: JobContext) async throws {
        await job.log("attempt \(job.attempt) starting")
        attempts.record(job.id, attempt: job.attempt)
        if job.attempt <= failures { throw NebulaError.invalid("planned failure \(job.attempt)") }
        await job.progress(1)
        await job.log("done")
    }
}

/// Runs until cancelled, logging as it goes.
struct LongJob: JobHandler {
    let type = "test.long"
    let maxAttempts = 3
    let started: AttemptLog

    func run(_ job: JobContext) async throws {
        started.record(job.id, attempt: job.attempt)
        for step in 0..<600 {
            try Task.checkCancellation()
            if step % 10 == 0 { await job.log("step \(step)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// Takes a little while and records which worker ran it and whether another ran it at the same time.
struct ExclusiveJob: JobHandler {
    let type = "test.exclusive"
    let maxAttempts = 1
    let runs: AttemptLog
    let owner: String

    func run(_ job: JobContext) async throws {
        runs.begin(job.id, owner: owner)
        try await Task.sleep(for: .milliseconds(30))
        runs.end(job.id)
    }
}

/// A thread-safe record of attempts.
final class AttemptLog: Sendable {
    struct Entry: Sendable { var job: UUID; var attempt: Int; var at: Date; var owner: String }
    private let state = LockedValue<(entries: [Entry], active: Set<UUID>, overlaps: Int)>(([], [], 0))

    func record(_ job: UUID, attempt: Int) {
        state.withLock { $0.entries.append(Entry(job: job, attempt: attempt, at: Date(), owner: "")) }
    }

    func begin(_ job: UUID, owner: String) {
        state.withLock { state in
            if state.active.contains(job) { state.overlaps += 1 }
            state.active.insert(job)
            state.entries.append(Entry(job: job, attempt: 0, at: Date(), owner: owner))
        }
    }

    func end(_ job: UUID) { state.withLock { _ = $0.active.remove(job) } }

    var entries: [Entry] { state.withLock { $0.entries } }
    var overlaps: Int { state.withLock { $0.overlaps } }
}

extension TestApp {
    /// Polls until the job reaches `status` or `timeout` passes; returns its final state.
    func waitForJob(_ id: UUID, toBe statuses: Set<JobStatus>, timeout: Duration = .seconds(90)) async throws -> JobDTO {
        let deadline = ContinuousClock.now + timeout
        while true {
            let job = try await services.jobs.find(id)
            if statuses.contains(job.status) || ContinuousClock.now > deadline { return job }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
