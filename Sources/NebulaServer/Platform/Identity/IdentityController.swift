import NebulaCore
import Vapor

/// `/api/v1/users`, `/api/v1/tokens`, `/api/v1/me`.
struct IdentityController: RouteCollection {
    struct CreateUserRequest: Codable, Sendable { var username: String; var password: String; var role: Role }
    struct UpdateUserRequest: Codable, Sendable { var role: Role?; var disabled: Bool? }
    struct PasswordRequest: Codable, Sendable { var password: String }
    struct CreateTokenRequest: Codable, Sendable { var name: String; var role: Role?; var expiresAt: Date?; var username: String? }

    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "me", role: .viewer, summary: "Who am I", tag: "Identity", response: MeDoc.doc, use: me)
        routes.endpoint(.GET, "users", role: .viewer, summary: "List users", tag: "Identity", response: UserPageDoc.doc, use: listUsers)
        routes.endpoint(.POST, "users", role: .admin, audit: "user.create", summary: "Create a user", tag: "Identity",
                        request: CreateUserDoc.doc, response: UserDoc.doc, status: .created, use: createUser)
        routes.endpoint(.PATCH, "users", ":id", role: .admin, audit: "user.update", summary: "Change a user's role or disable them", tag: "Identity",
                        request: UpdateUserDoc.doc, response: UserDoc.doc, use: updateUser)
        routes.endpoint(.POST, "users", ":id", "password", role: .admin, audit: "user.reset_password", summary: "Set a new password (signs the user out)", tag: "Identity",
                        request: PasswordDoc.doc, status: .noContent, use: resetPassword)
        routes.endpoint(.DELETE, "users", ":id", role: .admin, audit: "user.delete", summary: "Delete a user", tag: "Identity", status: .noContent, use: deleteUser)
        routes.endpoint(.GET, "tokens", role: .viewer, summary: "List API tokens (your own; admins see all)", tag: "Identity", response: TokenPageDoc.doc, use: listTokens)
        routes.endpoint(.POST, "tokens", role: .viewer, audit: "token.create", summary: "Create an API token; the token is shown only in this response", tag: "Identity",
                        request: CreateTokenDoc.doc, response: CreatedTokenDoc.doc, status: .created, use: createToken)
        routes.endpoint(.DELETE, "tokens", ":id", role: .viewer, audit: "token.revoke", summary: "Revoke an API token at once", tag: "Identity",
                        response: TokenDoc.doc, use: revokeToken)
    }

    @Sendable func me(req: Request) async throws -> MeResponse {
        let actor = try req.actor
        return MeResponse(username: actor.username, role: actor.role, via: actor.credential == .session ? "session" : "token")
    }

    @Sendable func listUsers(req: Request) async throws -> ListPage<UserDTO> {
        try await req.nebula.identity.listUsers(by: try req.actor)
    }

    @Sendable func createUser(req: Request) async throws -> Response {
        let input = try req.decodeJSON(CreateUserRequest.self, allowedKeys: ["username", "password", "role"])
        let user = try await req.nebula.identity.createUser(username: input.username, password: input.password, role: input.role, by: try req.actor)
        return try await user.encodeResponse(status: .created, for: req)
    }

    @Sendable func updateUser(req: Request) async throws -> UserDTO {
        let input = try req.decodeJSON(UpdateUserRequest.self, allowedKeys: ["role", "disabled"])
        return try await req.nebula.identity.updateUser(try req.uuidParameter(), role: input.role, disabled: input.disabled, by: try req.actor)
    }

    @Sendable func resetPassword(req: Request) async throws -> HTTPStatus {
        let input = try req.decodeJSON(PasswordRequest.self, allowedKeys: ["password"])
        let services = try req.nebula
        let id = try req.uuidParameter()
        guard let user = try await User.find(id, on: services.identity.db) else { throw NebulaError.notFound("User \(id)") }
        try await services.identity.resetPassword(username: user.username, newPassword: input.password, by: try req.actor)
        return .noContent
    }

    @Sendable func deleteUser(req: Request) async throws -> HTTPStatus {
        try await req.nebula.identity.deleteUser(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func listTokens(req: Request) async throws -> ListPage<TokenDTO> {
        try await req.nebula.identity.listTokens(by: try req.actor)
    }

    @Sendable func createToken(req: Request) async throws -> Response {
        let input = try req.decodeJSON(CreateTokenRequest.self, allowedKeys: ["name", "role", "expiresAt", "username"])
        let created = try await req.nebula.identity.createToken(name: input.name, role: input.role, expiresAt: input.expiresAt, for: input.username, by: try req.actor)
        let response = try await created.encodeResponse(status: .created, for: req)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    @Sendable func revokeToken(req: Request) async throws -> TokenDTO {
        try await req.nebula.identity.revokeToken(try req.uuidParameter(), by: try req.actor)
    }
}

struct MeResponse: Content {
    var username: String
    var role: Role
    var via: String
}

extension UserDTO: Content {}
extension TokenDTO: Content {}
extension CreatedToken: Content {}
extension ListPage: Content {}
extension EventEnvelope: Content {}
