import NebulaCore
import Vapor

/// `/api/v1/settings`.
struct SettingsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "settings", role: .viewer, summary: "Current settings", tag: "Settings", response: SettingsDoc.doc, use: show)
        routes.endpoint(.PATCH, "settings", role: .admin, audit: "settings.update", summary: "Change settings (absent fields keep their value)", tag: "Settings",
                        request: SettingsPatchDoc.doc, response: SettingsDoc.doc, use: update)
    }

    @Sendable func show(req: Request) async throws -> Settings {
        _ = try req.actor
        return try await req.nebula.settings.current()
    }

    @Sendable func update(req: Request) async throws -> Settings {
        let patch = try req.decodeJSON(SettingsPatch.self, allowedKeys: ["instanceName", "eventRetentionDays", "auditRetentionDays", "jobRetentionDays"])
        return try await req.nebula.settings.update(patch, by: try req.actor)
    }
}

extension Settings: Content {}
