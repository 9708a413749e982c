import DockerEngine
import Foundation
import NebulaCore
@testable import NebulaServer
import SQLKit
import Testing
import Vapor

/// Checks, incidents, uptime, retention and the status page through the API, on both databases.
@Suite struct MonitoringTests {
    struct Checks: Decodable { var items: [CheckDTO] }
    struct Incidents: Decodable { var items: [IncidentDTO] }
    struct Results: Decodable { var items: [CheckResultRowDTO] }

    /// An http check against `url`, disabled so only "run now" probes it (deterministic counts).
    static func httpCheck(_ name: String, url: String, failures: Int = 3, extra: String = "") -> String {
        #"{"name":"\#(name)","kind":"http","url":"\#(url)","enabled":false,"failuresBeforeIncident":\#(failures),"successesBeforeResolve":2,"intervalSeconds":60,"timeoutSeconds":20\#(extra)}"#
    }

    @Test(arguments: TestDatabase.all)
    func incidentOpensAfterNFailuresAndResolvesAfterMSuccessesWithATimeline(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup: a site that fails until `healthy` is set
            let healthy = LockedValue(false)
            let site = try await LoopbackHTTPServer.start { _, _ in
                healthy.withLock { $0 } ? .init(status: .ok, body: "ok") : .init(status: .internalServerError, body: "boom")
            }
            defer { Task { await site.stop() } }
            let token = try await app.token(role: .operator)
            let created = try await app.request(.POST, "/api/v1/checks", token: token, json: Self.httpCheck("web", url: site.url + "/health"))
            let check = try created.decode(CheckDTO.self)
            let events = try await SSEReader.open(app.baseURL + "/api/v1/events/stream?types=incident.opened,incident.resolved,check.status_changed", token: token)
            defer { events.close() }
            // act: two failures open nothing, the third opens one incident, a fourth opens no second
            var statuses: [CheckStatus] = []
            for _ in 0..<2 { statuses.append(try await app.request(.POST, "/api/v1/checks/\(check.id)/run", token: token).decode(CheckResultDTO.self).status) }
            let beforeThreshold = try await app.request(.GET, "/api/v1/incidents?status=open", token: token).decode(Incidents.self).items
            for _ in 0..<2 { _ = try await app.request(.POST, "/api/v1/checks/\(check.id)/run", token: token) }
            let open = try await app.request(.GET, "/api/v1/incidents?status=open", token: token).decode(Incidents.self).items
            // act: one success does not resolve (no flapping), the second does
            healthy.withLock { $0 = true }
            _ = try await app.request(.POST, "/api/v1/checks/\(check.id)/run", token: token)
            let stillOpen = try await app.request(.GET, "/api/v1/incidents?status=open", token: token).decode(Incidents.self).items
            let last = try await app.request(.POST, "/api/v1/checks/\(check.id)/run", token: token).decode(CheckResultDTO.self)
            let resolved = try await app.request(.GET, "/api/v1/incidents/\(try #require(open.first).id)", token: token).decode(IncidentDTO.self)
            let after = try await app.request(.GET, "/api/v1/checks/\(check.id)", token: token).decode(CheckDTO.self)
            let opened = await events.next(timeout: .seconds(30), where: { $0.event == "incident.opened" })
                .flatMap { try? JSONDecoder.iso.decode(EventEnvelope.self, from: Data($0.data.utf8)) }
            let closed = await events.next(timeout: .seconds(30), where: { $0.event == "incident.resolved" })
                .flatMap { try? JSONDecoder.iso.decode(EventEnvelope.self, from: Data($0.data.utf8)) }
            // verify
            #expect(created.status == .created)
            #expect(statuses == [.down, .down])
            #expect(beforeThreshold.isEmpty)
            #expect(open.count == 1 && open.first?.severity == .warning && open.first?.message.contains("HTTP 500") == true)
            #expect(stillOpen.count == 1, "one success does not resolve")
            #expect(last.ok && last.status == .up)
            #expect(resolved.status == .resolved && resolved.resolvedBy == "monitoring")
            let kinds = resolved.timeline?.map(\.kind) ?? []
            #expect(kinds.first == "opened" && kinds.contains("recovered") && kinds.last == "resolved", "\(kinds)")
            #expect(after.status == .up && after.openIncidentId == nil && after.uptime.day == 33.33, "4 failures and 2 successes: \(after.uptime)")
            #expect(opened?.data["checkID"] == check.id.uuidString && opened?.data["url"] == site.url + "/health" && opened?.data["severity"] == "warning")
            #expect(closed?.data["incidentID"] == resolved.id.uuidString)
        }
    }

    @Test(arguments: TestDatabase.all)
    func acknowledgeAndResolveByHandAndTheDatabaseAllowsOneOpenIncident(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup: an always failing check with an incident after one failure
            let site = try await LoopbackHTTPServer.start { _, _ in .init(status: .badGateway) }
            defer { Task { await site.stop() } }
            let token = try await app.token(role: .operator)
            let viewer = try await app.token(role: .viewer)
            let check = try await app.request(.POST, "/api/v1/checks", token: token,
                                              json: Self.httpCheck("api", url: site.url + "/", failures: 1, extra: #","severity":"critical""#)).decode(CheckDTO.self)
            _ = try await app.request(.POST, "/api/v1/checks/\(check.id)/run", token: token)
            let incident = try #require(try await app.request(.GET, "/api/v1/incidents", token: token).decode(Incidents.self).items.first)
            // act
            let deniedAck = try await app.request(.POST, "/api/v1/incidents/\(incident.id)/acknowledge", token: viewer)
            let acked = try await app.request(.POST, "/api/v1/incidents/\(incident.id)/acknowledge", token: token).decode(IncidentDTO.self)
            let resolved = try await app.request(.POST, "/api/v1/incidents/\(incident.id)/resolve", token: token, json: #"{"note":"known outage"}"#).decode(IncidentDTO.self)
            let again = try await app.request(.POST, "/api/v1/incidents/\(incident.id)/resolve", token: token, json: "{}")
            // still failing: no new incident until it has passed once
            _ = try await app.request(.POST, "/api/v1/checks/\(check.id)/run", token: token)
            let whileSuppressed = try await app.request(.GET, "/api/v1/incidents?status=open", token: token).decode(Incidents.self).items
            // the database refuses a second open incident for one check
            let duplicate = IncidentRecord()
            duplicate.checkID = check.id
            duplicate.checkName = "api"
            duplicate.kind = .http
            duplicate.status = .open
            duplicate.severity = .info
            duplicate.message = "x"
            duplicate.openedAt = Date()
            let first = IncidentRecord()
            first.checkID = check.id
            first.checkName = "api"
            first.kind = .http
            first.status = .open
            first.severity = .info
            first.message = "x"
            first.openedAt = Date()
            try await first.create(on: app.app.db)
            var refused = false
            do { try await duplicate.create(on: app.app.db) } catch { refused = true }
            // verify
            #expect(deniedAck.status == .forbidden)
            #expect(acked.status == .acknowledged && acked.acknowledgedBy != nil)
            #expect(resolved.status == .resolved && resolved.severity == .critical)
            #expect(resolved.timeline?.last?.message.contains("known outage") == true)
            #expect(resolved.timeline?.last?.message.contains("no new incident opens") == true)
            #expect(again.status == .conflict && again.errorCode == "incident_resolved")
            #expect(whileSuppressed.isEmpty, "a hand-resolved incident does not reopen while the check still fails")
            #expect(refused, "the partial unique index allows one open incident per check")
            #expect(try await app.auditEntries(action: "incident.acknowledge").filter { $0.outcome == .success }.count == 1)
            #expect(try await app.auditEntries(action: "incident.resolve").filter { $0.outcome == .success }.count == 1)
        }
    }

    @Test(arguments: TestDatabase.all)
    func badInputIsRefusedWithTheFieldAndNothingIsSaved(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let cases: [(String, Int, String, String)] = [
                (#"{"name":"a","kind":"smtp"}"#, 422, "invalid_kind", "kind"),
                (#"{"name":"a","kind":"http","url":"nas.lan/health"}"#, 422, "invalid_url", "url"),
                (#"{"name":"a","kind":"tcp","host":"nas","port":70000}"#, 422, "invalid_port", "port"),
                (#"{"name":"a","kind":"tcp","host":"nas","port":22,"intervalSeconds":5}"#, 422, "invalid_interval", "intervalSeconds"),
                (#"{"name":"a","kind":"tcp","host":"nas","port":22,"intervalSeconds":30,"timeoutSeconds":30}"#, 422, "invalid_timeout", "timeoutSeconds"),
                (#"{"name":"a","kind":"http","url":"http://nas/","expectedStatus":"2xx"}"#, 422, "invalid_status_range", "expectedStatus"),
                (#"{"name":"a","kind":"container","serverId":"\#(UUID())","container":"db"}"#, 422, "unknown_server", "serverId"),
                (#"{"name":"a","kind":"tcp","host":"nas","port":22,"colour":"red"}"#, 400, "unknown_field", ""),
            ]
            for (body, status, code, field) in cases {
                // act
                let response = try await app.request(.POST, "/api/v1/checks", token: token, json: body)
                // verify
                #expect(Int(response.status.code) == status && response.errorCode == code, "\(body) → \(response.status.code) \(response.body)")
                if !field.isEmpty { #expect(response.body.contains(#""path":"\#(field)""#), "\(response.body)") }
            }
            let local = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            if TestEngine.enabled {
                let missing = try await app.request(.POST, "/api/v1/checks", token: token,
                                                    json: #"{"name":"a","kind":"container","serverId":"\#(local)","container":"no-such-container-xyz"}"#)
                #expect(missing.status == .unprocessableEntity && missing.errorCode == "unknown_container", "\(missing.body)")
            }
            let list = try await app.request(.GET, "/api/v1/checks", token: token).decode(Checks.self)
            #expect(list.items.isEmpty, "nothing half-saved")
            // an update that breaks a rule changes nothing
            let check = try await app.request(.POST, "/api/v1/checks", token: token, json: #"{"name":"ssh","kind":"tcp","host":"nas","port":22}"#).decode(CheckDTO.self)
            let badUpdate = try await app.request(.PUT, "/api/v1/checks/\(check.id)", token: token, json: #"{"port":0,"name":"renamed"}"#)
            let unchanged = try await app.request(.GET, "/api/v1/checks/\(check.id)", token: token).decode(CheckDTO.self)
            let duplicate = try await app.request(.POST, "/api/v1/checks", token: token, json: #"{"name":"ssh","kind":"tcp","host":"nas","port":22}"#)
            #expect(badUpdate.status == .unprocessableEntity && unchanged.name == "ssh" && unchanged.spec.port == 22)
            #expect(duplicate.status == .conflict && duplicate.errorCode == "name_taken")
        }
    }

    @Test(arguments: TestDatabase.all)
    func rollupsAndRetentionBoundGrowthAndUptimeAddsUp(_ database: TestDatabase) async throws {
        try await withApp(database, options: { var o = RuntimeOptions.forTests; o.startsBackgroundWork = false; return o }()) { app in
            // setup: two checks with three days of results every 10 minutes; "b" fails one in four
            let services = try app.services
            let monitoring = services.monitoring
            let a = try await monitoring.create(CheckInput(name: "a", kind: "tcp", enabled: false, spec: CheckSpec(host: "nas", port: 22)), by: .system())
            let b = try await monitoring.create(CheckInput(name: "b", kind: "tcp", enabled: false, spec: CheckSpec(host: "nas", port: 23)), by: .system())
            let now = Date()
            let start = now.addingTimeInterval(-3 * 86_400)
            let steps = 3 * 144
            let configs = try await [a.id, b.id].asyncMap { CheckConfig(try #require(try await CheckRecord.find($0, on: app.app.db))) }
            for config in configs { await monitoring.runtime.seed(config.id, .init(try #require(try await CheckRecord.find(config.id, on: app.app.db)))) }
            for step in 0..<steps {
                let at = start.addingTimeInterval(Double(step) * 600)
                _ = try await monitoring.record(.up("ok", latencyMs: 10), for: configs[0], at: at)
                _ = try await monitoring.record(step % 4 == 0 ? .down("refused") : .up("ok", latencyMs: 30), for: configs[1], at: at)
            }
            try await monitoring.flush()
            let rawBefore = try await CheckResultRecord.query(on: app.app.db).count()
            // act
            let report = try await monitoring.rollUpAndPrune(now: now)
            let rawAfter = try await CheckResultRecord.query(on: app.app.db).count()
            let rollups = try await CheckRollupRecord.query(on: app.app.db).count()
            let uptime = try await monitoring.uptimes(now: now)
            let again = try await monitoring.rollUpAndPrune(now: now)
            let rollupsAgain = try await CheckRollupRecord.query(on: app.app.db).count()
            let hourly = try await monitoring.uptime(of: b.id, hours: 24, by: .system(), now: now)
            // verify: raw results older than 48 h are gone, every hour of both checks is a rollup row
            #expect(rawBefore == 2 * steps)
            #expect(rawAfter == 2 * 48 * 6, "raw kept 48 h: \(rawAfter)")
            #expect(report.prunedResults == rawBefore - rawAfter)
            let hours = Set((0..<steps).map { MonitoringRollups.hourStart(start.addingTimeInterval(Double($0) * 600)) }).count
            #expect(rollups == 2 * hours, "one row per check and hour: \(rollups)")
            #expect(again.prunedResults == 0 && rollupsAgain == rollups, "rolling up again changes nothing")
            #expect(uptime[a.id]?.day == 100 && uptime[a.id]?.month == 100)
            // One result in four fails: 25 % of every window, give or take the partial hours at its edges.
            #expect((74...76).contains(uptime[b.id]?.day ?? 0) && (74.5...75.5).contains(uptime[b.id]?.week ?? 0), "\(String(describing: uptime[b.id]))")
            #expect(hourly.hours.count >= 24 && hourly.hours.filter { $0.count == 6 }.count >= 23 && hourly.hours.filter { $0.count == 6 }.allSatisfy { $0.failures >= 1 })
            #expect(hourly.hours.dropFirst().first?.avgLatencyMs == 30 && hourly.hours.first?.maxLatencyMs == 30)
        }
    }

    @Test(arguments: TestDatabase.all)
    func statusPageIsHiddenUnlessEnabledAndShowsOnlyPublicChecks(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let admin = try await app.token(role: .admin)
            let operatorToken = try await app.token(role: .operator)
            _ = try await app.request(.POST, "/api/v1/checks", token: operatorToken, json: #"{"name":"Public site","kind":"tcp","host":"127.0.0.1","port":1,"public":true,"enabled":false}"#)
            _ = try await app.request(.POST, "/api/v1/checks", token: operatorToken, json: #"{"name":"Secret box","kind":"tcp","host":"10.1.2.3","port":22,"enabled":false}"#)
            // act
            let hidden = try await app.request(.GET, "/status")
            let denied = try await app.request(.PUT, "/api/v1/monitoring/settings", token: operatorToken, json: #"{"statusPageEnabled":true}"#)
            let enabled = try await app.request(.PUT, "/api/v1/monitoring/settings", token: admin, json: #"{"statusPageEnabled":true,"statusPageTitle":"Lab status"}"#)
            let shown = try await app.request(.GET, "/status")
            // verify
            #expect(hidden.status == .notFound)
            #expect(denied.status == .forbidden)
            #expect(enabled.status == .ok)
            #expect(shown.status == .ok && shown.body.contains("Lab status") && shown.body.contains("Public site"))
            #expect(!shown.body.contains("Secret box") && !shown.body.contains("127.0.0.1"), "private checks and targets stay private")
        }
    }

    @Test(arguments: TestDatabase.all)
    func viewersReadOperatorsChangeAndEveryChangeIsAudited(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let viewer = try await app.token(role: .viewer)
            let operatorToken = try await app.token(role: .operator)
            let body = #"{"name":"dns","kind":"dns","recordName":"nas.lab.test","recordType":"A","resolver":"127.0.0.1:1","enabled":false,"timeoutSeconds":2}"#
            // act
            let denied = try await app.request(.POST, "/api/v1/checks", token: viewer, json: body)
            let created = try await app.request(.POST, "/api/v1/checks", token: operatorToken, json: body).decode(CheckDTO.self)
            let read = try await app.request(.GET, "/api/v1/checks", token: viewer)
            let runDenied = try await app.request(.POST, "/api/v1/checks/\(created.id)/run", token: viewer)
            let updated = try await app.request(.PUT, "/api/v1/checks/\(created.id)", token: operatorToken, json: #"{"intervalSeconds":300}"#).decode(CheckDTO.self)
            let run = try await app.request(.POST, "/api/v1/checks/\(created.id)/run", token: operatorToken).decode(CheckResultDTO.self)
            let results = try await app.request(.GET, "/api/v1/checks/\(created.id)/results", token: viewer).decode(Results.self)
            let deleted = try await app.request(.DELETE, "/api/v1/checks/\(created.id)", token: operatorToken)
            // verify
            #expect(denied.status == .forbidden && runDenied.status == .forbidden)
            #expect(read.status == .ok)
            #expect(updated.intervalSeconds == 300 && updated.spec.recordName == "nas.lab.test", "a partial update keeps the other fields")
            #expect(!run.ok && results.items.count == 1 && results.items.first?.message != nil)
            #expect(deleted.status == .noContent)
            for action in ["check.create", "check.update", "check.run", "check.delete"] {
                #expect(try await app.auditEntries(action: action).filter { $0.outcome == .success }.count == 1, "\(action)")
            }
        }
    }

    @Test(.enabled(if: TestEngine.enabled, "needs the test dockerd"), arguments: TestDatabase.all)
    func containerCheckFollowsTheRealContainer(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await TestEngine.withContainer(["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]) { name in
                // setup
                let token = try await app.token(role: .operator)
                let local = try await app.services.fleet.ensureLocalServer(hostName: "nas")
                let check = try await app.request(.POST, "/api/v1/checks", token: token,
                                                  json: #"{"name":"box","kind":"container","serverId":"\#(local)","container":"\#(name)","enabled":false,"timeoutSeconds":30}"#)
                let id = try check.decode(CheckDTO.self).id
                // act
                let running = try await app.request(.POST, "/api/v1/checks/\(id)/run", token: token).decode(CheckResultDTO.self)
                _ = try await app.request(.POST, "/api/v1/servers/\(local)/containers/\(name)/stop", token: token, json: #"{"timeout":5}"#)
                let stopped = try await app.request(.POST, "/api/v1/checks/\(id)/run", token: token).decode(CheckResultDTO.self)
                _ = try await app.request(.POST, "/api/v1/servers/\(local)/containers/\(name)/start", token: token)
                let started = try await app.request(.POST, "/api/v1/checks/\(id)/run", token: token).decode(CheckResultDTO.self)
                // verify
                #expect(check.status == .created, "\(check.body)")
                #expect(running.ok && running.message.contains("running"), "\(running)")
                #expect(!stopped.ok && stopped.message.contains("exited"), "\(stopped)")
                #expect(started.ok, "\(started)")
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func theSchedulerRunsEnabledChecksAndTheTimelineTakesRunbookEvents(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup: an enabled check every 10 s (first run jittered within the interval)
            let site = try await LoopbackHTTPServer.start { _, _ in .init(status: .serviceUnavailable) }
            defer { Task { await site.stop() } }
            let token = try await app.token(role: .operator)
            let check = try await app.request(.POST, "/api/v1/checks", token: token,
                                              json: #"{"name":"sched","kind":"http","url":"\#(site.url)/","intervalSeconds":10,"timeoutSeconds":5,"failuresBeforeIncident":1}"#).decode(CheckDTO.self)
            // act: wait for the scheduled run to open the incident
            var incident: IncidentDTO?
            let opened = try await waitUntil(timeout: .seconds(60)) {
                incident = try await app.request(.GET, "/api/v1/incidents?status=open", token: token).decode(Incidents.self).items.first
                return incident != nil
            }
            let id = try #require(incident).id
            let services = try app.services
            await services.events.publish("runbook.run_started", actor: "automation", data: ["runID": "r1", "runbook": "restart-web", "incidentID": id.uuidString])
            await services.events.publish("notification.delivered", data: ["channel": "discord", "title": "Down: sched", "incidentID": id.uuidString])
            var kinds: [String] = []
            let appended = try await waitUntil(timeout: .seconds(30)) {
                kinds = try await app.request(.GET, "/api/v1/incidents/\(id)", token: token).decode(IncidentDTO.self).timeline?.map(\.kind) ?? []
                return kinds.contains("runbook") && kinds.contains("notification")
            }
            // verify
            #expect(opened, "the scheduler ran the check")
            #expect(appended, "\(kinds)")
            #expect(site.requests.count >= 1)
            #expect(check.enabled)
        }
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
