import OpenAPIKit30

// OpenAPI descriptions of the agent routes' bodies.

private let optionalString = JSONSchema.string(required: false, nullable: true)
private let optionalTimestamp = JSONSchema.string(format: .dateTime, required: false, nullable: true)
private let uuid = JSONSchema.string(format: .other("uuid"))
private let anyJSON = JSONSchema.fragment(.init(description: "Any JSON value"))
private let statusSchema = JSONSchema.string(allowedValues: AgentExecutionStatus.allCases.map { AnyCodable($0.rawValue) })

private let agentInputProperties: OrderedDictionary<String, JSONSchema> = [
    "name": .string(required: false, description: "lab-doctor: lowercase letters, digits, dashes"),
    "description": .string(required: false), "systemPrompt": .string(required: false),
    "provider": .string(required: false, description: "a provider name, or auto (local first)"),
    "model": .string(required: false, description: "empty: the provider's default model"),
    "temperature": .number(required: false, description: "0–2"),
    "tools": .array(required: false, description: "tool names from GET /api/v1/ai/tools", items: .string),
    "maxSteps": .integer(required: false, description: "1–50 model calls (default 8)"),
    "maxSeconds": .integer(required: false, description: "5–1800 seconds of running time (default 120)"),
    "blockedPatterns": .array(required: false, description: "regular expressions; a tool call whose arguments match one is refused", items: .string),
    "requireApproval": .boolean(required: false, description: "tools that change something wait for an operator (default true)"),
]

private let functionInputProperties: OrderedDictionary<String, JSONSchema> = [
    "name": .string(required: false, description: "lights_on: lowercase letters, digits, _"),
    "description": .string(required: false, description: "what it does, for the model"),
    "parameters": .object(required: false, description: "a JSON Schema with type object", additionalProperties: .init(true)),
    "method": .string(required: false, allowedValues: HTTPFunctions.methods.map { AnyCodable($0) }),
    "urlTemplate": .string(required: false, description: "http://ha.lan:8123/api/states/{entity}: placeholders are URL-encoded arguments"),
    "headers": .object(required: false, description: "name → value; values may hold {{secret:NAME}} (a vault secret, resolved at call time)",
                       additionalProperties: .init(.string)),
    "bodyTemplate": .string(required: false, description: "text with {param} placeholders (JSON-escaped); empty: the arguments as JSON for POST/PUT/PATCH"),
    "changesSomething": .boolean(required: false, description: "default: true unless method is GET"),
    "timeoutSeconds": .integer(required: false, description: "1–120 (default 15)"),
]

private let toolCallSchema = JSONSchema.object(properties: [
    "id": .string, "name": .string, "arguments": .string(description: "JSON object text, as the model sent it"),
    "status": .string(allowedValues: ["ok", "error", "unknown_tool", "invalid_arguments", "blocked", "waiting_approval", "declined", "skipped"]),
    "result": optionalString, "changesSomething": .boolean, "durationMs": .integer(required: false, nullable: true), "decidedBy": optionalString,
])

enum AgentDoc: Documented {
    static let schemaName = "AIAgent"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "name": .string, "description": .string, "systemPrompt": .string, "provider": .string, "model": optionalString,
        "temperature": .number(required: false, nullable: true), "tools": .array(items: .string), "maxSteps": .integer, "maxSeconds": .integer,
        "blockedPatterns": .array(items: .string), "requireApproval": .boolean, "createdBy": .string,
        "createdAt": optionalTimestamp, "updatedAt": optionalTimestamp,
    ])
}

enum AgentListDoc: Documented {
    static let schemaName = "AIAgentList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: AgentDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [AgentDoc.doc] }
}

enum AgentInputDoc: Documented {
    static let schemaName = "AIAgentInput"
    static let schema = JSONSchema.object(properties: agentInputProperties)
    static let example: String? = #"{"name":"lab-doctor","description":"Looks into problems of the homelab","systemPrompt":"You are Jarvis, the homelab's assistant. Use the tools to look before you answer.","provider":"auto","tools":["list_servers","server_metrics","list_incidents"],"maxSteps":8,"maxSeconds":120,"blockedPatterns":["rm\\s+-rf"],"requireApproval":true}"#
}

enum AgentUpdateDoc: Documented {
    static let schemaName = "AIAgentUpdate"
    static let schema = JSONSchema.object(properties: agentInputProperties)
    static let example: String? = #"{"maxSteps":10,"requireApproval":true}"#
}

enum AIFunctionDoc: Documented {
    static let schemaName = "AIFunction"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "name": .string, "description": .string, "parameters": .object(additionalProperties: .init(true)), "method": .string,
        "urlTemplate": .string, "headers": .object(additionalProperties: .init(.string)), "bodyTemplate": optionalString,
        "changesSomething": .boolean, "timeoutSeconds": .integer, "createdBy": .string, "createdAt": optionalTimestamp, "updatedAt": optionalTimestamp,
    ])
}

enum AIFunctionListDoc: Documented {
    static let schemaName = "AIFunctionList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: AIFunctionDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [AIFunctionDoc.doc] }
}

enum AIFunctionInputDoc: Documented {
    static let schemaName = "AIFunctionInput"
    static let schema = JSONSchema.object(properties: functionInputProperties)
    static let example: String? = #"{"name":"lights_on","description":"Turns on the lights of a room through Home Assistant.","parameters":{"type":"object","properties":{"room":{"type":"string","enum":["kitchen","office"]}},"required":["room"],"additionalProperties":false},"method":"POST","urlTemplate":"http://127.0.0.1:9/api/services/light/turn_on?room={room}","changesSomething":true,"timeoutSeconds":10}"#
}

enum AIFunctionUpdateDoc: Documented {
    static let schemaName = "AIFunctionUpdate"
    static let schema = JSONSchema.object(properties: functionInputProperties)
    static let example: String? = #"{"timeoutSeconds":20}"#
}

enum AgentToolListDoc: Documented {
    static let schemaName = "AIToolList"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: [
            "name": .string, "description": .string, "parameters": .object(additionalProperties: .init(true)), "changesSomething": .boolean,
            "kind": .string(allowedValues: ["built-in", "http"]), "functionId": .string(format: .other("uuid"), required: false, nullable: true),
        ])),
        "total": .integer,
    ])
}

enum AgentRunInputDoc: Documented {
    static let schemaName = "AIAgentRunInput"
    static let schema = JSONSchema.object(properties: [
        "message": .string(description: "what the agent should do"),
        "conversationId": .string(format: .other("uuid"), required: false, description: "continue this saved conversation"),
        "stream": .boolean(required: false, description: "Server-Sent Events step, delta, tool_call, tool_result, approval_required, done, error"),
    ])
    static let example: String? = #"{"message":"Which servers are offline, and is anything on fire?"}"#
}

enum AgentDecisionDoc: Documented {
    static let schemaName = "AIExecutionDecision"
    static let schema = JSONSchema.object(properties: [
        "stream": .boolean(required: false, description: "stream the rest of the run as Server-Sent Events"),
        "note": .string(required: false, description: "why (a declined call's note is given to the model)"),
    ])
    static let example: String? = #"{"note":"checked the dashboard first"}"#
}

enum AgentExecutionDoc: Documented {
    static let schemaName = "AIExecution"
    static let schema = JSONSchema.object(properties: [
        "id": uuid, "agentId": uuid, "agent": .string, "username": .string, "conversationId": .string(format: .other("uuid"), required: false, nullable: true),
        "status": statusSchema, "reason": optionalString, "message": .string, "answer": optionalString, "stepCount": .integer,
        "promptTokens": .integer, "completionTokens": .integer, "durationMs": .integer,
        "pendingCall": toolCallSchema.optionalSchemaObject().nullableSchemaObject(),
        "steps": .array(required: false, items: .object(properties: [
            "position": .integer, "provider": optionalString, "model": optionalString, "text": .string, "toolCalls": .array(items: toolCallSchema),
            "promptTokens": .integer, "completionTokens": .integer, "durationMs": .integer, "error": optionalString, "createdAt": optionalTimestamp,
        ])),
        "createdAt": optionalTimestamp, "finishedAt": optionalTimestamp,
    ])
}

enum AgentExecutionListDoc: Documented {
    static let schemaName = "AIExecutionList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: AgentExecutionDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [AgentExecutionDoc.doc] }
}
