import NebulaCore
import OpenAPIKit30
import Vapor

/// What a route is: who may call it, which audit action it records, and (for `/api/v1`) how the
/// OpenAPI document describes it. Attached to every route when it is registered, so that
/// authorization, the audit check and the OpenAPI document all read one source.
struct Endpoint: Sendable {
    /// The lowest role allowed; `nil` means anyone, signed in or not.
    var role: Role?
    /// The audit action a mutation records (`secret.create`); denials record `<action>.denied`.
    var audit: String?
    var summary: String
    var tag: String
    var request: SchemaDoc?
    var response: SchemaDoc?
    var successStatus: HTTPResponseStatus = .ok
    var query: [QueryDoc] = []
    /// Non-JSON success bodies (`text/event-stream`, Prometheus text).
    var produces: String = "application/json"
    /// Whether unsafe requests made with a session cookie must carry the CSRF token.
    var csrf = true
    /// The route checks its own bearer credential (a node's, not a user's API token).
    var ownBearer = false

    static let userInfoKey = "nebula.endpoint"
}

/// A named JSON schema for a request or response body, with an example the tests send.
struct SchemaDoc: Sendable {
    var name: String
    var schema: JSONSchema
    var example: String?
    /// Schemas this one refers to (a list's item), registered alongside it.
    var related: [SchemaDoc] = []
}

struct QueryDoc: Sendable {
    var name: String
    var description: String
    var schema: JSONSchema = .string
}

/// A body type that can describe itself in the OpenAPI document.
protocol Documented {
    static var schemaName: String { get }
    static var schema: JSONSchema { get }
    /// A valid JSON example; tests send it to the route.
    static var example: String? { get }
    /// Schemas this one refers to by name.
    static var related: [SchemaDoc] { get }
}

extension Documented {
    static var schemaName: String { String(describing: Self.self) }
    static var example: String? { nil }
    static var related: [SchemaDoc] { [] }
    static var doc: SchemaDoc { SchemaDoc(name: schemaName, schema: schema, example: example, related: related) }
}

extension Route {
    var endpoint: Endpoint? { userInfo[AnySendableHashable(Endpoint.userInfoKey)] as? Endpoint }
}

extension Request {
    var endpoint: Endpoint? { route?.endpoint }
}

extension RoutesBuilder {
    /// Registers an async route with its `Endpoint` description.
    @discardableResult
    func endpoint(
        _ method: HTTPMethod,
        _ path: PathComponent...,
        role: Role?,
        audit: String? = nil,
        summary: String,
        tag: String,
        request: SchemaDoc? = nil,
        response: SchemaDoc? = nil,
        status: HTTPResponseStatus = .ok,
        query: [QueryDoc] = [],
        produces: String = "application/json",
        csrf: Bool = true,
        ownBearer: Bool = false,
        body: HTTPBodyStreamStrategy = .collect,
        use closure: @Sendable @escaping (Request) async throws -> some AsyncResponseEncodable
    ) -> Route {
        endpoint(method, path, role: role, audit: audit, summary: summary, tag: tag, request: request, response: response, status: status,
                 query: query, produces: produces, csrf: csrf, ownBearer: ownBearer, body: body, use: closure)
    }

    /// Registers an async route whose path is built as an array (shared prefixes).
    @discardableResult
    func endpoint(
        _ method: HTTPMethod,
        _ path: [PathComponent],
        role: Role?,
        audit: String? = nil,
        summary: String,
        tag: String,
        request: SchemaDoc? = nil,
        response: SchemaDoc? = nil,
        status: HTTPResponseStatus = .ok,
        query: [QueryDoc] = [],
        produces: String = "application/json",
        csrf: Bool = true,
        ownBearer: Bool = false,
        body: HTTPBodyStreamStrategy = .collect,
        use closure: @Sendable @escaping (Request) async throws -> some AsyncResponseEncodable
    ) -> Route {
        let route = on(method, path, body: body, use: closure)
        route.userInfo[AnySendableHashable(Endpoint.userInfoKey)] = Endpoint(
            role: role, audit: audit, summary: summary, tag: tag, request: request, response: response,
            successStatus: status, query: query, produces: produces, csrf: csrf, ownBearer: ownBearer
        )
        return route
    }
}
