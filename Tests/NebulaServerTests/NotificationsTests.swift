import Fluent
import Crypto
import Foundation
import NebulaCore
import NebulaTestSupport
@testable import NebulaServer
import Testing

/// Notification channels, routing, quiet hours, de-duplication, retries and the delivery log,
/// delivering to loopback servers that stand in for a webhook receiver, ntfy and Gotify.
@Suite struct NotificationsTests {
    struct Deliveries: Decodable { var items: [NotificationDeliveryDTO]; var total: Int }

    static func createChannel(_ app: TestApp, _ token: String, _ json: String) async throws -> NotificationChannelDTO {
        let response = try await app.request(.POST, "/api/v1/notifications/channels", token: token, json: json)
        try #require(response.status == .created, "\(response.body)")
        return try response.decode(NotificationChannelDTO.self)
    }

    /// Polls the delivery log until `done` holds for the deliveries of `channel`, or fails after `timeout`.
    static func waitForDeliveries(_ app: TestApp, _ token: String, channel: String, timeout: Duration = .seconds(60),
                                  until done: ([NotificationDeliveryDTO]) -> Bool) async throws -> [NotificationDeliveryDTO] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let response = try await app.request(.GET, "/api/v1/notifications/deliveries?channel=\(channel)", token: token)
            let items = try response.decode(Deliveries.self).items
            if done(items) { return items }
            guard ContinuousClock.now < deadline else {
                Issue.record("deliveries of \(channel) never settled: \(items.map { "\($0.title) \($0.status) \($0.lastError ?? "")" })")
                return items
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    @Test(arguments: TestDatabase.all)
    func webhookDeliveryIsSignedAndTheSecretNeverShows(_ database: TestDatabase) async throws {
        try await withLoopbackServer { receiver in
            try await withApp(database) { app in
                // setup
                let token = try await app.token(role: .operator)
                let secret = "whsec-very-private-4411"
                let channel = try await Self.createChannel(app, token, #"{"name":"ops-hook","kind":"webhook","url":"\#(receiver.url)/hook","secret":"\#(secret)"}"#)
                // act
                let sent = try await app.request(.POST, "/api/v1/notifications/send", token: token,
                                                 json: #"{"title":"Disk almost full","message":"nas-01 / is 93% full","severity":"warning","category":"server","channels":["ops-hook"],"fields":{"Server":"nas-01"}}"#)
                let settled = try await Self.waitForDeliveries(app, token, channel: "ops-hook") { $0.first?.status == .sent }
                // verify
                #expect(sent.status == .accepted)
                #expect(settled.first?.attempts == 1)
                let request = try #require(receiver.requests.first)
                #expect(request.path == "/hook")
                let body = try request.json()
                #expect(body["title"] as? String == "Disk almost full")
                #expect(body["category"] as? String == "server")
                let signature = HMAC<SHA256>.authenticationCode(for: request.body, using: SymmetricKey(data: Data(secret.utf8)))
                #expect(request.headers.first(name: "X-Nebula-Signature") == "sha256=" + signature.map { String(format: "%02x", $0) }.joined())
                let listed = try await app.request(.GET, "/api/v1/notifications/channels", token: token)
                #expect(listed.body.contains("\"hasSecret\":true") && listed.body.contains("\"lastStatus\":\"sent\""))
                #expect(channel.settings.url == receiver.url + "/hook")
                let audit = try await app.auditEntries()
                #expect(audit.contains { $0.action == "notification.channel.create" && $0.target == "channel:ops-hook" })
                #expect(!listed.body.contains(secret))
                #expect(!audit.contains { ($0.detail ?? "").contains(secret) })
                #expect(!LogCapture.allText.contains(secret))
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func rulesRouteByCategoryAndSeverity(_ database: TestDatabase) async throws {
        try await withLoopbackServer { ntfy in
            try await withLoopbackServer { gotify in
                try await withApp(database) { app in
                    // setup
                    let token = try await app.token(role: .operator)
                    _ = try await Self.createChannel(app, token, #"{"name":"phone","kind":"ntfy","url":"\#(ntfy.url)","topic":"homelab"}"#)
                    _ = try await Self.createChannel(app, token, #"{"name":"desk","kind":"gotify","url":"\#(gotify.url)","secret":"AbCdEf123"}"#)
                    for rule in [#"{"name":"incidents","categories":["incident"],"minSeverity":"warning","channels":["phone"]}"#,
                                 #"{"name":"urgent","minSeverity":"critical","channels":["desk"]}"#] {
                        let created = try await app.request(.POST, "/api/v1/notifications/rules", token: token, json: rule)
                        try #require(created.status == .created, "\(created.body)")
                    }
                    let service = try app.services.notifications
                    // act
                    let incident = try await service.notify(NotifyRequest(category: "incident", severity: .warning, title: "Down: blog", body: "timeout"), by: .system())
                    let deploy = try await service.notify(NotifyRequest(category: "deploy", severity: .critical, title: "Deploy failed: api", body: "exit 1"), by: .system())
                    let chatter = try await service.notify(NotifyRequest(category: "incident", severity: .info, title: "FYI", body: "nothing"), by: .system())
                    _ = try await Self.waitForDeliveries(app, token, channel: "phone") { $0.count == 1 && $0[0].status == .sent }
                    _ = try await Self.waitForDeliveries(app, token, channel: "desk") { $0.count == 1 && $0[0].status == .sent }
                    // verify
                    #expect(incident.map(\.channel) == ["phone"])
                    #expect(deploy.map(\.channel) == ["desk"])
                    #expect(chatter.isEmpty)
                    #expect(ntfy.requests.count == 1 && ntfy.requests[0].path == "/homelab")
                    #expect(ntfy.requests.first?.headers.first(name: "Title") == "Down: blog")
                    #expect(gotify.requests.count == 1 && gotify.requests[0].path == "/message")
                    #expect(gotify.requests.first?.headers.first(name: "X-Gotify-Key") == "AbCdEf123")
                }
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func quietHoursHoldAndRepeatsAreSuppressed(_ database: TestDatabase) async throws {
        try await withLoopbackServer { receiver in
            try await withApp(database) { app in
                // setup: quiet hours around now, in UTC
                let token = try await app.token(role: .operator)
                _ = try await Self.createChannel(app, token, #"{"name":"night","kind":"ntfy","url":"\#(receiver.url)","topic":"alerts"}"#)
                var calendar = Calendar(identifier: .gregorian)
                calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
                let hour = calendar.component(.hour, from: Date())
                let start = String(format: "%02d:00", (hour + 23) % 24), end = String(format: "%02d:00", (hour + 2) % 24)
                let rule = try await app.request(.POST, "/api/v1/notifications/rules", token: token, json: """
                {"name":"quiet","channels":["night"],"minSeverity":"info","dedupMinutes":30,"quietHours":{"start":"\(start)","end":"\(end)","timeZone":"UTC"}}
                """)
                try #require(rule.status == .created, "\(rule.body)")
                let service = try app.services.notifications
                // act
                let held = try await service.notify(NotifyRequest(category: "server", severity: .warning, title: "Backup slow", body: "took 3 h"), by: .system())
                let urgent = try await service.notify(NotifyRequest(category: "incident", severity: .critical, title: "Down: router", body: "no answer"), by: .system())
                let repeated = try await service.notify(NotifyRequest(category: "incident", severity: .critical, title: "Down: router", body: "still no answer"), by: .system())
                let log = try await Self.waitForDeliveries(app, token, channel: "night") { items in items.contains { $0.status == .sent } }
                // verify
                let heldDelivery = try #require(held.first)
                #expect(heldDelivery.status == .held)
                let until = try #require(heldDelivery.deliverAt)
                #expect(calendar.component(.hour, from: until) == (hour + 2) % 24 && until > Date())
                #expect(urgent.first?.status == .pending)
                #expect(repeated.first?.status == .suppressed)
                #expect(repeated.first?.lastError?.contains("duplicate") == true)
                #expect(log.filter { $0.status == .sent }.map(\.title) == ["Down: router"])
                #expect(receiver.requests.count == 1)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func failedAttemptsAreRetriedAndLogged(_ database: TestDatabase) async throws {
        // The receiver fails twice (a 503, then a 500), then accepts.
        try await withLoopbackServer({ _, index in index < 2 ? .init(status: index == 0 ? .serviceUnavailable : .internalServerError, body: "busy") : .init() }) { receiver in
            try await withApp(database) { app in
                // setup
                let token = try await app.token(role: .operator)
                _ = try await Self.createChannel(app, token, #"{"name":"flaky","kind":"gotify","url":"\#(receiver.url)","secret":"tok-flaky"}"#)
                // act
                _ = try await app.request(.POST, "/api/v1/notifications/send", token: token, json: #"{"title":"Hello","channels":["flaky"]}"#)
                let log = try await Self.waitForDeliveries(app, token, channel: "flaky", timeout: .seconds(90)) { $0.first?.status == .sent }
                // verify
                #expect(log.first?.attempts == 3)
                #expect(receiver.requests.count == 3)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func emailGoesOutOverSTARTTLSWithTheVaultPassword(_ database: TestDatabase) async throws {
        let smtp = try await SMTPTestServer.start()
        defer { smtp.stop() }
        try await withApp(database) { app in
            // setup: the mail server's certificate is for "localhost", issued by the test CA
            let token = try await app.token(role: .operator)
            let input = ChannelInput(name: "mail", kind: .email, url: nil, topic: nil, secret: smtp.password, host: "localhost",
                                     port: try smtp.port("starttls"), security: "starttls", username: smtp.user,
                                     from: "nebula@homelab.test", to: ["owner@homelab.test"], caCertificate: smtp.caPEM)
            let body = String(decoding: try JSONEncoder().encode(input), as: UTF8.self)
            let channel = try await Self.createChannel(app, token, body)
            // act
            let test = try await app.request(.POST, "/api/v1/notifications/channels/\(channel.id)/test", token: token)
            _ = try await app.services.notifications.notify(NotifyRequest(category: "incident", severity: .critical, title: "Down: NAS",
                                                                           body: "No answer for 3 minutes", channels: ["mail"]), by: .system())
            let mail = try await smtp.waitForMessages(2)
            // verify
            #expect(try test.decode(ChannelTestOutcome.self).ok, "\(test.body)")
            #expect(mail.allSatisfy { $0.authenticated && $0.listener == "starttls" && $0.rcpt_tos == ["owner@homelab.test"] })
            #expect(mail[1].subject == "[Nebula] Down: NAS")
            #expect(mail[1].body.contains("No answer for 3 minutes"))
            let shown = try await app.request(.GET, "/api/v1/notifications/channels/\(channel.id)", token: token)
            #expect(!shown.body.contains(smtp.password) && !LogCapture.allText.contains(smtp.password))
        }
    }

    @Test(arguments: [TestDatabase.sqlite])
    func sendTestExplainsAChannelThatTimesOut(_ database: TestDatabase) async throws {
        try await withLoopbackServer({ _, _ in .init(delay: .seconds(40)) }) { silent in
            try await withApp(database) { app in
                // setup
                let token = try await app.token(role: .operator)
                let channel = try await Self.createChannel(app, token, #"{"name":"slow","kind":"ntfy","url":"\#(silent.url)","topic":"t"}"#)
                // act
                let response = try await app.request(.POST, "/api/v1/notifications/channels/\(channel.id)/test", token: token)
                // verify
                let outcome = try response.decode(ChannelTestOutcome.self)
                #expect(!outcome.ok)
                #expect(outcome.delivery.status == .failed)
                #expect(outcome.delivery.lastError?.hasPrefix("timed_out") == true, "\(outcome.delivery.lastError ?? "")")
                #expect(try await app.auditEntries().contains { $0.action == "notification.channel.test" && $0.outcome == .failure })
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func incidentEventsBecomeOneNotificationPerChannel(_ database: TestDatabase) async throws {
        try await withLoopbackServer { receiver in
            try await withApp(database) { app in
                // setup
                let token = try await app.token(role: .operator)
                _ = try await Self.createChannel(app, token, #"{"name":"pager","kind":"ntfy","url":"\#(receiver.url)","topic":"pager"}"#)
                let incident = UUID()
                // act
                await (try app.services.events).publish("incident.opened", subject: "check:blog", data: [
                    "incidentID": incident.uuidString, "check": "blog", "severity": "critical", "message": "HTTP 502 three times in a row",
                ])
                await (try app.services.events).publish("runbook.run_finished", data: ["runbook": "restart-blog", "status": "succeeded"])
                let log = try await Self.waitForDeliveries(app, token, channel: "pager") { $0.first?.status == .sent }
                // verify
                #expect(log.count == 1)
                #expect(log.first?.title == "Down: blog")
                #expect(log.first?.incidentId == incident)
                #expect(log.first?.severity == .critical)
                #expect(receiver.requests.first?.text.contains("HTTP 502") == true)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func badInputIsRefusedWithACodeAndNothingSaved(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let viewer = try await app.token(role: .viewer)
            _ = try await Self.createChannel(app, token, #"{"name":"hook","kind":"webhook","url":"https://hooks.example.invalid/x","secret":"s3cret-value"}"#)
            let cases: [(String, String, String)] = [
                ("/api/v1/notifications/channels", #"{"name":"x","kind":"pager"}"#, "invalid_request"),
                ("/api/v1/notifications/channels", #"{"name":"Bad Name","kind":"ntfy","url":"https://ntfy.sh","topic":"a"}"#, "invalid_name"),
                ("/api/v1/notifications/channels", #"{"name":"d","kind":"discord","url":"https://discord.com/not-a-webhook"}"#, "invalid_channel"),
                ("/api/v1/notifications/channels", #"{"name":"w","kind":"webhook","url":"ftp://x","secret":"k"}"#, "invalid_channel"),
                ("/api/v1/notifications/channels", #"{"name":"hook","kind":"ntfy","url":"https://ntfy.sh","topic":"a"}"#, "name_taken"),
                ("/api/v1/notifications/rules", #"{"name":"r","channels":["nope"]}"#, "unknown_channel"),
                ("/api/v1/notifications/rules", #"{"name":"r","channels":["hook"],"quietHours":{"start":"25:00","end":"07:00","timeZone":"UTC"}}"#, "invalid_quiet_hours"),
                ("/api/v1/notifications/rules", #"{"name":"r","channels":["hook"],"quietHours":{"start":"22:00","end":"07:00","timeZone":"Mars/Olympus"}}"#, "invalid_time_zone"),
                ("/api/v1/notifications/send", #"{"title":"x","channels":["missing"]}"#, "unknown_channel"),
            ]
            // act + verify
            for (path, json, code) in cases {
                let response = try await app.request(.POST, path, token: token, json: json)
                #expect(response.status.code >= 400 && response.status.code < 500, "\(path) \(json)")
                #expect(response.errorCode == code, "\(json) → \(response.body)")
            }
            let forbidden = try await app.request(.POST, "/api/v1/notifications/channels", token: viewer,
                                                  json: #"{"name":"v","kind":"ntfy","url":"https://ntfy.sh","topic":"a"}"#)
            #expect(forbidden.status == .forbidden)
            let rule = try await app.request(.POST, "/api/v1/notifications/rules", token: token, json: #"{"name":"all","channels":["hook"]}"#)
            #expect(rule.status == .created)
            let channels = try await app.services.notifications.channels(by: .system())
            #expect(channels.map(\.name) == ["hook"])
            let inUse = try await app.request(.DELETE, "/api/v1/notifications/channels/\(channels[0].id)", token: token)
            #expect(inUse.status == .conflict && inUse.errorCode == "channel_in_use")
            #expect(try await app.services.notifications.deliveries(status: nil, channel: nil, limit: 50, offset: 0, by: .system()).total == 0)
        }
    }
}

/// Finished work does not pile up: the hourly retention job deletes old deliveries and runs.
@Suite struct FinishedWorkRetentionTests {
    @Test(arguments: TestDatabase.all)
    func oldDeliveriesAndRunsAreDeletedWithTheirJournal(_ database: TestDatabase) async throws {
        try await withLoopbackServer { receiver in
            try await withApp(database) { app in
                // setup: a sent delivery and a finished run, both 40 days old, and a fresh delivery
                let token = try await app.token(role: .operator)
                _ = try await NotificationsTests.createChannel(app, token, #"{"name":"old","kind":"ntfy","url":"\#(receiver.url)","topic":"t"}"#)
                let service = try app.services.notifications
                let old = try await service.notify(NotifyRequest(category: "server", severity: .warning, title: "Old news", body: "", channels: ["old"]), by: .system())
                _ = try await NotificationsTests.waitForDeliveries(app, token, channel: "old") { $0.first?.status == .sent }
                let runbook = try await app.importRunbook("name: aged\nsteps:\n  - { name: Say, action: log, params: { message: hi } }\n", token: token)
                let run = try await app.startRun(runbook.id, token: token)
                _ = try await app.waitForRun(run.id, token: token, toBe: [.succeeded])
                let db = app.app.db
                let longAgo = Date().addingTimeInterval(-40 * 86_400)
                try await NotificationDeliveryRecord.query(on: db).filter(\.$id == old[0].id).set(\.$createdAt, to: longAgo).update()
                try await RunbookRun.query(on: db).filter(\.$id == run.id).set(\.$finishedAt, to: longAgo).update()
                let fresh = try await service.notify(NotifyRequest(category: "server", severity: .warning, title: "News", body: "", channels: ["old"]), by: .system())
                // act
                let job = try await app.services.jobs.enqueue(type: RetentionJob.jobType, by: .system())
                let done = try await app.waitForJob(job.id, toBe: [.succeeded, .failed], timeout: .seconds(60))
                // verify
                #expect(done.status == .succeeded)
                let left = try await service.deliveries(status: nil, channel: "old", limit: 50, offset: 0, by: .system()).items.map(\.id)
                #expect(left == [fresh[0].id])
                #expect(try await RunbookRun.find(run.id, on: db) == nil)
                #expect(try await RunStepRecord.query(on: db).filter(\.$runID == run.id).count() == 0)
                // The app's own maintenance may run retention at the same moment and do the deleting:
                // the lines are looked for in every retention run's log.
                let runs = try await app.services.jobs.list(status: nil, type: RetentionJob.jobType, limit: 50, offset: 0).items
                var log = ""
                for run in runs { log += try await app.services.jobs.logLines(jobID: run.id, after: 0).map(\.line).joined(separator: "\n") + "\n" }
                #expect(log.contains("deleted 1 finished runbook and workflow runs") && log.contains("deleted 1 settled notification deliveries"), "\(log)")
            }
        }
    }
}
