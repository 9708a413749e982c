import AsyncHTTPClient
import Foundation
import NebulaCore
@testable import NebulaServer
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// A real `nebula serve` killed with SIGKILL in the middle of a run, then started again on the
/// same data: the run resumes when the interrupted step is safe to repeat, and fails saying why
/// when it may have had side effects — never left `running`, never repeating a side effect.
/// (AutomationRecoveryTests fakes the crash in-process; these crash the real executable.)
@Suite struct AutomationCrashTests {
    /// Seconds a job stays claimed without a heartbeat; the restarted process takes the killed
    /// one's run back once it lapses.
    static let jobLeaseSeconds = 10

    @Test(arguments: TestDatabase.all)
    func aRunKilledDuringAnIdempotentStepResumesAfterRestart(_ database: TestDatabase) async throws {
        try await Self.withHome(database) { home in
            // setup
            let token = try await home.adminToken()
            let first = try await home.serve()
            let runbook = try await Self.importRunbook(first.baseURL, token: token, yaml: """
            name: crash-resume
            steps:
              - { name: Before, action: log, params: { message: "logged before the crash" } }
              - { name: Hold, action: wait, params: { duration: 20s } }
              - { name: After, action: log, params: { message: "logged after the restart" } }
            """)
            let run = try await Self.startRun(first.baseURL, token: token, runbook: runbook)
            let beforeCrash = try await Self.waitForStep("hold", of: run, on: first.baseURL, token: token, toBe: .running)
            try #require(beforeCrash.step("hold")?.status == .running, "the wait never started: \(beforeCrash.logText)\n\(first.logTail)")

            // act
            let killed = await first.kill()
            let second = try await home.serve()
            let after = try await Self.waitForRun(run, on: second.baseURL, token: token, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(120))

            // verify
            #expect(killed.reason == .uncaughtSignal && killed.status == SIGKILL)
            #expect(after.run.status == .succeeded, "\(after.run.error ?? "")\n\(after.logText)\n\(second.logTail)")
            #expect(after.step("hold")?.attempt == 2 && after.step("hold")?.status == .succeeded, "the wait ran again")
            #expect(after.logText.contains("the step hold was interrupted; running it again (wait is safe to repeat)"), "\(after.logText)")
            #expect(after.logText.contains("run continues (job attempt 2)"), "\(after.logText)")
            let before = try #require(after.step("before"))
            #expect(before.status == .succeeded && before.attempt == 1, "the first log step was not run again")
            #expect(before.finishedAt == beforeCrash.step("before")?.finishedAt, "its journal entry is the one written before the crash")
            #expect(after.log.filter { $0.line == "logged before the crash" }.count == 1, "\(after.logText)")
            #expect(after.log.filter { $0.line == "logged after the restart" }.count == 1, "\(after.logText)")
            #expect(after.step("after")?.status == .succeeded)
            let job = try await Self.job(try #require(after.run.jobId), on: second.baseURL, token: token)
            #expect(job.status == .succeeded && job.attempts >= 2, "claimed by the first process and again by the second: \(job)")
        }
    }

    @Test(arguments: TestDatabase.all)
    func aRunKilledDuringASideEffectStepFailsWithTheReason(_ database: TestDatabase) async throws {
        // The peer holds the POST for 30 s: the process is killed while it waits for the answer.
        try await withLoopbackServer({ request, _ in
            request.method == "POST" ? .init(status: .ok, body: "restarted", delay: .seconds(30)) : .init()
        }) { peer in
            try await Self.withHome(database) { home in
                // setup
                let token = try await home.adminToken()
                let first = try await home.serve()
                let runbook = try await Self.importRunbook(first.baseURL, token: token, yaml: """
                name: crash-side-effect
                steps:
                  - { name: Before, action: log, params: { message: "logged before the call" } }
                  - { name: Call, action: http, timeout: 5m, params: { method: POST, url: "\(peer.url)/restart", body: { reason: crash-test } } }
                  - { name: After, action: log, params: { message: "never logged" } }
                """)
                let run = try await Self.startRun(first.baseURL, token: token, runbook: runbook)
                try await Self.waitUntil(within: .seconds(60)) { peer.requests.contains { $0.method == "POST" } }
                let inFlight = try await Self.runDetail(run, on: first.baseURL, token: token)
                try #require(peer.requests.count == 1 && inFlight.step("call")?.status == .running,
                             "the POST is not in flight: \(peer.requests.count) request(s)\n\(inFlight.logText)\n\(first.logTail)")

                // act
                let killed = await first.kill()
                let second = try await home.serve()
                let after = try await Self.waitForRun(run, on: second.baseURL, token: token, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(120))
                // A few more seconds: the failed run stays failed and nothing calls the peer again.
                try await Task.sleep(for: .seconds(3))
                let settled = try await Self.runDetail(run, on: second.baseURL, token: token)

                // verify
                #expect(killed.reason == .uncaughtSignal && killed.status == SIGKILL)
                #expect(after.run.status == .failed, "\(after.logText)\n\(second.logTail)")
                #expect(after.run.error == "interrupted while step call was running; not retried because it may have had side effects")
                #expect(after.run.finishedAt != nil)
                let call = try #require(after.step("call"))
                #expect(call.status == .failed && call.attempt == 1, "\(call)")
                #expect(call.error == "interrupted (the control plane stopped while it ran); not retried because it may have had side effects")
                #expect(after.step("before")?.status == .succeeded && after.step("before")?.attempt == 1)
                #expect(after.step("after")?.status == .skipped)
                #expect(!after.logText.contains("never logged"))
                let posts = peer.requests.filter { $0.method == "POST" }
                #expect(posts.count == 1 && posts.first?.path == "/restart", "the POST reached the peer exactly once")
                #expect(peer.requests.count == 1)
                #expect(try posts.first?.json()["reason"] as? String == "crash-test")
                #expect(settled.run.status == .failed && settled.steps.allSatisfy { $0.status != .running }, "never left running: \(settled.steps.map(\.status))")
                let job = try await Self.job(try #require(after.run.jobId), on: second.baseURL, token: token)
                #expect(job.status.isFinal, "the run's job is over, so nothing picks the run up again: \(job)")
            }
        }
    }

    // MARK: Processes

    /// One data directory (and, on PostgreSQL, one database) shared by the processes of a test,
    /// and every `nebula serve` started on it.
    final class Home: Sendable {
        let directory: URL
        let environment: [String: String]
        private let children = Mutex<[ServedNebula]>([])

        init(directory: URL, environment: [String: String]) {
            self.directory = directory
            self.environment = environment
        }

        /// An admin user and a token for it, made with the real CLI on this data.
        func adminToken() async throws -> String {
            let user = try await CLI.run(["user", "create", "--username", "crash-admin", "--role", "admin"],
                                         stdin: "crash-password-123\ncrash-password-123\n", environment: environment)
            try #require(user.status == 0, "nebula user create: \(user.stderr)")
            let token = try await CLI.run(["token", "create", "--username", "crash-admin", "--name", "crash-test"], environment: environment)
            try #require(token.status == 0 && token.lastLine.hasPrefix("nbl_"), "nebula token create: \(token.stderr)")
            return token.lastLine
        }

        /// Starts `nebula serve` on this data; its output goes to `serve-N.log` in the directory.
        func serve() async throws -> ServedNebula {
            let number = children.withLock { $0.count } + 1
            let served = try await ServedNebula.start(environment: environment, workingDirectory: directory,
                                                      logFile: directory.appendingPathComponent("serve-\(number).log"))
            children.withLock { $0.append(served) }
            return served
        }

        /// Kills every child still running.
        func killAll() async {
            for child in children.withLock({ $0 }) where child.isRunning { await child.kill() }
        }
    }

    /// Runs `body` with a fresh home and always kills its children and removes it afterwards.
    static func withHome(_ database: TestDatabase, _ body: (Home) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (db, cleanup): (Config.Database, @Sendable () async -> Void)
        do {
            (db, cleanup) = try await database.provision(in: directory)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        // Only what this test sets: a developer's own NEBULA_* or DATABASE_URL must not leak in.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NEBULA_") && $0.key != "DATABASE_URL" }
        environment["NEBULA_DATA_DIR"] = directory.path
        if case .postgres(let url) = db { environment["DATABASE_URL"] = url }
        environment["NEBULA_JOB_LEASE_SECONDS"] = String(jobLeaseSeconds)
        environment["NEBULA_LOCAL_AGENT"] = "false"
        environment["NEBULA_LOG_LEVEL"] = "info"
        // Never the real systemctl.
        environment["NEBULA_REBOOT_COMMAND"] = "true"
        environment["NEBULA_SHUTDOWN_COMMAND"] = "true"
        let home = Home(directory: directory, environment: environment)
        do {
            try await body(home)
        } catch {
            await home.killAll()
            await cleanup()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        await home.killAll()
        await cleanup()
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: API

    static func request(_ method: HTTPMethod, _ url: String, token: String, json: String? = nil) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await TestApp.client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return TestResponse(status: response.status, headers: response.headers, body: String(buffer: body), data: Data(buffer: body))
    }

    static func importRunbook(_ base: String, token: String, yaml: String) async throws -> UUID {
        let body = String(decoding: try JSONEncoder().encode(["yaml": yaml]), as: UTF8.self)
        let response = try await request(.POST, base + "/api/v1/runbooks", token: token, json: body)
        try #require(response.status == .created, "import answered \(response.status.code): \(response.body.prefix(600))")
        return try response.decode(RunbookDTO.self).id
    }

    static func startRun(_ base: String, token: String, runbook: UUID) async throws -> UUID {
        let response = try await request(.POST, base + "/api/v1/runbooks/\(runbook)/runs", token: token, json: #"{"dryRun": false}"#)
        try #require(response.status == .accepted, "start answered \(response.status.code): \(response.body.prefix(600))")
        return try response.decode(RunSummaryDTO.self).id
    }

    static func runDetail(_ run: UUID, on base: String, token: String) async throws -> RunDetailDTO {
        try await request(.GET, base + "/api/v1/runs/\(run)", token: token).decode(RunDetailDTO.self)
    }

    static func job(_ id: UUID, on base: String, token: String) async throws -> JobDTO {
        try await request(.GET, base + "/api/v1/jobs/\(id)", token: token).decode(JobDTO.self)
    }

    /// Polls the run until its status is one of `statuses` or the deadline passes; returns its last state.
    static func waitForRun(_ run: UUID, on base: String, token: String, toBe statuses: Set<RunStatus>, timeout: Duration) async throws -> RunDetailDTO {
        let deadline = ContinuousClock.now + timeout
        while true {
            let detail = try await runDetail(run, on: base, token: token)
            if statuses.contains(detail.run.status) || ContinuousClock.now > deadline { return detail }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Polls the run until step `id` has `status` (or the run ended, or 60 s passed); returns its last state.
    static func waitForStep(_ id: String, of run: UUID, on base: String, token: String, toBe status: RunStepStatus) async throws -> RunDetailDTO {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let detail = try await runDetail(run, on: base, token: token)
            if detail.step(id)?.status == status || detail.run.status.isFinal || ContinuousClock.now > deadline { return detail }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    static func waitUntil(within timeout: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
    }
}
