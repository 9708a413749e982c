import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/deploys`: git deploy projects, their releases, deploys, rollbacks and the push webhook.
struct DeploysController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let deploys: [PathComponent] = ["deploys"]
        let project = deploys + [":id"]
        routes.endpoint(.GET, deploys, role: .viewer, summary: "Deploy projects with their live and latest release", tag: "Deploys",
                        response: DeployProjectListDoc.doc, use: list)
        routes.endpoint(.POST, deploys, role: .operator, audit: "deploy.project.create",
                        summary: "Create a project from a git repository with a Dockerfile; answers its webhook secret once", tag: "Deploys",
                        request: DeployCreateDoc.doc, response: DeployCreatedDoc.doc, status: .created, use: create)
        routes.endpoint(.GET, project, role: .viewer, summary: "One deploy project", tag: "Deploys", response: DeployProjectDoc.doc, use: show)
        routes.endpoint(.DELETE, project, role: .operator, audit: "deploy.project.delete",
                        summary: "Remove the project: its containers, checkout, release images, variables and releases", tag: "Deploys",
                        status: .noContent, use: delete)
        routes.endpoint(.PUT, project + ["env"], role: .operator, audit: "deploy.env.set",
                        summary: "Set environment variables (stored in the vault; an empty value removes one); they apply from the next deploy",
                        tag: "Deploys", request: DeployEnvDoc.doc, response: DeployProjectDoc.doc, use: setEnvironment)
        routes.endpoint(.POST, project + ["deploy"], role: .operator, audit: "deploy.start",
                        summary: "Build the branch's head as a new release and make it live once healthy", tag: "Deploys",
                        response: DeployAcceptedDoc.doc, status: .accepted, use: deploy)
        routes.endpoint(.GET, project + ["releases"], role: .viewer, summary: "Every release, newest first", tag: "Deploys",
                        response: DeployReleaseListDoc.doc, use: releases)
        routes.endpoint(.POST, project + ["releases", ":number", "rollback"], role: .operator, audit: "deploy.rollback",
                        summary: "Make an earlier release live again (its kept image, health-gated)", tag: "Deploys",
                        response: DeployAcceptedDoc.doc, status: .accepted, use: rollback)
        routes.endpoint(.POST, project + ["webhook-secret"], role: .operator, audit: "deploy.webhook.rotate",
                        summary: "Replace the webhook secret; the new one is answered once", tag: "Deploys",
                        response: DeployWebhookSecretDoc.doc, use: rotate)
        routes.endpoint(.POST, project + ["webhook"], role: nil, audit: "deploy.webhook",
                        summary: "GitHub push webhook: X-Hub-Signature-256 must be the HMAC-SHA256 of the body with the project's webhook secret",
                        tag: "Deploys", request: DeployPushDoc.doc, response: DeployWebhookOutcomeDoc.doc, status: .accepted, csrf: false, use: webhook)
    }

    @Sendable func list(req: Request) async throws -> ListPage<DeployProjectDTO> {
        let items = try await req.nebula.deploys.list(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func create(req: Request) async throws -> Response {
        let input = try req.decodeJSON(DeploysService.CreateRequest.self, allowedKeys: [
            "name", "server", "repoUrl", "branch", "tokenSecret", "dockerfile", "containerPort", "hostPort", "healthPath", "healthTimeoutSeconds", "variables",
        ])
        let created = try await req.nebula.deploys.create(input, baseURL: try req.publicBaseURL, by: try req.actor)
        return try await created.encodeResponse(status: .created, for: req)
    }

    @Sendable func show(req: Request) async throws -> DeployProjectDTO {
        try await req.nebula.deploys.find(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.deploys.delete(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    struct Environment: Codable, Sendable {
        var variables: [String: String]
    }

    @Sendable func setEnvironment(req: Request) async throws -> DeployProjectDTO {
        let input = try req.decodeJSON(Environment.self, allowedKeys: ["variables"])
        return try await req.nebula.deploys.setEnvironment(try req.uuidParameter(), variables: input.variables, by: try req.actor)
    }

    @Sendable func deploy(req: Request) async throws -> Response {
        let accepted = try await req.nebula.deploys.deploy(try req.uuidParameter(), by: try req.actor)
        return try await accepted.encodeResponse(status: .accepted, for: req)
    }

    @Sendable func releases(req: Request) async throws -> ListPage<DeployReleaseDTO> {
        let items = try await req.nebula.deploys.releases(of: try req.uuidParameter(), by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func rollback(req: Request) async throws -> Response {
        guard let number = req.parameters.get("number").flatMap(Int.init), number > 0 else {
            throw NebulaError.invalid("The release number must be a positive integer.", code: "invalid_release")
        }
        let accepted = try await req.nebula.deploys.rollback(try req.uuidParameter(), to: number, by: try req.actor)
        return try await accepted.encodeResponse(status: .accepted, for: req)
    }

    @Sendable func rotate(req: Request) async throws -> DeploysService.WebhookSecret {
        try await req.nebula.deploys.rotateWebhookSecret(try req.uuidParameter(), baseURL: try req.publicBaseURL, by: try req.actor)
    }

    @Sendable func webhook(req: Request) async throws -> Response {
        let body = req.body.data.map { Data($0.readableBytesView) } ?? Data()
        let outcome = try await req.nebula.deploys.webhook(try req.uuidParameter(), body: body, signature: req.headers.first(name: "X-Hub-Signature-256"),
                                                            event: req.headers.first(name: "X-GitHub-Event"), ip: req.clientIP)
        return try await outcome.encodeResponse(status: .accepted, for: req)
    }
}

// MARK: - OpenAPI

enum DeployReleaseDoc: Documented {
    static let schemaName = "DeployRelease"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "projectId": .string(format: .other("uuid")), "number": .integer,
        "commitSha": .string(required: false, nullable: true), "commitSubject": .string(required: false, nullable: true),
        "imageTag": .string, "imageId": .string(required: false, nullable: true),
        "status": .string(allowedValues: DeployReleaseStatus.allCases.map { AnyCodable($0.rawValue) }),
        "jobId": .string(required: false, nullable: true, description: "The build job; its log is the release's log"),
        "error": .string(required: false, nullable: true), "createdBy": .string,
        "createdAt": .string(format: .dateTime, required: false, nullable: true), "finishedAt": .string(format: .dateTime, required: false, nullable: true),
    ])
}

enum DeployProjectDoc: Documented {
    static let schemaName = "DeployProject"
    static var schema: JSONSchema {
        .object(properties: [
            "id": .string(format: .other("uuid")), "name": .string, "serverId": .string(format: .other("uuid")),
            "serverName": .string(required: false, nullable: true), "repoUrl": .string, "branch": .string,
            "tokenSecret": .string(required: false, nullable: true, description: "The vault secret's name, never its value"),
            "dockerfile": .string, "containerPort": .integer, "hostPort": .integer, "healthPath": .string(required: false, nullable: true),
            "healthTimeoutSeconds": .integer, "variables": .array(items: .string), "currentRelease": .integer(required: false, nullable: true),
            "liveRelease": .reference(.component(named: DeployReleaseDoc.schemaName), required: false),
            "latestRelease": .reference(.component(named: DeployReleaseDoc.schemaName), required: false),
            "url": .string, "webhookPath": .string, "createdBy": .string,
            "createdAt": .string(format: .dateTime, required: false, nullable: true), "updatedAt": .string(format: .dateTime, required: false, nullable: true),
        ])
    }
    static var related: [SchemaDoc] { [DeployReleaseDoc.doc] }
}

enum DeployProjectListDoc: Documented {
    static let schemaName = "DeployProjectList"
    static var schema: JSONSchema {
        .object(properties: ["items": .array(items: .reference(.component(named: DeployProjectDoc.schemaName))), "total": .integer])
    }
    static var related: [SchemaDoc] { [DeployProjectDoc.doc] }
}

enum DeployReleaseListDoc: Documented {
    static let schemaName = "DeployReleaseList"
    static var schema: JSONSchema {
        .object(properties: ["items": .array(items: .reference(.component(named: DeployReleaseDoc.schemaName))), "total": .integer])
    }
    static var related: [SchemaDoc] { [DeployReleaseDoc.doc] }
}

enum DeployCreateDoc: Documented {
    static let schemaName = "DeployCreateRequest"
    static let schema = JSONSchema.object(properties: [
        "name": .string(description: "1–40 lower-case letters, digits or '-'"),
        "server": .string(format: .other("uuid"), required: false, description: "The control plane's own machine when absent"),
        "repoUrl": .string(description: "https, ssh, git or file URL, or user@host:path; never with credentials"),
        "branch": .string(required: false, description: "main when absent"),
        "tokenSecret": .string(required: false, description: "A vault secret holding an HTTPS access token"),
        "dockerfile": .string(required: false, description: "Relative to the repository; Dockerfile when absent"),
        "containerPort": .integer(description: "The port the app listens on inside its container"),
        "hostPort": .integer(description: "The node's port it is published on"),
        "healthPath": .string(required: false, description: "An HTTP path to check; without it the port must accept TCP connections"),
        "healthTimeoutSeconds": .integer(required: false, description: "5–900, 60 when absent"),
        "variables": .object(required: false, additionalProperties: .init(.string)),
    ])
    static let example: String? =
        #"{"name":"example-site","server":"00000000-0000-0000-0000-000000000000","repoUrl":"https://github.com/example/site.git","branch":"main","containerPort":8080,"hostPort":18473,"healthPath":"/"}"#
}

enum DeployCreatedDoc: Documented {
    static let schemaName = "DeployCreated"
    static var schema: JSONSchema {
        .object(properties: ["project": .reference(.component(named: DeployProjectDoc.schemaName)),
                             "webhookSecret": .string(description: "Shown this once"), "webhookUrl": .string])
    }
    static var related: [SchemaDoc] { [DeployProjectDoc.doc] }
}

enum DeployEnvDoc: Documented {
    static let schemaName = "DeployEnvironment"
    static let schema = JSONSchema.object(properties: [
        "variables": .object(description: "NAME → value; an empty value removes the variable", additionalProperties: .init(.string)),
    ])
    static let example: String? = #"{"variables":{"GREETING":"hello"}}"#
}

enum DeployAcceptedDoc: Documented {
    static let schemaName = "DeployAccepted"
    static var schema: JSONSchema {
        .object(properties: ["release": .reference(.component(named: DeployReleaseDoc.schemaName)), "job": .object(additionalProperties: .init(true))])
    }
    static var related: [SchemaDoc] { [DeployReleaseDoc.doc] }
}

enum DeployWebhookSecretDoc: Documented {
    static let schemaName = "DeployWebhookSecret"
    static let schema = JSONSchema.object(properties: ["webhookSecret": .string(description: "Shown this once"), "webhookUrl": .string])
}

enum DeployPushDoc: Documented {
    static let schemaName = "GitHubPush"
    static let schema = JSONSchema.object(properties: [
        "ref": .string(required: false, description: "refs/heads/<branch>; other members of GitHub's payload are ignored"),
    ], additionalProperties: .init(true))
    static let example: String? = #"{"ref":"refs/heads/main"}"#
}

enum DeployWebhookOutcomeDoc: Documented {
    static let schemaName = "DeployWebhookOutcome"
    static let schema = JSONSchema.object(properties: [
        "status": .string(allowedValues: ["queued", "ignored"]), "reason": .string(required: false, nullable: true),
        "release": .integer(required: false, nullable: true), "job": .string(required: false, nullable: true),
    ])
}
