import Foundation
import NebulaCore

/// `prune_images`: removes unused images Nebula built on a server (never one it did not create),
/// through ``ContainersService/pruneImages(on:by:)``. Params: `server`.
struct PruneImagesAction: RunbookAction {
    let name = "prune_images"
    let summary = "Remove unused images Nebula created on a server"
    let parameters = [ActionParameter(name: "server", kind: .string)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { true }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let server = try await context.environment.server(params.text("server"))
        let report = try await context.environment.containers.pruneImages(on: try server.requireID(), by: context.actor)
        await context.log("removed \(report.deleted.count) image reference(s) on \(server.name), \(formatBytes(Int(report.spaceReclaimed))) freed")
        return ["deleted": .number(Double(report.deleted.count)), "space_reclaimed": .number(Double(report.spaceReclaimed)), "server": .string(server.name)]
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would remove unused Nebula-built images on \(params.text("server") ?? "the local server")"
    }
}
