import NebulaCore
import Vapor

/// `/api/v1/events`: event history and the live SSE stream.
struct EventsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "events", role: .viewer, summary: "List past events, newest first", tag: "Events",
                        response: EventPageDoc.doc,
                        query: [QueryDoc(name: "limit", description: "1–500, default 50", schema: .integer),
                                QueryDoc(name: "before", description: "Only events with a smaller id (paging)", schema: .integer),
                                QueryDoc(name: "types", description: "Comma-separated event types")],
                        use: list)
        routes.endpoint(.GET, "events", "stream", role: .viewer, summary: "Live events as Server-Sent Events; resumes after Last-Event-ID", tag: "Events",
                        query: [QueryDoc(name: "types", description: "Comma-separated event types"),
                                QueryDoc(name: "lastEventId", description: "Resume after this id (instead of the Last-Event-ID header)", schema: .integer)],
                        produces: "text/event-stream", use: stream)
    }

    @Sendable func list(req: Request) async throws -> ListPage<EventEnvelope> {
        let limit = try req.boundedInt("limit", default: 50, range: 1...500)
        let before = try req.optionalInt64("before")
        return try await req.nebula.events.recent(types: try Self.types(req), before: before, limit: limit)
    }

    @Sendable func stream(req: Request) async throws -> Response {
        let services = try req.nebula
        let types = try Self.types(req)
        let headerID = req.headers.first(name: "Last-Event-ID")
        let resumeAfter: Int64?
        if let raw = headerID ?? req.query[String.self, at: "lastEventId"] {
            guard let value = Int64(raw), value >= 0 else { throw NebulaError.invalid("Last-Event-ID must be a non-negative integer event id.") }
            resumeAfter = value
        } else {
            resumeAfter = nil
        }
        let subscription = await services.events.subscribe(types: types, after: resumeAfter)
        return ServerSentEvents.response(heartbeat: services.config.sseHeartbeat) { continuation in
            for await event in subscription {
                continuation.yield(.json(event, event: event.type.rawValue, id: event.id > 0 ? String(event.id) : nil))
            }
            continuation.finish()
        }
    }

    static func types(_ req: Request) throws -> Set<EventType>? {
        guard let raw = req.query[String.self, at: "types"], !raw.isEmpty else { return nil }
        let names = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard names.count <= 50, names.allSatisfy(EventType.isValid) else {
            throw NebulaError.invalid("types is a comma-separated list of event types such as job.succeeded,secret.created.", code: "invalid_types")
        }
        return Set(names.map(EventType.init(rawValue:)))
    }
}

extension Request {
    /// A whole-number query parameter within `range`; 400 with a clear message otherwise.
    func boundedInt(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = query[String.self, at: name] else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw NebulaError.invalid("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return parsed
    }

    func optionalInt64(_ name: String) throws -> Int64? {
        guard let raw = query[String.self, at: name] else { return nil }
        guard let parsed = Int64(raw) else { throw NebulaError.invalid("\(name) must be a whole number.") }
        return parsed
    }

    /// An ISO 8601 time query parameter.
    func optionalDate(_ name: String) throws -> Date? {
        guard let raw = query[String.self, at: name] else { return nil }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: raw) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: raw) { return date }
        throw NebulaError.invalid("\(name) must be an ISO 8601 time such as 2026-01-31T12:00:00Z.")
    }

    /// A UUID path parameter; 400 (not 500) for a malformed one.
    func uuidParameter(_ name: String = "id") throws -> UUID {
        guard let raw = parameters.get(name), let id = UUID(uuidString: raw) else {
            throw NebulaError.invalid("'\(parameters.get(name) ?? "")' is not a valid id (expected a UUID).", code: "invalid_id")
        }
        return id
    }

    /// Decodes a JSON body, refusing fields the type does not know when that matters.
    func decodeJSON<T: Decodable>(_ type: T.Type, allowedKeys: Set<String>? = nil) throws -> T {
        guard let buffer = body.data else { throw NebulaError.invalid("This request needs a JSON body.", code: "missing_body") }
        let data = Data(buffer.readableBytesView)
        if let allowedKeys {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw NebulaError.invalid("The body must be a JSON object.")
            }
            let unknown = Set(object.keys).subtracting(allowedKeys)
            guard unknown.isEmpty else {
                throw NebulaError.invalid("Unknown field(s): \(unknown.sorted().joined(separator: ", ")). Allowed: \(allowedKeys.sorted().joined(separator: ", ")).", code: "unknown_field")
            }
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: data)
    }
}
