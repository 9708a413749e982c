import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/marketplace/installs`: install, list, upgrade and uninstall apps.
struct InstallsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let installs: [PathComponent] = ["marketplace", "installs"]
        routes.endpoint(.GET, installs, role: .viewer, summary: "Installed apps with status, version, URLs and available updates", tag: "Marketplace",
                        response: InstallListDoc.doc, use: list)
        routes.endpoint(.POST, installs, role: .operator, audit: "app.install",
                        summary: "Install a package on a server: checks values and ports, then runs a health-gated install job", tag: "Marketplace",
                        request: InstallRequestDoc.doc, response: InstallAcceptedDoc.doc, status: .accepted, use: install)
        routes.endpoint(.GET, installs + [":id"], role: .viewer, summary: "One installed app", tag: "Marketplace", response: InstallDoc.doc, use: show)
        routes.endpoint(.GET, installs + [":id", "containers"], role: .viewer, summary: "The app's containers with state and health", tag: "Marketplace",
                        response: InstallContainersDoc.doc, use: containers)
        routes.endpoint(.GET, installs + [":id", "logs"], role: .operator, summary: "The last lines of every container of the app", tag: "Marketplace",
                        response: InstallLogsDoc.doc, query: [QueryDoc(name: "tail", description: "Lines per container (1–5000, default 200)", schema: .integer)],
                        use: logs)
        routes.endpoint(.POST, installs + [":id", "upgrade"], role: .operator, audit: "app.upgrade",
                        summary: "Upgrade to the catalog's newer version (data kept, health-gated, rolled back on failure)", tag: "Marketplace",
                        response: InstallAcceptedDoc.doc, status: .accepted, use: upgrade)
        routes.endpoint(.DELETE, installs + [":id"], role: .operator, audit: "app.uninstall", summary: "Uninstall, keeping the data unless deleteData=true", tag: "Marketplace",
                        response: InstallAcceptedDoc.doc, status: .accepted,
                        query: [QueryDoc(name: "deleteData", description: "Also delete volumes, the app's folder and its secrets", schema: .boolean)],
                        use: uninstall)
    }

    @Sendable func list(req: Request) async throws -> ListPage<AppInstallDTO> {
        let items = try await req.nebula.installs.list(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func install(req: Request) async throws -> Response {
        let input = try req.decodeJSON(InstallsService.InstallRequest.self, allowedKeys: ["package", "server", "variables", "name", "keepOnFailure", "domain"])
        let accepted = try await req.nebula.installs.install(input, by: try req.actor)
        return try await accepted.encodeResponse(status: .accepted, for: req)
    }

    @Sendable func show(req: Request) async throws -> AppInstallDTO {
        try await req.nebula.installs.find(try req.uuidParameter(), by: try req.actor)
    }

    struct Containers: Content {
        var items: [ComposeContainer]
    }

    @Sendable func containers(req: Request) async throws -> Containers {
        let result = try await req.nebula.installs.status(try req.uuidParameter(), by: try req.actor)
        guard result.ok else { throw NebulaError.badGateway(result.message, code: "app_status_failed") }
        return Containers(items: result.containers ?? [])
    }

    @Sendable func logs(req: Request) async throws -> ListPage<AppLogLine> {
        let lines = try await req.nebula.installs.logs(try req.uuidParameter(), tail: try req.boundedInt("tail", default: 200, range: 1...5000), by: try req.actor)
        return ListPage(items: lines, total: lines.count)
    }

    @Sendable func upgrade(req: Request) async throws -> Response {
        let accepted = try await req.nebula.installs.upgrade(try req.uuidParameter(), by: try req.actor)
        return try await accepted.encodeResponse(status: .accepted, for: req)
    }

    @Sendable func uninstall(req: Request) async throws -> Response {
        let accepted = try await req.nebula.installs.uninstall(try req.uuidParameter(), deleteData: try req.flag("deleteData", default: false), by: try req.actor)
        return try await accepted.encodeResponse(status: .accepted, for: req)
    }
}

// MARK: - OpenAPI

enum InstallDoc: Documented {
    static let schemaName = "AppInstall"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "name": .string, "package": .string, "title": .string, "version": .string, "source": .string,
        "serverId": .string(format: .other("uuid")), "serverName": .string(required: false, nullable: true),
        "status": .string(allowedValues: AppInstallStatus.allCases.map { AnyCodable($0.rawValue) }),
        "values": .object(additionalProperties: .init(.string)), "secretVariables": .array(items: .string),
        "ports": .array(items: .integer), "urls": .array(items: .string),
        "updateAvailable": .string(required: false, nullable: true), "jobId": .string(required: false, nullable: true),
        "lastError": .string(required: false, nullable: true), "keepOnFailure": .boolean, "createdBy": .string,
        "domain": .string(required: false, nullable: true), "publicURL": .string(required: false, nullable: true),
        "createdAt": .string(format: .dateTime, required: false, nullable: true), "updatedAt": .string(format: .dateTime, required: false, nullable: true),
    ])
}

enum InstallListDoc: Documented {
    static let schemaName = "AppInstallList"
    static var schema: JSONSchema {
        .object(properties: ["items": .array(items: .reference(.component(named: InstallDoc.schemaName))), "total": .integer])
    }
    static var related: [SchemaDoc] { [InstallDoc.doc] }
}

enum InstallRequestDoc: Documented {
    static let schemaName = "InstallRequest"
    static let schema = JSONSchema.object(properties: [
        "package": .string(description: "The package name from the catalog"),
        "server": .string(format: .other("uuid")),
        "variables": .object(required: false, additionalProperties: .init(.string)),
        "name": .string(required: false, description: "The install's name (its Compose project); the package name when absent"),
        "keepOnFailure": .boolean(required: false, description: "Leave a failed install for inspection instead of rolling it back"),
        "domain": .string(required: false, description: "Publish the healthy app under this host name: proxy route with HTTPS and, in a managed domain, its DNS record"),
    ])
    static let example: String? = #"{"package":"uptime-kuma","server":"00000000-0000-0000-0000-000000000000","variables":{}}"#
}

enum InstallAcceptedDoc: Documented {
    static let schemaName = "InstallAccepted"
    static var schema: JSONSchema {
        .object(properties: ["install": .reference(.component(named: InstallDoc.schemaName)), "job": .object(additionalProperties: .init(true))])
    }
    static var related: [SchemaDoc] { [InstallDoc.doc] }
}

enum InstallContainersDoc: Documented {
    static let schemaName = "AppContainers"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: ["service": .string, "number": .integer(required: false, nullable: true),
                                                     "container": .object(additionalProperties: .init(true))])),
    ])
}

enum InstallLogsDoc: Documented {
    static let schemaName = "AppLogs"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: ["container": .string, "line": .object(additionalProperties: .init(true))])),
        "total": .integer,
    ])
}
