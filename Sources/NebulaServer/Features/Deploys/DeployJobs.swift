import DockerEngine
import Fluent
import Foundation
import NebulaAgent
import NebulaCore

/// Why a deploy job failed; the message is what the job and the release show.
struct DeployJobFailure: Error, CustomStringConvertible {
    let description: String
}

/// The steps both deploy jobs share: start a release on the node, wait for its health check,
/// attach the containers' logs, bring the previous release back.
extension DeploysService {
    /// Runs release `number` (compose up with its image and the project's variables) and waits for
    /// the health check. Returns nil when it is healthy, else why not.
    func start(_ project: DeployProject, release number: Int, on node: ContainersService.Node, job: JobContext,
               environment: [String: String]) async throws -> String? {
        let clock = ContinuousClock()
        let begun = clock.now
        await job.log("Starting r\(number) (\(Self.imageTag(project.name, number))) as \(project.nodeProject) on \(node.name), port \(project.hostPort)→\(project.containerPort)…")
        let up = try await node.engine.apps(.up(project: project.nodeProject, compose: Self.compose(for: project, release: number),
                                                 environment: environment, pull: false, timeoutSeconds: 300))
        for line in up.output { await job.log("  " + Self.scrub(line, environment)) }
        guard up.ok else { return "compose up failed: \(Self.scrub(up.message, environment))" }
        await job.log("started in \(Self.seconds(clock.now - begun)) s")
        let check = Self.healthCheck(of: project)
        let timeout = project.healthTimeoutSeconds
        await job.log("waiting up to \(timeout) s for \(check)")
        let probing = clock.now
        let deadline = probing + .seconds(timeout)
        var last: String?
        var round = 0
        while true {
            try Task.checkCancellation()
            round += 1
            let result = try await node.engine.apps(.probe(checks: [check]))
            if result.ok {
                await job.log("healthy after \(Self.seconds(clock.now - probing)) s")
                return nil
            }
            if result.message != last || round % 10 == 0 {
                await job.log("  not healthy yet (\((clock.now - probing).components.seconds) s): \(result.message)")
                last = result.message
            }
            guard clock.now + .seconds(1) < deadline else {
                return "the health check (\(check)) did not pass within \(timeout) s: \(result.message)"
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// The project's containers' last lines, into the job's log (variable values masked).
    func attachLogs(_ project: DeployProject, on node: ContainersService.Node, job: JobContext, environment: [String: String]) async {
        guard let result = try? await node.engine.apps(.logs(project: project.nodeProject, tail: 50)), result.ok else {
            await job.log("(the containers' logs could not be read)")
            return
        }
        await job.log("--- last lines of the release's container ---")
        for entry in result.logs ?? [] {
            await job.log("[\(entry.container)] \(entry.line.stream == .stderr ? "! " : "")\(Self.scrub(entry.line.text, environment))")
        }
        await job.log("--- end of logs ---")
    }

    /// After a failed start: the previous live release runs again (or, when there was none, the
    /// failed one is stopped). Returns what happened, for the job's log and the release's error.
    func restore(_ project: DeployProject, previous: Int?, on node: ContainersService.Node, job: JobContext, environment: [String: String]) async -> String {
        guard let previous else {
            let down = try? await node.engine.apps(.down(project: project.nodeProject, removeData: false, timeoutSeconds: 120))
            return down?.ok == true ? "nothing was live before; the failed release is stopped" : "the failed release could not be stopped: \(down?.message ?? "the node did not answer")"
        }
        await job.log("Bringing r\(previous) back…")
        do {
            if let problem = try await start(project, release: previous, on: node, job: job, environment: environment) {
                return "r\(previous) is back but \(problem)"
            }
            return "r\(previous) is live again"
        } catch {
            return "r\(previous) could not be brought back: \(Self.message(error))"
        }
    }

    /// Records a finished release: audit entry and event.
    func finish(_ project: DeployProject, release: DeployRelease, action: String, outcome: AuditOutcome, detail: String, node: ContainersService.Node) async throws {
        try await audit.record(action, target: "deploy:\(project.name)@server:\(node.name)", outcome: outcome, by: .system("jobs"), detail: String(detail.prefix(300)))
        await events.publish(outcome == .success ? (action == "deploy.rolled_back" ? .deployRolledBack : .deploySucceeded) : .deployFailed,
                             actor: release.createdBy, subject: "deploy:\(project.name)",
                             data: ["id": try project.requireID().uuidString, "release": String(release.number), "status": release.status.rawValue])
    }

    /// Marks `number` live and the one before it `replaced`.
    func promote(_ project: DeployProject, to release: DeployRelease, replacing previous: DeployRelease?, as replaced: DeployReleaseStatus) async throws {
        if let previous, previous.id != release.id {
            previous.status = replaced
            try await previous.update(on: db)
        }
        release.status = .live
        release.error = nil
        release.finishedAt = Date()
        try await release.update(on: db)
        project.currentRelease = release.number
        try await project.update(on: db)
    }

    static func message(_ error: any Error) -> String {
        if let error = error as? DockerError { return error.message ?? error.description }
        if let error = error as? NebulaError { return error.message }
        if error is CancellationError { return "the deploy was cancelled" }
        return String(describing: error)
    }

    /// `text` with every variable's value (4+ characters) replaced by `***`.
    static func scrub(_ text: String, _ environment: [String: String]) -> String {
        environment.values.filter { $0.count >= 4 }.reduce(text) { $0.replacingOccurrences(of: $1, with: "***") }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}

/// `deploy.build`: check out and build on the node (every output line goes to the job log as it
/// arrives), then start the new release and wait for its health check. A failed build leaves the
/// live release alone; a release that does not become healthy is replaced by the previous one again.
struct DeployBuildJob: JobHandler {
    static let type = "deploy.build"
    var type: String { Self.type }
    var maxAttempts: Int { 1 }
    let deploys: DeploysService

    func run(_ job: JobContext) async throws {
        let (release, project) = try await deploys.jobTarget(job, missing: "The release was deleted before it was built.")
        let failed = { (message: String) async throws -> Void in
            release.status = .failed
            release.error = message
            release.finishedAt = Date()
            try await release.update(on: deploys.db)
        }
        let node: ContainersService.Node
        do {
            node = try await deploys.containers.node(project.serverID)
        } catch {
            try await failed(DeploysService.message(error))
            throw error
        }
        let previous = try await deploys.liveRelease(of: project)
        await job.log("Deploying \(project.name) r\(release.number) from \(GitCheckout.redacted(project.repoURL)) (\(project.branch)) on \(node.name)")
        await job.progress(0.05)

        // Build: the node streams git's and docker's output; the last chunk is the result.
        var built: DeployBuildResult?
        var failure: String?
        var token: String?
        do {
            token = try await project.tokenSecret.asyncMap { try await deploys.secrets.value(of: $0) }
            let request = DeployBuild(project: project.nodeProject, url: project.repoURL, branch: project.branch, token: token,
                                      dockerfile: project.dockerfile, tag: release.imageTag,
                                      labels: [NodeDocker.deployLabel: project.name, "dev.nebula.release": String(release.number)])
            for try await chunk in try await node.engine.stream(.build(request)) {
                switch chunk {
                case .lines(let lines):
                    for line in lines { await job.log(token.map { line.text.replacingOccurrences(of: $0, with: "***") } ?? line.text) }
                case .built(let result):
                    built = result
                case .stats:
                    break
                }
            }
            if built == nil { failure = "The node ended the build without a result (is its agent up to date?)." }
        } catch {
            failure = "The build failed: \(DeploysService.message(error))"
        }
        guard let built, failure == nil else {
            let reason = token.map { (failure ?? "").replacingOccurrences(of: $0, with: "***") } ?? failure ?? "the build failed"
            await job.log(reason)
            await job.log(previous.map { "r\($0.number) stays live; nothing was changed on \(node.name)." } ?? "Nothing was started on \(node.name).")
            try await failed(reason)
            try await deploys.finish(project, release: release, action: "deploy.release", outcome: .failure, detail: "r\(release.number): \(reason)", node: node)
            throw DeployJobFailure(description: reason)
        }
        release.commitSHA = built.commitSHA
        release.commitSubject = String(built.commitSubject.prefix(300))
        release.imageID = built.imageID
        try await release.update(on: deploys.db)
        await job.log("Built \(built.tag) (\(built.imageID.prefix(19))) from \(built.commitSHA.prefix(12)): checkout \(String(format: "%.1f", built.checkoutSeconds)) s, build \(String(format: "%.1f", built.buildSeconds)) s")
        await job.progress(0.6)

        // Run: the new release replaces the live one only if it becomes healthy.
        let (environment, problem) = await deploys.startWithEnvironment(project, release: release.number, on: node, job: job)
        guard let problem else {
            try await deploys.promote(project, to: release, replacing: previous, as: .superseded)
            try await deploys.finish(project, release: release, action: "deploy.release", outcome: .success,
                                     detail: "r\(release.number) \(built.commitSHA.prefix(12)) live", node: node)
            await job.log("r\(release.number) is live\(previous.map { "; r\($0.number) is superseded (its image is kept for rollbacks)" } ?? "").")
            await job.progress(1)
            return
        }
        await job.log("r\(release.number) did not start: \(problem)")
        await deploys.attachLogs(project, on: node, job: job, environment: environment)
        let restored = await deploys.restore(project, previous: previous?.number, on: node, job: job, environment: environment)
        await job.log(restored)
        let reason = "r\(release.number) did not start (\(problem)); \(restored)."
        try await failed(reason)
        try await deploys.finish(project, release: release, action: "deploy.release", outcome: .failure, detail: reason, node: node)
        throw DeployJobFailure(description: reason)
    }
}

/// `deploy.rollback`: runs an earlier release's kept image again, health-gated; when it does not
/// become healthy the release that was live comes back.
struct DeployRollbackJob: JobHandler {
    static let type = "deploy.rollback"
    var type: String { Self.type }
    var maxAttempts: Int { 1 }
    let deploys: DeploysService

    func run(_ job: JobContext) async throws {
        let (release, project) = try await deploys.jobTarget(job, missing: "The release no longer exists.")
        let node = try await deploys.containers.node(project.serverID)
        let previous = try await deploys.liveRelease(of: project)
        await job.log("Rolling \(project.name) back to r\(release.number)\(previous.map { " from r\($0.number)" } ?? "") on \(node.name)")
        let (environment, problem) = await deploys.startWithEnvironment(project, release: release.number, on: node, job: job)
        guard let problem else {
            try await deploys.promote(project, to: release, replacing: previous, as: .rolledBack)
            try await deploys.finish(project, release: release, action: "deploy.rolled_back", outcome: .success,
                                     detail: "r\(release.number) live\(previous.map { ", r\($0.number) rolled back" } ?? "")", node: node)
            await job.log("r\(release.number) is live again.")
            await job.progress(1)
            return
        }
        await job.log("r\(release.number) did not start: \(problem)")
        await deploys.attachLogs(project, on: node, job: job, environment: environment)
        let restored = await deploys.restore(project, previous: previous?.number, on: node, job: job, environment: environment)
        await job.log(restored)
        let reason = "The rollback to r\(release.number) failed (\(problem)); \(restored)."
        try await deploys.finish(project, release: release, action: "deploy.rolled_back", outcome: .failure, detail: reason, node: node)
        throw DeployJobFailure(description: reason)
    }
}

fileprivate extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

extension DeploysService {
    /// The job's release and its project, as both deploy jobs start; `missing` is the failure when
    /// the release was deleted meanwhile.
    func jobTarget(_ job: JobContext, missing: String) async throws -> (release: DeployRelease, project: DeployProject) {
        let payload = try job.decodePayload(JobPayload.self)
        guard let release = try await DeployRelease.find(payload.release, on: db) else { throw DeployJobFailure(description: missing) }
        return (release, try await record(release.projectID))
    }
}

extension DeploysService {
    /// Starts `release` with the project's variables from the vault; the variables (to mask the
    /// logs with) and why it did not become healthy, nil when it did.
    func startWithEnvironment(_ project: DeployProject, release: Int, on node: ContainersService.Node,
                              job: JobContext) async -> (environment: [String: String], problem: String?) {
        var environment: [String: String] = [:]
        do {
            environment = try await self.environment(of: project)
            return (environment, try await start(project, release: release, on: node, job: job, environment: environment))
        } catch {
            return (environment, DeploysService.message(error))
        }
    }
}
