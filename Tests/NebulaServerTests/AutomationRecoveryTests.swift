import DockerEngine
import Fluent
import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing

/// Runs that outlive a crash, and the actions that reach real machinery (dockerd, commands).
@Suite struct AutomationRecoveryTests {
    /// A run whose step is journaled `running`, its job claimed by a worker that died (lease expired):
    /// a new control plane on the same data resumes it (an idempotent step runs again) or fails it
    /// with the reason (a step that may have had side effects is never repeated).
    @Test(arguments: TestDatabase.all)
    func aRunInterruptedMidStepResumesOrFailsWithItsReasonAfterARestart(_ database: TestDatabase) async throws {
        let peer = try await LoopbackHTTPServer.start()
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup: two runs queued while no worker runs
            let token = try await app.token(role: .operator)
            let safe = try await app.importRunbook("""
            name: safe-to-repeat
            steps:
              - { name: Hold, action: wait, params: { duration: 1s } }
              - { name: After, action: log, params: { message: after } }
            """, token: token)
            let risky = try await app.importRunbook("""
            name: risky
            steps:
              - { name: Call, action: http, params: { method: POST, url: "\(peer.url)/restart" } }
              - { name: After, action: log, params: { message: after } }
            """, token: token)
            let safeRun = try await app.startRun(safe.id, token: token)
            let riskyRun = try await app.startRun(risky.id, token: token)
            // The crash: each job claimed by a worker that died mid-step (lease expired), step journaled running.
            let db = app.app.db
            for (run, step) in [(safeRun, "hold"), (riskyRun, "call")] {
                let job = try #require(try await JobRecord.find(try #require(run.jobId), on: db))
                job.status = .running
                job.leaseOwner = "dead-host:1:gone/abcd1234"
                job.leaseExpiresAt = Date().addingTimeInterval(-1)
                job.attempts = 1
                job.startedAt = Date()
                try await job.update(on: db)
                let record = try #require(try await RunbookRun.find(run.id, on: db))
                record.status = .running
                record.startedAt = Date()
                try await record.update(on: db)
                let row = try #require(try await RunStepRecord.query(on: db).filter(\.$runID == run.id).filter(\.$stepID == step).first())
                row.status = .running
                row.attempt = 1
                row.startedAt = Date()
                try await row.update(on: db)
            }
            await app.stop()
            // act: a new process on the same data
            let restarted = try await TestApp.start(config: app.config, directory: app.directory)
            let resumed = try await restarted.waitForRun(safeRun.id, token: token, toBe: [.succeeded, .failed])
            let failed = try await restarted.waitForRun(riskyRun.id, token: token, toBe: [.succeeded, .failed])
            await restarted.stop()
            // verify
            #expect(resumed.run.status == .succeeded, "\(resumed.logText)")
            #expect(resumed.step("hold")?.attempt == 2 && resumed.step("after")?.status == .succeeded)
            #expect(resumed.logText.contains("was interrupted; running it again"))
            #expect(failed.run.status == .failed)
            #expect(failed.run.error == "interrupted while step call was running; not retried because it may have had side effects")
            #expect(failed.step("after")?.status == .skipped)
            #expect(peer.requests.isEmpty, "the POST was not repeated")
        }
        await peer.stop()
    }

    /// The sweeper fails a run whose job is gone instead of leaving it "running" forever.
    @Test(arguments: TestDatabase.all)
    func aRunWhoseJobIsGoneIsFailedBySweep(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup
            let token = try await app.token(role: .operator)
            let runbook = try await app.importRunbook("name: orphan\nsteps:\n  - { name: Say, action: log, params: { message: hi } }\n", token: token)
            let run = try await app.startRun(runbook.id, token: token)
            let job = try #require(try await JobRecord.find(try #require(run.jobId), on: app.app.db))
            job.status = .failed
            job.lastError = "gave up"
            try await job.update(on: app.app.db)
            // act
            try await app.services.automationBackground.sweep()
            // verify
            let detail = try await app.runDetail(run.id, token: token)
            #expect(detail.run.status == .failed && detail.run.error?.contains("abandoned") == true && detail.run.error?.contains("gave up") == true)
        }
    }

    @Test(arguments: TestDatabase.all)
    func theDockerActionRestartsARealContainerUpToItsHourlyLimit(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await TestEngine.withContainer(["sleep", "600"]) { name in
                // setup
                let token = try await app.token(role: .operator)
                _ = try await app.services.fleet.ensureLocalServer(hostName: "nas")
                let docker = try TestEngine.client()
                let before = try await docker.inspect(ContainerID(name)).startedAt
                let runbook = try await app.importRunbook("""
                name: restart-with-limit
                inputs: [{ name: container, required: true }]
                steps:
                  - { name: Restart, action: docker, params: { command: restart, container: "{{ inputs.container }}", timeout: 1, max_restarts_per_hour: 1 } }
                """, token: token)
                // act
                let first = try await app.waitForRun(try await app.startRun(runbook.id, token: token, inputs: ["container": .string(name)]).id,
                                                     token: token, toBe: [.succeeded, .failed])
                let after = try await docker.inspect(ContainerID(name))
                let second = try await app.waitForRun(try await app.startRun(runbook.id, token: token, inputs: ["container": .string(name)]).id,
                                                      token: token, toBe: [.succeeded, .failed])
                // verify
                #expect(first.run.status == .succeeded, "\(first.logText)")
                #expect(after.running && (after.startedAt ?? .distantPast) > (before ?? .distantFuture), "the container was restarted")
                #expect(second.run.status == .failed && second.step("restart")?.error?.contains("restart limit reached") == true, "\(second.logText)")
                #expect(try await app.auditEntries(action: "container.restart").contains { $0.actor == "automation" && $0.outcome == .success })
            }
        }
    }

    @Test func theAgentRunsOnlyAllowListedCommands() async throws {
        // setup
        let actions = NodeActions()
        // act
        let allowed = await actions.perform(AgentRequest(action: .exec, exec: ExecCall(argv: ["df", "-h", "/"], timeoutSeconds: 10)))
        let refused = await actions.perform(AgentRequest(action: .exec, exec: ExecCall(argv: ["rm", "-rf", "/tmp/nebula-never"], timeoutSeconds: 10)))
        let sneaky = await actions.perform(AgentRequest(action: .exec, exec: ExecCall(argv: ["du", "-sh", "/tmp; rm -rf /"], timeoutSeconds: 10)))
        // verify
        #expect(allowed.ok && allowed.exec?.status == 0 && allowed.exec?.output.contains("Filesystem") == true, "\(allowed)")
        #expect(!refused.ok && refused.message.contains("not on the allow-list") && refused.exec == nil)
        #expect(!sneaky.ok && sneaky.exec == nil, "arguments are checked by pattern")
    }

    @Test(arguments: TestDatabase.all)
    func execThroughAnAgentNodeRunsTheCommandThere(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "edge-1")
            let agent = try await app.startAgent(for: server.id, joinToken: joinToken)
            defer { agent.cancel() }
            let runbook = try await app.importRunbook("""
            name: agent-exec
            steps:
              - { name: Uptime, action: exec, params: { command: uptime, server: edge-1 } }
            """, token: token)
            // act
            let detail = try await app.waitForRun(try await app.startRun(runbook.id, token: token).id, token: token, toBe: [.succeeded, .failed])
            // verify
            #expect(detail.run.status == .succeeded, "\(detail.logText)")
            #expect(detail.step("uptime")?.output?.objectValue?["output"]?.textValue?.contains("load average") == true)
            #expect(detail.step("uptime")?.output?.objectValue?["server"] == "edge-1")
        }
    }
}
