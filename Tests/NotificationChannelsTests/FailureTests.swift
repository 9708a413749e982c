import Foundation
import Testing
@testable import NotificationChannels

@Suite struct FailureTests {
    @Test func discord429WithRetryAfterBodyIsRateLimited() async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(
            status: 429, headers: [("Content-Type", "application/json")],
            body: #"{"message":"You are being rate limited.","retry_after":2.5,"global":false}"#))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.discord(webhookURL: server.url("/api/webhooks/42/tok"))
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: channel)
        }
        // verify
        #expect(error?.code == .rateLimited)
        #expect(error?.status == 429)
        #expect(error?.retryAfter == .milliseconds(2500))
        #expect(error?.description.contains("wait") == true)
    }

    @Test func retryAfterHeaderIsUsedWhenTheBodyHasNone() async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 429, headers: [("Retry-After", "7")]))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.discord(webhookURL: server.url("/api/webhooks/42/tok"))
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: channel)
        }
        // verify
        #expect(error == .rateLimited(retryAfter: .seconds(7), channel: channel.description))
    }

    @Test func a400IsRejectedWithTheStatusAndAnExcerpt() async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(
            status: 400, body: #"{"embeds": ["0"], "message": "Invalid Form Body"}"#))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.discord(webhookURL: server.url("/api/webhooks/42/tok"))
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender().send(minimalNotification, via: channel)
        }
        // verify
        #expect(error?.code == .rejected)
        #expect(error?.status == 400)
        #expect(error?.detail?.contains("Invalid Form Body") == true)
        #expect(error?.description.contains("HTTP 400") == true)
    }

    @Test func aClosedPortIsUnreachable() async throws {
        // setup
        let refusing = try RefusingPort()
        let channel = try NotificationChannel.webhook(url: "http://127.0.0.1:\(refusing.port)/hook", secret: "s3cret-webhook")
        let started = ContinuousClock.now
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender(timeout: .seconds(60)).send(minimalNotification, via: channel)
        }
        // verify
        #expect(error?.code == .unreachable)
        // Refused at once, not after the 60 s timeout (with room for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(30))
        withExtendedLifetime(refusing) {}
    }

    @Test func aServerThatNeverAnswersTimesOutWithinTheTimeout() async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .never)
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.gotify(serverURL: server.url(""), appToken: "AgotifySECRET")
        let started = ContinuousClock.now
        // act
        let error = await notificationError { () async throws(NotificationError) in
            try await makeSender(timeout: .milliseconds(400)).send(minimalNotification, via: channel)
        }
        // verify
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .timedOut)
        #expect(error?.timeout == .milliseconds(400))
        #expect(elapsed >= .milliseconds(350))
        // Ended by its own deadline, not left hanging (with room for a loaded machine).
        #expect(elapsed < .seconds(15))
        #expect(server.requests.count == 1)
    }

    @Test(arguments: [
        "ftp://example.com/hook", "not a url", "file:///etc/passwd", "https:///no-host", "javascript:alert(1)",
    ])
    func onlyHTTPAndHTTPSURLsAreAccepted(_ url: String) {
        // act
        let errors = [
            channelError { () throws(NotificationError) in try .discord(webhookURL: url) },
            channelError { () throws(NotificationError) in try .webhook(url: url, secret: "s") },
            channelError { () throws(NotificationError) in try .ntfy(serverURL: url, topic: "t") },
            channelError { () throws(NotificationError) in try .gotify(serverURL: url, appToken: "t") },
        ]
        // verify
        #expect(errors.map(\.?.code) == Array(repeating: .invalidChannel, count: 4), "\(url)")
    }

    @Test func channelSettingsAreChecked() {
        // act
        let errors = [
            channelError { () throws(NotificationError) in try .discord(webhookURL: "https://discord.com/api/webhooks/123") },
            channelError { () throws(NotificationError) in try .discord(webhookURL: "https://discord.com/other/123/token") },
            channelError { () throws(NotificationError) in try .webhook(url: "https://hooks.example.com", secret: "") },
            channelError { () throws(NotificationError) in try .ntfy(serverURL: "https://ntfy.sh", topic: "") },
            channelError { () throws(NotificationError) in try .ntfy(serverURL: "https://ntfy.sh", topic: "a/b") },
            channelError { () throws(NotificationError) in try .ntfy(serverURL: "https://ntfy.sh", topic: "ok", token: "") },
            channelError { () throws(NotificationError) in try .gotify(serverURL: "https://push.example.com", appToken: "") },
        ]
        let accepted = [
            channelError { () throws(NotificationError) in try .discord(webhookURL: "https://discord.com/api/webhooks/123/abc-DEF_g") },
            channelError { () throws(NotificationError) in try .ntfy(serverURL: "https://ntfy.sh/", topic: "Lab_alerts-1", token: "tk_x") },
            channelError { () throws(NotificationError) in try .webhook(url: "HTTPS://hooks.example.com/x", secret: "s") },
        ]
        // verify
        #expect(errors.map(\.?.code) == Array(repeating: .invalidChannel, count: errors.count))
        #expect(accepted.allSatisfy { $0 == nil }, "\(accepted)")
    }
}
