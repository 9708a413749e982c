import Fluent
import Foundation
import SQLKit

/// Metric history in three tiers, so a year of charts stays small and fast:
/// raw samples for 24 h, 1-minute rollups for 7 days, 1-hour rollups for a year.
///
/// ``rollUp(now:)`` turns finished minutes of raw samples into minute rollups and finished hours of
/// minute rollups into hour rollups; ``prune(now:)`` deletes what has been rolled up and is past its
/// retention (never anything that has not been rolled up yet). Both are idempotent and every step
/// commits in one transaction, so a crash in the middle loses nothing and repeats nothing. Raw
/// samples that arrive after their minute was rolled up (a node whose clock is far behind) are
/// shown while raw data is kept but are not rolled up.
/// ``points(for:from:to:resolution:)`` reads the coarsest tier that fits and fills the time after
/// that tier's last rollup from the finer tiers, so charts never show a gap while the job is behind.
struct MetricHistory: Sendable {
    let db: any Database

    /// How long each tier is kept.
    static let rawRetention: TimeInterval = 24 * 3600
    static let minuteRetention: TimeInterval = 7 * 86400
    static let hourRetention: TimeInterval = 365 * 86400
    /// Rolled up per transaction, so one step never holds a huge result in memory (200 nodes at a
    /// 5 s interval: 36 000 raw samples or 72 000 minute rollups).
    static func chunk(_ tier: MetricResolution) -> TimeInterval {
        switch tier {
        case .minute: 15 * 60
        case .hour: 6 * 3600
        }
    }

    // MARK: Rolling up

    struct RollupReport: Sendable, Equatable {
        var minuteBuckets = 0
        var hourBuckets = 0
    }

    /// Rolls up every finished minute and hour that is not rolled up yet.
    func rollUp(now: Date = Date()) async throws -> RollupReport {
        // Every raw sample before this minute is rolled up below, so the hours before it are finished too.
        let minuteEnd = MetricResolution.minute.bucketStart(of: now)
        let minutes = try await rollUp(.minute, until: minuteEnd)
        let hours = try await rollUp(.hour, until: MetricResolution.hour.bucketStart(of: minuteEnd))
        return RollupReport(minuteBuckets: minutes, hourBuckets: hours)
    }

    /// Rolls up the finer tier into `tier` from the newest rollup of `tier` to `end`, a chunk at a
    /// time, jumping over stretches without data.
    private func rollUp(_ tier: MetricResolution, until end: Date) async throws -> Int {
        var cursor = try await watermark(tier) ?? Date(timeIntervalSince1970: 0)
        var stored = 0
        while let first = try await firstFinerPoint(of: tier, from: cursor, before: end) {
            let start = tier.bucketStart(of: first)
            let chunkEnd = min(start.addingTimeInterval(Self.chunk(tier)), end)
            let points = switch tier {
            case .minute: try await rawPoints(server: nil, from: start, to: chunkEnd)
            case .hour: try await rollupPoints(.minute, server: nil, from: start, to: chunkEnd)
            }
            stored += try await store(tier, points: points)
            cursor = chunkEnd
        }
        return stored
    }

    /// The time of the oldest raw sample (for minutes) or minute rollup (for hours) in `[from, before)`.
    private func firstFinerPoint(of tier: MetricResolution, from: Date, before: Date) async throws -> Date? {
        switch tier {
        case .minute:
            return try await MetricSampleRecord.query(on: db).filter(\.$at >= from).filter(\.$at < before).min(\.$at)
        case .hour:
            let row = try await requireSQL().select()
                .column(SQLFunction("MIN", args: SQLColumn("bucket_start")), as: "oldest")
                .from(MetricRollupColumns.table)
                .where("resolution", .equal, MetricResolution.minute.seconds)
                .where("bucket_start", .greaterThanOrEqual, from)
                .where("bucket_start", .lessThan, before)
                .first()
            return try row?.decode(column: "oldest", as: Date?.self) ?? nil
        }
    }

    struct PruneReport: Sendable, Equatable {
        var rawSamples = 0
        var minuteRollups = 0
        var hourRollups = 0
    }

    /// Deletes raw samples and rollups past their retention, keeping anything not rolled up yet.
    func prune(now: Date = Date()) async throws -> PruneReport {
        var report = PruneReport()
        let minuteMark = try await watermark(.minute) ?? .distantPast
        let rawCutoff = min(now.addingTimeInterval(-Self.rawRetention), minuteMark)
        let raw = MetricSampleRecord.query(on: db).filter(\.$at < rawCutoff)
        report.rawSamples = try await raw.count()
        try await raw.delete()

        let hourMark = try await watermark(.hour) ?? .distantPast
        report.minuteRollups = try await deleteRollups(.minute, before: min(now.addingTimeInterval(-Self.minuteRetention), hourMark))
        report.hourRollups = try await deleteRollups(.hour, before: now.addingTimeInterval(-Self.hourRetention))
        return report
    }

    // MARK: Reading

    /// Points of one server (or of all, when nil) between `from` and `to`, at `resolution` where
    /// rollups exist and finer where they do not yet.
    func points(for server: UUID?, from: Date, to: Date, resolution: MetricResolution?) async throws -> [MetricPoint] {
        var cursor = from
        var points: [MetricPoint] = []
        for tier in MetricResolution.tiers(from: resolution) {
            guard cursor < to else { break }
            guard let mark = try await watermark(tier), mark > cursor else { continue }
            let end = min(mark, to)
            points += try await rollupPoints(tier, server: server, from: cursor, to: end)
            cursor = end
        }
        if cursor < to {
            points += try await rawPoints(server: server, from: cursor, to: to.addingTimeInterval(1))
        }
        return points
    }

    // MARK: Storage

    private var sql: (any SQLDatabase)? { db as? any SQLDatabase }

    private func requireSQL() throws -> any SQLDatabase {
        guard let sql else { throw NebulaError.misconfigured("metric rollups need an SQL database") }
        return sql
    }

    /// The end of the newest rollup of a tier (where the next one starts), nil when there is none.
    func watermark(_ tier: MetricResolution) async throws -> Date? {
        let row = try await requireSQL().select()
            .column(SQLFunction("MAX", args: SQLColumn("bucket_start")), as: "newest")
            .from(MetricRollupColumns.table)
            .where("resolution", .equal, tier.seconds)
            .first()
        let newest = try row?.decode(column: "newest", as: Date?.self) ?? nil
        return newest.map { $0.addingTimeInterval(Double(tier.seconds)) }
    }

    /// Stores one rollup per server and bucket of `points`, all in one transaction.
    private func store(_ tier: MetricResolution, points: [MetricPoint]) async throws -> Int {
        var buckets: [MetricBucketKey: MetricAccumulator] = [:]
        for point in points {
            buckets[MetricBucketKey(server: point.server, start: tier.bucketStart(of: point.at)), default: MetricAccumulator()].add(point)
        }
        let rows = buckets.sorted { ($0.key.start, $0.key.server.uuidString) < ($1.key.start, $1.key.server.uuidString) }
        try await db.transaction { transaction in
            guard let sql = transaction as? any SQLDatabase else { throw NebulaError.misconfigured("metric rollups need an SQL database") }
            for (key, accumulator) in rows {
                try await insert(sql, tier: tier, server: key.server, start: key.start, accumulator: accumulator)
            }
        }
        return rows.count
    }

    private func insert(_ sql: any SQLDatabase, tier: MetricResolution, server: UUID, start: Date, accumulator: MetricAccumulator) async throws {
        var columns = ["server_id", "resolution", "bucket_start", "samples"]
        var values: [any SQLExpression] = [SQLBind(server), SQLBind(tier.seconds), SQLBind(start), SQLBind(accumulator.samples)]
        for column in MetricColumn.allCases {
            columns.append(column.rawValue)
            values.append(SQLBind(accumulator.average(column)))
        }
        try await sql.insert(into: MetricRollupColumns.table).columns(columns).values(values).run()
    }

    private func deleteRollups(_ tier: MetricResolution, before cutoff: Date) async throws -> Int {
        let sql = try requireSQL()
        let row = try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(MetricRollupColumns.table)
            .where("resolution", .equal, tier.seconds).where("bucket_start", .lessThan, cutoff)
            .first()
        let count = try row?.decode(column: "n", as: Int.self) ?? 0
        try await sql.delete(from: MetricRollupColumns.table)
            .where("resolution", .equal, tier.seconds).where("bucket_start", .lessThan, cutoff)
            .run()
        return count
    }

    private func rawPoints(server: UUID?, from: Date, to: Date) async throws -> [MetricPoint] {
        var query = MetricSampleRecord.query(on: db).filter(\.$at >= from).filter(\.$at < to)
        if let server { query = query.filter(\.$serverID == server) }
        return try await query.sort(\.$at).all().map(MetricPoint.init)
    }

    private func rollupPoints(_ tier: MetricResolution, server: UUID?, from: Date, to: Date) async throws -> [MetricPoint] {
        var query = try requireSQL().select()
            .columns(["server_id", "bucket_start", "samples"] + MetricColumn.allCases.map(\.rawValue))
            .from(MetricRollupColumns.table)
            .where("resolution", .equal, tier.seconds)
            .where("bucket_start", .greaterThanOrEqual, from)
            .where("bucket_start", .lessThan, to)
        if let server { query = query.where("server_id", .equal, server) }
        let rows = try await query.orderBy("bucket_start").all()
        return try rows.map { row in
            var values: [MetricColumn: Double] = [:]
            for column in MetricColumn.allCases {
                if let value = try row.decode(column: column.rawValue, as: Double?.self) { values[column] = value }
            }
            return MetricPoint(server: try row.decode(column: "server_id", as: UUID.self),
                               at: try row.decode(column: "bucket_start", as: Date.self),
                               samples: try row.decode(column: "samples", as: Int.self), values: values)
        }
    }
}

/// The width of a rollup bucket.
enum MetricResolution: Int, Sendable, CaseIterable {
    case minute = 60
    case hour = 3600

    var seconds: Int { rawValue }

    func bucketStart(of date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / Double(seconds)).rounded(.down) * Double(seconds))
    }

    /// `resolution` and every finer rollup tier, coarsest first (nil: raw samples only).
    static func tiers(from resolution: MetricResolution?) -> [MetricResolution] {
        switch resolution {
        case .hour: [.hour, .minute]
        case .minute: [.minute]
        case nil: []
        }
    }

    /// The coarsest tier that still has a point per `step` and still holds data `age` seconds old.
    static func fitting(step: Int, oldest age: TimeInterval) -> MetricResolution? {
        if step >= 3600 || age > MetricHistory.minuteRetention { return .hour }
        if step >= 60 || age > MetricHistory.rawRetention { return .minute }
        return nil
    }
}

/// The stored metric columns, shared by raw samples and rollups.
enum MetricColumn: String, CaseIterable, Sendable {
    case cpu
    case memoryUsed = "memory_used", memoryTotal = "memory_total", swapUsed = "swap_used"
    case diskUsed = "disk_used", diskTotal = "disk_total"
    case netRx = "net_rx", netTx = "net_tx", diskRead = "disk_read", diskWrite = "disk_write"
    case load1, temperature, gpu
}

enum MetricRollupColumns {
    static let table = "metric_rollups"
}

/// A raw sample (`samples` 1) or a rollup (`samples` n, values are averages).
struct MetricPoint: Sendable {
    var server: UUID
    var at: Date
    var samples: Int
    var values: [MetricColumn: Double]

    init(server: UUID, at: Date, samples: Int, values: [MetricColumn: Double]) {
        self.server = server
        self.at = at
        self.samples = samples
        self.values = values
    }

    init(_ row: MetricSampleRecord) {
        var values: [MetricColumn: Double] = [
            .memoryUsed: Double(row.memoryUsed), .memoryTotal: Double(row.memoryTotal), .swapUsed: Double(row.swapUsed),
            .diskUsed: Double(row.diskUsed), .diskTotal: Double(row.diskTotal),
            .netRx: row.netRx, .netTx: row.netTx, .diskRead: row.diskRead, .diskWrite: row.diskWrite, .load1: row.load1,
        ]
        values[.cpu] = row.cpu
        values[.temperature] = row.temperature
        values[.gpu] = row.gpu
        self.init(server: row.serverID, at: row.at, samples: 1, values: values)
    }
}

struct MetricBucketKey: Hashable {
    var server: UUID
    var start: Date
}

/// Sample-weighted averages of each column over the points added (a column a point lacks, such as
/// CPU on an agent's first sample, is averaged over the points that have it).
struct MetricAccumulator: Sendable {
    private(set) var samples = 0
    private var sums: [MetricColumn: Double] = [:]
    private var weights: [MetricColumn: Double] = [:]

    mutating func add(_ point: MetricPoint) {
        samples += point.samples
        let weight = Double(max(point.samples, 1))
        for (column, value) in point.values where value.isFinite {
            sums[column, default: 0] += value * weight
            weights[column, default: 0] += weight
        }
    }

    func average(_ column: MetricColumn) -> Double? {
        guard let weight = weights[column], weight > 0, let sum = sums[column] else { return nil }
        return sum / weight
    }
}

/// `metrics.rollup`: rolls raw samples up into minute and hour rollups and applies the retention of
/// each tier. Queued every 15 minutes by ``MaintenanceScheduler``.
struct MetricsRollupJob: JobHandler {
    let type = MetricsRollupJob.jobType
    static let jobType = "metrics.rollup"
    let runnableByOperators = true
    let history: MetricHistory

    func run(_ job: JobContext) async throws {
        let rolled = try await history.rollUp()
        await job.log("rolled up \(rolled.minuteBuckets) minute and \(rolled.hourBuckets) hour buckets")
        await job.progress(0.6)
        try Task.checkCancellation()
        let pruned = try await history.prune()
        await job.log("deleted \(pruned.rawSamples) raw samples older than 24 h, \(pruned.minuteRollups) minute rollups older than 7 d, \(pruned.hourRollups) hour rollups older than 1 y")
        await job.progress(1)
    }
}
