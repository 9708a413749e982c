import Fluent
import SQLKit

/// Minute and hour rollups of metric samples (see ``MetricHistory``).
struct CreateMetricRollups: AsyncMigration {
    func prepare(on database: any Database) async throws {
        var schema = database.schema(MetricRollupColumns.table)
            .field(.id, .int64, .identifier(auto: true))
            .field("server_id", .uuid, .required, .references(ServerRecord.schema, .id, onDelete: .cascade))
            .field("resolution", .int, .required)
            .field("bucket_start", .datetime, .required)
            .field("samples", .int, .required)
        for column in MetricColumn.allCases {
            schema = schema.field(.string(column.rawValue), .double)
        }
        try await schema.create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE UNIQUE INDEX metric_rollups_bucket ON metric_rollups (resolution, bucket_start, server_id)").run()
            try await sql.raw("CREATE INDEX metric_rollups_server ON metric_rollups (server_id, resolution, bucket_start)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema(MetricRollupColumns.table).delete()
    }
}
