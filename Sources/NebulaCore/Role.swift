import Foundation

/// What a user or token may do. Each role includes everything the roles below it may do.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    /// Reads everything except secret values.
    case viewer
    /// Also operates: restarts, deploys, runs jobs, stores secrets.
    case `operator`
    /// Also manages users, other people's tokens, settings, and reveals secrets.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}
