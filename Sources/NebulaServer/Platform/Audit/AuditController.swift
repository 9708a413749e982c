import NebulaCore
import Vapor

/// `GET /api/v1/audit`: the audit trail, filtered and paged.
struct AuditController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "audit", role: .viewer, summary: "Search the audit log, newest first", tag: "Audit",
                        response: AuditPageDoc.doc,
                        query: [QueryDoc(name: "actor", description: "Username"),
                                QueryDoc(name: "action", description: "Exact action (secret.reveal) or a prefix ending in * (secret.*)"),
                                QueryDoc(name: "target", description: "Exact target (secret:db, user:alice)"),
                                QueryDoc(name: "outcome", description: "success, failure or denied"),
                                QueryDoc(name: "since", description: "ISO 8601 time", schema: .string(format: .dateTime)),
                                QueryDoc(name: "until", description: "ISO 8601 time", schema: .string(format: .dateTime)),
                                QueryDoc(name: "limit", description: "1–500, default 50", schema: .integer),
                                QueryDoc(name: "offset", description: "Skip this many", schema: .integer)],
                        use: search)
    }

    @Sendable func search(req: Request) async throws -> ListPage<AuditEntryDTO> {
        try await req.nebula.audit.search(try Self.query(from: req), by: try req.actor)
    }

    /// Shared by the API and the Audit page.
    static func query(from req: Request) throws -> AuditLog.Query {
        var query = AuditLog.Query()
        query.actor = req.query[String.self, at: "actor"].flatMap { $0.isEmpty ? nil : $0.lowercased() }
        if let action = req.query[String.self, at: "action"], !action.isEmpty {
            guard action.count <= 100, action.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._-*".contains($0)) }),
                  !action.dropLast().contains("*") else {
                throw NebulaError.invalid("action is an audit action such as secret.reveal, or a prefix ending in * (secret.*).", code: "invalid_filter")
            }
            query.action = action
        }
        query.target = req.query[String.self, at: "target"].flatMap { $0.isEmpty ? nil : $0 }
        if let outcome = req.query[String.self, at: "outcome"], !outcome.isEmpty {
            guard let parsed = AuditOutcome(rawValue: outcome) else {
                throw NebulaError.invalid("outcome is success, failure or denied.", code: "invalid_filter")
            }
            query.outcome = parsed
        }
        query.since = try req.optionalDate("since")
        query.until = try req.optionalDate("until")
        query.limit = try req.boundedInt("limit", default: 50, range: 1...500)
        query.offset = try req.boundedInt("offset", default: 0, range: 0...1_000_000)
        return query
    }
}

extension AuditEntryDTO: Content {}
