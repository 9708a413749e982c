import Foundation

/// The one error shape every `/api/v1` route answers with: `{ "error": { "code", "message" } }`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        /// Stable, machine-readable: clients switch on it (`invalid_request`, `not_found`, …).
        public var code: String
        /// For people: what went wrong and, where possible, what to do about it.
        public var message: String
        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var error: Detail
    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}

/// Every list endpoint answers `{ "items": [...], "total": N }`; `total` counts all matches, not just this page.
public struct ListPage<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    public var total: Int
    public init(items: [Item], total: Int) {
        self.items = items
        self.total = total
    }
}
