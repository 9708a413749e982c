import NebulaAgent
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/servers`: the fleet registry and metric history.
struct ServersController: RouteCollection {
    struct ServerRequest: Codable, Sendable {
        var name: String?
        var connection: ServerConnection?
        var address: String?
        var port: Int?
        var username: String?
        var tags: [String]?
        var macAddress: String?
        var wakeBroadcast: String?
        var wakePort: Int?
        var fileRoots: [String]?

        var input: FleetService.ServerInput {
            .init(name: name, connection: connection, address: address, port: port, username: username, tags: tags,
                  macAddress: macAddress, wakeBroadcast: wakeBroadcast, wakePort: wakePort, fileRoots: fileRoots)
        }
    }

    static let allowedKeys: Set<String> = ["name", "connection", "address", "port", "username", "tags", "macAddress", "wakeBroadcast", "wakePort", "fileRoots"]

    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "servers", role: .viewer, summary: "List servers with their status and latest metrics", tag: "Fleet",
                        response: ServerPageDoc.doc, use: list)
        routes.endpoint(.GET, "servers", "sparklines", role: .viewer, summary: "The last hour of CPU and memory of every server (2-minute steps), by server id", tag: "Fleet",
                        response: SparklinesDoc.doc, use: sparklines)
        routes.endpoint(.POST, "servers", role: .operator, audit: "server.create", summary: "Add a server (agent or SSH)", tag: "Fleet",
                        request: CreateServerDoc.doc, response: ServerDoc.doc, status: .created, use: create)
        routes.endpoint(.GET, "servers", ":id", role: .viewer, summary: "One server", tag: "Fleet", response: ServerDoc.doc, use: show)
        routes.endpoint(.PATCH, "servers", ":id", role: .operator, audit: "server.update", summary: "Change a server's name, address, port, user or tags", tag: "Fleet",
                        request: UpdateServerDoc.doc, response: ServerDoc.doc, use: update)
        routes.endpoint(.DELETE, "servers", ":id", role: .operator, audit: "server.delete", summary: "Remove a server and its history", tag: "Fleet",
                        status: .noContent, use: delete)
        routes.endpoint(.GET, "servers", ":id", "metrics", role: .viewer, summary: "Metric series for charts", tag: "Fleet",
                        response: MetricsSeriesDoc.doc,
                        query: [QueryDoc(name: "range", description: "1h, 24h, 7d, 30d or 1y (default 1h)"),
                                QueryDoc(name: "step", description: "Bucket width in seconds, 5–86400 and at most 2000 points (default: 30 s, 10 min, 1 h, 6 h, 1 d by range)", schema: .integer)],
                        use: metrics)
    }

    @Sendable func list(req: Request) async throws -> ListPage<ServerDTO> {
        try await req.nebula.fleet.list(by: try req.actor)
    }

    @Sendable func sparklines(req: Request) async throws -> [String: Sparkline] {
        let lines = try await req.nebula.fleet.sparklines(by: try req.actor)
        return Dictionary(uniqueKeysWithValues: lines.map { ($0.key.uuidString, $0.value) })
    }

    @Sendable func create(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ServerRequest.self, allowedKeys: Self.allowedKeys)
        return try await req.nebula.fleet.create(input.input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func show(req: Request) async throws -> ServerDTO {
        try await req.nebula.fleet.find(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func update(req: Request) async throws -> ServerDTO {
        let input = try req.decodeJSON(ServerRequest.self, allowedKeys: Self.allowedKeys)
        return try await req.nebula.fleet.update(try req.uuidParameter(), input.input, by: try req.actor)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.fleet.delete(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func metrics(req: Request) async throws -> MetricsSeries {
        let raw = req.query[String.self, at: "range"] ?? MetricsRange.hour.rawValue
        guard let range = MetricsRange(rawValue: raw) else {
            throw NebulaError.invalid("range is one of \(MetricsRange.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_range")
        }
        let step = try req.query[String.self, at: "step"].map { _ in try req.boundedInt("step", default: 60, range: 5...86400) }
        return try await req.nebula.fleet.series(for: try req.uuidParameter(), range: range, step: step, by: try req.actor)
    }
}

extension ServerDTO: Content {}
extension MetricsSeries: Content {}

private let optionalTimestamp = JSONSchema.string(format: .dateTime, required: false, nullable: true)

enum ServerDoc: Documented {
    static let schemaName = "Server"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "name": .string,
        "connection": .string(allowedValues: ServerConnection.allCases.map { AnyCodable($0.rawValue) }),
        "address": .string(required: false, nullable: true), "port": .integer(required: false, nullable: true),
        "username": .string(required: false, nullable: true), "tags": .array(items: .string),
        "status": .string(allowedValues: ServerStatus.allCases.map { AnyCodable($0.rawValue) }),
        "lastSeenAt": optionalTimestamp, "createdAt": optionalTimestamp,
        "macAddress": .string(required: false, nullable: true), "wakeBroadcast": .string(required: false, nullable: true),
        "wakePort": .integer(required: false, nullable: true),
        "fileRoots": .array(items: .string),
        "latest": .object(required: false, nullable: true, description: "Headline numbers of the newest sample: cpu (0–1), memory/disk/swap bytes, network and disk bytes/s, load1, uptimeSeconds, temperature (°C), gpu (0–1), processes", additionalProperties: .init(true)),
    ])
}

enum SparklinesDoc: Documented {
    static let schemaName = "Sparklines"
    static let schema = JSONSchema.object(description: "By server id: {cpu: [0…1], memory: [0…1]}, oldest first",
                                          additionalProperties: .init(.object(properties: ["cpu": .array(items: .number), "memory": .array(items: .number)])))
}

extension Sparkline: Content {}

enum ServerPageDoc: Documented {
    static let schemaName = "ServerList"
    static let schema = JSONSchema.object(properties: ["items": .array(items: .reference(.component(named: ServerDoc.schemaName))), "total": .integer])
    static var related: [SchemaDoc] { [ServerDoc.doc] }
}

enum CreateServerDoc: Documented {
    static let schemaName = "CreateServer"
    static let schema = JSONSchema.object(properties: [
        "name": .string(maxLength: 64), "connection": .string(allowedValues: ["agent", "ssh"]),
        "address": .string(required: false), "port": .integer(required: false), "username": .string(required: false),
        "tags": .array(required: false, items: .string),
    ])
    static let example: String? = #"{"name":"probe-node","connection":"ssh","address":"192.0.2.10","tags":["lab"]}"#
}

enum UpdateServerDoc: Documented {
    static let schemaName = "UpdateServer"
    static let schema = JSONSchema.object(properties: [
        "name": .string(required: false, maxLength: 64), "address": .string(required: false), "port": .integer(required: false),
        "username": .string(required: false), "tags": .array(required: false, items: .string),
        "macAddress": .string(required: false, description: "Wake-on-LAN MAC address (aa:bb:cc:dd:ee:ff); empty clears it"),
        "wakeBroadcast": .string(required: false, description: "IPv4 broadcast address of the server's LAN (default 255.255.255.255)"),
        "wakePort": .integer(required: false, description: "UDP port of the magic packet (default 9)"),
        "fileRoots": .array(required: false, description: "Absolute folders the file browser may show (at most 20); empty turns it off", items: .string),
    ])
    static let example: String? = #"{"tags":["lab","rack-2"],"macAddress":"52:54:00:12:34:56","wakeBroadcast":"192.168.1.255"}"#
}

enum MetricsSeriesDoc: Documented {
    static let schemaName = "MetricsSeries"
    static let schema = JSONSchema.object(properties: [
        "range": .string, "stepSeconds": .integer, "from": .string(format: .dateTime), "to": .string(format: .dateTime),
        "resolution": .string(description: "raw, 60s or 3600s: the history tier the points come from"),
        "series": .object(description: "Series by name (cpu, memory, swap, disk, netRx, netTx, diskRead, diskWrite, load, temperature, gpu); each a list of {t, v}",
                          additionalProperties: .init(.array(items: .object(properties: ["t": .string(format: .dateTime), "v": .number])))),
    ])
}

/// `/api/v1/servers/{id}/join-token`, `/revoke`, and the agent's own `/api/v1/agent/join` and
/// `/api/v1/agent/connect` (WebSocket, authenticated by the node's credential).
struct AgentController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.POST, "servers", ":id", "join-token", role: .operator, audit: "server.join_token",
                        summary: "Create a one-time join token (valid 1 h) for an agent server", tag: "Fleet",
                        response: JoinTokenDoc.doc, status: .created, use: joinToken)
        routes.endpoint(.POST, "servers", ":id", "revoke", role: .operator, audit: "server.revoke_agent",
                        summary: "Refuse the server's agent credential from now on and disconnect it", tag: "Fleet",
                        response: ServerDoc.doc, use: revoke)
        routes.endpoint(.POST, "agent", "join", role: nil, audit: "agent.join",
                        summary: "Agent: trade a join token for this node's credential", tag: "Agent",
                        request: AgentJoinDoc.doc, response: AgentCredentialDoc.doc, csrf: false, use: join)
        routes.endpoint(.GET, "agent", "connect", role: nil,
                        summary: "Agent: the reporting WebSocket (Authorization: Bearer <node credential>)", tag: "Agent",
                        produces: "application/octet-stream", ownBearer: true, use: connect)
    }

    @Sendable func joinToken(req: Request) async throws -> Response {
        let issued = try await req.nebula.agents.issueJoinToken(for: try req.uuidParameter(), publicURL: try req.publicBaseURL, by: try req.actor)
        let response = try await issued.encodeResponse(status: .created, for: req)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    @Sendable func revoke(req: Request) async throws -> ServerDTO {
        try await req.nebula.agents.revoke(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func join(req: Request) async throws -> Response {
        let input = try req.decodeJSON(AgentWire.JoinRequest.self, allowedKeys: ["token", "hostname"])
        let joined = try await req.nebula.agents.join(input, ip: req.clientIP)
        let response = try await joined.encodeResponse(status: .created, for: req)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    /// Checks the node's credential before upgrading, so a revoked node gets a plain 401.
    @Sendable func connect(req: Request) async throws -> Response {
        let agents = try req.nebula.agents
        guard let credential = req.headers.bearerAuthorization?.token,
              let server = try await agents.server(forCredential: credential), let serverID = server.id else {
            throw NebulaError.unauthenticated("This node's credential is not valid (revoked or unknown). Join again with a new token.", code: "invalid_node_credential")
        }
        let logger = req.logger
        let response = Response(status: .switchingProtocols)
        response.upgrader = WebSocketUpgrader(maxFrameSize: .init(integerLiteral: 4 << 20), shouldUpgrade: {
            req.eventLoop.makeSucceededFuture([:])
        }, onUpgrade: { socket in
            agents.attach(socket, serverID: serverID, logger: logger)
        })
        return response
    }
}

extension AgentWire.JoinRequest: Content {}
extension AgentWire.JoinResponse: Content {}

enum JoinTokenDoc: Documented {
    static let schemaName = "JoinToken"
    static let schema = JSONSchema.object(properties: [
        "token": .string(description: "One-time token; shown only in this response"), "expiresAt": .string(format: .dateTime),
        "command": .string(description: "The command to run on the node"),
    ])
}

enum AgentJoinDoc: Documented {
    static let schemaName = "AgentJoin"
    static let schema = JSONSchema.object(properties: ["token": .string, "hostname": .string])
    /// `$JOIN_TOKEN` is replaced by a fresh token in tests.
    static let example: String? = #"{"token":"$JOIN_TOKEN","hostname":"probe-node"}"#
}

enum AgentCredentialDoc: Documented {
    static let schemaName = "AgentCredential"
    static let schema = JSONSchema.object(properties: [
        "serverId": .string(format: .other("uuid")), "name": .string,
        "credential": .string(description: "The node's bearer credential for /api/v1/agent/connect; shown only in this response"),
    ])
}
