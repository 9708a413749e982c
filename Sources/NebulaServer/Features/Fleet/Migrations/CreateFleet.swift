import Fluent
import SQLKit

struct CreateFleet: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(ServerRecord.schema)
            .id()
            .field("name", .string, .required)
            .field("connection", .string, .required)
            .field("address", .string)
            .field("port", .int)
            .field("username", .string)
            .field("tags", .string, .required)
            .field("status", .string, .required)
            .field("last_seen_at", .datetime)
            .field("latest_sample", .string)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "name")
            .create()
        try await database.schema(MetricSampleRecord.schema)
            .field(.id, .int64, .identifier(auto: true))
            .field("server_id", .uuid, .required, .references(ServerRecord.schema, .id, onDelete: .cascade))
            .field("at", .datetime, .required)
            .field("cpu", .double)
            .field("memory_used", .int64, .required)
            .field("memory_total", .int64, .required)
            .field("swap_used", .int64, .required)
            .field("disk_used", .int64, .required)
            .field("disk_total", .int64, .required)
            .field("net_rx", .double, .required)
            .field("net_tx", .double, .required)
            .field("disk_read", .double, .required)
            .field("disk_write", .double, .required)
            .field("load1", .double, .required)
            .field("temperature", .double)
            .field("gpu", .double)
            .create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX metric_samples_server_at ON metric_samples (server_id, at)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema(MetricSampleRecord.schema).delete()
        try await database.schema(ServerRecord.schema).delete()
    }
}
