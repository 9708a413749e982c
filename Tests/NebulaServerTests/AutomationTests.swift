import DockerEngine
import Fluent
import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing

/// Runbooks end to end through the API: storage, the engine, actions against real peers
/// (loopback HTTP, this machine's commands, the test dockerd), approvals, pause, concurrency,
/// escalation and triggers.
@Suite struct AutomationTests {
    @Test(arguments: TestDatabase.all)
    func anInvalidRunbookIsRefusedWithLocatedProblemsAndNothingIsSaved(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let yaml = "name: half-saved\nsteps:\n  - name: Go\n    action: teleport\n  - name: Say\n    action: log\n    params: { message: \"{{ inputs.nope }}\" }\n"
            // act
            let response = try await app.request(.POST, "/api/v1/runbooks", token: token,
                                                 json: String(decoding: try JSONEncoder().encode(["yaml": yaml]), as: UTF8.self))
            let list = try await app.request(.GET, "/api/v1/runbooks", token: token).decode(ListPage<RunbookDTO>.self)
            // verify
            #expect(response.status == .unprocessableEntity)
            let body = try response.decode(RunbookProblemsResponse.self)
            #expect(body.error.code == "invalid_runbook")
            #expect(body.error.problems.contains { $0.path == "steps[0].action" && $0.line == 4 && $0.column == 13 })
            #expect(body.error.problems.contains { $0.path == "steps[1].params.message" && $0.line == 7 })
            #expect(list.total == 0, "nothing half-saved")
        }
    }

    @Test(arguments: TestDatabase.all)
    func aDryRunRendersEveryStepAndChangesNothing(_ database: TestDatabase) async throws {
        let peer = try await LoopbackHTTPServer.start()
        try await withApp(database) { app in
            // setup: a file a real run would delete, a peer a real run would call
            let token = try await app.token(role: .operator)
            _ = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            let folder = "/tmp/nebula-dry-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let old = folder + "/old.log"
            FileManager.default.createFile(atPath: old, contents: Data("x".utf8))
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-5 * 86400)], ofItemAtPath: old)
            let runbook = try await app.importRunbook("""
            name: dry-everything
            inputs:
              - { name: target, type: string, required: true }
            steps:
              - { name: Remember, action: set, params: { who: "{{ inputs.target }}" } }
              - { name: Call, action: http, params: { method: POST, url: "\(peer.url)/hook/{{ vars.who }}", body: { target: "{{ inputs.target }}" } } }
              - { name: Clean, action: exec, params: { command: "find \(folder) -type f -mtime +1 -delete" } }
              - { name: Restart, action: docker, params: { command: restart, container: "{{ inputs.target }}" } }
              - { name: Pause, action: wait, params: { duration: 30m } }
              - { name: Ask, action: approval, params: { message: "restart {{ inputs.target }}?" } }
              - { name: Tell, action: notify, params: { channel: nowhere, message: "done with {{ inputs.target }}" } }
            """, token: token)
            // act
            let run = try await app.startRun(runbook.id, token: token, dryRun: true, inputs: ["target": "web-1"])
            let detail = try await app.waitForRun(run.id, token: token, toBe: [.succeeded, .failed])
            // verify
            #expect(detail.run.status == .succeeded, "\(detail.logText)")
            #expect(detail.steps.count == 7 && detail.steps.allSatisfy { $0.status == .succeeded && $0.note?.hasPrefix("would") == true }, "\(detail.steps.map(\.note))")
            #expect(detail.step("call")?.note?.contains("\(peer.url)/hook/web-1") == true, "templates rendered: \(String(describing: detail.step("call")?.note))")
            #expect(detail.step("restart")?.note == "would restart the container web-1 on the local server")
            #expect(detail.step("ask")?.note?.contains("would wait for approval") == true)
            #expect(peer.requests.isEmpty, "no HTTP request was sent")
            #expect(FileManager.default.fileExists(atPath: old), "no command ran")
            #expect(detail.run.dryRun)
        }
        await peer.stop()
    }

    @Test(arguments: TestDatabase.all)
    func aRunCallsHTTPWithASecretRunsACommandAndMasksTheSecret(_ database: TestDatabase) async throws {
        let peer = try await LoopbackHTTPServer.start { _, _ in .init(status: .ok, body: "pong") }
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            _ = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            _ = try await app.services.secrets.store(name: "hook-token", value: "s3cret-hook-value", description: nil, replace: false, by: .system())
            let folder = "/tmp/nebula-run-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let old = folder + "/old.log", fresh = folder + "/fresh.log"
            FileManager.default.createFile(atPath: old, contents: Data("x".utf8))
            FileManager.default.createFile(atPath: fresh, contents: Data("y".utf8))
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-5 * 86400)], ofItemAtPath: old)
            let runbook = try await app.importRunbook("""
            name: real-run
            steps:
              - { name: Remember, action: set, params: { path: hook } }
              - name: Call
                action: http
                params:
                  method: POST
                  url: "\(peer.url)/{{ vars.path }}?token={{ secrets.hook-token }}"
                  headers: { Authorization: "Bearer {{ secrets.hook-token }}" }
                  body: { hello: world }
              - { name: Clean, action: exec, params: { command: "find \(folder) -type f -mtime +1 -delete" } }
              - { name: Disk, action: exec, params: { command: [df, -h, /] } }
              - { name: Report, action: log, params: { message: "answer {{ steps.call.status_code }} {{ steps.call.body }}" } }
            """, token: token)
            // act
            let run = try await app.startRun(runbook.id, token: token)
            let detail = try await app.waitForRun(run.id, token: token, toBe: [.succeeded, .failed])
            let raw = try await app.request(.GET, "/api/v1/runs/\(run.id)", token: token).body
            // verify
            #expect(detail.run.status == .succeeded, "\(detail.logText)")
            let received = try #require(peer.requests.first)
            #expect(received.method == "POST" && received.path == "/hook")
            #expect(received.headers.first(name: "Authorization") == "Bearer s3cret-hook-value", "the secret reached the peer")
            #expect(try received.json()["hello"] as? String == "world")
            #expect(!raw.contains("s3cret-hook-value"), "the secret is masked in the journal and log")
            #expect(raw.contains("••••"))
            #expect(!FileManager.default.fileExists(atPath: old) && FileManager.default.fileExists(atPath: fresh), "find deleted only the old file")
            #expect(detail.step("disk")?.output?.objectValue?["output"]?.textValue?.contains("Filesystem") == true)
            #expect(detail.logText.contains("answer 200 pong"))
            #expect(!(try await app.auditEntries(action: "runbook.run")).isEmpty)
        }
        await peer.stop()
    }

    @Test(arguments: TestDatabase.all)
    func aStepRetriesWithBackoffAndAnotherTimesOut(_ database: TestDatabase) async throws {
        let peer = try await LoopbackHTTPServer.start { _, index in .init(status: index < 2 ? .serviceUnavailable : .ok) }
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let runbook = try await app.importRunbook("""
            name: flaky
            steps:
              - name: Call
                action: http
                params: { url: "\(peer.url)/health" }
                retries: { attempts: 3, backoff: { initial: 1s, factor: 2, max: 10s } }
              - { name: Slow, action: wait, params: { duration: 30s }, timeout: 1s }
              - { name: Never, action: log, params: { message: unreachable } }
            """, token: token)
            // act
            let run = try await app.startRun(runbook.id, token: token)
            let detail = try await app.waitForRun(run.id, token: token, toBe: [.succeeded, .failed])
            // verify
            let times = peer.requests.count
            #expect(times == 3)
            #expect(detail.step("call")?.status == .succeeded && detail.step("call")?.attempt == 3)
            #expect(detail.logText.contains("retrying in 1 s") && detail.logText.contains("retrying in 2 s"), "\(detail.logText)")
            #expect(detail.step("slow")?.status == .failed && detail.step("slow")?.error?.contains("timed out after 1 s") == true)
            #expect(detail.step("never")?.status == .skipped)
            #expect(detail.run.status == .failed && detail.run.error?.contains("step slow failed") == true)
        }
        await peer.stop()
    }

    @Test(arguments: TestDatabase.all)
    func approvalsAreApprovedRejectedOrTimeOut(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let viewer = try await app.token(role: .viewer)
            let operatorToken = try await app.token(role: .operator)
            // A long timeout where a person decides (a loaded machine must not time them out), a short one where nobody does.
            let runbook = try await app.importRunbook("""
            name: gated
            steps:
              - { name: Ask, action: approval, params: { message: "go?", timeout: 10m } }
              - { name: Go, action: log, params: { message: "went after {{ steps.ask.by }}" } }
            """, token: operatorToken)
            let hurried = try await app.importRunbook("""
            name: gated-briefly
            steps:
              - { name: Ask, action: approval, params: { message: "go?", timeout: 2s } }
              - { name: Go, action: log, params: { message: "went after {{ steps.ask.by }}" } }
            """, token: operatorToken)
            // act: approve
            let first = try await app.startRun(runbook.id, token: operatorToken)
            let waiting = try await app.waitForRun(first.id, token: operatorToken, toBe: [.waitingApproval])
            let denied = try await app.request(.POST, "/api/v1/runs/\(first.id)/approve", token: viewer)
            let approved = try await app.request(.POST, "/api/v1/runs/\(first.id)/approve", token: operatorToken)
            let done = try await app.waitForRun(first.id, token: operatorToken, toBe: [.succeeded, .failed])
            // act: reject
            let second = try await app.startRun(runbook.id, token: operatorToken)
            _ = try await app.waitForRun(second.id, token: operatorToken, toBe: [.waitingApproval])
            _ = try await app.request(.POST, "/api/v1/runs/\(second.id)/reject", token: operatorToken)
            let rejected = try await app.waitForRun(second.id, token: operatorToken, toBe: [.succeeded, .failed])
            // act: nobody decides
            let third = try await app.startRun(hurried.id, token: operatorToken)
            _ = try await app.waitForRun(third.id, token: operatorToken, toBe: [.waitingApproval])
            try await Task.sleep(for: .seconds(2.5))
            try await app.services.automationBackground.sweep()
            let timedOut = try await app.waitForRun(third.id, token: operatorToken, toBe: [.succeeded, .failed])
            // verify
            #expect(waiting.run.approvalStep == "ask" && waiting.run.approvalDeadline != nil)
            #expect(denied.status == .forbidden)
            #expect(approved.status == .ok)
            #expect(done.run.status == .succeeded && done.logText.contains("went after operator-"), "\(done.logText)")
            #expect(rejected.run.status == .failed && rejected.step("ask")?.error?.contains("rejected by operator-") == true)
            #expect(rejected.step("go")?.status == .skipped)
            #expect(timedOut.run.status == .failed && timedOut.step("ask")?.error?.contains("timed out") == true)
            #expect(try await app.auditEntries(action: "runbook.run.approve").count == 2, "the denial and the approval")
            // The decision is audited just after the run is queued again, so the run may end first.
            #expect(try await waitUntil(timeout: .seconds(30)) { try await app.auditEntries(action: "runbook.run.reject").count == 2 },
                    "the rejection and the time-out")
        }
    }

    @Test(arguments: TestDatabase.all)
    func pauseSkipsTriggeredRunsRefusesManualOnesAndStopsRunningOnes(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let long = try await app.importRunbook("""
            name: long-one
            steps:
              - { name: Hold, action: wait, params: { duration: 6s } }
              - { name: After, action: log, params: { message: after } }
            """, token: token)
            let reactive = try await app.importRunbook("""
            name: reactive
            trigger: { type: event, event: test.automation_ping }
            steps:
              - { name: Say, action: log, params: { message: "ping {{ event.subject }}" } }
            """, token: token)
            let running = try await app.startRun(long.id, token: token)
            _ = try await waitUntil { try await app.runDetail(running.id, token: token).step("hold")?.status == .running }
            // act
            let pause = try await app.request(.PUT, "/api/v1/automation/paused", token: token, json: #"{"paused":true}"#)
            let paused = try await app.waitForRun(running.id, token: token, toBe: [.paused, .succeeded, .failed])
            let manual = try await app.request(.POST, "/api/v1/runbooks/\(long.id)/runs", token: token, json: #"{"dryRun":false}"#)
            await (try app.services).events.publish("test.automation_ping", subject: "box-1")
            _ = try await waitUntil { !(try await app.services.automation.runs(runbook: reactive.id, by: .system())).isEmpty }
            let skipped = try await app.services.automation.runs(runbook: reactive.id, by: .system())
            let resume = try await app.request(.PUT, "/api/v1/automation/paused", token: token, json: #"{"paused":false}"#)
            let resumed = try await app.waitForRun(running.id, token: token, toBe: [.succeeded, .failed])
            // verify
            #expect(pause.status == .ok && resume.status == .ok)
            #expect(paused.run.status == .paused, "stopped before its next step")
            #expect(paused.step("hold")?.status == .succeeded && paused.step("after")?.status == .pending,
                    "steps: \(paused.steps.map { "\($0.stepId) \($0.status.rawValue) attempt \($0.attempt)" }); log: \(paused.logText)")
            #expect(manual.status == .conflict && manual.errorCode == "automation_paused")
            #expect(skipped.count == 1 && skipped.first?.status == .skipped && skipped.first?.error == "automation paused")
            #expect(resumed.run.status == .succeeded && resumed.step("after")?.status == .succeeded)
            #expect(try await app.request(.GET, "/api/v1/automation/paused", token: token).decode(AutomationPausedDTO.self).paused == false)
        }
    }

    @Test(arguments: TestDatabase.all)
    func concurrencyKeysSkipOrQueueOverlappingRuns(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            func runbook(_ name: String, _ policy: String) async throws -> RunbookDTO {
                try await app.importRunbook("""
                name: \(name)
                inputs: [{ name: target, required: true }]
                concurrency: { key: "{{ inputs.target }}", policy: \(policy) }
                steps:
                  - { name: Hold, action: wait, params: { duration: 1s } }
                """, token: token)
            }
            let skipper = try await runbook("skipper", "skip")
            let queuer = try await runbook("queuer", "queue")
            // act
            let a = try await app.startRun(skipper.id, token: token, inputs: ["target": "db"])
            let b = try await app.startRun(skipper.id, token: token, inputs: ["target": "db"])
            let other = try await app.startRun(skipper.id, token: token, inputs: ["target": "web"])
            let c = try await app.startRun(queuer.id, token: token, inputs: ["target": "db"])
            let d = try await app.startRun(queuer.id, token: token, inputs: ["target": "db"])
            let first = try await app.waitForRun(c.id, token: token, toBe: [.succeeded, .failed])
            let second = try await app.waitForRun(d.id, token: token, toBe: [.succeeded, .failed])
            // verify
            #expect(try await app.waitForRun(a.id, token: token, toBe: [.succeeded]).run.status == .succeeded)
            #expect(b.status == .skipped && b.error?.contains("holds the concurrency key skipper:db") == true)
            #expect(try await app.waitForRun(other.id, token: token, toBe: [.succeeded]).run.status == .succeeded, "another target runs")
            #expect(d.status == .queued)
            #expect(first.run.status == .succeeded && second.run.status == .succeeded)
            let firstEnd = try #require(first.run.finishedAt), secondStart = try #require(second.run.startedAt)
            #expect(secondStart >= firstEnd.addingTimeInterval(-0.01), "the queued run started after the first ended")
        }
    }

    @Test(arguments: TestDatabase.all)
    func consecutiveFailuresEscalate(_ database: TestDatabase) async throws {
        let peer = try await LoopbackHTTPServer.start { _, _ in .init(status: .internalServerError) }
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let runbook = try await app.importRunbook("""
            name: always-fails
            steps:
              - { name: Call, action: http, params: { url: "\(peer.url)/" } }
            escalation: { after_failures: 2, notify: [ops-pager] }
            """, token: token)
            // act
            for _ in 0..<2 {
                let run = try await app.startRun(runbook.id, token: token)
                _ = try await app.waitForRun(run.id, token: token, toBe: [.failed, .succeeded])
            }
            // verify (the run is marked failed a moment before its escalation is sent)
            #expect(try await waitUntil(timeout: .seconds(30)) { try await app.auditEntries(action: "runbook.escalate").count == 1 })
            let escalated = try await app.services.events.recent(types: [.runbookEscalated], before: nil, limit: 10).items
            #expect(escalated.count == 1)
            #expect(escalated.first?.data["failures"] == "2" && escalated.first?.data["channels"] == "ops-pager" && escalated.first?.data["runbook"] == "always-fails")
            #expect(try await app.auditEntries(action: "runbook.escalate").count == 1)
        }
        await peer.stop()
    }

    @Test(arguments: TestDatabase.all)
    func eventAndAlertTriggersStartRunsWithTheirFacts(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let onEvent = try await app.importRunbook("""
            name: on-event
            trigger: { type: event, event: test.disk_full, condition: "event.level == 'high'" }
            steps:
              - { name: Say, action: log, params: { message: "full on {{ event.subject }} at {{ event.level }}" } }
            """, token: token)
            let onAlert = try await app.importRunbook("""
            name: on-alert
            trigger: { type: alert, check: web, condition: "service.health == 'unhealthy' && service.restart_count < 3" }
            steps:
              - { name: Say, action: log, params: { message: "would restart {{ service.container_id }} for {{ incident.severity }}" } }
            """, token: token)
            let incident = UUID()
            // act
            await (try app.services).events.publish("test.disk_full", subject: "nas", data: ["level": "low"])
            await (try app.services).events.publish("test.disk_full", subject: "nas", data: ["level": "high"])
            await (try app.services).events.publish(.incidentOpened, subject: "incident:x", data: ["incidentID": UUID().uuidString, "check": "other", "container": "db"])
            await (try app.services).events.publish(.incidentOpened, subject: "incident:y", data: ["incidentID": incident.uuidString, "check": "web", "container": "web-1",
                                                                                            "severity": "critical"])
            _ = try await waitUntil { try await app.services.automation.runs(runbook: nil, by: .system()).filter { $0.status == .succeeded }.count >= 2 }
            let eventRuns = try await app.services.automation.runs(runbook: onEvent.id, by: .system())
            let alertRuns = try await app.services.automation.runs(runbook: onAlert.id, by: .system())
            // verify
            #expect(eventRuns.count == 1 && eventRuns.first?.trigger == "event")
            #expect(alertRuns.count == 1 && alertRuns.first?.incidentId == incident)
            let eventLog = try await app.runDetail(try #require(eventRuns.first).id, token: token).logText
            let alertLog = try await app.runDetail(try #require(alertRuns.first).id, token: token).logText
            #expect(eventLog.contains("full on nas at high"), "\(eventLog)")
            #expect(alertLog.contains("would restart web-1 for critical"), "\(alertLog)")
        }
    }

    @Test(arguments: TestDatabase.all)
    func aWorkflowRunsReadyStepsAtOnceInDependencyOrderAndSkipsWhatAFailureBlocks(_ database: TestDatabase) async throws {
        let peer = try await LoopbackHTTPServer.start { _, _ in .init(status: .internalServerError) }
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let workflow = try await app.importRunbook("""
            kind: workflow
            name: fan-in
            steps:
              - { name: A, action: wait, params: { duration: 1s } }
              - { name: B, action: wait, params: { duration: 1s } }
              - { name: C, action: log, needs: [a, b], params: { message: "after {{ steps.a.seconds }} and {{ steps.b.seconds }}" } }
              - { name: X, action: http, params: { url: "\(peer.url)/" } }
              - { name: D, action: log, needs: [x], params: { message: d } }
              - { name: E, action: log, needs: [d], params: { message: e } }
              - { name: Handler, action: log, needs: [x], condition: "{{ steps.x.failed }}", params: { message: "x failed: {{ steps.x.error }}" } }
            """, token: token, collection: "workflows")
            // act
            let run = try await app.startRun(workflow.id, token: token, collection: "workflows")
            let detail = try await app.waitForRun(run.id, token: token, toBe: [.succeeded, .failed])
            // verify
            let a = try #require(detail.step("a")), b = try #require(detail.step("b")), c = try #require(detail.step("c"))
            #expect(try #require(b.startedAt) < (try #require(a.finishedAt)), "a and b ran at the same time")
            #expect(try #require(c.startedAt) >= max(try #require(a.finishedAt), try #require(b.finishedAt)), "c waited for both")
            #expect(c.status == .succeeded)
            #expect(detail.step("x")?.status == .failed)
            #expect(detail.step("d")?.status == .skipped && detail.step("e")?.status == .skipped)
            #expect(detail.step("handler")?.status == .succeeded, "a failure handler still runs")
            #expect(detail.run.status == .failed && detail.run.error?.contains("step x failed") == true)
            #expect(try await app.request(.GET, "/api/v1/workflows", token: token).decode(ListPage<RunbookDTO>.self).total == 1)
            #expect(try await app.request(.GET, "/api/v1/runbooks", token: token).decode(ListPage<RunbookDTO>.self).total == 0)
        }
        await peer.stop()
    }

    @Test(arguments: TestDatabase.all)
    func schedulesPersistTheirNextFireRecomputeOnEditAndApplyTheMisfirePolicy(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup
            let token = try await app.token(role: .operator)
            let yaml = { (cron: String, misfire: String) in """
                name: nightly
                trigger: { type: schedule, cron: "\(cron)", timezone: Europe/Berlin, misfire: \(misfire) }
                steps:
                  - { name: Say, action: log, params: { message: "fired {{ trigger.scheduled_at }}" } }
                """ }
            let created = try await app.importRunbook(yaml("30 3 * * *", "skip"), token: token)
            let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
            let expected = try CronSchedule(parsing: "30 3 * * *", timeZone: berlin).nextFire(after: Date())
            // act: edit the schedule
            let body = String(decoding: try JSONEncoder().encode(["yaml": yaml("*/5 * * * *", "skip")]), as: UTF8.self)
            let every5 = try CronSchedule(parsing: "*/5 * * * *", timeZone: berlin)
            // A slow request may cross a five-minute boundary: either side's next fire is right.
            let expectedBeforeEdit = every5.nextFire(after: Date())
            let edited = try await app.request(.PUT, "/api/v1/runbooks/\(created.id)", token: token, json: body).decode(RunbookDTO.self)
            let expectedAfterEdit = every5.nextFire(after: Date())
            // act: the control plane was down an hour (misfire: skip), then with run_once
            let schedule = try #require(try await AutomationSchedule.query(on: app.app.db).filter(\.$runbookID == created.id).first())
            schedule.nextFireAt = Date().addingTimeInterval(-3600)
            try await schedule.update(on: app.app.db)
            let firedAt = Date()
            try await app.services.automationBackground.fireDueSchedules()
            let afterSkip = try await app.services.automation.runs(runbook: created.id, by: .system())
            let movedOn = try #require(try await AutomationSchedule.find(schedule.id, on: app.app.db)?.nextFireAt)
            _ = try await app.request(.PUT, "/api/v1/runbooks/\(created.id)", token: token,
                                      json: String(decoding: try JSONEncoder().encode(["yaml": yaml("*/5 * * * *", "run_once")]), as: UTF8.self))
            let again = try #require(try await AutomationSchedule.query(on: app.app.db).filter(\.$runbookID == created.id).first())
            again.nextFireAt = Date().addingTimeInterval(-3600)
            try await again.update(on: app.app.db)
            try await app.services.automationBackground.fireDueSchedules()
            try await app.services.automationBackground.fireDueSchedules()
            let afterRunOnce = try await app.services.automation.runs(runbook: created.id, by: .system())
            // verify
            #expect(abs((created.nextFireAt ?? .distantPast).timeIntervalSince(expected ?? .distantFuture)) < 1, "persisted next fire")
            #expect([expectedBeforeEdit, expectedAfterEdit].contains { abs((edited.nextFireAt ?? .distantPast).timeIntervalSince($0 ?? .distantFuture)) < 1 },
                    "recomputed on edit")
            #expect(afterSkip.isEmpty, "misfire skip fires nothing")
            #expect(movedOn > firedAt, "and moves on to the next time")
            #expect(afterRunOnce.count == 1 && afterRunOnce.first?.trigger == "schedule", "run_once fires once for all missed times")
        }
    }

    @Test(arguments: TestDatabase.all)
    func theSchedulerLoopFiresAnEverySchedule(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let runbook = try await app.importRunbook("""
            name: ticking
            trigger: { type: schedule, cron: "@every 1s" }
            steps:
              - { name: Say, action: log, params: { message: tick } }
            """, token: token)
            // act
            let fired = try await waitUntil(timeout: .seconds(30)) {
                try await app.services.automation.runs(runbook: runbook.id, by: .system()).contains { $0.status == .succeeded }
            }
            _ = try await app.request(.PUT, "/api/v1/runbooks/\(runbook.id)", token: token, json: #"{"enabled":false}"#)
            // verify
            #expect(fired)
            #expect(try await AutomationSchedule.query(on: app.app.db).count() == 0, "disabling removes the schedule")
        }
    }
}
