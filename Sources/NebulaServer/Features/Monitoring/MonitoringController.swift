import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/checks`, `/api/v1/incidents` and `/api/v1/monitoring/settings`.
struct MonitoringController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let checks: [PathComponent] = ["checks"]
        let check = checks + [":id"]
        routes.endpoint(.GET, checks, role: .viewer, summary: "Every check with its status, last result and uptime (24 h, 7 d, 30 d)", tag: "Monitoring",
                        response: CheckListDoc.doc, use: list)
        routes.endpoint(.POST, checks, role: .operator, audit: "check.create",
                        summary: "Create a check (http, tcp, dns, tls, container, metric or heartbeat); its first run comes within its interval",
                        tag: "Monitoring", request: CheckInputDoc.doc, response: CheckDoc.doc, status: .created, use: create)
        routes.endpoint(.GET, check, role: .viewer, summary: "One check", tag: "Monitoring", response: CheckDoc.doc, use: show)
        routes.endpoint(.PUT, check, role: .operator, audit: "check.update", summary: "Change a check; absent fields keep their value", tag: "Monitoring",
                        request: CheckUpdateDoc.doc, response: CheckDoc.doc, use: update)
        routes.endpoint(.DELETE, check, role: .operator, audit: "check.delete",
                        summary: "Delete a check with its results; its incidents stay (an open one is resolved)", tag: "Monitoring",
                        status: .noContent, use: delete)
        routes.endpoint(.POST, check + ["run"], role: .operator, audit: "check.run", summary: "Run the check now and answer the result", tag: "Monitoring",
                        response: CheckResultDoc.doc, use: run)
        routes.endpoint(.GET, check + ["results"], role: .viewer, summary: "Recent results, newest first", tag: "Monitoring",
                        response: CheckResultListDoc.doc, query: [QueryDoc(name: "limit", description: "1–1000, default 100", schema: .integer)], use: results)
        routes.endpoint(.GET, check + ["uptime"], role: .viewer, summary: "Uptime percentages and hourly rollups", tag: "Monitoring",
                        response: CheckUptimeDoc.doc, query: [QueryDoc(name: "hours", description: "Hours of rollups, 1–720, default 48", schema: .integer)],
                        use: uptime)
        let incidents: [PathComponent] = ["incidents"]
        let incident = incidents + [":id"]
        routes.endpoint(.GET, incidents, role: .viewer, summary: "Incidents, newest first", tag: "Monitoring", response: IncidentListDoc.doc,
                        query: [QueryDoc(name: "status", description: "open (open or acknowledged), resolved, or all (default)"),
                                QueryDoc(name: "limit", description: "1–500, default 100", schema: .integer)], use: listIncidents)
        routes.endpoint(.GET, incident, role: .viewer, summary: "One incident with its timeline", tag: "Monitoring", response: IncidentDoc.doc, use: showIncident)
        routes.endpoint(.POST, incident + ["acknowledge"], role: .operator, audit: "incident.acknowledge",
                        summary: "Acknowledge an open incident (someone is on it)", tag: "Monitoring", response: IncidentDoc.doc, use: acknowledge)
        routes.endpoint(.POST, incident + ["resolve"], role: .operator, audit: "incident.resolve",
                        summary: "Resolve by hand; while the check still fails, no new incident opens until it has passed once", tag: "Monitoring",
                        request: IncidentResolveDoc.doc, response: IncidentDoc.doc, use: resolve)
        let settings: [PathComponent] = ["monitoring", "settings"]
        routes.endpoint(.GET, settings, role: .viewer, summary: "The public status page switch and result retention", tag: "Monitoring",
                        response: MonitoringSettingsDoc.doc, use: showSettings)
        routes.endpoint(.PUT, settings, role: .admin, audit: "monitoring.settings.update", summary: "Change the status page switch or retention", tag: "Monitoring",
                        request: MonitoringSettingsInputDoc.doc, response: MonitoringSettingsDoc.doc, use: updateSettings)
    }

    @Sendable func list(req: Request) async throws -> ListPage<CheckDTO> {
        let items = try await req.nebula.monitoring.list(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func create(req: Request) async throws -> Response {
        let input = try req.decodeJSON(CheckInput.self, allowedKeys: CheckInput.allowedKeys)
        let created = try await req.nebula.monitoring.create(input, by: try req.actor)
        return try await created.encodeResponse(status: .created, for: req)
    }

    @Sendable func show(req: Request) async throws -> CheckDTO {
        try await req.nebula.monitoring.find(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func update(req: Request) async throws -> CheckDTO {
        let input = try req.decodeJSON(CheckInput.self, allowedKeys: CheckInput.allowedKeys)
        return try await req.nebula.monitoring.update(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.monitoring.delete(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func run(req: Request) async throws -> CheckResultDTO {
        try await req.nebula.monitoring.run(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func results(req: Request) async throws -> ListPage<CheckResultRowDTO> {
        let limit = try Self.integer(req, "limit", default: 100, range: 1...1000)
        let items = try await req.nebula.monitoring.results(of: try req.uuidParameter(), limit: limit, by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func uptime(req: Request) async throws -> CheckUptimeDTO {
        let hours = try Self.integer(req, "hours", default: 48, range: 1...720)
        return try await req.nebula.monitoring.uptime(of: try req.uuidParameter(), hours: hours, by: try req.actor)
    }

    @Sendable func listIncidents(req: Request) async throws -> ListPage<IncidentDTO> {
        let raw = (try? req.query.get(String.self, at: "status")) ?? "all"
        guard let status = IncidentStatusFilter(rawValue: raw) else {
            throw NebulaError.invalid("status is open, resolved or all.", code: "invalid_status")
        }
        let items = try await req.nebula.monitoring.incidents(status: status, limit: try Self.integer(req, "limit", default: 100, range: 1...500), by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func showIncident(req: Request) async throws -> IncidentDTO {
        try await req.nebula.monitoring.incident(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func acknowledge(req: Request) async throws -> IncidentDTO {
        try await req.nebula.monitoring.acknowledge(try req.uuidParameter(), by: try req.actor)
    }

    struct ResolveInput: Codable, Sendable { var note: String? }

    @Sendable func resolve(req: Request) async throws -> IncidentDTO {
        let input = req.body.data == nil ? ResolveInput() : try req.decodeJSON(ResolveInput.self, allowedKeys: ["note"])
        return try await req.nebula.monitoring.resolve(try req.uuidParameter(), note: input.note, by: try req.actor)
    }

    @Sendable func showSettings(req: Request) async throws -> MonitoringSettingsDTO {
        try req.actor.require(.viewer)
        return try await req.nebula.monitoring.settings()
    }

    @Sendable func updateSettings(req: Request) async throws -> MonitoringSettingsDTO {
        let input = try req.decodeJSON(MonitoringSettingsInput.self, allowedKeys: ["statusPageEnabled", "statusPageTitle", "rawRetentionHours", "rollupRetentionDays"])
        return try await req.nebula.monitoring.updateSettings(input, by: try req.actor)
    }

    static func integer(_ req: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = try? req.query.get(String.self, at: name) else { return value }
        guard let number = Int(raw), range.contains(number) else {
            throw NebulaError.invalid("\(name) is a whole number from \(range.lowerBound) to \(range.upperBound).", code: "invalid_\(name)")
        }
        return number
    }
}

// MARK: - OpenAPI

enum CheckSchemas {
    static let uuid = JSONSchema.string(format: .other("uuid"))
    /// The kind-specific fields, all optional (which apply depends on `kind`).
    static var specProperties: OrderedDictionary<String, JSONSchema> {
        [
            "url": .string(required: false, description: "http: an absolute http(s) URL"),
            "method": .string(required: false, description: "http: GET (default) or HEAD", allowedValues: ["GET", "HEAD"]),
            "expectedStatus": .string(required: false, description: "http: accepted codes, e.g. 200-299 (default) or 200,301-302"),
            "keyword": .string(required: false, description: "http: text the body must contain"),
            "keywordAbsent": .boolean(required: false, description: "http: the keyword must NOT be in the body"),
            "maxLatencyMs": .integer(required: false, description: "http: slower answers fail"),
            "followRedirects": .boolean(required: false, description: "http: default true"),
            "ignoreTLSErrors": .boolean(required: false, description: "http: accept any certificate; default false"),
            "host": .string(required: false, description: "tcp, tls: DNS name or IP address"),
            "port": .integer(required: false, description: "tcp, tls: 1–65535 (tls: 443 by default)"),
            "warnDays": .integer(required: false, description: "tls: fail when fewer days are left (default 14)"),
            "recordName": .string(required: false, description: "dns: the name to resolve"),
            "recordType": .string(required: false, description: "dns: default A", allowedValues: ["A", "AAAA", "CNAME", "TXT", "MX"]),
            "expected": .array(required: false, description: "dns: values the answer must include", items: .string),
            "resolver": .string(required: false, description: "dns: host:port of the server to ask; the system resolver by default"),
            "serverId": .string(format: .other("uuid"), required: false, description: "container, metric, heartbeat: the server"),
            "container": .string(required: false, description: "container: name or id; must run (and be healthy when it has a health check)"),
            "metric": .string(required: false, description: "metric: which reading", allowedValues: ["cpu", "memory", "disk", "temperature"]),
            "mount": .string(required: false, description: "metric disk: a mount point (all disks when absent)"),
            "comparison": .string(required: false, description: "metric: default >", allowedValues: [">", ">=", "<", "<="]),
            "threshold": .number(required: false, description: "metric: percent (cpu, memory, disk) or °C"),
            "sustainedMinutes": .integer(required: false, description: "metric: every reading of these minutes must breach (0: the newest)"),
            "maxSilenceSeconds": .integer(required: false, description: "heartbeat: the agent must have reported within this (default 60)"),
        ]
    }

    static var commonInput: OrderedDictionary<String, JSONSchema> {
        [
            "name": .string(required: false, description: "1–80 characters, unique (required when creating)"),
            "kind": .string(required: false, description: "Required when creating", allowedValues: CheckKind.allCases.map { AnyCodable($0.rawValue) }),
            "intervalSeconds": .integer(required: false, description: "10–86400, default 60"),
            "timeoutSeconds": .integer(required: false, description: "Shorter than the interval, default 10"),
            "enabled": .boolean(required: false),
            "public": .boolean(required: false, description: "Shown on the public status page"),
            "severity": .string(required: false, description: "Of its incidents; default warning", allowedValues: ["info", "warning", "critical"]),
            "failuresBeforeIncident": .integer(required: false, description: "1–100, default 3"),
            "successesBeforeResolve": .integer(required: false, description: "1–100, default 2"),
        ]
    }
}

enum UptimeDoc: Documented {
    static let schemaName = "Uptime"
    static let schema = JSONSchema.object(properties: [
        "day": .number(required: false, nullable: true, description: "Percent over 24 h"),
        "week": .number(required: false, nullable: true, description: "Percent over 7 days"),
        "month": .number(required: false, nullable: true, description: "Percent over 30 days"),
    ])
}

enum CheckDoc: Documented {
    static let schemaName = "Check"
    static var schema: JSONSchema {
        var properties = CheckSchemas.specProperties
        let common: OrderedDictionary<String, JSONSchema> = [
            "id": CheckSchemas.uuid, "name": .string, "kind": .string(allowedValues: CheckKind.allCases.map { AnyCodable($0.rawValue) }),
            "target": .string(description: "What is probed, in one line"), "intervalSeconds": .integer, "timeoutSeconds": .integer,
            "enabled": .boolean, "public": .boolean, "severity": .string(allowedValues: ["info", "warning", "critical"]),
            "failuresBeforeIncident": .integer, "successesBeforeResolve": .integer,
            "status": .string(allowedValues: ["unknown", "up", "down"]), "statusSince": .string(format: .dateTime, required: false),
            "lastCheckedAt": .string(format: .dateTime, required: false), "lastLatencyMs": .number(required: false),
            "lastMessage": .string(required: false), "openIncidentId": .string(format: .other("uuid"), required: false),
            "uptime": .reference(.component(named: UptimeDoc.schemaName)), "createdBy": .string,
            "createdAt": .string(format: .dateTime, required: false),
        ]
        for (key, value) in common { properties[key] = value }
        return .object(properties: properties)
    }
    static var related: [SchemaDoc] { [UptimeDoc.doc] }
}

enum CheckListDoc: Documented {
    static let schemaName = "CheckList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: CheckDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [CheckDoc.doc] }
}

enum CheckInputDoc: Documented {
    static let schemaName = "CheckInput"
    static var schema: JSONSchema {
        var properties = CheckSchemas.commonInput
        for (key, value) in CheckSchemas.specProperties { properties[key] = value }
        return .object(properties: properties)
    }
    static let example: String? =
        #"{"name":"example-site","kind":"http","url":"http://127.0.0.1:9/health","expectedStatus":"200-299","keyword":"ok","intervalSeconds":60,"timeoutSeconds":10}"#
}

enum CheckUpdateDoc: Documented {
    static let schemaName = "CheckUpdate"
    static var schema: JSONSchema { CheckInputDoc.schema }
    static let example: String? = #"{"intervalSeconds":120,"severity":"critical"}"#
}

enum CheckResultDoc: Documented {
    static let schemaName = "CheckResult"
    static let schema = JSONSchema.object(properties: [
        "checkId": .string(format: .other("uuid")), "check": .string, "at": .string(format: .dateTime), "ok": .boolean,
        "latencyMs": .number(required: false), "message": .string, "status": .string(allowedValues: ["unknown", "up", "down"]),
    ])
}

enum CheckResultListDoc: Documented {
    static let schemaName = "CheckResultList"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: [
            "at": .string(format: .dateTime), "ok": .boolean, "latencyMs": .number(required: false),
            "message": .string(required: false, description: "Kept for failures and state changes only"),
        ])),
        "total": .integer,
    ])
}

enum CheckUptimeDoc: Documented {
    static let schemaName = "CheckUptime"
    static var schema: JSONSchema {
        .object(properties: [
            "checkId": .string(format: .other("uuid")), "uptime": .reference(.component(named: UptimeDoc.schemaName)),
            "hours": .array(items: .object(properties: [
                "start": .string(format: .dateTime), "count": .integer, "failures": .integer,
                "avgLatencyMs": .number(required: false), "maxLatencyMs": .number(required: false),
            ])),
        ])
    }
    static var related: [SchemaDoc] { [UptimeDoc.doc] }
}

enum IncidentDoc: Documented {
    static let schemaName = "Incident"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "checkId": .string(format: .other("uuid")), "check": .string,
        "kind": .string, "status": .string(allowedValues: ["open", "acknowledged", "resolved"]),
        "severity": .string(allowedValues: ["info", "warning", "critical"]), "message": .string,
        "openedAt": .string(format: .dateTime), "acknowledgedAt": .string(format: .dateTime, required: false),
        "acknowledgedBy": .string(required: false), "resolvedAt": .string(format: .dateTime, required: false),
        "resolvedBy": .string(required: false, description: "monitoring when the check recovered"),
        "timeline": .array(required: false, items: .object(properties: [
            "at": .string(format: .dateTime), "kind": .string(description: "opened, failing, recovered, acknowledged, resolved, runbook, notification"),
            "message": .string, "actor": .string(required: false),
        ])),
    ])
}

enum IncidentListDoc: Documented {
    static let schemaName = "IncidentList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: IncidentDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [IncidentDoc.doc] }
}

enum IncidentResolveDoc: Documented {
    static let schemaName = "IncidentResolve"
    static let schema = JSONSchema.object(properties: ["note": .string(required: false, description: "Why it is resolved; added to the timeline")])
    static let example: String? = #"{"note":"Replaced the disk"}"#
}

enum MonitoringSettingsDoc: Documented {
    static let schemaName = "MonitoringSettings"
    static let schema = JSONSchema.object(properties: [
        "statusPageEnabled": .boolean(description: "Whether /status is served (without login); off by default"),
        "statusPageTitle": .string, "rawRetentionHours": .integer(description: "Raw results kept, 2–720 h (48 by default)"),
        "rollupRetentionDays": .integer(description: "Hourly rollups kept, 31–3650 days (400 by default)"),
    ])
}

enum MonitoringSettingsInputDoc: Documented {
    static let schemaName = "MonitoringSettingsInput"
    static let schema = JSONSchema.object(properties: [
        "statusPageEnabled": .boolean(required: false), "statusPageTitle": .string(required: false),
        "rawRetentionHours": .integer(required: false), "rollupRetentionDays": .integer(required: false),
    ])
    static let example: String? = #"{"statusPageEnabled":true,"statusPageTitle":"Lab status"}"#
}
