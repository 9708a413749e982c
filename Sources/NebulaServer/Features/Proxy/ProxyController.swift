import Foundation
import NebulaCore
import OpenAPIKit30
import ProxyAdmin
import Vapor

/// `/api/v1/proxy`: routes (with "test upstream"), apply, versions and rollback, Caddy settings,
/// certificates.
struct ProxyController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let base: [PathComponent] = ["proxy"]
        let list = base + ["routes"]
        let one = list + [":id"]
        let versions = base + ["versions"]
        let tag = "Proxy"
        routes.endpoint(.GET, list, role: .viewer, summary: "Reverse-proxy routes with their last upstream test", tag: tag,
                        response: ProxyRouteListDoc.doc, use: listRoutes)
        routes.endpoint(.POST, list, role: .operator, audit: "proxy.route.create",
                        summary: "Add a route: host (+ path prefix) → upstream (address, container or app); TLS auto/internal/off, WebSocket, basic auth, headers. Applied with POST /proxy/apply",
                        tag: tag, request: ProxyRouteInputDoc.doc, response: ProxyRouteDoc.doc, status: .created, use: createRoute)
        routes.endpoint(.GET, one, role: .viewer, summary: "One route", tag: tag, response: ProxyRouteDoc.doc, use: showRoute)
        routes.endpoint(.PUT, one, role: .operator, audit: "proxy.route.update",
                        summary: "Change a route; send the `revision` you last saw (or If-Match): a stale one answers 409 edit_conflict with the current route",
                        tag: tag, request: ProxyRouteUpdateDoc.doc, response: ProxyRouteDoc.doc, use: updateRoute)
        routes.endpoint(.DELETE, one, role: .operator, audit: "proxy.route.delete", summary: "Remove a route (needs the revision you last saw)", tag: tag,
                        request: ProxyRevisionDoc.doc, status: .noContent, use: deleteRoute)
        routes.endpoint(.POST, one + ["test"], role: .operator, audit: "proxy.route.test",
                        summary: "Connect to each upstream (TCP, 5 s) and report per upstream; the list shows the outcome", tag: tag,
                        response: ProxyRouteTestDoc.doc, use: testRoute)
        routes.endpoint(.POST, base + ["apply"], role: .operator, audit: "proxy.apply",
                        summary: "Render the Caddy config from every enabled route and load it (Caddy validates first; a refused config changes nothing and is recorded as rejected)",
                        tag: tag, request: ProxyApplyDoc.doc, response: ProxyApplyOutcomeDoc.doc, use: apply)
        routes.endpoint(.GET, base + ["changes"], role: .viewer, summary: "Routes added, changed and removed since the live version", tag: tag,
                        response: ProxyDiffDoc.doc, use: changes)
        routes.endpoint(.GET, versions, role: .viewer, summary: "Every configuration sent to Caddy, newest first", tag: tag,
                        response: ProxyVersionListDoc.doc, use: listVersions)
        routes.endpoint(.GET, versions + [":id"], role: .viewer, summary: "One version with its Caddy JSON (password hashes hidden)", tag: tag,
                        response: ProxyVersionDoc.doc, use: showVersion)
        routes.endpoint(.POST, versions + [":id", "rollback"], role: .operator, audit: "proxy.rollback",
                        summary: "Load that version's config again and restore the routes it was rendered from", tag: tag,
                        request: ProxyRollbackDoc.doc, response: ProxyApplyOutcomeDoc.doc, use: rollback)
        routes.endpoint(.GET, base + ["settings"], role: .viewer, summary: "How Nebula reaches Caddy and which ports Caddy serves", tag: tag,
                        response: ProxySettingsDoc.doc, use: showSettings)
        routes.endpoint(.PUT, base + ["settings"], role: .admin, audit: "proxy.settings.update",
                        summary: "Change the Caddy admin URL, ports, ACME email, listen address or certificate warning days", tag: tag,
                        request: ProxySettingsPatchDoc.doc, response: ProxySettingsDoc.doc, use: updateSettings)
        routes.endpoint(.GET, base + ["certificates"], role: .viewer, summary: "Certificates of proxied hosts and domains as last checked", tag: tag,
                        response: ProxyCertificateListDoc.doc, use: certificates)
        routes.endpoint(.POST, base + ["certificates", "check"], role: .operator, audit: "proxy.certificates.check",
                        summary: "Check every certificate now", tag: tag, response: ProxyCertificateListDoc.doc, use: checkCertificates)
    }

    @Sendable func listRoutes(req: Request) async throws -> ListPage<ProxyRouteDTO> {
        let items = try await req.nebula.proxy.routes(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func createRoute(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ProxyRouteInput.self, allowedKeys: Set(ProxyRouteInput.keys))
        return try await req.nebula.proxy.createRoute(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func showRoute(req: Request) async throws -> ProxyRouteDTO {
        try await req.nebula.proxy.route(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func updateRoute(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ProxyRouteInput.self, allowedKeys: Set(ProxyRouteInput.keys))
        return try await conflictAware(req) {
            try await req.nebula.proxy.updateRoute(try req.uuidParameter(), input, ifMatch: try Self.ifMatch(req), by: try req.actor).encodeResponse(for: req)
        }
    }

    struct RevisionInput: Codable { var revision: Int? }

    @Sendable func deleteRoute(req: Request) async throws -> Response {
        let input = req.body.data == nil ? RevisionInput() : try req.decodeJSON(RevisionInput.self, allowedKeys: ["revision"])
        return try await conflictAware(req) {
            try await req.nebula.proxy.deleteRoute(try req.uuidParameter(), revision: input.revision ?? (try Self.ifMatch(req)), by: try req.actor)
            return Response(status: .noContent)
        }
    }

    @Sendable func testRoute(req: Request) async throws -> ProxyRouteTestOutcome {
        try await req.nebula.proxy.testRoute(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func apply(req: Request) async throws -> ProxyApplyOutcome {
        let input = req.body.data == nil ? ProxyApplyInput() : try req.decodeJSON(ProxyApplyInput.self, allowedKeys: ["expectedVersion", "force"])
        return try await req.nebula.proxy.apply(input, by: try req.actor)
    }

    @Sendable func changes(req: Request) async throws -> ProxyDiff {
        try await req.nebula.proxy.pendingChanges(by: try req.actor)
    }

    @Sendable func listVersions(req: Request) async throws -> ListPage<ProxyVersionDTO> {
        let items = try await req.nebula.proxy.versions(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func showVersion(req: Request) async throws -> ProxyVersionDTO {
        try await req.nebula.proxy.version(try req.uuidParameter(), by: try req.actor)
    }

    struct RollbackInput: Codable { var force: Bool? }

    @Sendable func rollback(req: Request) async throws -> ProxyApplyOutcome {
        let input = req.body.data == nil ? RollbackInput() : try req.decodeJSON(RollbackInput.self, allowedKeys: ["force"])
        return try await req.nebula.proxy.rollback(to: try req.uuidParameter(), force: input.force ?? false, by: try req.actor)
    }

    @Sendable func showSettings(req: Request) async throws -> ProxySettingsDTO {
        try await req.nebula.proxy.settings(by: try req.actor)
    }

    @Sendable func updateSettings(req: Request) async throws -> ProxySettingsDTO {
        let input = try req.decodeJSON(ProxySettingsPatch.self, allowedKeys: Set(ProxySettingsPatch.keys))
        return try await req.nebula.proxy.updateSettings(input, by: try req.actor)
    }

    @Sendable func certificates(req: Request) async throws -> ListPage<ProxyCertificateDTO> {
        let items = try await req.nebula.proxy.certificates(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func checkCertificates(req: Request) async throws -> ListPage<ProxyCertificateDTO> {
        let items = try await req.nebula.proxy.checkCertificates(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    /// `If-Match: 3` or `If-Match: "3"`.
    static func ifMatch(_ req: Request) throws -> Int? {
        guard let raw = req.headers.first(name: .ifMatch) else { return nil }
        let trimmed = raw.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))
        guard let revision = Int(trimmed) else { throw NebulaError.invalid("If-Match holds the route's revision number, such as \"3\".", code: "invalid_if_match") }
        return revision
    }

    struct ConflictBody: Content {
        struct Detail: Content { var code: String; var message: String }
        var error: Detail
        var current: ProxyRouteDTO?
    }

    /// Answers a stale edit with 409 `edit_conflict` and the route as it is now.
    private func conflictAware(_ req: Request, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let conflict as ProxyEditConflict {
            return try await ConflictBody(error: .init(code: "edit_conflict", message: conflict.message), current: conflict.current)
                .encodeResponse(status: .conflict, for: req)
        }
    }
}

// MARK: - OpenAPI

private let optionalString = JSONSchema.string(required: false, nullable: true)
private let optionalTimestamp = JSONSchema.string(format: .dateTime, required: false, nullable: true)
private let tlsSchema = JSONSchema.string(allowedValues: ProxyTLSMode.allCases.map { AnyCodable($0.rawValue) })
private let upstreamSchema = JSONSchema.object(properties: [
    "kind": .string(allowedValues: ProxyUpstream.Kind.allCases.map { AnyCodable($0.rawValue) }),
    "address": .string(required: false, description: "address: host:port"),
    "server": .string(format: .other("uuid"), required: false, description: "container: the server it runs on"),
    "container": .string(required: false, description: "container: name or id"),
    "install": .string(required: false, description: "app: the install's name or id"),
    "port": .integer(required: false, description: "container: its port (the published host port is used); app: one of its host ports"),
])
private let headerMap = JSONSchema.object(required: false, additionalProperties: .b(.string))
private let routeInputProperties: OrderedDictionary<String, JSONSchema> = [
    "host": .string(required: false, description: "A DNS name such as photos.lab.example"),
    "pathPrefix": .string(required: false, description: "Only requests under this path, e.g. /api"),
    "upstream": upstreamSchema.optionalSchemaObject(),
    "upstreams": .array(required: false, items: upstreamSchema),
    "tls": tlsSchema.optionalSchemaObject(),
    "websocket": .boolean(required: false), "redirectToHTTPS": .boolean(required: false), "upstreamTLS": .boolean(required: false),
    "enabled": .boolean(required: false),
    "basicAuth": .object(required: false, properties: ["username": .string(description: "Empty removes basic auth"),
                                                       "password": .string(required: false, description: "Write-only; stored as a bcrypt hash")]),
    "requestHeaders": headerMap, "responseHeaders": headerMap,
    "revision": .integer(required: false, description: "Update: the revision you last saw"),
]

enum ProxyRouteInputDoc: Documented {
    static let schemaName = "ProxyRouteInput"
    static let schema = JSONSchema.object(properties: routeInputProperties)
    static let example: String? = #"{"host":"probe.lab.localhost","upstream":{"kind":"address","address":"127.0.0.1:1"},"tls":"internal"}"#
}

enum ProxyRouteUpdateDoc: Documented {
    static let schemaName = "ProxyRouteUpdate"
    static let schema = JSONSchema.object(properties: routeInputProperties)
    static let example: String? = #"{"revision":1,"websocket":true}"#
}

enum ProxyRevisionDoc: Documented {
    static let schemaName = "ProxyRouteRevision"
    static let schema = JSONSchema.object(properties: ["revision": .integer(description: "The revision you last saw")])
    static let example: String? = #"{"revision":1}"#
}

enum ProxyRouteDoc: Documented {
    static let schemaName = "ProxyRoute"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "host": .string, "pathPrefix": optionalString, "upstreams": .array(items: upstreamSchema),
        "tls": tlsSchema, "websocket": .boolean, "redirectToHTTPS": .boolean, "upstreamTLS": .boolean, "enabled": .boolean, "revision": .integer,
        "basicAuth": .object(required: false, nullable: true, properties: ["username": .string, "hasPassword": .boolean]),
        "requestHeaders": .object(additionalProperties: .b(.string)), "responseHeaders": .object(additionalProperties: .b(.string)),
        "upstreamStatus": .array(required: false, nullable: true, items: upstreamResultSchema), "upstreamCheckedAt": optionalTimestamp,
        "createdBy": .string, "createdAt": optionalTimestamp, "updatedAt": optionalTimestamp,
    ])
}

private let upstreamResultSchema = JSONSchema.object(properties: ["upstream": .string, "address": optionalString, "ok": .boolean, "message": .string])

enum ProxyRouteListDoc: Documented {
    static let schemaName = "ProxyRouteList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: ProxyRouteDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [ProxyRouteDoc.doc] }
}

enum ProxyRouteTestDoc: Documented {
    static let schemaName = "ProxyRouteTest"
    static let schema = JSONSchema.object(properties: ["ok": .boolean, "results": .array(items: upstreamResultSchema)])
}

enum ProxyApplyDoc: Documented {
    static let schemaName = "ProxyApply"
    static let schema = JSONSchema.object(properties: [
        "expectedVersion": .integer(required: false, description: "The newest version number you saw; another apply since answers 409 edit_conflict"),
        "force": .boolean(required: false, description: "Replace Caddy's config even when it was changed outside Nebula"),
    ])
    static let example: String? = #"{"force":true}"#
}

enum ProxyRollbackDoc: Documented {
    static let schemaName = "ProxyRollback"
    static let schema = JSONSchema.object(properties: ["force": .boolean(required: false, description: "Even when Caddy was changed outside Nebula")])
    static let example: String? = #"{"force":true}"#
}

private let diffSchema = JSONSchema.object(properties: ["added": .array(items: .string), "changed": .array(items: .string), "removed": .array(items: .string)])

enum ProxyDiffDoc: Documented {
    static let schemaName = "ProxyChanges"
    static let schema = diffSchema
}

enum ProxyVersionDoc: Documented {
    static let schemaName = "ProxyVersion"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "number": .integer, "sha256": .string,
        "status": .string(allowedValues: ProxyVersionStatus.allCases.map { AnyCodable($0.rawValue) }),
        "error": optionalString, "rollbackOf": .integer(required: false, nullable: true), "routeCount": .integer,
        "createdBy": .string, "createdAt": optionalTimestamp, "config": .string(required: false, nullable: true, description: "Caddy JSON (one version only)"),
    ])
}

enum ProxyVersionListDoc: Documented {
    static let schemaName = "ProxyVersionList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: ProxyVersionDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [ProxyVersionDoc.doc] }
}

enum ProxyApplyOutcomeDoc: Documented {
    static let schemaName = "ProxyApplyOutcome"
    static var schema: JSONSchema {
        .object(properties: ["changed": .boolean, "message": .string, "diff": diffSchema,
                             "version": .reference(.component(named: ProxyVersionDoc.schemaName), required: false)])
    }
    static var related: [SchemaDoc] { [ProxyVersionDoc.doc] }
}

private let settingsProperties: OrderedDictionary<String, JSONSchema> = [
    "adminURL": .string(required: false, description: "Caddy's admin API, e.g. http://127.0.0.1:2019; empty clears"),
    "httpPort": .integer(required: false), "httpsPort": .integer(required: false),
    "acmeEmail": .string(required: false, description: "Let's Encrypt account email"),
    "acmeCA": .string(required: false, description: "ACME directory URL for auto routes (a private step-ca, Let's Encrypt staging); empty = Let's Encrypt"),
    "listenHost": .string(required: false, description: "Address Caddy's sites listen on (default: all)"),
    "warnDays": .integer(required: false, description: "Days before expiry a certificate counts as expiring (default 14)"),
]

enum ProxySettingsPatchDoc: Documented {
    static let schemaName = "ProxySettingsPatch"
    static let schema = JSONSchema.object(properties: settingsProperties)
    static let example: String? = #"{"warnDays":21}"#
}

enum ProxySettingsDoc: Documented {
    static let schemaName = "ProxySettings"
    static let schema = JSONSchema.object(properties: [
        "configured": .boolean, "adminURL": optionalString, "httpPort": .integer, "httpsPort": .integer,
        "acmeEmail": optionalString, "acmeCA": optionalString, "listenHost": optionalString, "warnDays": .integer,
    ])
}

enum ProxyCertificateDoc: Documented {
    static let schemaName = "ProxyCertificate"
    static let schema = JSONSchema.object(properties: [
        "host": .string, "source": .string(allowedValues: ["route", "domain"]), "notAfter": optionalTimestamp, "issuer": optionalString,
        "daysLeft": .integer(required: false, nullable: true), "state": .string(allowedValues: ["ok", "expiring", "expired", "error"]),
        "checkedAt": .string(format: .dateTime), "error": optionalString,
    ])
}

enum ProxyCertificateListDoc: Documented {
    static let schemaName = "ProxyCertificateList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: ProxyCertificateDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [ProxyCertificateDoc.doc] }
}
