import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/ai/providers/{id}/models`: model management on an Ollama node — installed and running
/// models, pulls (as jobs), delete, load, unload. Model names go in the body (`{"model": …}`),
/// since they hold `:` and `/`.
struct AIModelsController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let models: [PathComponent] = ["ai", "providers", ":id", "models"]
        let tag = "AI"
        routes.endpoint(.GET, models, role: .viewer,
                        summary: "An Ollama node's installed models (size, family, parameters, quantization), the models in memory (size, VRAM, when they unload) and pulls in progress; 422 not_ollama for other providers",
                        tag: tag, response: OllamaModelsDoc.doc, use: list)
        routes.endpoint(.POST, models + ["pull"], role: .operator, audit: "ai.model.pull",
                        summary: "Pull a model onto the node as a job (progress and a readable line in its log; cancel the job to stop); 409 pull_in_progress while the same model is being pulled there",
                        tag: tag, request: ModelPullInputDoc.doc, response: ModelPullAcceptedDoc.doc, status: .accepted, use: pull)
        routes.endpoint(.POST, models + ["delete"], role: .operator, audit: "ai.model.delete",
                        summary: "Delete a model from the node's disk; 404 model_not_found when it has no such model",
                        tag: tag, request: ModelDeleteInputDoc.doc, response: ModelActionDoc.doc, use: delete)
        routes.endpoint(.POST, models + ["load"], role: .operator, audit: "ai.model.load",
                        summary: "Load a model into memory now (Ollama keeps it for its keep-alive)",
                        tag: tag, request: ModelNameDoc.doc, response: ModelActionDoc.doc, use: load)
        routes.endpoint(.POST, models + ["unload"], role: .operator, audit: "ai.model.unload",
                        summary: "Unload a model from memory now",
                        tag: tag, request: ModelNameDoc.doc, response: ModelActionDoc.doc, use: unload)
    }

    @Sendable func list(req: Request) async throws -> OllamaModelsDTO {
        try await req.nebula.aiModels.models(of: try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func pull(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ModelNameInput.self, allowedKeys: ModelNameInput.keys)
        let accepted = try await req.nebula.aiModels.pull(input.model, on: try req.uuidParameter(), by: try req.actor)
        return try await accepted.encodeResponse(status: .accepted, for: req)
    }

    @Sendable func delete(req: Request) async throws -> ModelActionDTO {
        let input = try req.decodeJSON(ModelNameInput.self, allowedKeys: ModelNameInput.keys)
        return try await req.nebula.aiModels.delete(input.model, on: try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func load(req: Request) async throws -> ModelActionDTO {
        let input = try req.decodeJSON(ModelNameInput.self, allowedKeys: ModelNameInput.keys)
        return try await req.nebula.aiModels.load(input.model, on: try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func unload(req: Request) async throws -> ModelActionDTO {
        let input = try req.decodeJSON(ModelNameInput.self, allowedKeys: ModelNameInput.keys)
        return try await req.nebula.aiModels.unload(input.model, on: try req.uuidParameter(), by: try req.actor)
    }
}

// MARK: - OpenAPI

private let optionalString = JSONSchema.string(required: false, nullable: true)
private let uuid = JSONSchema.string(format: .other("uuid"))
private let modelName = JSONSchema.string(description: "llama3.1:8b, library/qwen2:0.5b, hf.co/org/repo:Q4_K_M")

enum OllamaModelsDoc: Documented {
    static let schemaName = "OllamaModels"
    static let schema = JSONSchema.object(properties: [
        "providerId": uuid, "provider": .string,
        "installed": .array(items: .object(properties: [
            "name": .string, "sizeBytes": .integer(required: false, nullable: true), "family": optionalString,
            "parameterSize": optionalString, "quantization": optionalString, "running": .boolean,
        ])),
        "running": .array(items: .object(properties: [
            "name": .string, "sizeBytes": .integer, "sizeVRAM": .integer(description: "bytes of it in GPU memory"),
            "expiresAt": .string(format: .dateTime, required: false, nullable: true, description: "when Ollama unloads it"),
        ])),
        "pulls": .array(items: .object(properties: [
            "model": .string, "jobId": uuid, "status": .string, "progress": .number,
        ])),
    ])
}

/// `{"model": …}` for load and unload.
enum ModelNameDoc: Documented {
    static let schemaName = "ModelName"
    static let schema = JSONSchema.object(properties: ["model": modelName])
    static let example: String? = #"{"model":"tiny-model"}"#
}

/// `{"model": …}` for a pull; the example names a model the node does not have yet.
enum ModelPullInputDoc: Documented {
    static let schemaName = "ModelPullInput"
    static let schema = JSONSchema.object(properties: ["model": modelName])
    static let example: String? = #"{"model":"library/qwen2:0.5b"}"#
}

/// `{"model": …}` for a delete; the example names a second model, so that the access tests'
/// node keeps the one load and unload use.
enum ModelDeleteInputDoc: Documented {
    static let schemaName = "ModelDeleteInput"
    static let schema = JSONSchema.object(properties: ["model": modelName])
    static let example: String? = #"{"model":"llama3.2:1b"}"#
}

enum ModelPullAcceptedDoc: Documented {
    static let schemaName = "ModelPullAccepted"
    static var schema: JSONSchema {
        .object(properties: ["provider": .string, "model": .string, "job": .reference(.component(named: JobDoc.schemaName))])
    }
    static var related: [SchemaDoc] { [JobDoc.doc] }
}

enum ModelActionDoc: Documented {
    static let schemaName = "ModelAction"
    static let schema = JSONSchema.object(properties: [
        "provider": .string, "model": .string, "action": .string(allowedValues: ["deleted", "loaded", "unloaded"]), "message": .string,
    ])
}
