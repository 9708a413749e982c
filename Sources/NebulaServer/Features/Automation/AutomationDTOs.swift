import Foundation
import NebulaCore
import Vapor

extension EventType {
    public static let runbookCreated: EventType = "runbook.created"
    public static let runbookUpdated: EventType = "runbook.updated"
    public static let runbookDeleted: EventType = "runbook.deleted"
    public static let runbookRunStarted: EventType = "runbook.run_started"
    public static let runbookRunFinished: EventType = "runbook.run_finished"
    public static let runbookApprovalRequested: EventType = "runbook.approval_requested"
    public static let runbookEscalated: EventType = "runbook.escalated"
    /// A run's step started or ended, or its status changed; broadcast live (run pages), never stored.
    public static let runbookRunProgress: EventType = "runbook.run_progress"
    public static let automationPausedChanged: EventType = "automation.paused_changed"
    public static let workflowCreated: EventType = "workflow.created"
    public static let workflowUpdated: EventType = "workflow.updated"
    public static let workflowDeleted: EventType = "workflow.deleted"
    public static let workflowRunStarted: EventType = "workflow.run_started"
    public static let workflowRunFinished: EventType = "workflow.run_finished"
}

/// A runbook or workflow as the API lists it.
struct RunbookDTO: Content, Equatable {
    var id: UUID
    var name: String
    var kind: String
    var description: String?
    var tier: String?
    var trigger: String
    var enabled: Bool
    var version: Int
    var libraryName: String?
    var createdBy: String
    var updatedBy: String
    var createdAt: Date?
    var updatedAt: Date?
    var lastRun: RunSummaryDTO?
    /// For schedule triggers: when it fires next.
    var nextFireAt: Date?

    init(_ record: RunbookRecord, lastRun: RunbookRun?, nextFireAt: Date?) {
        id = record.id ?? UUID()
        name = record.name
        kind = record.kind
        description = record.summary
        tier = record.tier
        trigger = record.triggerType
        enabled = record.enabled
        version = record.version
        libraryName = record.libraryName
        createdBy = record.createdBy
        updatedBy = record.updatedBy
        createdAt = record.createdAt
        updatedAt = record.updatedAt
        self.lastRun = lastRun.map(RunSummaryDTO.init)
        self.nextFireAt = nextFireAt
    }
}

/// One runbook with its YAML.
struct RunbookDetailDTO: Content, Equatable {
    var runbook: RunbookDTO
    var yaml: String
    var inputs: [InputDTO]
    var steps: [StepSummaryDTO]

    struct InputDTO: Content, Equatable {
        var name: String
        var type: String
        var required: Bool
        var defaultValue: TemplateValue?
        var description: String?
    }

    struct StepSummaryDTO: Content, Equatable {
        var id: String
        var name: String
        var action: String
        var needs: [String]
    }
}

/// A run without its steps.
struct RunSummaryDTO: Content, Equatable {
    var id: UUID
    var runbookId: UUID
    var runbook: String
    var version: Int
    var trigger: String
    var dryRun: Bool
    var status: RunStatus
    var error: String?
    var concurrencyKey: String?
    var incidentId: UUID?
    var jobId: UUID?
    var approvalStep: String?
    var approvalDeadline: Date?
    var createdBy: String
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?

    init(_ run: RunbookRun) {
        id = run.id ?? UUID()
        runbookId = run.runbookID
        runbook = run.runbookName
        version = run.version
        trigger = run.trigger
        dryRun = run.dryRun
        status = run.status
        error = run.error
        concurrencyKey = run.concurrencyKey
        incidentId = run.incidentID
        jobId = run.jobID
        approvalStep = run.approvalStep
        approvalDeadline = run.approvalDeadline
        createdBy = run.createdBy
        createdAt = run.createdAt
        startedAt = run.startedAt
        finishedAt = run.finishedAt
    }
}

/// A run with its inputs, its steps' journal and its log.
struct RunDetailDTO: Content, Equatable {
    var run: RunSummaryDTO
    var inputs: TemplateValue
    var vars: TemplateValue
    var steps: [RunStepDTO]
    var log: [RunLogLineDTO]
}

struct RunStepDTO: Content, Equatable {
    var stepId: String
    var name: String
    var action: String
    var position: Int
    var attempt: Int
    var status: RunStepStatus
    var params: TemplateValue?
    var output: TemplateValue?
    var error: String?
    var note: String?
    var startedAt: Date?
    var finishedAt: Date?

    init(_ record: RunStepRecord) {
        stepId = record.stepID
        name = record.name
        action = record.action
        position = record.position
        attempt = record.attempt
        status = record.status
        params = record.params.map { TemplateValue.fromJSON($0) }
        output = record.output.map { TemplateValue.fromJSON($0) }
        error = record.error
        note = record.note
        startedAt = record.startedAt
        finishedAt = record.finishedAt
    }
}

struct RunLogLineDTO: Content, Equatable {
    var id: Int
    var at: Date
    var step: String?
    var line: String
}

/// A runbook shipped with Nebula Command.
struct LibraryRunbookDTO: Content, Equatable {
    var name: String
    var kind: String
    var tier: String?
    var description: String?
    var trigger: String
    var yaml: String
    /// The id of the installed copy, if installed.
    var installedId: UUID?
}

/// `{ "paused": true|false }`.
struct AutomationPausedDTO: Content, Equatable {
    var paused: Bool
}

/// `{ "error": { "code": "invalid_runbook", "message", "problems": [{ path, line?, column?, message }] } }`.
struct RunbookProblemsBody: Content {
    struct Detail: Content {
        var code: String
        var message: String
        var problems: [RunbookProblem]
    }
    var error: Detail
}

extension RunbookProblems {
    /// The 422 answer naming every problem with its place.
    func response(for req: Request) throws -> Response {
        let body = RunbookProblemsBody(error: .init(code: "invalid_runbook", message: "The runbook has \(problems.count) problem\(problems.count == 1 ? "" : "s"): "
            + problems.prefix(3).map(\.description).joined(separator: "; ") + (problems.count > 3 ? "; …" : ""), problems: problems))
        let response = Response(status: .unprocessableEntity)
        try response.content.encode(body, as: .json)
        return response
    }
}
