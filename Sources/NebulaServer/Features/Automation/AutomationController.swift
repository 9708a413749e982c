import Foundation
import NebulaCore
import OpenAPIKit30
import Vapor

/// `/api/v1/runbooks`, `/api/v1/workflows`, `/api/v1/runs` and `/api/v1/automation/paused`.
/// An invalid runbook is answered 422 `invalid_runbook` with every problem and its place.
struct AutomationController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        for kind in RunbookDocument.Kind.allCases {
            let noun = kind == .workflow ? "workflow" : "runbook"
            let base: [PathComponent] = [.constant(noun + "s")]
            let one = base + [":id"]
            let tag = "Automation"
            routes.endpoint(.GET, base, role: .viewer, summary: "Every \(noun) with its last run", tag: tag, response: RunbookListDoc.doc,
                            use: { try await list(req: $0, kind: kind) })
            routes.endpoint(.POST, base, role: .operator, audit: "\(noun).create",
                            summary: "Import a \(noun) from YAML; 422 invalid_runbook lists every problem with its path, line and column", tag: tag,
                            request: kind == .workflow ? WorkflowCreateDoc.doc : RunbookCreateDoc.doc, response: RunbookDoc.doc, status: .created,
                            use: { try await create(req: $0, kind: kind) })
            routes.endpoint(.GET, one, role: .viewer, summary: "One \(noun) with its YAML", tag: tag, response: RunbookDetailDoc.doc, use: show)
            routes.endpoint(.PUT, one, role: .operator, audit: "\(noun).update",
                            summary: "Replace the YAML (a new version; running runs keep theirs) and/or enable or disable it", tag: tag,
                            request: RunbookUpdateDoc.doc, response: RunbookDoc.doc, use: update)
            routes.endpoint(.DELETE, one, role: .operator, audit: "\(noun).delete", summary: "Delete it with its runs and schedule", tag: tag,
                            status: .noContent, use: delete)
            routes.endpoint(.POST, one + ["runs"], role: .operator, audit: "\(noun).run",
                            summary: "Start a run (or a dry run: every step rendered, nothing changed); 409 automation_paused while paused", tag: tag,
                            request: RunStartDoc.doc, response: RunSummaryDoc.doc, status: .accepted, use: start)
        }
        routes.endpoint(.GET, "runbooks", "library", role: .viewer, summary: "The runbooks shipped with Nebula Command", tag: "Automation",
                        response: LibraryListDoc.doc, use: library)
        routes.endpoint(.POST, "runbooks", "library", ":name", "install", role: .operator, audit: "runbook.create",
                        summary: "Install a shipped runbook", tag: "Automation", response: RunbookDoc.doc, status: .created, use: install)
        routes.endpoint(.GET, "runs", role: .viewer, summary: "Runs, newest first", tag: "Automation", response: RunListDoc.doc,
                        query: [QueryDoc(name: "runbook", description: "Only this runbook's or workflow's runs", schema: .string(format: .other("uuid"))),
                                QueryDoc(name: "status", description: "Only runs with this status"),
                                QueryDoc(name: "limit", description: "At most this many (1–500, default 50)", schema: .integer)], use: runs)
        routes.endpoint(.GET, "runs", ":id", role: .viewer, summary: "A run with its steps' journal and log", tag: "Automation", response: RunDetailDoc.doc, use: run)
        routes.endpoint(.GET, "runs", ":id", "log", role: .viewer, summary: "A run's log lines after `after`", tag: "Automation", response: RunLogDoc.doc,
                        query: [QueryDoc(name: "after", description: "Only lines with a larger id", schema: .integer)], use: log)
        routes.endpoint(.POST, "runs", ":id", "approve", role: .operator, audit: "runbook.run.approve",
                        summary: "Approve the step the run waits at (the step's approvers role is needed)", tag: "Automation", response: RunSummaryDoc.doc, use: approve)
        routes.endpoint(.POST, "runs", ":id", "reject", role: .operator, audit: "runbook.run.reject",
                        summary: "Reject it: the approval step fails", tag: "Automation", response: RunSummaryDoc.doc, use: reject)
        routes.endpoint(.POST, "runs", ":id", "cancel", role: .operator, audit: "runbook.run.cancel",
                        summary: "Cancel a run (a running one stops at its current step)", tag: "Automation", response: RunSummaryDoc.doc, use: cancel)
        routes.endpoint(.GET, "automation", "paused", role: .viewer, summary: "Whether automation is paused", tag: "Automation",
                        response: PausedDoc.doc, use: paused)
        routes.endpoint(.PUT, "automation", "paused", role: .operator, audit: "automation.pause",
                        summary: "Pause or resume all automation: paused, triggered runs are skipped, manual runs refused, running runs stop before their next step",
                        tag: "Automation", request: PausedDoc.doc, response: PausedDoc.doc, use: setPaused)
    }

    struct CreateBody: Codable, Sendable { var yaml: String }
    struct UpdateBody: Codable, Sendable { var yaml: String?; var enabled: Bool? }
    struct StartBody: Codable, Sendable { var dryRun: Bool?; var inputs: [String: TemplateValue]? }

    /// Answers an invalid runbook with its located problems.
    static func answering(_ req: Request, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let problems as RunbookProblems {
            return try problems.response(for: req)
        }
    }

    @Sendable func list(req: Request, kind: RunbookDocument.Kind) async throws -> ListPage<RunbookDTO> {
        let items = try await req.nebula.automation.list(kind: kind, by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func create(req: Request, kind: RunbookDocument.Kind) async throws -> Response {
        let input = try req.decodeJSON(CreateBody.self, allowedKeys: ["yaml"])
        return try await Self.answering(req) {
            let created = try await req.nebula.automation.create(yaml: input.yaml, expecting: kind, by: try req.actor)
            return try await created.encodeResponse(status: .created, for: req)
        }
    }

    @Sendable func show(req: Request) async throws -> RunbookDetailDTO {
        try await req.nebula.automation.find(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func update(req: Request) async throws -> Response {
        let input = try req.decodeJSON(UpdateBody.self, allowedKeys: ["yaml", "enabled"])
        guard input.yaml != nil || input.enabled != nil else { throw NebulaError.invalid("Give yaml, enabled or both.", code: "nothing_to_change") }
        return try await Self.answering(req) {
            try await req.nebula.automation.update(try req.uuidParameter(), yaml: input.yaml, enabled: input.enabled, by: try req.actor).encodeResponse(for: req)
        }
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        try await req.nebula.automation.delete(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }

    @Sendable func start(req: Request) async throws -> Response {
        let input = req.body.data == nil ? StartBody() : try req.decodeJSON(StartBody.self, allowedKeys: ["dryRun", "inputs"])
        let run = try await req.nebula.automation.start(try req.uuidParameter(), dryRun: input.dryRun ?? false, inputs: input.inputs ?? [:], by: try req.actor)
        return try await run.encodeResponse(status: .accepted, for: req)
    }

    @Sendable func library(req: Request) async throws -> ListPage<LibraryRunbookDTO> {
        let items = try await req.nebula.automation.libraryEntries(by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func install(req: Request) async throws -> Response {
        let name = req.parameters.get("name") ?? ""
        return try await Self.answering(req) {
            try await req.nebula.automation.install(library: name, by: try req.actor).encodeResponse(status: .created, for: req)
        }
    }

    @Sendable func runs(req: Request) async throws -> ListPage<RunSummaryDTO> {
        let runbook = try req.query.get(String?.self, at: "runbook").map { raw -> UUID in
            guard let id = UUID(uuidString: raw) else { throw NebulaError.invalid("runbook must be a runbook's id.", code: "invalid_id") }
            return id
        }
        let status = try req.query.get(String?.self, at: "status").map { raw -> RunStatus in
            guard let status = RunStatus(rawValue: raw) else {
                throw NebulaError.invalid("status is one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_status")
            }
            return status
        }
        let limit = (try? req.query.get(Int?.self, at: "limit")) ?? nil
        let items = try await req.nebula.automation.runs(runbook: runbook, status: status, limit: limit ?? 50, by: try req.actor)
        return ListPage(items: items, total: items.count)
    }

    @Sendable func run(req: Request) async throws -> RunDetailDTO {
        try await req.nebula.automation.run(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func log(req: Request) async throws -> ListPage<RunLogLineDTO> {
        let id = try req.uuidParameter()
        _ = try await req.nebula.automation.run(id, by: try req.actor)
        let after = (try? req.query.get(Int?.self, at: "after")) ?? nil
        let lines = try await req.nebula.automation.logLines(id, after: after ?? 0)
        return ListPage(items: lines, total: lines.count)
    }

    @Sendable func approve(req: Request) async throws -> RunSummaryDTO {
        try await req.nebula.automation.approve(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func reject(req: Request) async throws -> RunSummaryDTO {
        try await req.nebula.automation.reject(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func cancel(req: Request) async throws -> RunSummaryDTO {
        try await req.nebula.automation.cancel(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func paused(req: Request) async throws -> AutomationPausedDTO {
        try req.actor.require(.viewer)
        return AutomationPausedDTO(paused: try await req.nebula.automation.isPaused())
    }

    @Sendable func setPaused(req: Request) async throws -> AutomationPausedDTO {
        let input = try req.decodeJSON(AutomationPausedDTO.self, allowedKeys: ["paused"])
        return try await req.nebula.automation.setPaused(input.paused, by: try req.actor)
    }
}

// MARK: - OpenAPI

private let uuidSchema = JSONSchema.string(format: .other("uuid"))
private let optionalDate = JSONSchema.string(format: .dateTime, required: false, nullable: true)
private let optionalText = JSONSchema.string(required: false, nullable: true)
private let anyJSON = JSONSchema.fragment(.init(description: "Any JSON value"))

enum RunSummaryDoc: Documented {
    static let schemaName = "RunbookRun"
    static let schema = JSONSchema.object(properties: [
        "id": uuidSchema, "runbookId": uuidSchema, "runbook": .string, "version": .integer, "trigger": .string(allowedValues: ["manual", "alert", "event", "schedule"]),
        "dryRun": .boolean, "status": .string(allowedValues: RunStatus.allCases.map { AnyCodable($0.rawValue) }), "error": optionalText,
        "concurrencyKey": optionalText, "incidentId": .string(format: .other("uuid"), required: false, nullable: true),
        "jobId": .string(format: .other("uuid"), required: false, nullable: true), "approvalStep": optionalText, "approvalDeadline": optionalDate,
        "createdBy": .string, "createdAt": .string(format: .dateTime), "startedAt": optionalDate, "finishedAt": optionalDate,
    ])
}

enum RunbookDoc: Documented {
    static let schemaName = "Runbook"
    static var schema: JSONSchema {
        .object(properties: [
            "id": uuidSchema, "name": .string, "kind": .string(allowedValues: ["runbook", "workflow"]), "description": optionalText,
            "tier": .string(required: false, nullable: true, allowedValues: RunbookDocument.Tier.allCases.map { AnyCodable($0.rawValue) }),
            "trigger": .string(allowedValues: RunbookDocument.Trigger.Kind.allCases.map { AnyCodable($0.rawValue) }), "enabled": .boolean, "version": .integer,
            "libraryName": optionalText, "createdBy": .string, "updatedBy": .string, "createdAt": optionalDate, "updatedAt": optionalDate,
            "lastRun": .reference(.component(named: RunSummaryDoc.schemaName), required: false), "nextFireAt": optionalDate,
        ])
    }
    static var related: [SchemaDoc] { [RunSummaryDoc.doc] }
}

enum RunbookListDoc: Documented {
    static let schemaName = "RunbookList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: RunbookDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [RunbookDoc.doc] }
}

enum RunbookDetailDoc: Documented {
    static let schemaName = "RunbookDetail"
    static var schema: JSONSchema {
        .object(properties: [
            "runbook": .reference(.component(named: RunbookDoc.schemaName)), "yaml": .string,
            "inputs": .array(items: .object(properties: ["name": .string, "type": .string, "required": .boolean, "defaultValue": anyJSON, "description": optionalText])),
            "steps": .array(items: .object(properties: ["id": .string, "name": .string, "action": .string, "needs": .array(items: .string)])),
        ])
    }
    static var related: [SchemaDoc] { [RunbookDoc.doc] }
}

enum RunbookCreateDoc: Documented {
    static let schemaName = "RunbookCreateRequest"
    static let schema = JSONSchema.object(properties: ["yaml": .string(description: "The runbook, as YAML")])
    static let example: String? = #"{"yaml":"name: api-example-runbook\ndescription: Logs a line\ntrigger: { type: manual }\nsteps:\n  - name: Say hello\n    action: log\n    params: { message: \"hello from {{ run.runbook }}\" }\n"}"#
}

enum WorkflowCreateDoc: Documented {
    static let schemaName = "WorkflowCreateRequest"
    static let schema = JSONSchema.object(properties: ["yaml": .string(description: "The workflow (kind: workflow), as YAML")])
    static let example: String? = #"{"yaml":"kind: workflow\nname: api-example-workflow\ntrigger: { type: manual }\nsteps:\n  - name: First\n    action: log\n    params: { message: first }\n  - name: Second\n    action: log\n    needs: [first]\n    params: { message: second }\n"}"#
}

enum RunbookUpdateDoc: Documented {
    static let schemaName = "RunbookUpdateRequest"
    static let schema = JSONSchema.object(properties: ["yaml": .string(required: false), "enabled": .boolean(required: false)])
    static let example: String? = #"{"enabled":true}"#
}

enum RunStartDoc: Documented {
    static let schemaName = "RunStartRequest"
    static let schema = JSONSchema.object(properties: [
        "dryRun": .boolean(required: false, description: "Render every step and record what it would do, changing nothing"),
        "inputs": .object(required: false, additionalProperties: .init(true)),
    ])
    static let example: String? = #"{"dryRun":true,"inputs":{}}"#
}

enum RunListDoc: Documented {
    static let schemaName = "RunbookRunList"
    static var schema: JSONSchema { .object(properties: ["items": .array(items: .reference(.component(named: RunSummaryDoc.schemaName))), "total": .integer]) }
    static var related: [SchemaDoc] { [RunSummaryDoc.doc] }
}

enum RunLogDoc: Documented {
    static let schemaName = "RunbookRunLog"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: ["id": .integer, "at": .string(format: .dateTime), "step": optionalText, "line": .string])), "total": .integer,
    ])
}

enum RunDetailDoc: Documented {
    static let schemaName = "RunbookRunDetail"
    static var schema: JSONSchema {
        .object(properties: [
            "run": .reference(.component(named: RunSummaryDoc.schemaName)), "inputs": anyJSON, "vars": anyJSON,
            "steps": .array(items: .object(properties: [
                "stepId": .string, "name": .string, "action": .string, "position": .integer, "attempt": .integer,
                "status": .string(allowedValues: RunStepStatus.allCases.map { AnyCodable($0.rawValue) }),
                "params": anyJSON, "output": anyJSON, "error": optionalText, "note": optionalText, "startedAt": optionalDate, "finishedAt": optionalDate,
            ])),
            "log": .array(items: .object(properties: ["id": .integer, "at": .string(format: .dateTime), "step": optionalText, "line": .string])),
        ])
    }
    static var related: [SchemaDoc] { [RunSummaryDoc.doc] }
}

enum LibraryListDoc: Documented {
    static let schemaName = "RunbookLibrary"
    static let schema = JSONSchema.object(properties: [
        "items": .array(items: .object(properties: [
            "name": .string, "kind": .string, "tier": optionalText, "description": optionalText, "trigger": .string, "yaml": .string,
            "installedId": .string(format: .other("uuid"), required: false, nullable: true),
        ])), "total": .integer,
    ])
}

enum PausedDoc: Documented {
    static let schemaName = "AutomationPaused"
    static let schema = JSONSchema.object(properties: ["paused": .boolean])
    static let example: String? = #"{"paused":false}"#
}
