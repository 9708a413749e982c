import Foundation
import NebulaCore
import SQLKit

/// `vacuum_database`: compacts the control plane's own database (SQLite `VACUUM`, PostgreSQL
/// `VACUUM ANALYZE`). No parameters.
struct VacuumDatabaseAction: RunbookAction {
    let name = "vacuum_database"
    let summary = "Compact the control plane's database (VACUUM)"
    let parameters: [ActionParameter] = []

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        guard let sql = context.environment.db as? any SQLDatabase else { throw ActionFailure("the database does not speak SQL") }
        let started = ContinuousClock.now
        let kind = context.environment.isPostgres ? "postgresql" : "sqlite"
        try await sql.raw(context.environment.isPostgres ? "VACUUM ANALYZE" : "VACUUM").run()
        let seconds = (ContinuousClock.now - started).seconds
        await context.log("\(kind) vacuumed in \(seconds.fixed(2, trimmingZeros: true)) s")
        return ["database": .string(kind), "seconds": .number((seconds * 100).rounded() / 100)]
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would run \(context.environment.isPostgres ? "VACUUM ANALYZE" : "VACUUM") on the control plane's database"
    }
}
