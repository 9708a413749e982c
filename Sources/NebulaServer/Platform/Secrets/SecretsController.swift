import NebulaCore
import Vapor

/// `/api/v1/secrets`: names and metadata; values go in, and come out only through `reveal`.
struct SecretsController: RouteCollection {
    struct StoreSecretRequest: Codable, Sendable { var name: String; var value: String; var description: String? }
    struct ReplaceSecretRequest: Codable, Sendable { var value: String; var description: String? }

    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "secrets", role: .viewer, summary: "List secrets (names and metadata, never values)", tag: "Secrets",
                        response: SecretPageDoc.doc, use: list)
        routes.endpoint(.POST, "secrets", role: .operator, audit: "secret.create", summary: "Store a new secret", tag: "Secrets",
                        request: StoreSecretDoc.doc, response: SecretDoc.doc, status: .created, use: create)
        routes.endpoint(.PUT, "secrets", ":name", role: .operator, audit: "secret.update", summary: "Create or replace a secret's value", tag: "Secrets",
                        request: ReplaceSecretDoc.doc, response: SecretDoc.doc, use: replace)
        routes.endpoint(.DELETE, "secrets", ":name", role: .operator, audit: "secret.delete", summary: "Delete a secret", tag: "Secrets",
                        status: .noContent, use: delete)
        routes.endpoint(.POST, "secrets", ":name", "reveal", role: .admin, audit: "secret.reveal", summary: "Reveal a secret's value (admins; audited)", tag: "Secrets",
                        response: RevealedDoc.doc, use: reveal)
    }

    @Sendable func list(req: Request) async throws -> ListPage<SecretSummary> {
        try await req.nebula.secrets.list(by: try req.actor)
    }

    @Sendable func create(req: Request) async throws -> Response {
        let input = try req.decodeJSON(StoreSecretRequest.self, allowedKeys: ["name", "value", "description"])
        let (summary, _) = try await req.nebula.secrets.store(name: input.name, value: input.value, description: input.description, replace: false, by: try req.actor)
        return try await summary.encodeResponse(status: .created, for: req)
    }

    @Sendable func replace(req: Request) async throws -> Response {
        let input = try req.decodeJSON(ReplaceSecretRequest.self, allowedKeys: ["value", "description"])
        let (summary, created) = try await req.nebula.secrets.store(name: try name(req), value: input.value, description: input.description, replace: true, by: try req.actor)
        return try await summary.encodeResponse(status: created ? .created : .ok, for: req)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.secrets.delete(name: try name(req), by: try req.actor)
        return .noContent
    }

    @Sendable func reveal(req: Request) async throws -> Response {
        let value = try await req.nebula.secrets.reveal(name: try name(req), by: try req.actor)
        let response = try await RevealedSecret(name: try name(req), value: value).encodeResponse(for: req)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    private func name(_ req: Request) throws -> String {
        let name = req.parameters.get("name") ?? ""
        try SecretsService.validate(name: name)
        return name
    }
}

struct RevealedSecret: Content {
    var name: String
    var value: String
}

extension SecretSummary: Content {}
