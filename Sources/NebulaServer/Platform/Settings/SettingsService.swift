import Fluent
import Foundation
import NebulaCore

/// One stored setting.
final class SettingRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types used inside one task only.
    static let schema = "settings"

    @ID(custom: "key", generatedBy: .user) var id: String?
    @Field(key: "value") var value: String

    init() {}

    init(key: String, value: String) {
        id = key
        self.value = value
    }
}

/// Settings an admin can change at runtime. Defaults come from ``Config``.
struct Settings: Codable, Sendable, Equatable {
    /// Shown in the page titles and the header.
    var instanceName: String
    var eventRetentionDays: Int
    var auditRetentionDays: Int
    /// Days finished jobs and their logs are kept.
    var jobRetentionDays: Int
}

/// A partial update: absent fields keep their value.
struct SettingsPatch: Codable, Sendable {
    var instanceName: String?
    var eventRetentionDays: Int?
    var auditRetentionDays: Int?
    var jobRetentionDays: Int?
}

struct SettingsService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let defaults: Settings

    func current() async throws -> Settings {
        var settings = defaults
        for record in try await SettingRecord.query(on: db).all() {
            guard let key = record.id else { continue }
            switch key {
            case "instanceName": settings.instanceName = record.value
            case "eventRetentionDays": settings.eventRetentionDays = Int(record.value) ?? settings.eventRetentionDays
            case "auditRetentionDays": settings.auditRetentionDays = Int(record.value) ?? settings.auditRetentionDays
            case "jobRetentionDays": settings.jobRetentionDays = Int(record.value) ?? settings.jobRetentionDays
            default: continue
            }
        }
        return settings
    }

    func update(_ patch: SettingsPatch, by actor: Actor) async throws -> Settings {
        do {
            try actor.require(.admin)
        } catch {
            try await audit.record("settings.update", target: "settings", outcome: .denied, by: actor)
            throw error
        }
        var changes: [(String, String)] = []
        if let name = patch.instanceName?.trimmingCharacters(in: .whitespaces) {
            guard (1...60).contains(name.count) else {
                throw NebulaError.unprocessable("The instance name is 1–60 characters.", code: "invalid_setting")
            }
            changes.append(("instanceName", name))
        }
        for (key, label, value, range) in [("eventRetentionDays", "Days of events to keep", patch.eventRetentionDays, 1...3650),
                                           ("auditRetentionDays", "Days of audit entries to keep", patch.auditRetentionDays, 1...36500),
                                           ("jobRetentionDays", "Days of finished jobs to keep", patch.jobRetentionDays, 1...3650)] {
            guard let value else { continue }
            guard range.contains(value) else {
                throw NebulaError.unprocessable("\(label) (\(key)) must be from \(range.lowerBound) to \(range.upperBound).", code: "invalid_setting")
            }
            changes.append((key, String(value)))
        }
        let pending = changes
        try await db.transaction { tx in
            for (key, value) in pending {
                if let existing = try await SettingRecord.find(key, on: tx) {
                    existing.value = value
                    try await existing.update(on: tx)
                } else {
                    try await SettingRecord(key: key, value: value).create(on: tx)
                }
            }
        }
        let summary = changes.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        try await audit.record("settings.update", target: "settings", by: actor, detail: summary)
        await events.publish(.settingsUpdated, actor: actor.username, subject: "settings", data: Dictionary(changes, uniquingKeysWith: { $1 }))
        return try await current()
    }
}

struct CreateSettings: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(SettingRecord.schema)
            .field("key", .string, .identifier(auto: false))
            .field("value", .string, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SettingRecord.schema).delete()
    }
}
