import AIProviders
import OpenAPIKit30

// OpenAPI descriptions of the AI routes' bodies.

private let optionalString = JSONSchema.string(required: false, nullable: true)
private let optionalTimestamp = JSONSchema.string(format: .dateTime, required: false, nullable: true)
private let uuid = JSONSchema.string(format: .other("uuid"))
private let kindSchema = JSONSchema.string(allowedValues: AIProviderKind.allCases.map { AnyCodable($0.rawValue) })
private let modelSchema = JSONSchema.object(properties: [
    "name": .string, "sizeBytes": .integer(required: false, nullable: true), "family": optionalString,
    "parameterSize": optionalString, "quantization": optionalString,
])
private let providerInputProperties: OrderedDictionary<String, JSONSchema> = [
    "name": .string(required: false, description: "gpu-box: lowercase letters, digits, dashes"), "kind": kindSchema.optionalSchemaObject(),
    "baseURL": .string(required: false, description: "http://gpu-box.lan:11434, http://127.0.0.1:8080/v1, https://api.anthropic.com"),
    "apiKeySecret": .string(required: false, description: "a vault secret holding the key"),
    "apiKey": .string(required: false, description: "the key itself, stored in the vault as ai.<name>"),
    "isLocal": .boolean(required: false), "priority": .integer(required: false), "enabled": .boolean(required: false),
    "defaultModel": .string(required: false), "timeoutSeconds": .integer(required: false),
]
private let messageSchema = JSONSchema.object(properties: [
    "role": .string(allowedValues: ["system", "user", "assistant", "tool"]), "content": .string,
    "toolCalls": .array(required: false, items: .object(properties: ["id": .string, "name": .string, "arguments": .string])),
    "toolCallID": optionalString,
])
private let usageSchema = JSONSchema.object(required: false, nullable: true, properties: ["promptTokens": .integer, "completionTokens": .integer])
private let conversationProperties: OrderedDictionary<String, JSONSchema> = [
    "id": uuid, "title": .string, "owner": .string, "provider": .string, "model": optionalString, "systemPrompt": optionalString,
    "agentId": .string(format: .other("uuid"), required: false, nullable: true), "messageCount": .integer,
    "createdAt": optionalTimestamp, "updatedAt": optionalTimestamp,
]

enum AIProviderDoc: Documented {
    static let schemaName = "AIProvider"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "name": .string, "kind": kindSchema, "baseURL": .string, "apiKeySecret": optionalString, "hasAPIKey": .boolean,
        "isLocal": .boolean, "priority": .integer, "enabled": .boolean, "defaultModel": optionalString, "timeoutSeconds": .integer,
        "health": .string(allowedValues: ["unknown", "ok", "down"]), "healthError": optionalString, "latencyMs": .integer(required: false, nullable: true),
        "models": .array(items: modelSchema), "checkedAt": optionalTimestamp, "circuit": .string(allowedValues: ["closed", "open", "half-open"]),
    ])
}

enum AIProviderListDoc: Documented {
    static let schemaName = "AIProviderList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: AIProviderDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [AIProviderDoc.doc] }
}

enum AIProviderInputDoc: Documented {
    static let schemaName = "AIProviderInput"
    static let schema = JSONSchema.object(properties: providerInputProperties)
    static let example: String? = #"{"name":"lab-ollama","kind":"ollama","baseURL":"http://127.0.0.1:11434"}"#
}

enum AIProviderUpdateDoc: Documented {
    static let schemaName = "AIProviderUpdate"
    static let schema = JSONSchema.object(properties: providerInputProperties)
    static let example: String? = #"{"priority":50}"#
}

enum AIModelListDoc: Documented {
    static let schemaName = "AIModelList"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: [
            "id": .string(description: "provider/model"), "name": .string, "provider": .string, "isLocal": .boolean, "health": .string,
            "sizeBytes": .integer(required: false, nullable: true), "parameterSize": optionalString,
        ])),
        "total": .integer,
    ])
}

enum ChatInputDoc: Documented {
    static let schemaName = "ChatInput"
    static let schema = JSONSchema.object(properties: [
        "provider": .string(required: false, description: "a provider name, or auto"), "model": .string(required: false),
        "message": .string(required: false, description: "one more user message (in conversationId, or a new conversation)"),
        "messages": .array(required: false, items: messageSchema), "conversationId": .string(format: .other("uuid"), required: false),
        "system": .string(required: false), "temperature": .number(required: false), "maxTokens": .integer(required: false),
        "stream": .boolean(required: false), "save": .boolean(required: false, description: "with messages: save them as a conversation"),
    ])
    static let example: String? = #"{"message":"Say hello to the homelab.","provider":"auto"}"#
}

enum ChatAnswerDoc: Documented {
    static let schemaName = "ChatAnswer"
    static let schema = JSONSchema.object(properties: [
        "conversationId": .string(format: .other("uuid"), required: false, nullable: true), "provider": .string, "model": .string,
        "message": messageSchema, "finishReason": .string, "usage": usageSchema, "firstTokenMs": .integer(required: false, nullable: true),
        "durationMs": .integer,
        "attempts": .array(items: .object(properties: ["provider": .string, "model": .string, "outcome": .string, "error": optionalString])),
    ])
}

enum ConversationDoc: Documented {
    static let schemaName = "Conversation"
    static let schema = JSONSchema.object(properties: conversationProperties)
}

enum ConversationListDoc: Documented {
    static let schemaName = "ConversationList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: ConversationDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [ConversationDoc.doc] }
}

enum ConversationInputDoc: Documented {
    static let schemaName = "ConversationInput"
    static let schema = JSONSchema.object(properties: [
        "title": .string(required: false), "provider": .string(required: false), "model": .string(required: false),
        "systemPrompt": .string(required: false), "agentId": .string(format: .other("uuid"), required: false),
    ])
    static let example: String? = #"{"title":"Planning the NAS upgrade"}"#
}

enum ConversationDetailDoc: Documented {
    static let schemaName = "ConversationDetail"
    static var schema: JSONSchema {
        .object(properties: [
            "conversation": .reference(.component(named: ConversationDoc.schemaName)),
            "messages": .array(items: .object(properties: [
                "id": uuid, "role": .string, "content": .string,
                "toolCalls": .array(items: .object(properties: ["id": .string, "name": .string, "arguments": .string])),
                "toolCallID": optionalString, "provider": optionalString, "model": optionalString, "error": optionalString, "createdAt": optionalTimestamp,
            ])),
        ])
    }
    static var related: [SchemaDoc] { [ConversationDoc.doc] }
}

enum AIUsageListDoc: Documented {
    static let schemaName = "AIUsageList"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: [
            "username": .string, "provider": .string, "model": .string, "requests": .integer, "errors": .integer,
            "promptTokens": .integer, "completionTokens": .integer, "averageFirstTokenMs": .integer(required: false, nullable: true),
            "averageDurationMs": .integer,
        ])),
        "total": .integer,
    ])
}
