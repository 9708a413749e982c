import Foundation
@testable import NotificationChannels

/// Foundation also has a `NotificationMessage`; in this module the name means the one being tested.

/// A fixed moment so timestamps in payloads are predictable: 2026-03-01T12:00:00Z.
let fixedDate = Date(timeIntervalSince1970: 1_772_366_400)
let fixedTimestamp = "2026-03-01T12:00:00Z"

/// A sender with a short timeout and a fixed clock.
func makeSender(timeout: Duration = .seconds(30)) -> DefaultNotificationSender {
    DefaultNotificationSender(timeout: timeout, now: { fixedDate })
}

/// A notification with every part set.
let fullNotification = NotificationChannels.NotificationMessage(
    title: "Disk almost full on nas-01",
    message: "/srv is at 93%.",
    severity: .warning,
    category: .incident,
    url: URL(string: "https://nebula.example.com/incidents/42"),
    fields: [.init(name: "Server", value: "nas-01"), .init(name: "Mount", value: "/srv")]
)

/// A notification with only the required parts.
let minimalNotification = NotificationChannels.NotificationMessage(
    title: "Deploy finished", message: "web 1.4.2 is live.", severity: .info, category: .deploy
)

/// Runs `body` and returns the ``NotificationError`` it throws, or nil when it succeeds.
func notificationError(_ body: () async throws(NotificationError) -> Void) async -> NotificationError? {
    do {
        try await body()
        return nil
    } catch {
        return error
    }
}

/// The ``NotificationError`` building a channel throws, or nil when the channel is accepted.
func channelError(_ build: () throws(NotificationError) -> NotificationChannel) -> NotificationError? {
    do {
        _ = try build()
        return nil
    } catch {
        return error
    }
}
