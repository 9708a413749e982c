import Fluent
import Foundation
import NebulaCore

/// `docker`: restarts, starts or stops a container through ``ContainersService`` (so agent nodes
/// work, and the change is audited like one made on the Containers page). Params: `command`,
/// `container`, `server` (name or id; the control plane's machine when absent), `timeout` (grace
/// seconds before a kill), `max_restarts_per_hour` (refuse a restart beyond this many successful
/// runbook restarts of the same container in the last hour).
struct DockerAction: RunbookAction {
    let name = "docker"
    let summary = "Restart, start or stop a container (local or agent node)"
    let parameters = [ActionParameter(name: "command", kind: .string, required: true, allowed: ["restart", "start", "stop"]),
                      ActionParameter(name: "container", kind: .string, required: true),
                      ActionParameter(name: "server", kind: .string),
                      ActionParameter(name: "timeout", kind: .integer),
                      ActionParameter(name: "max_restarts_per_hour", kind: .integer)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool { params.text("command") == "start" }

    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] {
        var problems: [(String, String)] = []
        if let container = params.literal("container")?.textValue, (try? ContainersService.containerReference(container)) == nil {
            problems.append(("container", "'\(container.prefix(60))' is not a container id or name"))
        }
        if let grace = params.literal("timeout")?.integerValue, !(0...600).contains(grace) { problems.append(("timeout", "must be 0–600 seconds")) }
        if let limit = params.literal("max_restarts_per_hour")?.integerValue, !(1...100).contains(limit) {
            problems.append(("max_restarts_per_hour", "must be 1–100"))
        }
        return problems
    }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let command = try params.requiredText("command")
        let container = try params.requiredText("container")
        _ = try ContainersService.containerReference(container)
        let server = try await context.environment.server(params.text("server"))
        let serverID = try server.requireID()
        let grace = try params.integer("timeout") ?? 10
        if command == "restart", let limit = try params.integer("max_restarts_per_hour") {
            let recent = try await Self.recentRestarts(of: container, on: serverID, db: context.environment.db)
            if recent >= limit {
                throw ActionFailure("restart limit reached: \(container) on \(server.name) was restarted \(recent) time(s) by runbooks in the last hour (max_restarts_per_hour: \(limit))")
            }
        }
        let change: ContainersService.Change = switch command {
        case "restart": .restart(timeoutSeconds: grace)
        case "start": .start
        case "stop": .stop(timeoutSeconds: grace)
        default: throw ActionFailure("command must be restart, start or stop")
        }
        await context.log("docker \(command) \(container) on \(server.name)")
        try await context.environment.containers.change(container, on: serverID, change, by: context.actor)
        return ["command": .string(command), "container": .string(container), "server": .string(server.name), "server_id": .string(serverID.uuidString)]
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would \(params.text("command") ?? "?") the container \(params.text("container") ?? "?") on \(params.text("server") ?? "the local server")"
            + (params.text("max_restarts_per_hour").map { " (at most \($0) restarts an hour)" } ?? "")
    }

    /// Successful runbook restarts of `container` on `server` in the last hour, from the journal.
    static func recentRestarts(of container: String, on server: UUID, db: any Database) async throws -> Int {
        let steps = try await RunStepRecord.query(on: db)
            .filter(\.$action == "docker")
            .filter(\.$status == .succeeded)
            .filter(\.$finishedAt > Date().addingTimeInterval(-3600))
            .all()
        return steps.filter { step in
            let output = TemplateValue.fromJSON(step.output).objectValue ?? [:]
            return output["command"] == "restart" && output["container"] == .string(container) && output["server_id"] == .string(server.uuidString)
        }.count
    }
}
