import Fluent

/// Wake-on-LAN settings per server.
struct AddWakeOnLAN: AsyncMigration {
    // One column per statement: SQLite adds a single column per ALTER TABLE.
    static let columns: [(String, DatabaseSchema.DataType)] = [("mac_address", .string), ("wake_broadcast", .string), ("wake_port", .int)]

    func prepare(on database: any Database) async throws {
        for (name, type) in Self.columns {
            try await database.schema(ServerRecord.schema).field(.string(name), type).update()
        }
    }

    func revert(on database: any Database) async throws {
        for (name, _) in Self.columns {
            try await database.schema(ServerRecord.schema).deleteField(.string(name)).update()
        }
    }
}

/// Per server: the pinned SSH host key, the last connection error, the file browser's roots and
/// the latest sample's headline numbers.
struct AddSSHAccess: AsyncMigration {
    static let columns = ["ssh_host_key", "last_error", "file_roots", "latest_metrics"]

    func prepare(on database: any Database) async throws {
        for name in Self.columns {
            try await database.schema(ServerRecord.schema).field(.string(name), .string).update()
        }
    }

    func revert(on database: any Database) async throws {
        for name in Self.columns {
            try await database.schema(ServerRecord.schema).deleteField(.string(name)).update()
        }
    }
}
