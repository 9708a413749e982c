import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/servers/{id}/containers|images|volumes|networks`: Docker on every node.
struct ContainersController: RouteCollection {
    struct StopRequest: Codable, Sendable {
        /// Seconds between SIGTERM and SIGKILL (default 10).
        var timeout: Int?
    }

    struct KillRequest: Codable, Sendable {
        var signal: String?
    }

    func boot(routes: any RoutesBuilder) throws {
        let containerPath: [PathComponent] = ["servers", ":id", "containers", ":container"]
        routes.endpoint(.GET, "servers", ":id", "containers", role: .viewer, summary: "Containers on a server, with state and health", tag: "Containers",
                        response: ContainerListDoc.doc,
                        query: [QueryDoc(name: "all", description: "Include stopped containers (default true)", schema: .boolean)], use: list)
        routes.endpoint(.GET, containerPath, role: .viewer, summary: "One container in detail", tag: "Containers",
                        response: ContainerDetailsDoc.doc, use: inspect)
        routes.endpoint(.POST, containerPath + ["start"], role: .operator, audit: "container.start", summary: "Start a container", tag: "Containers",
                        response: ChangeOutcomeDoc.doc, use: start)
        routes.endpoint(.POST, containerPath + ["stop"], role: .operator, audit: "container.stop", summary: "Stop a container (SIGTERM, then SIGKILL after the timeout)", tag: "Containers",
                        request: StopRequestDoc.doc, response: ChangeOutcomeDoc.doc, use: stop)
        routes.endpoint(.POST, containerPath + ["restart"], role: .operator, audit: "container.restart", summary: "Restart a container", tag: "Containers",
                        request: StopRequestDoc.doc, response: ChangeOutcomeDoc.doc, use: restart)
        routes.endpoint(.POST, containerPath + ["kill"], role: .operator, audit: "container.kill", summary: "Send a signal to a container (SIGKILL by default)", tag: "Containers",
                        request: KillRequestDoc.doc, response: ChangeOutcomeDoc.doc, use: kill)
        routes.endpoint(.DELETE, containerPath, role: .operator, audit: "container.remove", summary: "Remove a container", tag: "Containers",
                        response: ChangeOutcomeDoc.doc,
                        query: [QueryDoc(name: "force", description: "Remove even when running", schema: .boolean),
                                QueryDoc(name: "volumes", description: "Also remove its anonymous volumes", schema: .boolean)], use: remove)
        routes.endpoint(.GET, containerPath + ["logs"], role: .operator, summary: "Container output, stdout and stderr apart; followed as Server-Sent Events with follow=true", tag: "Containers",
                        response: LogLinesDoc.doc,
                        query: [QueryDoc(name: "tail", description: "Only the last N lines (1–100000; default 500)", schema: .integer),
                                QueryDoc(name: "since", description: "Only lines after this ISO 8601 time"),
                                QueryDoc(name: "timestamps", description: "Add Docker's timestamp to each line", schema: .boolean),
                                QueryDoc(name: "follow", description: "Keep streaming new lines (text/event-stream: 'lines' events of {s: one letter per line o|e|c, t: texts, ts?: unix seconds}, then 'end')", schema: .boolean)],
                        use: logs)
        routes.endpoint(.GET, containerPath + ["stats"], role: .viewer, summary: "CPU, memory, network and block I/O; live as Server-Sent Events with stream=true", tag: "Containers",
                        response: ContainerStatsDoc.doc,
                        query: [QueryDoc(name: "stream", description: "Keep sending a measurement every second (text/event-stream, event 'stats')", schema: .boolean)],
                        use: stats)
        routes.endpoint(.GET, "servers", ":id", "images", role: .viewer, summary: "Images on a server", tag: "Containers", response: ImageListDoc.doc, use: images)
        routes.endpoint(.DELETE, "servers", ":id", "images", ":image", role: .operator, audit: "image.remove", summary: "Remove an image", tag: "Containers",
                        response: ChangeOutcomeDoc.doc, query: [QueryDoc(name: "force", description: "Remove even when a container uses it", schema: .boolean)],
                        use: removeImage)
        routes.endpoint(.POST, "servers", ":id", "images", "prune", role: .operator, audit: "images.prune",
                        summary: "Remove unused images Nebula built (label dev.nebula.managed=true); never any other image", tag: "Containers",
                        response: PruneReportDoc.doc, use: pruneImages)
        routes.endpoint(.GET, "servers", ":id", "volumes", role: .viewer, summary: "Volumes on a server", tag: "Containers", response: VolumeListDoc.doc, use: volumes)
        routes.endpoint(.DELETE, "servers", ":id", "volumes", ":name", role: .operator, audit: "volume.remove", summary: "Remove a volume", tag: "Containers",
                        response: ChangeOutcomeDoc.doc, query: [QueryDoc(name: "force", description: "Remove even when in use", schema: .boolean)],
                        use: removeVolume)
        routes.endpoint(.GET, "servers", ":id", "networks", role: .viewer, summary: "Networks on a server", tag: "Containers", response: NetworkListDoc.doc, use: networks)
    }

    @Sendable func list(req: Request) async throws -> ListPage<ContainerSummary> {
        let items = try await req.nebula.containers.containers(on: try req.uuidParameter(), all: try req.flag("all", default: true), by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func inspect(req: Request) async throws -> ContainerDetails {
        try await req.nebula.containers.inspect(try req.containerParameter(), on: try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func start(req: Request) async throws -> ChangeOutcome {
        try await change(req, .start)
    }

    @Sendable func stop(req: Request) async throws -> ChangeOutcome {
        let input = req.body.data == nil ? StopRequest() : try req.decodeJSON(StopRequest.self, allowedKeys: ["timeout"])
        return try await change(req, .stop(timeoutSeconds: input.timeout ?? 10))
    }

    @Sendable func restart(req: Request) async throws -> ChangeOutcome {
        let input = req.body.data == nil ? StopRequest() : try req.decodeJSON(StopRequest.self, allowedKeys: ["timeout"])
        return try await change(req, .restart(timeoutSeconds: input.timeout ?? 10))
    }

    @Sendable func kill(req: Request) async throws -> ChangeOutcome {
        let input = req.body.data == nil ? KillRequest() : try req.decodeJSON(KillRequest.self, allowedKeys: ["signal"])
        return try await change(req, .kill(signal: input.signal ?? "SIGKILL"))
    }

    @Sendable func remove(req: Request) async throws -> ChangeOutcome {
        try await change(req, .remove(force: try req.flag("force", default: false), volumes: try req.flag("volumes", default: false)))
    }

    private func change(_ req: Request, _ change: ContainersService.Change) async throws -> ChangeOutcome {
        let container = try req.containerParameter()
        try await req.nebula.containers.change(container, on: try req.uuidParameter(), change, by: try req.actor)
        return ChangeOutcome(ok: true, target: container)
    }

    @Sendable func logs(req: Request) async throws -> Response {
        let services = try req.nebula
        let id = try req.uuidParameter()
        let container = try req.containerParameter()
        let tail = try req.boundedInt("tail", default: 500, range: 1...100_000)
        let since = try req.optionalDate("since")
        let timestamps = try req.flag("timestamps", default: false)
        let actor = try req.actor
        guard try req.flag("follow", default: false) else {
            let lines = try await services.containers.logs(container, on: id, tail: tail, since: since, timestamps: timestamps, by: actor)
            return try await ListPage(items: lines, total: lines.count).encodeResponse(for: req)
        }
        let stream = try await services.containers.stream(.logs(container: container, tail: tail, since: since, timestamps: timestamps), on: id, by: actor)
        return Self.events(stream, heartbeat: services.config.sseHeartbeat)
    }

    @Sendable func stats(req: Request) async throws -> Response {
        let services = try req.nebula
        let id = try req.uuidParameter()
        let container = try req.containerParameter()
        let actor = try req.actor
        guard try req.flag("stream", default: false) else {
            return try await services.containers.stats(container, on: id, by: actor).encodeResponse(for: req)
        }
        let stream = try await services.containers.stream(.stats(container: container), on: id, by: actor)
        return Self.events(stream, heartbeat: services.config.sseHeartbeat)
    }

    /// A streamed answer as Server-Sent Events: `lines` (an array of log lines) and `stats`
    /// events, then `end` (with `{ "error": … }` when the node or engine failed).
    static func events(_ stream: AsyncThrowingStream<DockerStreamChunk, any Error>, heartbeat: Duration) -> Response {
        ServerSentEvents.response(heartbeat: heartbeat) { continuation in
            do {
                for try await chunk in stream {
                    switch chunk {
                    case .lines(let lines): continuation.yield(.json(LogBatch(lines), event: "lines", id: nil))
                    case .stats(let stats): continuation.yield(.json(stats, event: "stats", id: nil))
                    case .built(let result): continuation.yield(.json(result, event: "built", id: nil))
                    }
                }
                continuation.yield(.json(StreamEnd(error: nil), event: "end", id: nil))
            } catch {
                let message = (error as? DockerError)?.description ?? (error as? NebulaError)?.message ?? String(describing: error)
                continuation.yield(.json(StreamEnd(error: message), event: "end", id: nil))
            }
            continuation.finish()
        }
    }

    struct StreamEnd: Codable, Sendable {
        var error: String?
    }

    @Sendable func images(req: Request) async throws -> ListPage<ImageSummary> {
        let items = try await req.nebula.containers.images(on: try req.uuidParameter(), by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func removeImage(req: Request) async throws -> ChangeOutcome {
        let image = req.parameters.get("image") ?? ""
        try await req.nebula.containers.removeImage(image, on: try req.uuidParameter(), force: try req.flag("force", default: false), by: try req.actor)
        return ChangeOutcome(ok: true, target: image)
    }

    @Sendable func pruneImages(req: Request) async throws -> ImagePruneReport {
        try await req.nebula.containers.pruneImages(on: try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func volumes(req: Request) async throws -> ListPage<VolumeSummary> {
        let items = try await req.nebula.containers.volumes(on: try req.uuidParameter(), by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func removeVolume(req: Request) async throws -> ChangeOutcome {
        let name = req.parameters.get("name") ?? ""
        try await req.nebula.containers.removeVolume(name, on: try req.uuidParameter(), force: try req.flag("force", default: false), by: try req.actor)
        return ChangeOutcome(ok: true, target: name)
    }

    @Sendable func networks(req: Request) async throws -> ListPage<NetworkSummary> {
        let items = try await req.nebula.containers.networks(on: try req.uuidParameter(), by: try req.actor)
        return ListPage(items: items, total: items.count)
    }
}

/// The answer to a change: what was changed.
struct ChangeOutcome: Content {
    var ok: Bool
    var target: String
}

extension ContainerSummary: Content {}
extension ContainerDetails: Content {}
extension ContainerStats: Content {}
extension ImagePruneReport: Content {}

extension Request {
    /// A true/false query parameter; 400 for anything else.
    func flag(_ name: String, default value: Bool) throws -> Bool {
        guard let raw = query[String.self, at: name], !raw.isEmpty else { return value }
        switch raw.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw NebulaError.invalid("\(name) must be true or false.", code: "invalid_flag")
        }
    }

    func containerParameter() throws -> String {
        try ContainersService.containerReference(parameters.get("container") ?? "")
    }
}

// MARK: - OpenAPI

private func itemList(_ item: String) -> JSONSchema {
    .object(properties: ["items": .array(items: .reference(.component(named: item))), "total": .integer])
}

private let labels = JSONSchema.object(additionalProperties: .init(.string))
private let optionalTime = JSONSchema.string(format: .dateTime, required: false, nullable: true)

enum ContainerDoc: Documented {
    static let schemaName = "Container"
    static let schema = JSONSchema.object(properties: [
        "id": .string, "names": .array(items: .string), "image": .string, "imageID": .string, "command": .string,
        "state": .string(description: "created, running, paused, restarting, removing, exited or dead"),
        "status": .string(description: "Docker's human status, e.g. 'Up 3 hours (healthy)'"),
        "health": .string(required: false, nullable: true, allowedValues: ["starting", "healthy", "unhealthy"]),
        "labels": labels,
        "ports": .array(items: .object(properties: ["privatePort": .integer, "publicPort": .integer(required: false, nullable: true),
                                                     "type": .string, "ip": .string(required: false, nullable: true)])),
        "created": .string(format: .dateTime),
    ])
}

enum ContainerListDoc: Documented {
    static let schemaName = "ContainerList"
    static var schema: JSONSchema { itemList(ContainerDoc.schemaName) }
    static var related: [SchemaDoc] { [ContainerDoc.doc] }
}

enum ContainerDetailsDoc: Documented {
    static let schemaName = "ContainerDetails"
    static let schema = JSONSchema.object(properties: [
        "id": .string, "name": .string, "image": .string, "imageID": .string, "created": .string(format: .dateTime),
        "state": .string, "running": .boolean, "paused": .boolean, "restarting": .boolean, "pid": .integer, "exitCode": .integer,
        "error": .string(required: false, nullable: true), "startedAt": optionalTime, "finishedAt": optionalTime,
        "health": .string(required: false, nullable: true), "restartCount": .integer, "labels": labels, "command": .array(items: .string),
        "tty": .boolean, "networkMode": .string, "restartPolicy": .string,
        "mounts": .array(items: .object(properties: ["type": .string, "name": .string(required: false, nullable: true), "source": .string,
                                                      "destination": .string, "readWrite": .boolean])),
    ])
}

enum StopRequestDoc: Documented {
    static let schemaName = "StopContainer"
    static let schema = JSONSchema.object(properties: ["timeout": .integer(required: false, description: "Seconds before SIGKILL (0–600, default 10)")])
    static let example: String? = #"{"timeout":1}"#
}

enum KillRequestDoc: Documented {
    static let schemaName = "KillContainer"
    static let schema = JSONSchema.object(properties: ["signal": .string(required: false, description: "SIGKILL (default), SIGHUP, SIGTERM …")])
    static let example: String? = #"{"signal":"SIGKILL"}"#
}

enum ChangeOutcomeDoc: Documented {
    static let schemaName = "ChangeOutcome"
    static let schema = JSONSchema.object(properties: ["ok": .boolean, "target": .string])
}

enum LogLinesDoc: Documented {
    static let schemaName = "LogLines"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: ["stream": .string(allowedValues: ["stdout", "stderr", "console"]), "text": .string,
                                                     "timestamp": optionalTime])),
        "total": .integer,
    ])
}

enum ContainerStatsDoc: Documented {
    static let schemaName = "ContainerStats"
    static let schema = JSONSchema.object(properties: [
        "read": optionalTime, "cpuPercent": .number, "onlineCPUs": .integer, "memoryUsage": .integer, "memoryLimit": .integer,
        "networkRx": .integer, "networkTx": .integer, "blockRead": .integer, "blockWrite": .integer, "pids": .integer,
    ])
}

enum ImageDoc: Documented {
    static let schemaName = "Image"
    static let schema = JSONSchema.object(properties: [
        "id": .string, "repoTags": .array(items: .string), "created": .string(format: .dateTime), "size": .integer, "labels": labels,
        "containers": .integer(required: false, nullable: true),
    ])
}

enum ImageListDoc: Documented {
    static let schemaName = "ImageList"
    static var schema: JSONSchema { itemList(ImageDoc.schemaName) }
    static var related: [SchemaDoc] { [ImageDoc.doc] }
}

enum PruneReportDoc: Documented {
    static let schemaName = "ImagePruneReport"
    static let schema = JSONSchema.object(properties: ["deleted": .array(items: .string), "spaceReclaimed": .integer])
}

enum VolumeDoc: Documented {
    static let schemaName = "Volume"
    static let schema = JSONSchema.object(properties: [
        "name": .string, "driver": .string, "mountpoint": .string, "labels": labels, "scope": .string, "createdAt": optionalTime,
    ])
}

enum VolumeListDoc: Documented {
    static let schemaName = "VolumeList"
    static var schema: JSONSchema { itemList(VolumeDoc.schemaName) }
    static var related: [SchemaDoc] { [VolumeDoc.doc] }
}

enum NetworkDoc: Documented {
    static let schemaName = "Network"
    static let schema = JSONSchema.object(properties: [
        "id": .string, "name": .string, "driver": .string, "scope": .string, "isInternal": .boolean, "labels": labels,
    ])
}

enum NetworkListDoc: Documented {
    static let schemaName = "NetworkList"
    static var schema: JSONSchema { itemList(NetworkDoc.schemaName) }
    static var related: [SchemaDoc] { [NetworkDoc.doc] }
}
