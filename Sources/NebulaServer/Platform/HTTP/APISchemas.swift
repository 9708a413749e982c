import NebulaCore
import OpenAPIKit30

// The OpenAPI schemas of the platform's request and response bodies. Each mirrors a Codable type;
// the `example` of a request body is what the API tests send.

private let timestamp = JSONSchema.string(format: .dateTime)
private let optionalTimestamp = JSONSchema.string(format: .dateTime, required: false, nullable: true)
private let optionalString = JSONSchema.string(required: false, nullable: true)
private let roleSchema = JSONSchema.string(allowedValues: Role.allCases.map { AnyCodable($0.rawValue) })
private let uuid = JSONSchema.string(format: .other("uuid"))

private func listOf(_ name: String) -> JSONSchema {
    .object(properties: ["items": .array(items: .reference(.component(named: name))), "total": .integer])
}

enum APIErrorDoc: Documented {
    static let schemaName = "Error"
    static let schema = JSONSchema.object(properties: ["error": .object(properties: ["code": .string, "message": .string])])
}

enum MeDoc: Documented {
    static let schema = JSONSchema.object(properties: ["username": .string, "role": roleSchema, "via": .string(allowedValues: ["session", "token"])])
}

enum UserDoc: Documented {
    static let schemaName = "User"
    static let schema = JSONSchema.object(properties: ["id": uuid, "username": .string, "role": roleSchema, "disabled": .boolean, "createdAt": optionalTimestamp])
}

enum UserPageDoc: Documented {
    static let schemaName = "UserList"
    static var schema: JSONSchema { listOf(UserDoc.schemaName) }
    static var related: [SchemaDoc] { [UserDoc.doc] }
}

enum CreateUserDoc: Documented {
    static let schemaName = "CreateUser"
    static let schema = JSONSchema.object(properties: ["username": .string(minLength: 2, maxLength: 40), "password": .string(minLength: 12), "role": roleSchema])
    static let example: String? = #"{"username":"audit-probe","password":"probe-password-123","role":"viewer"}"#
}

enum UpdateUserDoc: Documented {
    static let schemaName = "UpdateUser"
    static let schema = JSONSchema.object(properties: ["role": roleSchema.optionalSchemaObject(), "disabled": .boolean(required: false)])
    static let example: String? = #"{"role":"viewer"}"#
}

enum PasswordDoc: Documented {
    static let schemaName = "NewPassword"
    static let schema = JSONSchema.object(properties: ["password": .string(minLength: 12)])
    static let example: String? = #"{"password":"another-password-123"}"#
}

enum TokenDoc: Documented {
    static let schemaName = "Token"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "name": .string, "role": roleSchema, "owner": .string, "prefix": .string,
        "createdAt": optionalTimestamp, "expiresAt": optionalTimestamp, "revokedAt": optionalTimestamp, "lastUsedAt": optionalTimestamp,
        "status": .string(allowedValues: ["active", "expired", "revoked"]),
    ])
}

enum TokenPageDoc: Documented {
    static let schemaName = "TokenList"
    static var schema: JSONSchema { listOf(TokenDoc.schemaName) }
    static var related: [SchemaDoc] { [TokenDoc.doc] }
}

enum CreateTokenDoc: Documented {
    static let schemaName = "CreateToken"
    static let schema = JSONSchema.object(properties: [
        "name": .string(minLength: 1, maxLength: 100),
        "role": roleSchema.optionalSchemaObject(),
        "expiresAt": optionalTimestamp,
        "username": .string(required: false, description: "Admins may create a token for another user"),
    ])
    static let example: String? = #"{"name":"ci","role":"viewer"}"#
}

enum CreatedTokenDoc: Documented {
    static let schemaName = "CreatedToken"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "name": .string, "role": roleSchema, "owner": .string, "prefix": .string, "expiresAt": optionalTimestamp,
        "token": .string(description: "The bearer token; shown only in this response"),
    ])
}

enum SecretDoc: Documented {
    static let schemaName = "Secret"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "name": .string, "description": optionalString, "createdBy": .string, "updatedBy": .string,
        "createdAt": optionalTimestamp, "updatedAt": optionalTimestamp,
    ])
}

enum SecretPageDoc: Documented {
    static let schemaName = "SecretList"
    static var schema: JSONSchema { listOf(SecretDoc.schemaName) }
    static var related: [SchemaDoc] { [SecretDoc.doc] }
}

enum StoreSecretDoc: Documented {
    static let schemaName = "StoreSecret"
    static let schema = JSONSchema.object(properties: [
        "name": .string(maxLength: 100, pattern: "^[A-Za-z0-9_.-]+$"), "value": .string(minLength: 1), "description": optionalString,
    ])
    static let example: String? = #"{"name":"audit-probe","value":"probe-value-not-secret"}"#
}

enum ReplaceSecretDoc: Documented {
    static let schemaName = "ReplaceSecret"
    static let schema = JSONSchema.object(properties: ["value": .string(minLength: 1), "description": optionalString])
    static let example: String? = #"{"value":"probe-value-replaced"}"#
}

enum RevealedDoc: Documented {
    static let schemaName = "RevealedSecret"
    static let schema = JSONSchema.object(properties: ["name": .string, "value": .string])
}

enum AuditEntryDoc: Documented {
    static let schemaName = "AuditEntry"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "at": timestamp, "actor": .string, "action": .string, "target": optionalString,
        "outcome": .string(allowedValues: ["success", "failure", "denied"]), "ip": optionalString, "detail": optionalString,
    ])
}

enum AuditPageDoc: Documented {
    static let schemaName = "AuditList"
    static var schema: JSONSchema { listOf(AuditEntryDoc.schemaName) }
    static var related: [SchemaDoc] { [AuditEntryDoc.doc] }
}

enum EventDoc: Documented {
    static let schemaName = "Event"
    static let schema = JSONSchema.object(properties: [
        "id": .integer, "type": .string, "occurredAt": timestamp, "actor": optionalString, "subject": optionalString,
        "data": .object(additionalProperties: .init(.string)),
    ])
}

enum EventPageDoc: Documented {
    static let schemaName = "EventList"
    static var schema: JSONSchema { listOf(EventDoc.schemaName) }
    static var related: [SchemaDoc] { [EventDoc.doc] }
}

enum JobDoc: Documented {
    static let schemaName = "Job"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "type": .string, "payload": .string(description: "JSON"),
        "status": .string(allowedValues: JobStatus.allCases.map { AnyCodable($0.rawValue) }),
        "progress": .number, "attempts": .integer, "maxAttempts": .integer, "runAt": timestamp,
        "lastError": optionalString, "createdBy": optionalString, "createdAt": timestamp,
        "startedAt": optionalTimestamp, "finishedAt": optionalTimestamp, "cancelRequested": .boolean,
    ])
}

enum JobPageDoc: Documented {
    static let schemaName = "JobList"
    static var schema: JSONSchema { listOf(JobDoc.schemaName) }
    static var related: [SchemaDoc] { [JobDoc.doc] }
}

enum EnqueueDoc: Documented {
    static let schemaName = "EnqueueJob"
    static let schema = JSONSchema.object(properties: ["type": .string])
    static let example: String? = #"{"type":"maintenance.retention"}"#
}

enum SettingsDoc: Documented {
    static let schemaName = "Settings"
    static let schema = JSONSchema.object(properties: [
        "instanceName": .string, "eventRetentionDays": .integer, "auditRetentionDays": .integer, "jobRetentionDays": .integer,
    ])
}

enum SettingsPatchDoc: Documented {
    static let schemaName = "SettingsPatch"
    static let schema = JSONSchema.object(properties: [
        "instanceName": .string(required: false, maxLength: 60), "eventRetentionDays": .integer(required: false),
        "auditRetentionDays": .integer(required: false), "jobRetentionDays": .integer(required: false),
    ])
    static let example: String? = #"{"instanceName":"Audit probe lab"}"#
}
