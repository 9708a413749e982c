import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore

/// The steps every app job shares: compose up on the node, wait for health, collect logs.
extension InstallsService {
    /// Writes the app's files and runs `compose up`; the output goes to the job log.
    func composeUp(_ install: AppInstall, compose: String, environment: [String: String], on node: ContainersService.Node, job: JobContext) async throws -> AppResult {
        // Manifests pin image tags, so `up` pulling only missing images fetches a new version's
        // images and never needs a registry for what the node already has.
        await job.log("compose up \(install.name) on \(node.name) (missing images are pulled)…")
        let result = try await node.engine.apps(.up(project: install.name, compose: compose, environment: environment, pull: false, timeoutSeconds: 900))
        for line in result.output { await job.log("  " + line) }
        return result
    }

    /// Probes the app until every check passes or its timeout ends; each failing round is logged
    /// (at most once per distinct reason, plus a heartbeat every 10 rounds).
    func waitUntilHealthy(_ probes: [HealthCheck], timeoutSeconds: Int, intervalSeconds: Int, on node: ContainersService.Node,
                          job: JobContext, progressFrom start: Double, to end: Double) async throws -> String? {
        guard !probes.isEmpty else { return nil }
        await job.log("waiting up to \(timeoutSeconds) s for \(probes.map(\.description).joined(separator: ", "))")
        let clock = ContinuousClock()
        let begun = clock.now
        let deadline = begun + .seconds(timeoutSeconds)
        var last: String?
        var round = 0
        while true {
            try Task.checkCancellation()
            round += 1
            let result = try await node.engine.apps(.probe(checks: probes))
            let elapsed = clock.now - begun
            if result.ok {
                await job.log("healthy after \(Self.seconds(elapsed)) (\(round) round\(round == 1 ? "" : "s") of checks)")
                return nil
            }
            if result.message != last || round % 10 == 0 {
                await job.log("  not healthy yet (\(elapsed.components.seconds) s): \(result.message)")
                last = result.message
            }
            let fraction = min(1, Double(elapsed.components.seconds) / Double(max(1, timeoutSeconds)))
            await job.progress(start + (end - start) * fraction)
            guard clock.now + .seconds(intervalSeconds) < deadline else { return result.message }
            try await Task.sleep(for: .seconds(intervalSeconds))
        }
    }

    /// Runs the installed version's post-install commands in their services' containers, in order;
    /// the first that fails fails the install. Nil when all succeed.
    func runHooks(of install: AppInstall, on node: ContainersService.Node, job: JobContext) async throws -> String? {
        let hooks = (try? JSONDecoder().decode([ManifestCommand].self, from: Data(install.hooks.utf8))) ?? []
        for hook in hooks {
            await job.log("post-install in \(hook.service): \(hook.command.joined(separator: " "))")
            let result = try await node.engine.apps(.exec(project: install.name, service: hook.service, command: hook.command, timeoutSeconds: 300))
            for line in result.output { await job.log("  " + line) }
            guard result.ok else { return "the post-install command in \(hook.service) failed: \(result.message)" }
        }
        return nil
    }

    /// The app's containers' last lines, attached to a failed job's log.
    func attachLogs(_ install: AppInstall, on node: ContainersService.Node, job: JobContext) async {
        guard let result = try? await node.engine.apps(.logs(project: install.name, tail: 50)), result.ok else {
            await job.log("(the containers' logs could not be read)")
            return
        }
        if let containers = try? await node.engine.apps(.status(project: install.name)).containers {
            for member in containers {
                await job.log("container \(member.container.name): \(member.container.state) — \(member.container.status)")
            }
        }
        await job.log("--- last lines of the app's containers ---")
        for entry in result.logs ?? [] {
            await job.log("[\(entry.container)] \(entry.line.stream == .stderr ? "! " : "")\(entry.line.text)")
        }
        await job.log("--- end of logs ---")
    }

    /// A duration for the job log: `0.42 s`, `12.3 s`.
    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return value < 10 ? String(format: "%.2f s", value) : String(format: "%.1f s", value)
    }

    func probes(of install: AppInstall) -> [HealthCheck] {
        (try? JSONDecoder().decode([HealthCheck].self, from: Data(install.probes.utf8))) ?? []
    }

    /// The job's payload, its install and the install's node, as every app job starts.
    func jobTarget(_ job: JobContext) async throws -> (payload: JobPayload, install: AppInstall, node: ContainersService.Node) {
        let payload = try job.decodePayload(JobPayload.self)
        let install = try await record(payload.install)
        return (payload, install, try await node(install))
    }

    /// Saves where the install ended up, then records the outcome: audit entry, event.
    func settle(_ install: AppInstall, status: AppInstallStatus, error: String?, action: String, event: EventType, outcome: AuditOutcome,
                detail: String, on node: ContainersService.Node) async throws {
        install.status = status
        install.lastError = error
        try await install.update(on: db)
        try await announce(install, action: action, event: event, outcome: outcome, detail: detail, on: node)
    }

    /// Records the outcome of a job's work on the install: audit entry, event.
    func announce(_ install: AppInstall, action: String, event: EventType, outcome: AuditOutcome, detail: String, on node: ContainersService.Node) async throws {
        try await audit.record(action, target: "app:\(install.name)@server:\(node.name)", outcome: outcome, by: .system("jobs"), detail: String(detail.prefix(300)))
        await events.publish(event, actor: install.createdBy, subject: "app:\(install.name)",
                             data: ["id": try install.requireID().uuidString, "status": install.status.rawValue, "version": install.version])
    }
}

/// Why an app job failed; the message is what the job and the install show.
struct AppJobFailure: Error, CustomStringConvertible {
    let description: String
}

/// `app.install`: compose up, wait for health; on failure attach the logs and roll back (remove
/// the containers, volumes and folder) unless the user asked to keep it for inspection.
struct AppInstallJob: JobHandler {
    static let type = "app.install"
    var type: String { Self.type }
    var maxAttempts: Int { 1 }
    let installs: InstallsService
    /// Publishes the app under its domain once it is healthy (route, DNS record, apply).
    var publishing: AppPublishing?

    func run(_ job: JobContext) async throws {
        let (_, install, node) = try await installs.jobTarget(job)
        await job.log("Installing \(install.title) \(install.version) as '\(install.name)' on \(node.name)")
        await job.progress(0.05)
        let clock = ContinuousClock()
        let started = clock.now
        var composeTime = Duration.zero
        let failure: String?
        do {
            let environment = try await installs.environment(of: install)
            let up = try await installs.composeUp(install, compose: install.compose, environment: environment, on: node, job: job)
            composeTime = clock.now - started
            await job.progress(0.5)
            if !up.ok {
                failure = "compose up failed: \(up.message)"
            } else {
                let unhealthy = try await installs.waitUntilHealthy(installs.probes(of: install), timeoutSeconds: install.healthTimeoutSeconds,
                                                                    intervalSeconds: install.healthIntervalSeconds, on: node, job: job, progressFrom: 0.5, to: 0.95)
                if let unhealthy {
                    failure = "the health checks did not pass within \(install.healthTimeoutSeconds) s: \(unhealthy)"
                } else {
                    failure = try await installs.runHooks(of: install, on: node, job: job)
                }
            }
        } catch is CancellationError {
            failure = "the install was cancelled"
        } catch {
            failure = (error as? NebulaError)?.message ?? String(describing: error)
        }
        guard let failure else {
            try await installs.settle(install, status: .running, error: nil, action: "app.installed", event: .appInstalled, outcome: .success,
                                      detail: install.version, on: node)
            let total = clock.now - started
            await job.log("\(install.title) is installed and healthy in \(InstallsService.seconds(total)) "
                          + "(compose up \(InstallsService.seconds(composeTime)), health checks \(InstallsService.seconds(total - composeTime))).")
            if let publishing, let host = install.domain {
                await job.log("Publishing as \(host)…")
                for line in await publishing.publish(install, by: .system("marketplace")) { await job.log("  " + line) }
            }
            await job.progress(1)
            return
        }
        await job.log("Install failed: \(failure)")
        await installs.attachLogs(install, on: node, job: job)
        if install.keepOnFailure {
            await job.log("Left as it is for inspection (keep on failure). Uninstall it when done.")
        } else {
            await job.log("Rolling back: removing the app's containers, volumes and folder…")
            let down = try? await node.engine.apps(.down(project: install.name, removeData: true, timeoutSeconds: 120))
            for line in down?.output ?? [] { await job.log("  " + line) }
            await job.log(down?.ok == true ? "Rolled back; nothing of the app is left on \(node.name)." : "Rollback incomplete: \(down?.message ?? "the node did not answer")")
        }
        try await installs.settle(install, status: .failed, error: failure, action: "app.installed", event: .appInstallFailed, outcome: .failure,
                                  detail: failure, on: node)
        throw AppJobFailure(description: failure)
    }
}

/// `app.upgrade`: compose up with the newer version (data kept), wait for health; on failure
/// attach the logs, bring the previous version back and check it is healthy again.
struct AppUpgradeJob: JobHandler {
    static let type = "app.upgrade"
    var type: String { Self.type }
    var maxAttempts: Int { 1 }
    let installs: InstallsService

    func run(_ job: JobContext) async throws {
        let (_, install, node) = try await installs.jobTarget(job)
        let previous = (version: install.version, compose: install.compose, values: install.values, secretNames: install.secretNames,
                        ports: install.ports, probes: install.probes, timeout: install.healthTimeoutSeconds, interval: install.healthIntervalSeconds)
        let oldEnvironment = try await installs.environment(of: install)
        let package = try await installs.marketplace.package(name: install.package, by: .system("jobs"))
        let manifest = package.manifest
        await job.log("Upgrading \(install.title) '\(install.name)' on \(node.name) from \(previous.version) to \(manifest.version)")
        var failure: String?
        do {
            // Values carry over; variables new in this version get their defaults or generated values.
            let known = oldEnvironment.filter { manifest.variable($0.key) != nil }
            let values = try manifest.resolve(values: known)
            try installs.apply(manifest, values: values, to: install)
            try await installs.storeSecrets(of: manifest, values: values, for: install.name, by: .system("jobs"))
            let up = try await installs.composeUp(install, compose: install.compose, environment: values, on: node, job: job)
            if !up.ok {
                failure = "compose up failed: \(up.message)"
            } else {
                failure = try await installs.waitUntilHealthy(installs.probes(of: install), timeoutSeconds: install.healthTimeoutSeconds,
                                                              intervalSeconds: install.healthIntervalSeconds, on: node, job: job, progressFrom: 0.4, to: 0.7)
                    .map { "the health checks did not pass within \(install.healthTimeoutSeconds) s: \($0)" }
            }
        } catch let problems as ManifestProblems {
            failure = "the stored values do not fit \(manifest.version): \(problems)"
        } catch {
            failure = (error as? NebulaError)?.message ?? String(describing: error)
        }
        guard let failure else {
            try await installs.settle(install, status: .running, error: nil, action: "app.upgraded", event: .appUpgraded, outcome: .success,
                                      detail: "\(previous.version) → \(manifest.version)", on: node)
            await job.log("\(install.title) \(manifest.version) is running and healthy.")
            await job.progress(1)
            return
        }
        await job.log("Upgrade failed: \(failure)")
        await installs.attachLogs(install, on: node, job: job)
        await job.log("Rolling back to \(previous.version) (data kept)…")
        install.version = previous.version
        install.compose = previous.compose
        install.values = previous.values
        install.secretNames = previous.secretNames
        install.ports = previous.ports
        install.probes = previous.probes
        install.healthTimeoutSeconds = previous.timeout
        install.healthIntervalSeconds = previous.interval
        var rollback = "rolled back to \(previous.version)"
        do {
            let up = try await installs.composeUp(install, compose: previous.compose, environment: oldEnvironment, on: node, job: job)
            if !up.ok {
                rollback = "the rollback's compose up failed too: \(up.message)"
            } else if let unhealthy = try await installs.waitUntilHealthy(installs.probes(of: install), timeoutSeconds: previous.timeout,
                                                                          intervalSeconds: previous.interval, on: node, job: job, progressFrom: 0.7, to: 0.95) {
                rollback = "\(previous.version) is back but not healthy: \(unhealthy)"
            }
        } catch {
            rollback = "the rollback failed: \((error as? NebulaError)?.message ?? String(describing: error))"
        }
        let healthyAgain = rollback == "rolled back to \(previous.version)"
        let error = "Upgrade to \(manifest.version) failed (\(failure)); \(rollback)."
        try await installs.settle(install, status: healthyAgain ? .running : .failed, error: error, action: "app.upgraded", event: .appInstallFailed,
                                  outcome: .failure, detail: error, on: node)
        await job.log(healthyAgain ? "Rolled back: \(previous.version) is running and healthy again." : "Rollback problem: \(rollback)")
        throw AppJobFailure(description: error)
    }
}

/// `app.uninstall`: compose down (with volumes and the folder when deleting data), then the
/// install and, when deleting data, its secrets are forgotten.
struct AppUninstallJob: JobHandler {
    static let type = "app.uninstall"
    var type: String { Self.type }
    var maxAttempts: Int { 1 }
    let installs: InstallsService
    /// Takes the app's route and DNS record away again when it was published under a domain.
    var publishing: AppPublishing?

    func run(_ job: JobContext) async throws {
        let (payload, install, node) = try await installs.jobTarget(job)
        let deleteData = payload.deleteData ?? false
        await job.log("Uninstalling '\(install.name)' from \(node.name)\(deleteData ? ", deleting its data" : ", keeping its data")")
        let down = try await node.engine.apps(.down(project: install.name, removeData: deleteData, timeoutSeconds: 300))
        for line in down.output { await job.log("  " + line) }
        guard down.ok else {
            try await installs.settle(install, status: .failed, error: "Uninstall failed: \(down.message)", action: "app.uninstalled",
                                      event: .appUninstalled, outcome: .failure, detail: down.message, on: node)
            throw AppJobFailure(description: down.message)
        }
        await job.log(down.message)
        if deleteData {
            for name in (try? JSONDecoder().decode([String].self, from: Data(install.secretNames.utf8))) ?? [] {
                try? await installs.secrets.delete(name: InstallsService.secretName(install.name, name), by: .system("jobs"))
            }
        }
        if let publishing, let host = install.domain {
            await job.log("Unpublishing \(host)…")
            for line in await publishing.unpublish(install, by: .system("marketplace")) { await job.log("  " + line) }
        }
        try await install.delete(on: installs.db)
        try await installs.announce(install, action: "app.uninstalled", event: .appUninstalled, outcome: .success,
                                  detail: deleteData ? "data deleted" : "data kept", on: node)
        await job.progress(1)
    }
}
