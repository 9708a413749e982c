import Foundation
import NebulaCore
@testable import NebulaServer
import Testing

/// `{ "error": { "code", "message", "problems": [{ path, line?, column?, message }] } }`.
struct RunbookProblemsResponse: Decodable {
    struct Detail: Decodable { var code: String; var message: String; var problems: [RunbookProblem] }
    var error: Detail
}

extension TestApp {
    /// Imports a runbook (or workflow, by `collection`) through the API; fails the test on a refusal.
    func importRunbook(_ yaml: String, token: String, collection: String = "runbooks") async throws -> RunbookDTO {
        let body = String(decoding: try JSONEncoder().encode(["yaml": yaml]), as: UTF8.self)
        let response = try await request(.POST, "/api/v1/\(collection)", token: token, json: body)
        try #require(response.status == .created, "import answered \(response.status.code): \(response.body.prefix(600))")
        return try response.decode(RunbookDTO.self)
    }

    /// Starts a run through the API.
    func startRun(_ runbook: UUID, token: String, dryRun: Bool = false, inputs: [String: TemplateValue] = [:], collection: String = "runbooks") async throws -> RunSummaryDTO {
        struct Body: Encodable { var dryRun: Bool; var inputs: [String: TemplateValue] }
        let body = String(decoding: try JSONEncoder().encode(Body(dryRun: dryRun, inputs: inputs)), as: UTF8.self)
        let response = try await request(.POST, "/api/v1/\(collection)/\(runbook)/runs", token: token, json: body)
        try #require(response.status == .accepted, "start answered \(response.status.code): \(response.body.prefix(600))")
        return try response.decode(RunSummaryDTO.self)
    }

    func runDetail(_ run: UUID, token: String) async throws -> RunDetailDTO {
        try await request(.GET, "/api/v1/runs/\(run)", token: token).decode(RunDetailDTO.self)
    }

    /// Polls a run until its status is one of `statuses` (or the deadline passes); returns its last state.
    func waitForRun(_ run: UUID, token: String, toBe statuses: Set<RunStatus>, timeout: Duration = .seconds(60)) async throws -> RunDetailDTO {
        let deadline = ContinuousClock.now + timeout
        while true {
            let detail = try await runDetail(run, token: token)
            if statuses.contains(detail.run.status) || ContinuousClock.now > deadline { return detail }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

extension RunDetailDTO {
    func step(_ id: String) -> RunStepDTO? { steps.first { $0.stepId == id } }
    var logText: String { log.map(\.line).joined(separator: "\n") }
}
