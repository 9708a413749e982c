import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import NIOPosix
import Testing

/// Git deploys for real: a git repository in a temporary folder, `docker build` and docker-compose
/// against the dockerd `make test` starts, a busybox httpd as the app.
@Suite struct DeploysTests {
    struct Created: Decodable { var project: DeployProjectDTO; var webhookSecret: String; var webhookUrl: String }
    struct Accepted: Decodable { var release: DeployReleaseDTO; var job: JobDTO }
    struct Releases: Decodable { var items: [DeployReleaseDTO] }
    struct Outcome: Decodable { var status: String; var reason: String?; var release: Int?; var job: UUID? }

    /// A git repository with a Dockerfile serving `text` (and `$GREETING` as /greeting.txt) on 8080.
    final class Repository: Sendable {
        let directory: URL
        var url: String { "file://" + directory.path }

        init(in parent: URL) throws {
            directory = parent.appendingPathComponent("repo-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try git("init", "-q", "-b", "main")
        }

        /// Commits the site's `text`; `broken` adds a failing `RUN`, `sleep` a slow one.
        func commit(_ text: String, broken: Bool = false, sleep: Int = 0, branch: String = "main") throws {
            let run = broken ? "RUN echo compiling the site && false\n" : (sleep > 0 ? "RUN sleep \(sleep)\n" : "")
            let dockerfile = """
            FROM \(TestEngine.image.rawValue)
            COPY index.html /www/index.html
            \(run)CMD ["sh", "-c", "echo \\"$GREETING\\" > /www/greeting.txt; exec httpd -f -p 8080 -h /www"]

            """
            try dockerfile.write(to: directory.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
            try text.write(to: directory.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try git("add", "-A")
            try git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "site \(text)")
        }

        func git(_ arguments: String...) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "-C", directory.path] + arguments
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestEngineError.cli("git", arguments.joined(separator: " ")) }
        }
    }

    static func freePort() throws -> Int { try InstallsTests.freePort() }

    static func jobLog(_ app: TestApp, _ job: UUID) async throws -> String {
        try await app.services.jobs.logLines(jobID: job, after: 0, limit: 5000).map(\.line).joined(separator: "\n")
    }

    static func page(_ port: Int, _ path: String = "/") async -> String? {
        guard let response = try? await TestApp.client.get(url: "http://127.0.0.1:\(port)\(path)").get(), response.status == .ok,
              let body = response.body else { return nil }
        return String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func create(_ app: TestApp, token: String, name: String, server: UUID, url: String, port: Int, branch: String = "main") async throws -> Created {
        let response = try await app.request(.POST, "/api/v1/deploys", token: token, json: """
            {"name":"\(name)","server":"\(server)","repoUrl":"\(url)","branch":"\(branch)","containerPort":8080,"hostPort":\(port),"healthPath":"/","healthTimeoutSeconds":20}
            """)
        #expect(response.status == .created, "\(response.body)")
        return try response.decode(Created.self)
    }

    static func deploy(_ app: TestApp, token: String, _ project: UUID) async throws -> (Accepted, JobDTO, String) {
        let response = try await app.request(.POST, "/api/v1/deploys/\(project)/deploy", token: token)
        #expect(response.status == .accepted, "\(response.body)")
        let accepted = try response.decode(Accepted.self)
        let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(180))
        return (accepted, job, try await jobLog(app, job.id))
    }

    static func releases(_ app: TestApp, token: String, _ project: UUID) async throws -> [Int: DeployReleaseDTO] {
        let items = try await app.request(.GET, "/api/v1/deploys/\(project)/releases", token: token).decode(Releases.self).items
        return Dictionary(items.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func imageExists(_ tag: String) async -> Bool {
        guard let result = try? await CommandRunner.run(["docker", "-H", TestEngine.host ?? "", "image", "inspect", "--format={{.Id}}", tag], timeout: .seconds(30))
        else { return false }
        return result.status == 0
    }

    /// Removes whatever a test left of project `name` on the engine (containers and images).
    static func removeLeftovers(_ name: String) async {
        let host = TestEngine.host ?? ""
        if let ids = try? await CommandRunner.run(["docker", "-H", host, "ps", "-aq", "--filter", "label=dev.nebula.deploy=\(name)"], timeout: .seconds(30)) {
            for id in ids.output.split(separator: "\n") { _ = try? await CommandRunner.run(["docker", "-H", host, "rm", "-f", String(id)], timeout: .seconds(30)) }
        }
        if let images = try? await CommandRunner.run(["docker", "-H", host, "images", "-q", "--filter", "label=dev.nebula.deploy=\(name)"], timeout: .seconds(30)) {
            for id in Set(images.output.split(separator: "\n")) { _ = try? await CommandRunner.run(["docker", "-H", host, "rmi", "-f", String(id)], timeout: .seconds(30)) }
        }
    }

    @Test(.enabled(if: TestEngine.enabled, "NEBULA_TEST_DOCKER_HOST is not set: run with `make test`"), arguments: TestDatabase.all)
    func aDeployBuildsGoesLiveRollsBackAndABrokenBuildLeavesTheLiveReleaseAlone(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup
            let token = try await app.token(role: .operator)
            let node = try await app.localServer(token: token)
            let repository = try Repository(in: app.directory)
            try repository.commit("site v1")
            let name = "site-\(UUID().uuidString.prefix(6).lowercased())"
            let port = try Self.freePort()
            let greeting = "greeting-\(UUID().uuidString)"
            let created = try await Self.create(app, token: token, name: name, server: node.id, url: repository.url, port: port)
            let id = created.project.id
            do {
                let env = try await app.request(.PUT, "/api/v1/deploys/\(id)/env", token: token, json: #"{"variables":{"GREETING":"\#(greeting)"}}"#)
                // act: the first deploy
                var started = ContinuousClock.now
                let (first, firstJob, firstLog) = try await Self.deploy(app, token: token, id)
                let firstDuration = ContinuousClock.now - started
                let v1 = await Self.page(port)
                let served = await Self.page(port, "/greeting.txt")
                let afterFirst = try await app.request(.GET, "/api/v1/deploys/\(id)", token: token).decode(DeployProjectDTO.self)
                // verify
                #expect(env.status == .ok && env.body.contains("GREETING") && !env.body.contains(greeting), "\(env.body)")
                #expect(firstJob.status == .succeeded, "\(firstLog)")
                #expect(first.release.number == 1 && first.release.status == .building)
                #expect(v1 == "site v1", "the first release answers on its port")
                #expect(served == greeting, "the variable from the vault reaches the container")
                #expect(afterFirst.currentRelease == 1 && afterFirst.liveRelease?.status == .live && afterFirst.liveRelease?.commitSubject == "site site v1")
                #expect(firstLog.contains("Step 1/") && firstLog.contains("healthy after"), "build and run output are in the job log")
                print("deploy r1 took \(firstDuration): \(firstLog.split(separator: "\n").filter { $0.contains(" s") && ($0.hasPrefix("Built") || $0.contains("healthy after") || $0.hasPrefix("started in")) })")

                // act: a second commit, deployed
                try repository.commit("site v2")
                started = ContinuousClock.now
                let (_, secondJob, secondLog) = try await Self.deploy(app, token: token, id)
                let secondDuration = ContinuousClock.now - started
                let v2 = await Self.page(port)
                var releases = try await Self.releases(app, token: token, id)
                // verify
                #expect(secondJob.status == .succeeded, "\(secondLog)")
                #expect(v2 == "site v2")
                #expect(releases[2]?.status == .live && releases[1]?.status == .superseded)
                let prune = try await app.request(.POST, "/api/v1/servers/\(node.id)/images/prune", token: token)
                #expect(prune.status == .ok, "\(prune.body)")
                #expect(await Self.imageExists(DeploysService.imageTag(name, 1)), "a superseded release keeps its image, even through a prune of Nebula's images")
                print("deploy r2 took \(secondDuration): \(secondLog.split(separator: "\n").filter { $0.hasPrefix("Built") || $0.contains("healthy after") || $0.hasPrefix("started in") })")

                // act: roll back to release 1
                let rollback = try await app.request(.POST, "/api/v1/deploys/\(id)/releases/1/rollback", token: token)
                let rollbackJob = try await app.waitForJob(try rollback.decode(Accepted.self).job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
                let rolledBack = await Self.page(port)
                releases = try await Self.releases(app, token: token, id)
                let rollbackLog = try await Self.jobLog(app, rollbackJob.id)
                // verify
                #expect(rollback.status == .accepted, "\(rollback.body)")
                #expect(rollbackJob.status == .succeeded, "\(rollbackLog)")
                #expect(rolledBack == "site v1", "the earlier release answers again")
                #expect(releases[1]?.status == .live && releases[2]?.status == .rolledBack)

                // act: a commit whose build fails
                try repository.commit("site v3", broken: true)
                let (_, brokenJob, brokenLog) = try await Self.deploy(app, token: token, id)
                releases = try await Self.releases(app, token: token, id)
                let stillServed = await Self.page(port)
                let project = try await app.request(.GET, "/api/v1/deploys/\(id)", token: token)
                // verify
                #expect(brokenJob.status == .failed)
                #expect(brokenJob.lastError?.contains("The build failed") == true && brokenJob.lastError?.contains("returned a non-zero code") == true,
                        "the error names the cause: \(brokenJob.lastError ?? "")")
                #expect(brokenLog.contains("compiling the site"), "the build's output is in the job's log: \(brokenLog)")
                #expect(releases[3]?.status == .failed && releases[3]?.error != nil && releases[3]?.imageId == nil)
                #expect(releases[1]?.status == .live, "the live release is unchanged")
                #expect(stillServed == "site v1", "and still answers")

                // verify: the variable's value was never shown
                let everything = [created.project.repoUrl, env.body, project.body, firstLog, secondLog, brokenLog,
                                  try await app.request(.GET, "/api/v1/deploys", token: token).body,
                                  try await app.request(.GET, "/api/v1/deploys/\(id)/releases", token: token).body,
                                  try await app.auditEntries().map { "\($0)" }.joined(separator: "\n"), LogCapture.allText].joined(separator: "\n")
                #expect(!everything.contains(greeting), "the variable's value never appears in responses, logs or the audit log")
                #expect(!project.body.contains(created.webhookSecret), "the webhook secret is shown only once")
                let audit = try await app.auditEntries().map(\.action)
                #expect(audit.contains("deploy.project.create") && audit.contains("deploy.start") && audit.contains("deploy.rollback") && audit.contains("deploy.env.set"))

                // act: delete the project
                let delete = try await app.request(.DELETE, "/api/v1/deploys/\(id)", token: token)
                let leftContainers = try await TestEngine.client().containers(all: true).filter { $0.labels["com.docker.compose.project"] == "deploy-\(name)" }
                // verify
                #expect(delete.status == .noContent, "\(delete.body)")
                #expect(leftContainers.isEmpty)
                let imagesLeft = [await Self.imageExists(DeploysService.imageTag(name, 1)), await Self.imageExists(DeploysService.imageTag(name, 2))]
                #expect(imagesLeft == [false, false], "the release images are removed")
                #expect((try? await app.services.secrets.value(of: "deploy.\(name).GREETING")) == nil)
                #expect(await Self.page(port) == nil, "nothing answers any more")
            } catch {
                _ = try? await app.request(.DELETE, "/api/v1/deploys/\(id)", token: token)
                await Self.removeLeftovers(name)
                throw error
            }
            await Self.removeLeftovers(name)
        }
    }

    @Test(arguments: TestDatabase.all)
    func theWebhookChecksItsSignatureAndDeploysOnlyItsBranch(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false   // the queued deploy is looked at, not run
        try await withApp(database, options: options) { app in
            // setup
            let token = try await app.token(role: .operator)
            let local = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            let name = "hook-\(UUID().uuidString.prefix(6).lowercased())"
            let created = try await Self.create(app, token: token, name: name, server: local, url: "https://git.example.org/lab/site.git", port: try Self.freePort())
            let id = created.project.id
            let path = "/api/v1/deploys/\(id)/webhook"
            let push = Data(#"{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}"#.utf8)
            let other = Data(#"{"ref":"refs/heads/feature"}"#.utf8)
            func send(_ body: Data, signature: String?, event: String = "push") async throws -> TestResponse {
                var headers = [("X-GitHub-Event", event)]
                if let signature { headers.append(("X-Hub-Signature-256", signature)) }
                return try await app.request(.POST, path, raw: body, headers: headers)
            }
            let forgedKey = DeploysService.signature(of: push, key: "not-the-secret")
            let tampered = DeploysService.signature(of: other, key: created.webhookSecret)
            // act
            let forged = try await send(push, signature: forgedKey)
            let missing = try await send(push, signature: nil)
            let swapped = try await send(push, signature: tampered)
            let garbage = try await send(push, signature: "sha256=zz")
            let ping = try await send(Data(#"{"zen":"hi"}"#.utf8), signature: DeploysService.signature(of: Data(#"{"zen":"hi"}"#.utf8), key: created.webhookSecret), event: "ping")
            let otherBranch = try await send(other, signature: tampered)
            let releasesBefore = try await Self.releases(app, token: token, id)
            let queued = try await send(push, signature: DeploysService.signature(of: push, key: created.webhookSecret))
            let outcome = try queued.decode(Outcome.self)
            let releases = try await Self.releases(app, token: token, id)
            let audit = try await app.auditEntries(action: "deploy.webhook")
            // verify
            for refused in [forged, missing, swapped, garbage] {
                #expect(refused.status == .unauthorized && refused.errorCode == "invalid_signature", "\(refused.body)")
            }
            #expect(audit.filter { $0.outcome == .denied }.count == 4, "every refusal is audited")
            let pingOutcome = try ping.decode(Outcome.self)
            let otherOutcome = try otherBranch.decode(Outcome.self)
            #expect(ping.status == .accepted && pingOutcome.status == "ignored")
            #expect(otherBranch.status == .accepted && otherOutcome.status == "ignored", "\(otherBranch.body)")
            #expect(releasesBefore.isEmpty, "nothing was queued by refused or ignored deliveries")
            #expect(queued.status == .accepted && outcome.status == "queued" && outcome.release == 1, "\(queued.body)")
            #expect(releases[1]?.status == .building && releases[1]?.createdBy == "webhook")
            let job = try await app.services.jobs.find(try #require(outcome.job))
            #expect(job.type == DeployBuildJob.type && job.status == .queued)
            #expect(try await app.auditEntries(action: "deploy.start").contains { $0.actor == "webhook" })

            // act: rotating the secret retires the old one
            let rotated = try await app.request(.POST, "/api/v1/deploys/\(id)/webhook-secret", token: token)
            let newSecret = try rotated.decode(DeploysService.WebhookSecret.self).webhookSecret
            let old = try await send(other, signature: DeploysService.signature(of: other, key: created.webhookSecret))
            let fresh = try await send(other, signature: DeploysService.signature(of: other, key: newSecret))
            // verify
            #expect(newSecret != created.webhookSecret && newSecret.count == 64)
            #expect(old.status == .unauthorized && fresh.status == .accepted)
            #expect(!LogCapture.allText.contains(created.webhookSecret) && !LogCapture.allText.contains(newSecret))
        }
    }

    @Test(arguments: TestDatabase.all)
    func badInputIsRefusedBeforeAnythingIsCreated(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup
            let token = try await app.token(role: .operator)
            let viewer = try await app.token(role: .viewer)
            let local = try await app.services.fleet.ensureLocalServer(hostName: "nas")
            let port = try Self.freePort()
            func body(_ changes: [String: String]) -> String {
                var fields = ["name": #""bad-input""#, "server": #""\#(local)""#, "repoUrl": #""https://git.example.org/a/b.git""#,
                              "containerPort": "8080", "hostPort": String(port)]
                for (key, value) in changes { fields[key] = value }
                return "{" + fields.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",") + "}"
            }
            let cases: [(String, [String: String], String)] = [
                ("option as URL", ["repoUrl": #""--upload-pack=touch /tmp/x""#], "invalid_repo_url"),
                ("credentials in URL", ["repoUrl": #""https://user:hunter2@git.example.org/a/b.git""#], "invalid_repo_url"),
                ("user in https URL", ["repoUrl": #""https://token@git.example.org/a/b.git""#], "invalid_repo_url"),
                ("unknown scheme", ["repoUrl": #""ftp://git.example.org/a""#], "invalid_repo_url"),
                ("option as branch", ["branch": #""--exec=x""#], "invalid_branch"),
                ("branch with ..", ["branch": #""a..b""#], "invalid_branch"),
                ("Dockerfile outside", ["dockerfile": #""../../etc/passwd""#], "invalid_dockerfile"),
                ("absolute Dockerfile", ["dockerfile": #""/etc/Dockerfile""#], "invalid_dockerfile"),
                ("port 0", ["hostPort": "0"], "invalid_port"),
                ("port too big", ["containerPort": "70000"], "invalid_port"),
                ("bad name", ["name": #""Bad Name!""#], "invalid_name"),
                ("health path", ["healthPath": #""no-slash""#], "invalid_health_path"),
                ("bad variable", ["variables": #"{"1BAD":"x"}"#], "invalid_variable"),
                ("missing token secret", ["tokenSecret": #""no-such-secret""#], "unknown_token_secret"),
            ]
            // act + verify
            for (label, changes, code) in cases {
                let response = try await app.request(.POST, "/api/v1/deploys", token: token, json: body(changes))
                #expect(response.status == .unprocessableEntity && response.errorCode == code, "\(label): \(response.status) \(response.body)")
            }
            let asViewer = try await app.request(.POST, "/api/v1/deploys", token: viewer, json: body([:]))
            #expect(asViewer.status == .forbidden)
            let list = try await app.request(.GET, "/api/v1/deploys", token: token).body
            #expect(list.contains(#""total":0"#), "nothing was created: \(list)")
            let good = try await app.request(.POST, "/api/v1/deploys", token: token, json: body([:]))
            let clash = try await app.request(.POST, "/api/v1/deploys", token: token, json: body(["name": #""bad-input-2""#]))
            let id = try good.decode(Created.self).project.id
            let badEnv = try await app.request(.PUT, "/api/v1/deploys/\(id)/env", token: token, json: #"{"variables":{"A B":"x"}}"#)
            let badRollback = try await app.request(.POST, "/api/v1/deploys/\(id)/releases/7/rollback", token: token)
            #expect(good.status == .created)
            #expect(clash.status == .conflict && clash.errorCode == "port_conflict", "\(clash.body)")
            #expect(badEnv.status == .unprocessableEntity && badEnv.errorCode == "invalid_variable")
            #expect(badRollback.status == .notFound)
        }
    }

    @Test(.enabled(if: TestEngine.enabled, "NEBULA_TEST_DOCKER_HOST is not set: run with `make test`"), arguments: TestDatabase.all)
    func anAgentNodeBuildsTheReleaseAndANodeGoingOfflineIsAClearError(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "builder-\(UUID().uuidString.prefix(4).lowercased())")
            let agent = try await app.startAgent(for: server.id, joinToken: joinToken)
            let repository = try Repository(in: app.directory)
            try repository.commit("agent v1")
            let name = "agent-\(UUID().uuidString.prefix(6).lowercased())"
            let port = try Self.freePort()
            let created = try await Self.create(app, token: token, name: name, server: server.id, url: repository.url, port: port)
            let id = created.project.id
            do {
                // act: a deploy through the agent
                let (_, job, log) = try await Self.deploy(app, token: token, id)
                let served = await Self.page(port)
                // verify
                #expect(job.status == .succeeded, "\(log)")
                #expect(log.contains("Step 1/") && log.contains("on \(server.name)"))
                #expect(served == "agent v1")
                #expect(FileManager.default.fileExists(atPath: TestEngine.appsRoot + "/deploy-\(name)/source/Dockerfile"), "the checkout is in the agent's apps directory")

                // act: the node goes offline in the middle of the next build
                try repository.commit("agent v2", sleep: 20)
                let accepted = try await app.request(.POST, "/api/v1/deploys/\(id)/deploy", token: token).decode(Accepted.self)
                let building = try await waitUntil(timeout: .seconds(60)) { try await Self.jobLog(app, accepted.job.id).contains("RUN sleep") }
                // Revoking the node's agent drops its connection at once, as a node losing power would.
                let revoked = try await app.request(.POST, "/api/v1/servers/\(server.id)/revoke", token: try await app.token(role: .admin))
                agent.cancel()
                let failed = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed], timeout: .seconds(60))
                let releases = try await Self.releases(app, token: token, id)
                // verify
                #expect(building, "the build started")
                #expect(revoked.status == .ok)
                #expect(failed.status == .failed)
                #expect(failed.lastError?.contains("disconnected") == true || failed.lastError?.contains("not connected") == true, "\(failed.lastError ?? "")")
                #expect(releases[2]?.status == .failed && releases[1]?.status == .live, "the live release stays")
                #expect(await Self.page(port) == "agent v1", "and keeps answering")
            } catch {
                agent.cancel()
                await Self.removeLeftovers(name)
                throw error
            }
            agent.cancel()
            // The node is offline: remove what it runs directly on the engine.
            _ = await TestEngine.apps.perform(.down(project: "deploy-\(name)", removeData: true, timeoutSeconds: 60))
            await Self.removeLeftovers(name)
        }
    }
}
