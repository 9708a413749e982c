import Foundation

/// The name of a kind of event, `noun.verb` in the past tense (`job.succeeded`, `secret.created`).
public struct EventType: RawRepresentable, Hashable, Codable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public init(_ value: String) { rawValue = value }
    public var description: String { rawValue }

    /// Event types are lower-case dotted words: letters, digits, `.`, `_` and `-`, at most 100 characters.
    public static func isValid(_ raw: String) -> Bool {
        !raw.isEmpty && raw.count <= 100 && raw.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }
}

extension EventType {
    public static let userCreated: EventType = "user.created"
    public static let userUpdated: EventType = "user.updated"
    public static let userDeleted: EventType = "user.deleted"
    public static let userLoggedIn: EventType = "user.logged_in"
    public static let tokenCreated: EventType = "token.created"
    public static let tokenRevoked: EventType = "token.revoked"
    public static let secretCreated: EventType = "secret.created"
    public static let secretUpdated: EventType = "secret.updated"
    public static let secretDeleted: EventType = "secret.deleted"
    public static let secretRevealed: EventType = "secret.revealed"
    public static let settingsUpdated: EventType = "settings.updated"
    public static let jobQueued: EventType = "job.queued"
    public static let jobStarted: EventType = "job.started"
    public static let jobSucceeded: EventType = "job.succeeded"
    public static let jobFailed: EventType = "job.failed"
    public static let jobRetrying: EventType = "job.retrying"
    public static let jobCancelled: EventType = "job.cancelled"
    public static let jobProgress: EventType = "job.progress"
    public static let serverCreated: EventType = "server.created"
    public static let serverUpdated: EventType = "server.updated"
    public static let serverDeleted: EventType = "server.deleted"
    public static let serverOnline: EventType = "server.online"
    public static let serverOffline: EventType = "server.offline"
    /// A reboot or shutdown was accepted by a server.
    public static let serverPowerAction: EventType = "server.power"
    public static let agentJoined: EventType = "agent.joined"
    public static let agentRevoked: EventType = "agent.revoked"
    /// A server's latest readings; broadcast live, never stored.
    public static let serverMetrics: EventType = "server.metrics"
    // Monitoring (issue 5): checks and incidents.
    public static let checkCreated: EventType = "check.created"
    public static let checkUpdated: EventType = "check.updated"
    public static let checkDeleted: EventType = "check.deleted"
    /// A check went up or down: `checkID`, `check`, `status` (up|down), `message`.
    public static let checkStatusChanged: EventType = "check.status_changed"
    /// `incidentID`, `checkID`, `check`, `kind`, `severity`, `message` and target facts (`serverID`, `container`, `url`, `host`).
    public static let incidentOpened: EventType = "incident.opened"
    public static let incidentAcknowledged: EventType = "incident.acknowledged"
    public static let incidentResolved: EventType = "incident.resolved"
}

/// An event as it is stored and streamed. `data` holds small string facts, never secret values.
public struct EventEnvelope: Codable, Sendable, Equatable {
    /// Increases with every event on this control plane; SSE clients resume after it.
    public var id: Int64
    public var type: EventType
    public var occurredAt: Date
    /// Who caused it (a username), if a person or token did.
    public var actor: String?
    /// What it is about (`job:…`, `secret:db`), if anything.
    public var subject: String?
    public var data: [String: String]

    public init(id: Int64, type: EventType, occurredAt: Date, actor: String?, subject: String?, data: [String: String]) {
        self.id = id
        self.type = type
        self.occurredAt = occurredAt
        self.actor = actor
        self.subject = subject
        self.data = data
    }
}
