import Foundation
import NebulaCore
@testable import NebulaServer
import Fluent
import Testing

@Suite struct JobsTests {
    @Test(arguments: TestDatabase.all)
    func failedAttemptsRetryWithBackoffUntilTheySucceed(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let attempts = AttemptLog()
            try app.services.jobs.register(FlakyJob(maxAttempts: 4, failures: 2, attempts: attempts))
            // act
            let job = try await app.services.jobs.enqueue(type: "test.flaky", by: .system())
            let finished = try await app.waitForJob(job.id, toBe: [.succeeded, .failed])
            // verify
            #expect(finished.status == .succeeded)
            #expect(finished.attempts == 3)
            #expect(finished.progress == 1)
            let times = attempts.entries.map(\.at)
            #expect(times.count == 3)
            // Equal jitter: the n-th retry waits at least half of 200 ms · 2^(n-1).
            #expect(times[1].timeIntervalSince(times[0]) >= 0.1)
            #expect(times[2].timeIntervalSince(times[1]) >= 0.2)
            let log = try await app.services.jobs.logLines(jobID: job.id, after: 0).map(\.line)
            #expect(log.contains { $0.contains("attempt 1 failed: planned failure 1; retrying in") })
            #expect(log.last == "done")
        }
    }

    @Test(arguments: TestDatabase.all)
    func aJobThatKeepsFailingStopsAtItsAttemptLimit(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let attempts = AttemptLog()
            try app.services.jobs.register(FlakyJob(maxAttempts: 2, failures: 10, attempts: attempts))
            let token = try await app.token(role: .viewer)
            // act
            let job = try await app.services.jobs.enqueue(type: "test.flaky", by: .system())
            let finished = try await app.waitForJob(job.id, toBe: [.succeeded, .failed])
            // verify
            #expect(finished.status == .failed)
            #expect(finished.attempts == 2 && attempts.entries.count == 2)
            #expect(finished.lastError == "planned failure 2")
            let events = try await app.request(.GET, "/api/v1/events?types=job.failed", token: token)
            #expect(events.body.contains(job.id.uuidString.lowercased()) || events.body.contains(job.id.uuidString))
        }
    }

    @Test(arguments: TestDatabase.all)
    func cancellingStopsQueuedAndRunningJobs(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let started = AttemptLog()
            try app.services.jobs.register(LongJob(started: started))
            let token = try await app.token(role: .operator)
            let later = try await app.services.jobs.enqueue(type: "test.long", runAt: Date().addingTimeInterval(3600), by: .system())
            let running = try await app.services.jobs.enqueue(type: "test.long", by: .system())
            _ = try await app.waitForJob(running.id, toBe: [.running])
            // act
            let cancelQueued = try await app.request(.POST, "/api/v1/jobs/\(later.id)/cancel", token: token)
            let cancelRunning = try await app.request(.POST, "/api/v1/jobs/\(running.id)/cancel", token: token)
            let stopped = try await app.waitForJob(running.id, toBe: [.cancelled, .failed, .succeeded], timeout: .seconds(30))
            let again = try await app.request(.POST, "/api/v1/jobs/\(running.id)/cancel", token: token)
            // verify
            #expect(try cancelQueued.decode(JobDTO.self).status == .cancelled)
            #expect(cancelRunning.status == .ok)
            #expect(stopped.status == .cancelled)
            #expect(again.status == .conflict && again.errorCode == "job_finished")
            #expect(started.entries.filter { $0.job == later.id }.isEmpty)
            #expect(try await app.auditEntries(action: "job.cancel").filter { $0.outcome == .success }.count == 2)
        }
    }

    @Test(arguments: TestDatabase.all)
    func aJobWhoseWorkerDiedRunsAgainAfterItsLeaseExpires(_ database: TestDatabase) async throws {
        // A lease longer than a restart takes on a loaded machine, so "still claimed" is observable.
        try await withApp(database, configure: { $0.jobLease = .seconds(30) }) { crashed in
            // setup
            let started = AttemptLog()
            try crashed.services.jobs.register(LongJob(started: started))
            let job = try await crashed.services.jobs.enqueue(type: "test.long", by: .system())
            _ = try await crashed.waitForJob(job.id, toBe: [.running])
            // act: the worker dies without a word (kill -9), then a new process starts on the same data
            await (try crashed.services).worker?.abandon()
            let died = Date()
            await crashed.stop()
            let restarted = try await TestApp.start(config: crashed.config, directory: crashed.directory)
            let again = AttemptLog()
            try restarted.services.jobs.register(LongJob(started: again))
            let stuck = try await restarted.services.jobs.find(job.id)
            let deadline = ContinuousClock.now + .seconds(90)
            var resumed = stuck
            while resumed.attempts < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                resumed = try await restarted.services.jobs.find(job.id)
            }
            let waited = Date().timeIntervalSince(died)
            _ = try await restarted.services.jobs.cancel(job.id, by: .system())
            _ = try await restarted.waitForJob(job.id, toBe: [.cancelled])
            await restarted.stop()
            // verify: it stayed claimed until the lease ran out, then ran again as attempt 2
            #expect(stuck.status == .running && stuck.attempts == 1, "a dead worker's job stays running until its lease expires")
            #expect(resumed.status == .running && resumed.attempts == 2)
            #expect(waited >= 2, "taken over after \(waited) s, before the lease could have expired")
            #expect(again.entries.map(\.attempt) == [2])
        }
    }

    @Test(arguments: TestDatabase.all)
    func theLogStreamsLiveAndEndsWithTheJob(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let attempts = AttemptLog()
            try app.services.jobs.register(FlakyJob(maxAttempts: 3, failures: 1, attempts: attempts))
            let token = try await app.token(role: .viewer)
            let job = try await app.services.jobs.enqueue(type: "test.flaky", runAt: Date().addingTimeInterval(3600), by: .system())
            // act: follow the log while the job waits, then make it due
            let stream = try await SSEReader.open(app.baseURL + "/api/v1/jobs/\(job.id)/log", token: token)
            var events: [SSEReader.Message] = []
            if let first = await stream.next() { events.append(first) }
            try await JobRecord.query(on: app.app.db).set(\.$runAt, to: Date()).filter(\.$id == job.id).update()
            try app.services.jobs.wake()
            while let message = await stream.next(timeout: .seconds(15)) {
                events.append(message)
                if message.event == "end" { break }
            }
            stream.close()
            // verify
            #expect(events.first?.event == "status" && events.first?.data.contains(#""status":"queued""#) == true, "\(events.first?.data ?? "")")
            #expect(events.contains { $0.event == "log" && $0.data.contains("attempt 1 starting") })
            #expect(events.contains { $0.event == "status" && $0.data.contains(#""status":"running""#) })
            #expect(events.last?.event == "end" && events.last?.data.contains(#""status":"succeeded""#) == true)
            let lines = events.filter { $0.event == "log" }.compactMap(\.id).compactMap(Int.init)
            #expect(lines == lines.sorted() && Set(lines).count == lines.count, "each line once, in order")
        }
    }

    @Test(arguments: TestDatabase.all)
    func operatorsCanRunTheMaintenanceJobWhichAppliesRetention(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let services = try app.services
            let token = try await app.token(role: .operator)
            let viewer = try await app.token(role: .viewer)
            let old = EventRecord()
            old.type = "test.ancient"
            old.occurredAt = Date().addingTimeInterval(-90 * 86400)
            old.data = "{}"
            try await old.create(on: app.app.db)
            // act
            let refused = try await app.request(.POST, "/api/v1/jobs", token: token, json: #"{"type":"test.unknown"}"#)
            let forbidden = try await app.request(.POST, "/api/v1/jobs", token: viewer, json: #"{"type":"maintenance.retention"}"#)
            let queued = try await app.request(.POST, "/api/v1/jobs", token: token, json: #"{"type":"maintenance.retention"}"#)
            let job = try queued.decode(JobDTO.self)
            let finished = try await app.waitForJob(job.id, toBe: [.succeeded, .failed])
            // verify
            #expect(refused.status == .unprocessableEntity && refused.errorCode == "unknown_job_type")
            #expect(forbidden.status == .forbidden)
            #expect(queued.status == .created)
            #expect(finished.status == .succeeded)
            #expect(try await EventRecord.query(on: app.app.db).filter(\.$type == "test.ancient").count() == 0)
            let log = try await services.jobs.logLines(jobID: job.id, after: 0).map(\.line)
            #expect(log.contains("deleted 1 events"))
            let metrics = try await app.request(.GET, "/metrics")
            #expect(metrics.body.contains(#"nebula_jobs_finished_total{type="maintenance.retention",outcome="succeeded"} 1"#))
        }
    }

    @Test(arguments: TestDatabase.onlyPostgres)
    func twoReplicasNeverRunTheSameJobAtOnce(_ database: TestDatabase) async throws {
        try await withApp(database) { first in
            // setup
            let runs = AttemptLog()
            let second = try await TestApp.start(config: first.config, directory: first.directory)
            try first.services.jobs.register(ExclusiveJob(runs: runs, owner: "first"))
            try second.services.jobs.register(ExclusiveJob(runs: runs, owner: "second"))
            // act
            var ids: [UUID] = []
            for _ in 0..<40 { ids.append(try await first.services.jobs.enqueue(type: "test.exclusive", by: .system()).id) }
            for id in ids { _ = try await first.waitForJob(id, toBe: [.succeeded, .failed]) }
            await second.stop()
            // verify
            let entries = runs.entries
            #expect(entries.count == 40, "every job ran exactly once")
            #expect(Set(entries.map(\.job)) == Set(ids))
            #expect(runs.overlaps == 0)
            #expect(Set(entries.map(\.owner)) == ["first", "second"], "both replicas took work")
        }
    }
}
