import Fluent
import Foundation
import NebulaCore
@testable import NebulaServer

/// What the automation routes act on in the access tests: a runbook and a workflow (no runs, so
/// they can be deleted), and a run of a third runbook parked at an approval step.
struct AutomationTargets: Sendable {
    var runbookID: UUID
    var workflowID: UUID
    var runID: UUID

    static func make(in app: TestApp, suffix: String) async throws -> AutomationTargets {
        let automation = try app.services.automation
        let runbook = try await automation.create(yaml: "name: target-\(suffix)\nsteps:\n  - { name: Say, action: log, params: { message: hi } }\n", by: .system())
        let workflow = try await automation.create(yaml: "kind: workflow\nname: flow-\(suffix)\nsteps:\n  - { name: Say, action: log, params: { message: hi } }\n",
                                                   by: .system())
        let gated = try await automation.create(yaml: "name: gated-\(suffix)\nsteps:\n  - { name: Ask, action: approval }\n", by: .system())
        let run = try await automation.start(gated.id, dryRun: false, inputs: [:], by: .system())
        // As the engine leaves it at an approval step (no worker runs in these tests).
        let db = app.app.db
        if let record = try await RunbookRun.find(run.id, on: db) {
            record.status = .waitingApproval
            record.approvalStep = "ask"
            record.approvalDeadline = Date().addingTimeInterval(3600)
            try await record.update(on: db)
        }
        if let row = try await RunStepRecord.query(on: db).filter(\.$runID == run.id).first() {
            row.status = .running
            row.attempt = 1
            try await row.update(on: db)
        }
        return AutomationTargets(runbookID: runbook.id, workflowID: workflow.id, runID: run.id)
    }
}
