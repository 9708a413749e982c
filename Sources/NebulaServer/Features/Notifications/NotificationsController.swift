import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/notifications`: channels (with "send test"), routing rules, the delivery log and sending.
struct NotificationsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let base: [PathComponent] = ["notifications"]
        let channels = base + ["channels"]
        let channel = channels + [":id"]
        let rules = base + ["rules"]
        let tag = "Notifications"
        routes.endpoint(.GET, channels, role: .viewer, summary: "Notification channels with their last delivery status (secrets never shown)", tag: tag,
                        response: NotificationChannelListDoc.doc, use: listChannels)
        routes.endpoint(.POST, channels, role: .operator, audit: "notification.channel.create",
                        summary: "Add a channel: discord (url), webhook (url, secret), ntfy (url, topic, secret?), gotify (url, secret), email (host, port, security, username?, secret?, from, to)",
                        tag: tag, request: ChannelInputDoc.doc, response: NotificationChannelDoc.doc, status: .created, use: createChannel)
        routes.endpoint(.GET, channel, role: .viewer, summary: "One channel", tag: tag, response: NotificationChannelDoc.doc, use: showChannel)
        routes.endpoint(.PUT, channel, role: .operator, audit: "notification.channel.update",
                        summary: "Change a channel's settings; a missing secret keeps the stored one", tag: tag,
                        request: ChannelUpdateDoc.doc, response: NotificationChannelDoc.doc, use: updateChannel)
        routes.endpoint(.DELETE, channel, role: .operator, audit: "notification.channel.delete",
                        summary: "Remove a channel and its secret (refused while a rule sends to it)", tag: tag, status: .noContent, use: deleteChannel)
        routes.endpoint(.POST, channel + ["test"], role: .operator, audit: "notification.channel.test",
                        summary: "Send a test notification now; answers whether it arrived and logs it", tag: tag,
                        response: ChannelTestDoc.doc, use: testChannel)
        routes.endpoint(.GET, rules, role: .viewer, summary: "Routing rules", tag: tag, response: NotificationRuleListDoc.doc, use: listRules)
        routes.endpoint(.POST, rules, role: .operator, audit: "notification.rule.create",
                        summary: "Add a routing rule: categories, minimum severity, channels, quiet hours, de-duplication window", tag: tag,
                        request: RuleInputDoc.doc, response: NotificationRuleDoc.doc, status: .created, use: createRule)
        routes.endpoint(.PUT, rules + [":id"], role: .operator, audit: "notification.rule.update", summary: "Change a routing rule", tag: tag,
                        request: RuleUpdateDoc.doc, response: NotificationRuleDoc.doc, use: updateRule)
        routes.endpoint(.DELETE, rules + [":id"], role: .operator, audit: "notification.rule.delete", summary: "Remove a routing rule", tag: tag,
                        status: .noContent, use: deleteRule)
        routes.endpoint(.GET, base + ["deliveries"], role: .viewer, summary: "The delivery log, newest first", tag: tag,
                        response: NotificationDeliveryListDoc.doc,
                        query: [QueryDoc(name: "status", description: DeliveryStatus.allCases.map(\.rawValue).joined(separator: ", ")),
                                QueryDoc(name: "channel", description: "A channel name"),
                                QueryDoc(name: "limit", description: "1–500, default 50", schema: .integer),
                                QueryDoc(name: "offset", description: "Skip this many", schema: .integer)],
                        use: deliveries)
        routes.endpoint(.POST, base + ["deliveries", ":id", "retry"], role: .operator, audit: "notification.delivery.retry",
                        summary: "Send a failed or held delivery again now", tag: tag, response: NotificationDeliveryDoc.doc, use: retry)
        routes.endpoint(.POST, base + ["send"], role: .operator, audit: "notification.send",
                        summary: "Send a notification: to named channels, or routed by the rules when `channels` is absent", tag: tag,
                        request: NotifyDoc.doc, response: NotificationDeliveryListDoc.doc, status: .accepted, use: send)
    }

    @Sendable func listChannels(req: Request) async throws -> ListPage<NotificationChannelDTO> {
        let items = try await req.nebula.notifications.channels(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func createChannel(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ChannelInput.self, allowedKeys: Set(ChannelInput.keys))
        return try await req.nebula.notifications.createChannel(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func showChannel(req: Request) async throws -> NotificationChannelDTO {
        try await req.nebula.notifications.channel(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func updateChannel(req: Request) async throws -> NotificationChannelDTO {
        let input = try req.decodeJSON(ChannelInput.self, allowedKeys: Set(ChannelInput.keys))
        return try await req.nebula.notifications.updateChannel(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func deleteChannel(req: Request) async throws -> HTTPStatus {
        try await req.nebula.notifications.deleteChannel(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func testChannel(req: Request) async throws -> ChannelTestOutcome {
        try await req.nebula.notifications.test(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func listRules(req: Request) async throws -> ListPage<NotificationRuleDTO> {
        let items = try await req.nebula.notifications.rules(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func createRule(req: Request) async throws -> Response {
        let input = try req.decodeJSON(RuleInput.self, allowedKeys: Set(RuleInput.keys))
        return try await req.nebula.notifications.createRule(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func updateRule(req: Request) async throws -> NotificationRuleDTO {
        let input = try req.decodeJSON(RuleInput.self, allowedKeys: Set(RuleInput.keys))
        return try await req.nebula.notifications.updateRule(try req.uuidParameter(), input, by: try req.actor)
    }

    @Sendable func deleteRule(req: Request) async throws -> HTTPStatus {
        try await req.nebula.notifications.deleteRule(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func deliveries(req: Request) async throws -> ListPage<NotificationDeliveryDTO> {
        let status: DeliveryStatus?
        if let raw = req.query[String.self, at: "status"], !raw.isEmpty {
            guard let parsed = DeliveryStatus(rawValue: raw) else {
                throw NebulaError.invalid("status is one of \(DeliveryStatus.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_status")
            }
            status = parsed
        } else {
            status = nil
        }
        return try await req.nebula.notifications.deliveries(
            status: status, channel: req.query[String.self, at: "channel"].flatMap { $0.isEmpty ? nil : $0 },
            limit: try req.boundedInt("limit", default: 50, range: 1...500), offset: try req.boundedInt("offset", default: 0, range: 0...1_000_000),
            by: try req.actor)
    }

    @Sendable func retry(req: Request) async throws -> NotificationDeliveryDTO {
        try await req.nebula.notifications.retry(try req.uuidParameter(), by: try req.actor)
    }

    struct SendInput: Codable, Sendable {
        var title: String
        var message: String?
        var category: String?
        var severity: NotificationSeverity?
        var channels: [String]?
        var fields: [String: String]?
        var url: String?
    }

    @Sendable func send(req: Request) async throws -> Response {
        let input = try req.decodeJSON(SendInput.self, allowedKeys: ["title", "message", "category", "severity", "channels", "fields", "url"])
        let deliveries = try await req.nebula.notifications.send(NotifyRequest(
            category: input.category ?? "manual", severity: input.severity ?? .info, title: input.title, body: input.message ?? "",
            channels: input.channels, fields: input.fields ?? [:], url: input.url), by: try req.actor)
        return try await ListPage(items: deliveries, total: deliveries.count).encodeResponse(status: .accepted, for: req)
    }
}

// MARK: - OpenAPI

private let optionalString = JSONSchema.string(required: false, nullable: true)
private let optionalTimestamp = JSONSchema.string(format: .dateTime, required: false, nullable: true)
private let severitySchema = JSONSchema.string(allowedValues: NotificationSeverity.allCases.map { AnyCodable($0.rawValue) })
private let kindSchema = JSONSchema.string(allowedValues: NotificationChannelKind.allCases.map { AnyCodable($0.rawValue) })
private let channelInputProperties: OrderedDictionary<String, JSONSchema> = [
    "name": .string(required: false), "kind": kindSchema.optionalSchemaObject(), "enabled": .boolean(required: false),
    "url": .string(required: false, description: "Webhook / ntfy / Gotify server URL; for Discord the webhook URL (stored as the secret)"),
    "topic": .string(required: false), "secret": .string(required: false, description: "HMAC secret, ntfy/Gotify token or SMTP password; write-only"),
    "host": .string(required: false), "port": .integer(required: false), "security": .string(required: false, allowedValues: ["starttls", "tls", "none"]),
    "username": .string(required: false), "from": .string(required: false), "to": .array(required: false, items: .string),
    "caCertificate": .string(required: false, description: "PEM CA certificate(s) to trust for a self-hosted SMTP server"),
    "allowInsecureAuthentication": .boolean(required: false, description: "Log in over an unencrypted connection (security none); trusted LAN relays only"),
]

enum ChannelInputDoc: Documented {
    static let schemaName = "NotificationChannelInput"
    static let schema = JSONSchema.object(properties: channelInputProperties)
    static let example: String? = #"{"name":"probe-hook","kind":"webhook","url":"https://hooks.example.invalid/nebula","secret":"probe-signing-secret"}"#
}

enum ChannelUpdateDoc: Documented {
    static let schemaName = "NotificationChannelUpdate"
    static let schema = JSONSchema.object(properties: channelInputProperties)
    static let example: String? = #"{"enabled":false}"#
}

enum NotificationChannelDoc: Documented {
    static let schemaName = "NotificationChannel"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "name": .string, "kind": kindSchema, "enabled": .boolean,
        "settings": .object(properties: [
            "url": optionalString, "topic": optionalString, "host": optionalString, "port": .integer(required: false, nullable: true),
            "security": optionalString, "username": optionalString, "from": optionalString, "to": .array(required: false, nullable: true, items: .string),
            "caCertificate": optionalString, "allowInsecureAuthentication": .boolean(required: false, nullable: true),
        ]),
        "hasSecret": .boolean, "lastStatus": optionalString, "lastDeliveryAt": optionalTimestamp, "createdAt": optionalTimestamp,
    ])
}

enum NotificationChannelListDoc: Documented {
    static let schemaName = "NotificationChannelList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: NotificationChannelDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [NotificationChannelDoc.doc] }
}

enum NotificationDeliveryDoc: Documented {
    static let schemaName = "NotificationDelivery"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "channel": .string, "category": .string, "severity": severitySchema, "title": .string, "body": .string,
        "status": .string(allowedValues: DeliveryStatus.allCases.map { AnyCodable($0.rawValue) }), "attempts": .integer,
        "lastError": optionalString, "incidentId": optionalString, "jobId": optionalString,
        "deliverAt": optionalTimestamp, "createdAt": optionalTimestamp, "sentAt": optionalTimestamp,
    ])
}

enum NotificationDeliveryListDoc: Documented {
    static let schemaName = "NotificationDeliveryList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: NotificationDeliveryDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [NotificationDeliveryDoc.doc] }
}

enum ChannelTestDoc: Documented {
    static let schemaName = "NotificationChannelTest"
    static var schema: JSONSchema { .object(properties: ["ok": .boolean, "delivery": .reference(.component(named: NotificationDeliveryDoc.schemaName))]) }
    static var related: [SchemaDoc] { [NotificationDeliveryDoc.doc] }
}

private let ruleProperties: OrderedDictionary<String, JSONSchema> = [
    "name": .string(required: false), "categories": .array(required: false, description: "Empty: every category", items: .string),
    "minSeverity": severitySchema.optionalSchemaObject(), "channels": .array(required: false, items: .string),
    "quietHours": .object(required: false, nullable: true, properties: [
        "start": .string(description: "HH:MM"), "end": .string(description: "HH:MM"), "timeZone": .string(description: "IANA name, e.g. Europe/Berlin"),
        "allowCritical": .boolean(required: false),
    ]),
    "dedupMinutes": .integer(required: false, minimum: (0, exclusive: false)), "enabled": .boolean(required: false),
]

enum RuleInputDoc: Documented {
    static let schemaName = "NotificationRuleInput"
    static let schema = JSONSchema.object(properties: ruleProperties)
    static let example: String? = #"{"name":"probe-rule","categories":["incident"],"minSeverity":"warning","channels":["notify-target"],"quietHours":{"start":"22:00","end":"07:00","timeZone":"Europe/Berlin"}}"#
}

enum RuleUpdateDoc: Documented {
    static let schemaName = "NotificationRuleUpdate"
    static let schema = JSONSchema.object(properties: ruleProperties)
    static let example: String? = #"{"dedupMinutes":5}"#
}

enum NotificationRuleDoc: Documented {
    static let schemaName = "NotificationRule"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "name": .string, "categories": .array(items: .string), "minSeverity": severitySchema,
        "channels": .array(items: .string),
        "quietHours": .object(required: false, nullable: true, properties: [
            "start": .string, "end": .string, "timeZone": .string, "allowCritical": .boolean(required: false),
        ]),
        "dedupMinutes": .integer, "enabled": .boolean,
    ])
}

enum NotificationRuleListDoc: Documented {
    static let schemaName = "NotificationRuleList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: NotificationRuleDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [NotificationRuleDoc.doc] }
}

enum NotifyDoc: Documented {
    static let schemaName = "NotificationSend"
    static let schema = JSONSchema.object(properties: [
        "title": .string, "message": .string(required: false), "category": .string(required: false, description: "Default `manual`"),
        "severity": severitySchema.optionalSchemaObject(), "channels": .array(required: false, description: "Absent: routed by the rules", items: .string),
        "fields": .object(required: false, additionalProperties: .b(.string)), "url": .string(required: false),
    ])
    static let example: String? = #"{"title":"Probe","message":"hello","severity":"info"}"#
}
