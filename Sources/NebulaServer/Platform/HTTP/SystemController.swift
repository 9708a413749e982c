import Fluent
import NebulaCore
import SQLKit
import Vapor

/// `/healthz`, `/readyz`, `/metrics` and `/api/v1/openapi.json`.
struct SystemController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "healthz", role: nil, summary: "The process is up", tag: "System", produces: "text/plain", use: healthz)
        routes.endpoint(.GET, "readyz", role: nil, summary: "The database answers and migrations are applied", tag: "System", produces: "application/json", use: readyz)
        routes.endpoint(.GET, "metrics", role: nil, summary: "Prometheus metrics", tag: "System", produces: "text/plain", use: metrics)
        routes.grouped("api", "v1").endpoint(.GET, "openapi.json", role: nil, summary: "This API's OpenAPI 3 document", tag: "System", use: openAPI)
    }

    @Sendable func healthz(req: Request) async throws -> String { "ok" }

    struct Readiness: Content {
        var status: String
        var database: String
        var migrations: String
    }

    @Sendable func readyz(req: Request) async throws -> Response {
        var readiness = Readiness(status: "ready", database: "ok", migrations: "applied")
        do {
            if let sql = req.db as? any SQLDatabase {
                try await sql.raw("SELECT 1").run()
            }
            let applied = try await req.db.query(MigrationLog.self).count()
            if applied < Migrations.ordered.count {
                readiness.status = "not_ready"
                readiness.migrations = "\(applied) of \(Migrations.ordered.count) applied"
            }
        } catch {
            req.logger.warning("readiness check failed: \(String(reflecting: error))")
            readiness = Readiness(status: "not_ready", database: "unreachable", migrations: "unknown")
        }
        return try await readiness.encodeResponse(status: readiness.status == "ready" ? .ok : .serviceUnavailable, for: req)
    }

    @Sendable func metrics(req: Request) async throws -> Response {
        let services = try req.nebula
        let text = services.metrics.render(jobCounts: (try? await services.jobs.counts()) ?? [:])
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "plain", parameters: ["version": "0.0.4", "charset": "utf-8"])
        return Response(status: .ok, headers: headers, body: .init(string: text))
    }

    @Sendable func openAPI(req: Request) async throws -> Response {
        let data = try OpenAPIDocument.json(for: req.application.routes.all)
        var headers = HTTPHeaders()
        headers.contentType = .json
        return Response(status: .ok, headers: headers, body: .init(data: data))
    }
}
