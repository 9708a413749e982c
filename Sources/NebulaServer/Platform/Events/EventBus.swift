import Fluent
import Foundation
import Logging
import NebulaCore
import PostgresNIO
import SQLKit

/// Features publish typed events here. Each event is stored (so history and SSE resume work),
/// then delivered to every subscriber in this process. With PostgreSQL, delivery goes through
/// `LISTEN/NOTIFY`, so subscribers on every replica sharing the database see every event.
actor EventBus {
    /// How events reach other processes.
    enum Fanout: Sendable {
        /// One process: deliver directly after storing.
        case local
        /// Several replicas: `NOTIFY` after storing; a listener connection delivers.
        case postgres(PostgresConnection.Configuration)
    }

    static let channel = "nebula_events"

    private let db: any Database
    private let fanout: Fanout
    private let logger: Logger
    private var subscribers: [UUID: Subscriber] = [:]
    private var listenerTask: Task<Void, Never>?

    private struct Subscriber {
        var types: Set<EventType>?
        var continuation: AsyncStream<EventEnvelope>.Continuation
    }

    init(db: any Database, fanout: Fanout, logger: Logger) {
        self.db = db
        self.fanout = fanout
        self.logger = logger
    }

    /// Starts the PostgreSQL listener (no-op for SQLite). Returns once `LISTEN` is in place,
    /// so events published after `start()` returns are never missed.
    func start() async {
        guard case .postgres(let configuration) = fanout, listenerTask == nil else { return }
        let ready = AsyncStream<Void>.makeStream()
        listenerTask = Task { [weak self, logger] in
            var attempt = 0
            var signalled = false
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
                    defer { Task { try? await connection.close() } }
                    attempt = 0
                    try await connection.listen(on: Self.channel) { notifications in
                        if !signalled { ready.continuation.yield(); ready.continuation.finish(); signalled = true }
                        for try await notification in notifications {
                            if let id = Int(notification.payload) {
                                await self?.deliverStored(id: id)
                            } else if notification.payload.hasPrefix(Self.transientPrefix),
                                      let event = try? Self.decoder.decode(EventEnvelope.self, from: Data(notification.payload.dropFirst(Self.transientPrefix.count).utf8)) {
                                await self?.deliver(event)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    attempt += 1
                    logger.warning("event listener lost its PostgreSQL connection; retrying", metadata: ["attempt": "\(attempt)"])
                    if !signalled { ready.continuation.yield(); ready.continuation.finish(); signalled = true }
                    try? await Task.sleep(for: .milliseconds(min(5000, 100 * (1 << min(attempt, 6)))))
                }
            }
        }
        for await _ in ready.stream { break }
    }

    func stop() {
        listenerTask?.cancel()
        listenerTask = nil
        for subscriber in subscribers.values { subscriber.continuation.finish() }
        subscribers.removeAll()
    }

    /// Stores and delivers an event. A failure to store is logged, never thrown: the change the
    /// event reports has already happened and must not be undone by a notification problem.
    @discardableResult
    func publish(_ type: EventType, actor: String? = nil, subject: String? = nil, data: [String: String] = [:]) async -> EventEnvelope? {
        let record = EventRecord()
        record.type = type.rawValue
        record.occurredAt = Date()
        record.actor = actor
        record.subject = subject
        record.data = (try? String(decoding: JSONEncoder().encode(data), as: UTF8.self)) ?? "{}"
        do {
            try await record.create(on: db)
        } catch {
            logger.error("could not store event \(type.rawValue): \(String(reflecting: error))")
            return nil
        }
        let envelope = record.envelope
        switch fanout {
        case .local:
            deliver(envelope)
        case .postgres:
            do {
                guard let sql = db as? any SQLDatabase else { deliver(envelope); break }
                try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: String(envelope.id)))").run()
            } catch {
                logger.error("could not notify other replicas of event \(envelope.id): \(String(reflecting: error))")
                deliver(envelope)
            }
        }
        return envelope
    }

    static let transientPrefix = "t:"
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Delivers an event to live subscribers without storing it: for frequent readings (a server's
    /// metrics every few seconds) that would flood the history. It has id 0, so it is never replayed.
    func broadcast(_ type: EventType, subject: String? = nil, data: [String: String] = [:]) async {
        let envelope = EventEnvelope(id: 0, type: type, occurredAt: Date(), actor: nil, subject: subject, data: data)
        switch fanout {
        case .local:
            deliver(envelope)
        case .postgres:
            guard let sql = db as? any SQLDatabase, let encoded = try? Self.encoder.encode(envelope), encoded.count < 7000 else {
                deliver(envelope)
                return
            }
            do {
                try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: Self.transientPrefix + String(decoding: encoded, as: UTF8.self)))").run()
            } catch {
                logger.warning("could not notify other replicas of a \(type.rawValue) reading: \(String(reflecting: error))")
                deliver(envelope)
            }
        }
    }

    /// A live stream of events matching `types` (all when nil). With `after`, stored events with a
    /// larger id are replayed first, then live ones follow without gaps or duplicates.
    func subscribe(types: Set<EventType>?, after lastID: Int64?) async -> AsyncStream<EventEnvelope> {
        let (stream, continuation) = AsyncStream<EventEnvelope>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        let id = UUID()
        guard let lastID else {
            subscribers[id] = Subscriber(types: types, continuation: continuation)
            continuation.onTermination = { [weak self] _ in Task { await self?.unsubscribe(id) } }
            return stream
        }
        // Subscribe first, buffering live events, so nothing published during the replay is lost.
        let (live, liveContinuation) = AsyncStream<EventEnvelope>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        subscribers[id] = Subscriber(types: types, continuation: liveContinuation)
        let replay: [EventEnvelope]
        do {
            replay = try await history(types: types, after: lastID, limit: 1000)
        } catch {
            logger.error("could not replay events after \(lastID): \(String(reflecting: error))")
            replay = []
        }
        let forward = Task {
            var highest = lastID
            for event in replay {
                continuation.yield(event)
                highest = max(highest, event.id)
            }
            for await event in live where event.id == 0 || event.id > highest {
                continuation.yield(event)
            }
            continuation.finish()
        }
        continuation.onTermination = { [weak self] _ in
            forward.cancel()
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    /// Stored events, oldest first, after `lastID`.
    func history(types: Set<EventType>?, after lastID: Int64, limit: Int) async throws -> [EventEnvelope] {
        let query = EventRecord.query(on: db).filter(\.$id > Int(lastID))
        if let types { query.filter(\.$type ~~ types.map(\.rawValue)) }
        return try await query.sort(\.$id, .ascending).limit(limit).all().map(\.envelope)
    }

    /// Newest first, for the history API and pages.
    func recent(types: Set<EventType>?, before: Int64?, limit: Int) async throws -> ListPage<EventEnvelope> {
        let query = EventRecord.query(on: db)
        if let types { query.filter(\.$type ~~ types.map(\.rawValue)) }
        let total = try await query.count()
        if let before { query.filter(\.$id < Int(before)) }
        let items = try await query.sort(\.$id, .descending).limit(limit).all().map(\.envelope)
        return ListPage(items: items, total: total)
    }

    func deleteOlder(than cutoff: Date) async throws -> Int {
        let count = try await EventRecord.query(on: db).filter(\.$occurredAt < cutoff).count()
        try await EventRecord.query(on: db).filter(\.$occurredAt < cutoff).delete()
        return count
    }

    var subscriberCount: Int { subscribers.count }

    private func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.continuation.finish()
    }

    private func deliverStored(id: Int) async {
        do {
            guard let record = try await EventRecord.find(id, on: db) else { return }
            deliver(record.envelope)
        } catch {
            logger.error("could not load notified event \(id): \(String(reflecting: error))")
        }
    }

    private func deliver(_ event: EventEnvelope) {
        for subscriber in subscribers.values where subscriber.types?.contains(event.type) ?? true {
            subscriber.continuation.yield(event)
        }
    }
}
