import Foundation
import NebulaCore
import NebulaTestSupport
@testable import NebulaServer

/// What the notification routes act on in the access tests: a channel no rule uses (so it can be
/// deleted), a rule, and a failed delivery (so it can be retried). Channels point at a loopback
/// port nobody listens on: a "send test" is refused at once.
struct NotificationTargets: Sendable {
    var channelID: UUID
    var ruleID: UUID
    var deliveryID: UUID

    /// The channel the rule examples name; created once per app.
    static let sharedChannel = "notify-target"

    static func make(in app: TestApp, suffix: String) async throws -> NotificationTargets {
        let notifications = try app.services.notifications
        let existing = try await notifications.channels(by: .system())
        if !existing.contains(where: { $0.name == sharedChannel }) {
            _ = try await notifications.createChannel(ChannelInput(name: sharedChannel, kind: .ntfy, url: "http://127.0.0.1:1", topic: "t"), by: .system())
        }
        let channel = try await notifications.createChannel(ChannelInput(name: "hook-\(suffix)", kind: .webhook, url: "http://127.0.0.1:1/hook",
                                                                         secret: "target-signing-secret"), by: .system())
        let rule = try await notifications.createRule(RuleInput(name: "rule-\(suffix)", channels: [sharedChannel]), by: .system())
        let queued = try await notifications.notify(NotifyRequest(category: "test", severity: .warning, title: "target \(suffix)", body: "",
                                                                  channels: ["hook-\(suffix)"]), by: .system())
        guard let delivery = queued.first else { throw TestSupportError("no delivery was queued for hook-\(suffix)") }
        if let record = try await NotificationDeliveryRecord.find(delivery.id, on: app.app.db) {
            record.status = DeliveryStatus.failed.rawValue
            try await record.update(on: app.app.db)
        }
        return NotificationTargets(channelID: channel.id, ruleID: rule.id, deliveryID: delivery.id)
    }
}
