import Crypto
import Foundation
import Testing
@testable import NotificationChannels

@Suite struct DeliveryTests {
    @Test func discordPostsOneEmbedWithColorFieldsAndTimestamp() async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 204))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.discord(webhookURL: server.url("/api/webhooks/1234567890/disc-token-SECRET"))
        // act
        try await makeSender().send(fullNotification, via: channel)
        // verify
        let requests = server.requests
        #expect(requests.count == 1)
        let request = try #require(requests.first)
        #expect(request.method == "POST")
        #expect(request.uri == "/api/webhooks/1234567890/disc-token-SECRET")
        #expect(request.header("Content-Type") == "application/json")
        let json = try request.jsonObject()
        #expect(Array(json.keys) == ["embeds"])
        let embeds = try #require(json["embeds"] as? [[String: Any]])
        #expect(embeds.count == 1)
        let embed = try #require(embeds.first)
        #expect(Set(embed.keys) == ["title", "description", "color", "url", "fields", "timestamp"])
        #expect(embed["title"] as? String == "Disk almost full on nas-01")
        #expect(embed["description"] as? String == "/srv is at 93%.")
        #expect(embed["color"] as? Int == 0xF1C40F)
        #expect(embed["url"] as? String == "https://nebula.example.com/incidents/42")
        #expect(embed["timestamp"] as? String == fixedTimestamp)
        let fields = try #require(embed["fields"] as? [[String: Any]])
        #expect(fields.count == 2)
        #expect(fields[0]["name"] as? String == "Server")
        #expect(fields[0]["value"] as? String == "nas-01")
        #expect(fields[0]["inline"] as? Bool == false)
        #expect(fields[1]["name"] as? String == "Mount")
        #expect(fields[1]["value"] as? String == "/srv")
    }

    @Test(arguments: [(NotificationMessage.Severity.info, 0x3498DB), (.warning, 0xF1C40F), (.critical, 0xE74C3C)])
    func discordColorFollowsSeverity(_ severity: NotificationMessage.Severity, _ color: Int) async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 200, body: "{}"))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.discord(webhookURL: server.url("/api/webhooks/1/token"))
        var notification = minimalNotification
        notification.severity = severity
        // act
        try await makeSender().send(notification, via: channel)
        // verify
        let request = try #require(server.requests.first)
        let embed = try #require((try request.jsonObject()["embeds"] as? [[String: Any]])?.first)
        #expect(embed["color"] as? Int == color)
        #expect(embed["url"] == nil)
        #expect((embed["fields"] as? [Any])?.isEmpty == true)
    }

    @Test func webhookPostsSignedNotificationJSON() async throws {
        // setup
        let secret = "whsec-S3CRET-value"
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 202))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.webhook(url: server.url("/hooks/nebula?source=lab"), secret: secret)
        // act
        try await makeSender().send(fullNotification, via: channel)
        // verify
        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(request.method == "POST")
        #expect(request.uri == "/hooks/nebula?source=lab")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("X-Nebula-Event") == "notification")
        let expected = HMAC<SHA256>.authenticationCode(for: Data(request.body), using: SymmetricKey(data: Data(secret.utf8)))
        let hex = expected.map { String(format: "%02x", $0) }.joined()
        #expect(request.header("X-Nebula-Signature") == "sha256=\(hex)")
        let json = try request.jsonObject()
        #expect(Set(json.keys) == ["title", "message", "severity", "category", "url", "fields", "timestamp"])
        #expect(json["title"] as? String == "Disk almost full on nas-01")
        #expect(json["message"] as? String == "/srv is at 93%.")
        #expect(json["severity"] as? String == "warning")
        #expect(json["category"] as? String == "incident")
        #expect(json["url"] as? String == "https://nebula.example.com/incidents/42")
        #expect(json["timestamp"] as? String == fixedTimestamp)
        let fields = try #require(json["fields"] as? [[String: String]])
        #expect(fields == [["name": "Server", "value": "nas-01"], ["name": "Mount", "value": "/srv"]])
        // The body is the NotificationMessage plus a timestamp: it decodes back to the same notification.
        let decoded = try JSONDecoder().decode(NotificationChannels.NotificationMessage.self, from: Data(request.body))
        #expect(decoded == fullNotification)
    }

    @Test func ntfyPostsMessageWithHeaders() async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 200, body: #"{"id":"x"}"#))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.ntfy(serverURL: server.url("/"), topic: "nebula-alerts", token: "tk_ntfySECRET")
        var notification = fullNotification
        notification.severity = .critical
        // act
        try await makeSender().send(notification, via: channel)
        // verify
        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.uri == "/nebula-alerts")
        #expect(request.header("Title") == "Disk almost full on nas-01")
        #expect(request.header("Priority") == "5")
        #expect(request.header("Tags") == "incident")
        #expect(request.header("Click") == "https://nebula.example.com/incidents/42")
        #expect(request.header("Authorization") == "Bearer tk_ntfySECRET")
        #expect(request.bodyText == "/srv is at 93%.\n\nServer: nas-01\nMount: /srv")
    }

    @Test(arguments: [(NotificationMessage.Severity.info, "3"), (.warning, "4"), (.critical, "5")])
    func ntfyWithoutTokenOrURLSendsOnlyTheMessage(_ severity: NotificationMessage.Severity, _ priority: String) async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 200))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.ntfy(serverURL: server.url("/ntfy/"), topic: "lab")
        var notification = minimalNotification
        notification.severity = severity
        // act
        try await makeSender().send(notification, via: channel)
        // verify
        let request = try #require(server.requests.first)
        #expect(request.uri == "/ntfy/lab")
        #expect(request.header("Priority") == priority)
        #expect(request.header("Tags") == "deploy")
        #expect(request.header("Authorization") == nil)
        #expect(request.header("Click") == nil)
        #expect(request.bodyText == "web 1.4.2 is live.")
    }

    @Test(arguments: [(NotificationMessage.Severity.info, 2), (.warning, 5), (.critical, 8)])
    func gotifyPostsMessageWithAppKey(_ severity: NotificationMessage.Severity, _ priority: Int) async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 200, body: #"{"id":1}"#))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.gotify(serverURL: server.url(""), appToken: "AgotifySECRET")
        var notification = minimalNotification
        notification.severity = severity
        // act
        try await makeSender().send(notification, via: channel)
        // verify
        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.uri == "/message")
        #expect(request.header("X-Gotify-Key") == "AgotifySECRET")
        #expect(request.header("Content-Type") == "application/json")
        let json = try request.jsonObject()
        #expect(Set(json.keys) == ["title", "message", "priority"])
        #expect(json["title"] as? String == "Deploy finished")
        #expect(json["message"] as? String == "web 1.4.2 is live.")
        #expect(json["priority"] as? Int == priority)
    }

    @Test func gotifyPutsFieldsInTheMessageAndTheURLInExtras() async throws {
        // setup
        let server = try await RecordingHTTPServer.start(reply: .respond(status: 200))
        defer { Task { await server.stop() } }
        let channel = try NotificationChannel.gotify(serverURL: server.url("/gotify/"), appToken: "AgotifySECRET")
        // act
        try await makeSender().send(fullNotification, via: channel)
        // verify
        let request = try #require(server.requests.first)
        #expect(request.uri == "/gotify/message")
        let json = try request.jsonObject()
        #expect(json["message"] as? String == "/srv is at 93%.\n\nServer: nas-01\nMount: /srv")
        let extras = try #require(json["extras"] as? [String: Any])
        let click = (extras["client::notification"] as? [String: Any])?["click"] as? [String: Any]
        #expect(click?["url"] as? String == "https://nebula.example.com/incidents/42")
    }
}
