import Fluent
import Foundation
import NebulaCore
import SQLKit

/// Hourly rollups, retention and uptime. Raw results live `rawRetentionHours` (48 h by default);
/// hourly rollups (count, failures, average and highest latency) live `rollupRetentionDays` (400
/// by default). So the database holds at most two days of raw results plus one row per check and
/// hour, whatever the number of days the control plane runs.
struct MonitoringRollups: Sendable {
    let db: any Database

    struct Report: Sendable, Equatable {
        var rolledHours = 0
        var rollupRows = 0
        var prunedResults = 0
        var prunedRollups = 0
    }

    static func hourStart(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
    }

    private func sql() throws -> any SQLDatabase {
        guard let sql = db as? any SQLDatabase else { throw NebulaError.misconfigured("monitoring needs an SQL database") }
        return sql
    }

    /// The settings row, created with the defaults on first use.
    func settingsRecord() async throws -> MonitoringSettingsRecord {
        if let record = try await MonitoringSettingsRecord.find(1, on: db) { return record }
        let record = MonitoringSettingsRecord()
        record.id = 1
        record.statusPageEnabled = false
        record.statusPageTitle = "Service status"
        record.rawRetentionHours = 48
        record.rollupRetentionDays = 400
        do {
            try await record.create(on: db)
        } catch {
            // Another request created it first.
            if let existing = try await MonitoringSettingsRecord.find(1, on: db) { return existing }
            throw error
        }
        return record
    }

    /// Recomputes the rollups of every hour since the last run (including the current, partial
    /// hour) from the raw results, then deletes raw results and rollups past their retention.
    func rollUpAndPrune(now: Date = Date()) async throws -> Report {
        let settings = try await settingsRecord()
        let sql = try sql()
        var report = Report()
        var from: Date?
        if let rolled = settings.rolledUntil {
            from = Self.hourStart(min(rolled, now))
        } else if let first = try await CheckResultRecord.query(on: db).sort(\.$at).first() {
            from = Self.hourStart(first.at)
        }
        if let from {
            struct Row: Decodable { var check_id: UUID; var at: Date; var ok: Bool; var latency_ms: Double? }
            let rows = try await sql.select().columns("check_id", "at", "ok", "latency_ms").from(CheckResultRecord.schema)
                .where("at", .greaterThanOrEqual, SQLBind(from)).where("at", .lessThan, SQLBind(now))
                .all(decoding: Row.self)
            struct Key: Hashable { var check: UUID; var hour: Date }
            struct Sum { var count = 0, failures = 0, latencyCount = 0; var latencySum = 0.0, latencyMax = 0.0 }
            var sums: [Key: Sum] = [:]
            for row in rows {
                let key = Key(check: row.check_id, hour: Self.hourStart(row.at))
                var sum = sums[key] ?? Sum()
                sum.count += 1
                if !row.ok { sum.failures += 1 }
                if let latency = row.latency_ms, latency.isFinite {
                    sum.latencyCount += 1
                    sum.latencySum += latency
                    sum.latencyMax = max(sum.latencyMax, latency)
                }
                sums[key] = sum
            }
            report.rolledHours = Set(sums.keys.map(\.hour)).count
            report.rollupRows = sums.count
            let entries = Array(sums)
            try await db.transaction { tx in
                guard let sql = tx as? any SQLDatabase else { return }
                try await sql.delete(from: CheckRollupRecord.schema).where("hour_start", .greaterThanOrEqual, SQLBind(from)).run()
                for start in stride(from: 0, to: entries.count, by: 500) {
                    let insert = sql.insert(into: CheckRollupRecord.schema)
                        .columns("check_id", "hour_start", "count", "failures", "latency_sum", "latency_count", "latency_max")
                    for (key, sum) in entries[start..<min(start + 500, entries.count)] {
                        insert.values(SQLBind(key.check), SQLBind(key.hour), SQLBind(sum.count), SQLBind(sum.failures),
                                      SQLBind(sum.latencySum), SQLBind(sum.latencyCount), SQLBind(sum.latencyMax))
                    }
                    try await insert.run()
                }
                try await sql.update(MonitoringSettingsRecord.schema).set("rolled_until", to: now).where("id", .equal, 1).run()
            }
        } else {
            try await sql.update(MonitoringSettingsRecord.schema).set("rolled_until", to: now).where("id", .equal, 1).run()
        }
        // Raw results go only once they are in a rollup.
        let rawCutoff = now.addingTimeInterval(-Double(settings.rawRetentionHours) * 3600)
        report.prunedResults = try await CheckResultRecord.query(on: db).filter(\.$at < rawCutoff).count()
        if report.prunedResults > 0 {
            try await sql.delete(from: CheckResultRecord.schema).where("at", .lessThan, SQLBind(rawCutoff)).run()
        }
        let rollupCutoff = now.addingTimeInterval(-Double(settings.rollupRetentionDays) * 86_400)
        report.prunedRollups = try await CheckRollupRecord.query(on: db).filter(\.$hourStart < rollupCutoff).count()
        if report.prunedRollups > 0 {
            try await sql.delete(from: CheckRollupRecord.schema).where("hour_start", .lessThan, SQLBind(rollupCutoff)).run()
        }
        return report
    }

    /// Uptime over 24 h, 7 d and 30 d of the given checks (all when nil): rollups for whole hours
    /// up to the last rollup, raw results after it — two grouped queries in all.
    func uptime(checks: [UUID]?, now: Date = Date()) async throws -> [UUID: UptimeDTO] {
        let sql = try sql()
        let settings = try await settingsRecord()
        let day = Self.hourStart(now.addingTimeInterval(-86_400))
        let week = Self.hourStart(now.addingTimeInterval(-7 * 86_400))
        let month = Self.hourStart(now.addingTimeInterval(-30 * 86_400))
        struct Totals { var day = (0, 0), week = (0, 0), month = (0, 0) }
        var totals: [UUID: Totals] = [:]
        struct RollupRow: Decodable { var check_id: UUID; var c1: Int?; var f1: Int?; var c7: Int?; var f7: Int?; var c30: Int?; var f30: Int? }
        var rollupQuery = SQLQueryString("""
            SELECT check_id,
              CAST(SUM(CASE WHEN hour_start >= \(bind: day) THEN count ELSE 0 END) AS BIGINT) AS c1,
              CAST(SUM(CASE WHEN hour_start >= \(bind: day) THEN failures ELSE 0 END) AS BIGINT) AS f1,
              CAST(SUM(CASE WHEN hour_start >= \(bind: week) THEN count ELSE 0 END) AS BIGINT) AS c7,
              CAST(SUM(CASE WHEN hour_start >= \(bind: week) THEN failures ELSE 0 END) AS BIGINT) AS f7,
              CAST(SUM(count) AS BIGINT) AS c30, CAST(SUM(failures) AS BIGINT) AS f30
            FROM check_rollups WHERE hour_start >= \(bind: month)
            """)
        if let checks, let only = checks.first, checks.count == 1 { rollupQuery.appendInterpolation(unsafeRaw: " AND check_id = "); rollupQuery.appendInterpolation(bind: only) }
        rollupQuery.appendInterpolation(unsafeRaw: " GROUP BY check_id")
        for row in try await sql.raw(rollupQuery).all(decoding: RollupRow.self) {
            totals[row.check_id] = Totals(day: (row.c1 ?? 0, row.f1 ?? 0), week: (row.c7 ?? 0, row.f7 ?? 0), month: (row.c30 ?? 0, row.f30 ?? 0))
        }
        let rawFrom = settings.rolledUntil ?? Date.distantPast
        struct RawRow: Decodable { var check_id: UUID; var c: Int?; var f: Int? }
        var rawQuery = SQLQueryString("SELECT check_id, CAST(COUNT(*) AS BIGINT) AS c, CAST(SUM(CASE WHEN ok THEN 0 ELSE 1 END) AS BIGINT) AS f FROM check_results WHERE at >= \(bind: max(rawFrom, month))")
        if let checks, let only = checks.first, checks.count == 1 { rawQuery.appendInterpolation(unsafeRaw: " AND check_id = "); rawQuery.appendInterpolation(bind: only) }
        rawQuery.appendInterpolation(unsafeRaw: " GROUP BY check_id")
        for row in try await sql.raw(rawQuery).all(decoding: RawRow.self) {
            var entry = totals[row.check_id] ?? Totals()
            let count = row.c ?? 0, failures = row.f ?? 0
            entry.day = (entry.day.0 + count, entry.day.1 + failures)
            entry.week = (entry.week.0 + count, entry.week.1 + failures)
            entry.month = (entry.month.0 + count, entry.month.1 + failures)
            totals[row.check_id] = entry
        }
        func percent(_ pair: (Int, Int)) -> Double? {
            guard pair.0 > 0 else { return nil }
            return (Double(pair.0 - pair.1) / Double(pair.0) * 10_000).rounded() / 100
        }
        var result: [UUID: UptimeDTO] = [:]
        for (id, total) in totals where checks.map({ $0.contains(id) }) ?? true {
            result[id] = UptimeDTO(day: percent(total.day), week: percent(total.week), month: percent(total.month))
        }
        return result
    }
}
