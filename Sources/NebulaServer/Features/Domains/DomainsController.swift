import DNSProviders
import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/domains` (domains, records, push, drift, propagation, import/export) and
/// `/api/v1/dns/dynamic` (dynamic DNS).
struct DomainsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let domains: [PathComponent] = ["domains"]
        let domain = domains + [":id"]
        let records = domain + ["records"]
        let record = records + [":recordID"]
        let dynamic: [PathComponent] = ["dns", "dynamic"]
        let tag = "Domains"
        routes.endpoint(.GET, domains, role: .viewer, summary: "Domains with their provider, record count and push state (secrets never shown)", tag: tag,
                        response: DomainListDoc.doc, use: list)
        routes.endpoint(.POST, domains, role: .operator, audit: "dns.domain.create",
                        summary: "Add a domain: provider manual, powerdns (apiURL, secret = API key) or cloudflare (secret = API token); importExisting copies the provider's records",
                        tag: tag, request: DomainInputDoc.doc, response: DomainDoc.doc, status: .created, use: create)
        routes.endpoint(.GET, domain, role: .viewer, summary: "One domain", tag: tag, response: DomainDoc.doc, use: show)
        routes.endpoint(.PUT, domain, role: .operator, audit: "dns.domain.update", summary: "Change a domain's provider settings, secret or default TTL", tag: tag,
                        request: DomainUpdateDoc.doc, response: DomainDoc.doc, use: update)
        routes.endpoint(.DELETE, domain, role: .operator, audit: "dns.domain.delete",
                        summary: "Forget a domain and its records in Nebula (the provider's zone is left as it is)", tag: tag, status: .noContent, use: delete)
        routes.endpoint(.GET, records, role: .viewer, summary: "The domain's records as Nebula wants them", tag: tag, response: DNSRecordListDoc.doc, use: listRecords)
        routes.endpoint(.POST, records, role: .operator, audit: "dns.record.create",
                        summary: "Add a record (A, AAAA, CNAME, TXT, MX, SRV, CAA); name relative (www, @) or full; 409 record_conflict for a CNAME beside other records",
                        tag: tag, request: DNSRecordInputDoc.doc, response: DNSRecordDoc.doc, status: .created, use: createRecord)
        routes.endpoint(.PUT, record, role: .operator, audit: "dns.record.update", summary: "Change a record", tag: tag,
                        request: DNSRecordUpdateDoc.doc, response: DNSRecordDoc.doc, use: updateRecord)
        routes.endpoint(.DELETE, record, role: .operator, audit: "dns.record.delete", summary: "Remove a record", tag: tag, status: .noContent, use: deleteRecord)
        routes.endpoint(.POST, domain + ["push"], role: .operator, audit: "dns.push",
                        summary: "Make the provider match Nebula in one atomic request (manual domains: mark the changes as published)", tag: tag,
                        response: PushOutcomeDoc.doc, use: push)
        routes.endpoint(.GET, domain + ["drift"], role: .viewer, summary: "Compare Nebula's records with the provider's, set by set", tag: tag,
                        response: DriftReportDoc.doc, use: drift)
        routes.endpoint(.GET, domain + ["propagation"], role: .viewer,
                        summary: "Ask the zone's authoritative servers for each record set and compare with Nebula's records", tag: tag,
                        response: PropagationListDoc.doc,
                        query: [QueryDoc(name: "name", description: "Only this name (relative or full)"),
                                QueryDoc(name: "type", description: DNSRecordType.allCases.map(\.rawValue).joined(separator: ", "))],
                        use: propagation)
        routes.endpoint(.GET, records + ["export"], role: .viewer, summary: "Download the records as JSON or CSV", tag: tag,
                        query: [QueryDoc(name: "format", description: "json (default) or csv")], produces: "application/json", use: export)
        routes.endpoint(.POST, records + ["import"], role: .operator, audit: "dns.records.import",
                        summary: "Import records from a JSON export or CSV (or format provider: from the provider); all rows validated first, nothing applied when one is wrong",
                        tag: tag, request: RecordsImportDoc.doc, response: RecordsImportOutcomeDoc.doc, use: importRecords)
        routes.endpoint(.GET, dynamic, role: .viewer, summary: "Dynamic DNS settings and the last public IP found", tag: tag,
                        response: DynamicDNSDoc.doc, use: dynamicSettings)
        routes.endpoint(.PUT, dynamic, role: .operator, audit: "dns.dynamic.settings", summary: "Turn dynamic DNS on or off, set the IP endpoints and interval", tag: tag,
                        request: DynamicDNSInputDoc.doc, response: DynamicDNSDoc.doc, use: updateDynamic)
        routes.endpoint(.POST, dynamic + ["run"], role: .operator, audit: "dns.dynamic.run",
                        summary: "Detect the public IP now and update the records that follow it", tag: tag, response: DynamicDNSRunDoc.doc, use: runDynamic)
    }

    @Sendable func list(req: Request) async throws -> ListPage<DomainDTO> {
        let items = try await req.nebula.domains.domains(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func create(req: Request) async throws -> Response {
        let input = try req.decodeJSON(DomainInput.self, allowedKeys: Set(DomainInput.keys))
        return try await req.nebula.domains.createDomain(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func show(req: Request) async throws -> DomainDTO {
        try await req.nebula.domains.domain(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func update(req: Request) async throws -> DomainDTO {
        let input = try req.decodeJSON(DomainInput.self, allowedKeys: Set(DomainInput.keys))
        return try await req.nebula.domains.updateDomain(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.domains.deleteDomain(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func listRecords(req: Request) async throws -> ListPage<DNSRecordDTO> {
        let items = try await req.nebula.domains.records(of: try req.uuidParameter(), by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func createRecord(req: Request) async throws -> Response {
        let input = try req.decodeJSON(DNSRecordInput.self, allowedKeys: Set(DNSRecordInput.keys))
        return try await req.nebula.domains.createRecord(in: try req.uuidParameter(), input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func updateRecord(req: Request) async throws -> DNSRecordDTO {
        let input = try req.decodeJSON(DNSRecordInput.self, allowedKeys: Set(DNSRecordInput.keys))
        return try await req.nebula.domains.updateRecord(in: try req.uuidParameter(), try req.uuidParameter("recordID"), input, by: try req.actor)
    }

    @Sendable func deleteRecord(req: Request) async throws -> HTTPStatus {
        try await req.nebula.domains.deleteRecord(in: try req.uuidParameter(), try req.uuidParameter("recordID"), by: try req.actor)
        return .noContent
    }

    @Sendable func push(req: Request) async throws -> PushOutcome {
        try await req.nebula.domains.push(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func drift(req: Request) async throws -> DriftReport {
        try await req.nebula.domains.drift(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func propagation(req: Request) async throws -> ListPage<PropagationReport> {
        let type: DNSRecordType?
        if let raw = req.query[String.self, at: "type"], !raw.isEmpty {
            guard let parsed = DNSRecordType(rawValue: raw.uppercased()) else {
                throw NebulaError.invalid("type is one of \(DNSRecordType.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_type")
            }
            type = parsed
        } else {
            type = nil
        }
        let name = req.query[String.self, at: "name"].flatMap { $0.isEmpty ? nil : $0 }
        let items = try await req.nebula.domains.propagation(try req.uuidParameter(), name: name, type: type, by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func export(req: Request) async throws -> Response {
        let format = req.query[String.self, at: "format"] ?? "json"
        let file = try await req.nebula.domains.export(try req.uuidParameter(), format: format, by: try req.actor)
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: file.contentType.hasPrefix("text/csv") ? "text" : "application",
                                            subType: file.contentType.hasPrefix("text/csv") ? "csv" : "json", parameters: ["charset": "utf-8"])
        headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename=\"\(file.filename)\"")
        return Response(status: .ok, headers: headers, body: .init(string: file.body))
    }

    @Sendable func importRecords(req: Request) async throws -> RecordsImportOutcome {
        let input = try req.decodeJSON(RecordsImportInput.self, allowedKeys: Set(RecordsImportInput.keys))
        return try await req.nebula.domains.importFile(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func dynamicSettings(req: Request) async throws -> DynamicDNSSettingsDTO {
        try await req.nebula.domains.dynamicSettings(by: try req.actor)
    }

    @Sendable func updateDynamic(req: Request) async throws -> DynamicDNSSettingsDTO {
        let input = try req.decodeJSON(DynamicDNSInput.self, allowedKeys: Set(DynamicDNSInput.keys))
        return try await req.nebula.domains.updateDynamicSettings(input, by: try req.actor)
    }

    @Sendable func runDynamic(req: Request) async throws -> DynamicDNSRunOutcome {
        try await req.nebula.domains.runDynamicDNS(by: try req.actor)
    }
}

// MARK: - OpenAPI

private let optionalString = JSONSchema.string(required: false, nullable: true)
private let optionalTimestamp = JSONSchema.string(format: .dateTime, required: false, nullable: true)
private let uuid = JSONSchema.string(format: .other("uuid"))
private let recordType = JSONSchema.string(allowedValues: DNSRecordType.allCases.map { AnyCodable($0.rawValue) })
private let providerSchema = JSONSchema.string(allowedValues: DNSProviderKind.allCases.map { AnyCodable($0.rawValue) })
private let domainInputProperties: OrderedDictionary<String, JSONSchema> = [
    "name": .string(required: false, description: "The zone, e.g. example.com"), "provider": providerSchema.optionalSchemaObject(),
    "apiURL": .string(required: false, description: "PowerDNS API base URL; for Cloudflare only to override https://api.cloudflare.com/client/v4"),
    "serverID": .string(required: false, description: "PowerDNS server id (localhost)"),
    "nameservers": .array(required: false, description: "Authoritative servers (host or host:port) the propagation check asks", items: .string),
    "secret": .string(required: false, description: "PowerDNS API key or Cloudflare API token; write-only, kept in the vault"),
    "defaultTTL": .integer(required: false), "importExisting": .boolean(required: false),
]
private let recordInputProperties: OrderedDictionary<String, JSONSchema> = [
    "name": .string(required: false, description: "www, @ for the apex, or a full name"), "type": recordType.optionalSchemaObject(),
    "content": .string(required: false, description: "192.0.2.1, target.example.net, 10 mail.example.com, 10 5 5060 sip.example.com, 0 issue \"letsencrypt.org\", text"),
    "ttl": .integer(required: false), "dynamic": .boolean(required: false, description: "A/AAAA follows the public IP (dynamic DNS)"),
    "comment": .string(required: false),
]
private let recordSetSchema = JSONSchema.object(properties: ["name": .string, "type": recordType, "ttl": .integer, "contents": .array(items: .string)])

enum DomainDoc: Documented {
    static let schemaName = "Domain"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "name": .string, "provider": providerSchema,
        "settings": .object(properties: ["apiURL": optionalString, "serverID": optionalString, "nameservers": .array(required: false, nullable: true, items: .string)]),
        "hasSecret": .boolean, "defaultTTL": .integer, "recordCount": .integer, "pendingChanges": .boolean,
        "lastPushedAt": optionalTimestamp, "lastPushError": optionalString, "createdAt": optionalTimestamp,
    ])
}

enum DomainListDoc: Documented {
    static let schemaName = "DomainList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: DomainDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [DomainDoc.doc] }
}

enum DomainInputDoc: Documented {
    static let schemaName = "DomainInput"
    static let schema = JSONSchema.object(properties: domainInputProperties)
    static let example: String? = #"{"name":"lab.example.org","provider":"manual","defaultTTL":300}"#
}

enum DomainUpdateDoc: Documented {
    static let schemaName = "DomainUpdate"
    static let schema = JSONSchema.object(properties: domainInputProperties)
    static let example: String? = #"{"defaultTTL":600}"#
}

enum DNSRecordDoc: Documented {
    static let schemaName = "DNSRecord"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "domainID": uuid, "name": .string, "type": recordType, "content": .string, "ttl": .integer, "dynamic": .boolean,
        "comment": optionalString, "updatedAt": optionalTimestamp,
    ])
}

enum DNSRecordListDoc: Documented {
    static let schemaName = "DNSRecordList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: DNSRecordDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [DNSRecordDoc.doc] }
}

enum DNSRecordInputDoc: Documented {
    static let schemaName = "DNSRecordInput"
    static let schema = JSONSchema.object(properties: recordInputProperties)
    static let example: String? = #"{"name":"www","type":"A","content":"192.0.2.10","ttl":300}"#
}

enum DNSRecordUpdateDoc: Documented {
    static let schemaName = "DNSRecordUpdate"
    static let schema = JSONSchema.object(properties: recordInputProperties)
    static let example: String? = #"{"content":"192.0.2.21"}"#
}

enum PushOutcomeDoc: Documented {
    static let schemaName = "DNSPushOutcome"
    static var schema: JSONSchema {
        .object(properties: ["domain": .reference(.component(named: DomainDoc.schemaName)), "replaced": .integer, "deleted": .integer, "upToDate": .boolean])
    }
    static var related: [SchemaDoc] { [DomainDoc.doc] }
}

enum DriftReportDoc: Documented {
    static let schemaName = "DNSDriftReport"
    static let schema = JSONSchema.object(properties: [
        "domain": .string, "checkedAt": .string(format: .dateTime), "inSync": .boolean,
        "onlyInNebula": .array(items: recordSetSchema), "onlyAtProvider": .array(items: recordSetSchema),
        "different": .array(items: .object(properties: ["nebula": recordSetSchema, "provider": recordSetSchema])),
    ])
}

enum PropagationListDoc: Documented {
    static let schemaName = "DNSPropagationList"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: [
            "name": .string, "type": recordType, "expected": .array(items: .string), "propagated": .boolean,
            "results": .array(items: .object(properties: ["server": .string, "answers": .array(items: .string), "matches": .boolean, "error": optionalString])),
        ])),
        "total": .integer,
    ])
}

enum RecordsImportDoc: Documented {
    static let schemaName = "DNSRecordsImport"
    static let schema = JSONSchema.object(properties: [
        "format": .string(required: false, allowedValues: ["json", "csv", "provider"]),
        "data": .string(required: false, description: "The file's content (not used for format provider)"),
        "mode": .string(required: false, allowedValues: ["merge", "replace"]), "dryRun": .boolean(required: false),
    ])
    static let example: String? = #"{"format":"csv","data":"name,type,content,ttl\nmail,A,192.0.2.30,300\n","mode":"merge"}"#
}

enum RecordsImportOutcomeDoc: Documented {
    static let schemaName = "DNSRecordsImportOutcome"
    static let schema = JSONSchema.object(properties: [
        "applied": .boolean, "dryRun": .boolean, "added": .integer, "removed": .integer, "unchanged": .integer,
        "problems": .array(items: .object(properties: ["row": .integer, "message": .string])),
        "conflicts": .array(items: .object(properties: ["name": .string, "message": .string])),
    ])
}

enum DynamicDNSDoc: Documented {
    static let schemaName = "DynamicDNSSettings"
    static let schema = JSONSchema.object(properties: [
        "enabled": .boolean, "endpoints": .array(items: .string), "intervalMinutes": .integer,
        "lastIPv4": optionalString, "lastIPv6": optionalString, "lastCheckedAt": optionalTimestamp, "lastChangedAt": optionalTimestamp,
        "lastError": optionalString, "dynamicRecords": .integer,
    ])
}

enum DynamicDNSInputDoc: Documented {
    static let schemaName = "DynamicDNSInput"
    static let schema = JSONSchema.object(properties: [
        "enabled": .boolean(required: false), "endpoints": .array(required: false, items: .string), "intervalMinutes": .integer(required: false),
    ])
    static let example: String? = #"{"intervalMinutes":10}"#
}

enum DynamicDNSRunDoc: Documented {
    static let schemaName = "DynamicDNSRun"
    static var schema: JSONSchema {
        .object(properties: ["ipv4": optionalString, "ipv6": optionalString,
                             "updated": .array(items: .reference(.component(named: DNSRecordDoc.schemaName))),
                             "pushed": .array(items: .string), "errors": .array(items: .string)])
    }
    static var related: [SchemaDoc] { [DNSRecordDoc.doc] }
}
