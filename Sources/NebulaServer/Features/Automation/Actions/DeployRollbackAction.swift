import Fluent
import Foundation
import NebulaCore

/// `deploy_rollback`: makes an earlier release of a deploy project live again (health-gated, like
/// the Deploys page) and waits for the result. Params: `project` (name), `release` (number; the
/// newest earlier release with an image when absent).
struct DeployRollbackAction: RunbookAction {
    let name = "deploy_rollback"
    let summary = "Roll a deploy project back to an earlier release"
    let parameters = [ActionParameter(name: "project", kind: .string, required: true), ActionParameter(name: "release", kind: .integer)]

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let name = try params.requiredText("project")
        let db = context.environment.db
        guard let project = try await DeployProject.query(on: db).filter(\.$name == name).first() else {
            throw ActionFailure("no deploy project named '\(name.prefix(60))'")
        }
        let projectID = try project.requireID()
        let number: Int
        if let given = try params.integer("release") {
            number = given
        } else {
            let candidates = try await DeployRelease.query(on: db).filter(\.$projectID == projectID).sort(\.$number, .descending).all()
                .filter { $0.imageID != nil && $0.number < (project.currentRelease ?? Int.max) && $0.status != .building && $0.status != .failed }
            guard let previous = candidates.first else { throw ActionFailure("\(name) has no earlier release with an image to roll back to") }
            number = previous.number
        }
        await context.log("rolling \(name) back to r\(number)")
        let accepted = try await context.environment.deploys.rollback(projectID, to: number, by: context.actor)
        let deadline = ContinuousClock.now + context.timeout
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            guard let job = try await JobRecord.find(accepted.job.id, on: db) else { break }
            if job.status.isFinal {
                guard job.status == .succeeded else { throw ActionFailure("the rollback of \(name) to r\(number) \(job.status.rawValue): \(job.lastError ?? "see job \(accepted.job.id)")") }
                return ["project": .string(name), "release": .number(Double(number)), "job": .string(accepted.job.id.uuidString)]
            }
        }
        throw ActionFailure("the rollback of \(name) did not finish in time (job \(accepted.job.id))")
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would roll \(params.text("project") ?? "?") back to " + (params.text("release").map { "r\($0)" } ?? "its previous release")
    }
}
