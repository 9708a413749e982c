import Fluent
import Foundation
import NebulaCore

/// `disk_report`: disk usage and its trend from the fleet's metric history. Params: `server`
/// (all servers when absent), `days` (1–365, 7 by default). Output per server: used percent,
/// change per day and the days until full at that rate.
struct DiskReportAction: RunbookAction {
    let name = "disk_report"
    let summary = "Summarise disk usage trends from the metric history"
    let parameters = [ActionParameter(name: "server", kind: .string), ActionParameter(name: "days", kind: .integer)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] {
        if let days = params.literal("days")?.integerValue, !(1...365).contains(days) { return [("days", "must be 1–365")] }
        return []
    }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let days = try params.integer("days") ?? 7
        let servers: [ServerRecord]
        if let name = params.text("server") {
            servers = [try await context.environment.server(name)]
        } else {
            servers = try await ServerRecord.query(on: context.environment.db).sort(\.$name).all()
        }
        let now = Date()
        var reports: [TemplateValue] = []
        for server in servers {
            let points = try await context.environment.fleet.history.points(for: try server.requireID(), from: now.addingTimeInterval(-Double(days) * 86400),
                                                                             to: now, resolution: nil)
                .filter { ($0.values[.diskTotal] ?? 0) > 0 }.sorted { $0.at < $1.at }
            guard let first = points.first, let last = points.last, let used = last.values[.diskUsed], let total = last.values[.diskTotal] else {
                await context.log("\(server.name): no disk measurements in the last \(days) d")
                reports.append(["server": .string(server.name), "measured": false])
                continue
            }
            let span = max(last.at.timeIntervalSince(first.at) / 86400, 1.0 / 24)
            let perDay = ((last.values[.diskUsed] ?? used) - (first.values[.diskUsed] ?? used)) / span
            let percent = used / total * 100
            let daysLeft: Double? = perDay > 0 ? (total - used) / perDay : nil
            await context.log("\(server.name): \(percent.fixed(1)) % used, \(perDay >= 0 ? "+" : "")\(formatBytes(Int(perDay))) a day"
                + (daysLeft.map { ", full in \(Int($0)) d" } ?? ""))
            reports.append(["server": .string(server.name), "measured": true, "used_percent": .number((percent * 10).rounded() / 10),
                            "used_bytes": .number(used), "total_bytes": .number(total), "change_per_day_bytes": .number(perDay.rounded()),
                            "days_until_full": daysLeft.map { .number($0.rounded()) } ?? .null])
        }
        let fullest = reports.compactMap { $0.objectValue?["used_percent"]?.integerValue }.max() ?? 0
        return ["servers": .list(reports), "max_used_percent": .number(Double(fullest)), "days": .number(Double(days))]
    }
}
