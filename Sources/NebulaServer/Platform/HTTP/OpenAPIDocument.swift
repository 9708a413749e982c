import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// Builds the OpenAPI 3 document from the registered routes' ``Endpoint`` descriptions, so the
/// document cannot drift from the routes: a route without a description is reported by
/// ``undocumentedRoutes(in:)`` and fails the coverage test.
enum OpenAPIDocument {
    static func isAPI(_ route: Route) -> Bool {
        route.path.first?.description == "api" && route.path.dropFirst().first?.description == "v1"
    }

    static func undocumentedRoutes(in routes: [Route]) -> [String] {
        routes.filter { isAPI($0) && $0.endpoint == nil }.map { "\($0.method.rawValue) /\($0.path.map(\.description).joined(separator: "/"))" }
    }

    static func json(for routes: [Route]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(document(for: routes))
    }

    static func document(for routes: [Route]) -> OpenAPI.Document {
        var paths: OpenAPI.PathItem.Map = [:]
        var schemas: OpenAPI.ComponentDictionary<JSONSchema> = [
            "Error": APIErrorDoc.schema,
        ]
        for route in routes where isAPI(route) {
            guard let endpoint = route.endpoint else { continue }
            let template = "/" + route.path.map { component -> String in
                if case .parameter(let name) = component { return "{\(name)}" }
                return component.description
            }.joined(separator: "/")
            let path = OpenAPI.Path(rawValue: template)
            var item = paths[path].flatMap { $0.b } ?? OpenAPI.PathItem()
            for doc in [endpoint.request, endpoint.response].compactMap({ $0 }) {
                for named in [doc] + doc.related {
                    schemas[OpenAPI.ComponentKey(stringLiteral: named.name)] = named.schema
                }
            }
            let operation = operation(for: route, endpoint)
            switch route.method {
            case .GET: item.get = operation
            case .POST: item.post = operation
            case .PUT: item.put = operation
            case .PATCH: item.patch = operation
            case .DELETE: item.delete = operation
            default: continue
            }
            paths[path] = .init(item)
        }
        return OpenAPI.Document(
            openAPIVersion: .v3_0_3,
            info: .init(title: "Nebula Command API", description: "Control plane API. Authenticate with `Authorization: Bearer <token>` (create one with `nebula token create` or on the Users page). Every error is `{ \"error\": { \"code\", \"message\" } }`.", version: NebulaVersion.current),
            servers: [],
            paths: paths,
            components: .init(schemas: schemas, securitySchemes: ["bearer": .init(type: .http(scheme: "bearer", bearerFormat: "nbl token"), description: "API token")]),
            security: [[.component(named: "bearer"): []]]
        )
    }

    private static func operation(for route: Route, _ endpoint: Endpoint) -> OpenAPI.Operation {
        var parameters: OpenAPI.Parameter.Array = route.path.compactMap { component in
            guard case .parameter(let name) = component else { return nil }
            return .init(OpenAPI.Parameter(name: name, context: .path, schema: .string, description: name == "id" ? "A UUID" : nil))
        }
        parameters += endpoint.query.map { query in
            .init(OpenAPI.Parameter(name: query.name, context: .query(required: false), schema: query.schema, description: query.description))
        }
        var responses: OpenAPI.Response.Map = [:]
        let success: OpenAPI.Response
        if let response = endpoint.response {
            success = OpenAPI.Response(description: "Success", content: [.json: .init(schemaReference: .component(named: response.name))])
        } else if endpoint.produces != "application/json" {
            let type = OpenAPI.ContentType(rawValue: endpoint.produces) ?? .txt
            success = OpenAPI.Response(description: "Success", content: [type: .init(schema: .string)])
        } else if endpoint.successStatus == .noContent {
            success = OpenAPI.Response(description: "Done; no body")
        } else {
            success = OpenAPI.Response(description: "Success", content: [.json: .init(schema: .object)])
        }
        responses[.status(code: Int(endpoint.successStatus.code))] = .init(success)
        let error = OpenAPI.Response(description: "Error", content: [.json: .init(schemaReference: .component(named: "Error"))])
        var errorCodes = [400]
        if endpoint.role != nil { errorCodes += [401, 403] }
        if route.path.contains(where: { if case .parameter = $0 { true } else { false } }) { errorCodes.append(404) }
        if endpoint.request != nil { errorCodes += [413, 422] }
        for code in errorCodes { responses[.status(code: code)] = .init(error) }
        let body: OpenAPI.Request? = endpoint.request.map { request in
            OpenAPI.Request(content: [.json: .init(schemaReference: .component(named: request.name))], required: true)
        }
        let permission = endpoint.role.map { "Needs the \($0.rawValue) role." } ?? "Public."
        let audited = endpoint.audit.map { " Audited as `\($0)`." } ?? ""
        return OpenAPI.Operation(
            tags: [endpoint.tag],
            summary: endpoint.summary,
            description: permission + audited,
            operationId: route.method.rawValue.lowercased() + route.path.map { component -> String in
                if case .parameter(let name) = component { return "By" + name.capitalized }
                return component.description.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.capitalized }.joined()
            }.joined(),
            parameters: parameters,
            requestBody: body,
            responses: responses,
            security: endpoint.role == nil ? [] : nil
        )
    }
}

/// The product's version, shown by `nebula --version` and in the OpenAPI document.
public enum NebulaVersion {
    public static let current = "0.1.0"
}
