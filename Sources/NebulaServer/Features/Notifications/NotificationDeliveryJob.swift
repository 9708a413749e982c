import Foundation
import NebulaCore

/// `notification.deliver`: one attempt to send one logged delivery. Failed attempts are retried
/// with backoff (about 5 s, 10 s, 20 s … up to 10 min); after the last the delivery is `failed`.
struct NotificationDeliveryJob: JobHandler {
    static let type = "notification.deliver"
    struct Payload: Codable, Sendable { var deliveryID: UUID }

    let notifications: NotificationsService
    var type: String { Self.type }
    let maxAttempts = 6
    let backoff = RetryBackoff(base: .seconds(5), cap: .seconds(600))

    func run(_ job: JobContext) async throws {
        let payload = try job.decodePayload(Payload.self)
        try await notifications.deliver(payload.deliveryID, attempt: job.attempt, maxAttempts: maxAttempts)
    }
}
