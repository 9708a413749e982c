import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
import NebulaTestSupport
@testable import NebulaServer
import NIOPosix
import Testing

/// Installing marketplace apps for real: docker-compose against the dockerd `make test` starts,
/// a busybox httpd as the healthy app, a container that exits as the broken one.
@Suite(.enabled(if: TestEngine.enabled, "NEBULA_TEST_DOCKER_HOST is not set: run with `make test`"))
struct InstallsTests {
    struct Accepted: Decodable { var install: AppInstallDTO; var job: JobDTO }
    struct InstallList: Decodable { var items: [AppInstallDTO] }
    struct Problems: Decodable {
        struct Body: Decodable { var code: String; var problems: [FieldProblem]? }
        var error: Body
    }

    /// A catalog folder with the test app at `version`; `healthy: false` makes its server exit at once.
    /// `image` replaces the busybox image (one that cannot be pulled, say).
    static func writeCatalog(_ directory: URL, package: String, version: String, healthy: Bool = true, port: Int, image: String? = nil) throws {
        let command = healthy ? #"["httpd", "-f", "-p", "80", "-h", "/www"]"# : #"["sh", "-c", "echo starting; echo 'fatal: no config' >&2; exit 3"]"#
        let manifest = """
        name: \(package)
        title: Busybox web \(package)
        version: \(version)
        description: A tiny web server used by the install tests.
        category: web
        icon: "🧪"
        website: https://busybox.net
        compose:
          services:
            web:
              image: \(image ?? TestEngine.image.rawValue)
              command: \(command)
              ports:
                - "${WEB_PORT}:80"
              volumes:
                - site:/srv
              environment:
                ADMIN_PASSWORD: ${ADMIN_PASSWORD}
          volumes:
            site: {}
        variables:
          - name: WEB_PORT
            description: Port of the web page
            type: port
            default: \(port)
            required: true
          - name: ADMIN_PASSWORD
            description: Generated password
            type: password
            generate: password
        health_checks:
          - type: http
            port: ${WEB_PORT}
            path: /
            interval: 1s
            timeout: \(healthy ? 30 : 4)s
        hooks:
          post_install:
            - service: web
              command: ["sh", "-c", "echo installed-\(version) > /www/hook.txt"]
        """
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try manifest.write(to: directory.appendingPathComponent("\(package).yaml"), atomically: true, encoding: .utf8)
    }

    /// A TCP port nothing listens on right now.
    /// A free port below the ephemeral range (32768–60999 here), so a server another test binds to
    /// port 0 meanwhile can never be handed the same one; picked at random, checked by binding it.
    static func freePort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000)
            guard let channel = try? ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: port).wait() else { continue }
            try? channel.close().wait()
            return port
        }
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? channel.close().wait() }
        return channel.localAddress?.port ?? 0
    }

    /// A catalog folder source with the test package, added through the API.
    static func addCatalog(_ app: TestApp, token: String, package: String, version: String, healthy: Bool = true, port: Int,
                           image: String? = nil) async throws -> (URL, UUID) {
        let directory = app.directory.appendingPathComponent("catalog-\(package)")
        try writeCatalog(directory, package: package, version: version, healthy: healthy, port: port, image: image)
        struct Source: Decodable { var id: UUID }
        let source = try await app.request(.POST, "/api/v1/marketplace/sources", token: token,
                                           json: #"{"name":"tests-\#(package)","kind":"folder","location":"\#(directory.path)"}"#)
        #expect(source.status == .created || source.status == .ok, "\(source.body)")
        return (directory, try source.decode(Source.self).id)
    }

    static func jobLog(_ app: TestApp, _ job: UUID) async throws -> String {
        try await app.services.jobs.logLines(jobID: job, after: 0, limit: 5000).map(\.line).joined(separator: "\n")
    }

    @Test(arguments: TestDatabase.all)
    func anInstallBecomesHealthyUpgradesAndUninstallsKeepingOrDeletingData(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup
            let token = try await app.token(role: .operator)
            let node = try await app.localServer(token: token)
            let package = "web-\(UUID().uuidString.prefix(6).lowercased())"
            let port = try Self.freePort()
            let (catalog, source) = try await Self.addCatalog(app, token: token, package: package, version: "1.0.0", port: port)
            // act: install
            let response = try await app.request(.POST, "/api/v1/marketplace/installs", token: token,
                                                 json: #"{"package":"\#(package)","server":"\#(node.id)"}"#)
            let accepted = try response.decode(Accepted.self)
            let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
            let installed = try await app.request(.GET, "/api/v1/marketplace/installs/\(accepted.install.id)", token: token).decode(AppInstallDTO.self)
            let page = try await TestApp.client.get(url: "http://127.0.0.1:\(port)/").get()
            let hooked = try await TestApp.client.get(url: "http://127.0.0.1:\(port)/hook.txt").get()
            let log = try await Self.jobLog(app, job.id)
            let password = try await app.services.secrets.value(of: "app.\(package).ADMIN_PASSWORD")
            // verify
            #expect(response.status == .accepted, "\(response.body)")
            #expect(job.status == .succeeded, "\(log)")
            #expect(installed.status == .running && installed.version == "1.0.0")
            #expect(installed.urls == ["http://127.0.0.1:\(port)/"])
            #expect(installed.secretVariables == ["ADMIN_PASSWORD"] && installed.values["ADMIN_PASSWORD"] == nil)
            #expect(page.status == .ok, "the app answers on its port")
            #expect(hooked.body.map { String(buffer: $0) } == "installed-1.0.0\n", "the post-install command ran in the container")
            #expect(password.count == 24)
            #expect(log.contains("healthy after"))
            #expect(!log.contains(password) && !response.body.contains(password), "the generated secret is never shown")
            let installedAudit = try await app.auditEntries(action: "app.installed")
            #expect(installedAudit.contains { $0.outcome == .success })

            // act: a newer version appears in the catalog, then the upgrade
            try Self.writeCatalog(catalog, package: package, version: "1.1.0", port: port)
            _ = try await app.request(.POST, "/api/v1/marketplace/sources/\(source)/refresh", token: token)
            let listed = try await app.request(.GET, "/api/v1/marketplace/installs", token: token).decode(InstallList.self).items.first { $0.name == package }
            let upgrade = try await app.request(.POST, "/api/v1/marketplace/installs/\(installed.id)/upgrade", token: token).decode(Accepted.self)
            let upgradeJob = try await app.waitForJob(upgrade.job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
            let upgraded = try await app.request(.GET, "/api/v1/marketplace/installs/\(installed.id)", token: token).decode(AppInstallDTO.self)
            let passwordAfter = try await app.services.secrets.value(of: "app.\(package).ADMIN_PASSWORD")
            // verify
            #expect(listed?.updateAvailable == "1.1.0", "an update is shown once the catalog has a newer version")
            let upgradeLog = try await Self.jobLog(app, upgrade.job.id)
            #expect(upgradeJob.status == .succeeded, "\(upgradeLog)")
            #expect(upgraded.version == "1.1.0" && upgraded.status == .running && upgraded.updateAvailable == nil)
            #expect(passwordAfter == password, "data and secrets are kept across the upgrade")

            // act: uninstall keeping the data, then again deleting it
            let keep = try await app.request(.DELETE, "/api/v1/marketplace/installs/\(installed.id)", token: token).decode(Accepted.self)
            let keepJob = try await app.waitForJob(keep.job.id, toBe: [.succeeded, .failed], timeout: .seconds(60))
            let volumesKept = try TestEngine.volumes(prefix: package)
            let folder = URL(fileURLWithPath: Config.absolute(app.config.appsDirectory)).appendingPathComponent(package)
            let folderKept = FileManager.default.fileExists(atPath: folder.path)
            let again = try await app.request(.POST, "/api/v1/marketplace/installs", token: token,
                                              json: #"{"package":"\#(package)","server":"\#(node.id)"}"#).decode(Accepted.self)
            _ = try await app.waitForJob(again.job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
            let passwordReused = try await app.services.secrets.value(of: "app.\(package).ADMIN_PASSWORD")
            let delete = try await app.request(.DELETE, "/api/v1/marketplace/installs/\(again.install.id)?deleteData=true", token: token).decode(Accepted.self)
            let deleteJob = try await app.waitForJob(delete.job.id, toBe: [.succeeded, .failed], timeout: .seconds(60))
            let remaining = try await app.request(.GET, "/api/v1/marketplace/installs", token: token).decode(InstallList.self).items
            // verify
            let deleteLog = try await Self.jobLog(app, delete.job.id)
            #expect(keepJob.status == .succeeded && deleteJob.status == .succeeded, "\(deleteLog)")
            #expect(!volumesKept.isEmpty && folderKept, "uninstalling without deleting data keeps volumes and folder")
            #expect(passwordReused == password, "a reinstall over kept data reuses its secrets")
            #expect(try TestEngine.volumes(prefix: package).isEmpty, "deleting data removes the volumes")
            #expect(!FileManager.default.fileExists(atPath: folder.path), "and the app's folder")
            #expect((try? await app.services.secrets.value(of: "app.\(package).ADMIN_PASSWORD")) == nil, "and its secrets")
            #expect(!remaining.contains { $0.name == package })
        }
    }

    @Test(arguments: TestDatabase.all)
    func aFailingHealthCheckRollsBackWithTheLogsAttachedOrKeepsItForInspection(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup
            let token = try await app.token(role: .operator)
            let node = try await app.localServer(token: token)
            let package = "broken-\(UUID().uuidString.prefix(6).lowercased())"
            _ = try await Self.addCatalog(app, token: token, package: package, version: "1.0.0", healthy: false, port: try Self.freePort())
            // act
            let rolledBack = try await app.request(.POST, "/api/v1/marketplace/installs", token: token,
                                                   json: #"{"package":"\#(package)","server":"\#(node.id)"}"#).decode(Accepted.self)
            let failed = try await app.waitForJob(rolledBack.job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
            let log = try await Self.jobLog(app, failed.id)
            let after = try await app.request(.GET, "/api/v1/marketplace/installs/\(rolledBack.install.id)", token: token).decode(AppInstallDTO.self)
            let containersLeft = try await TestEngine.client().containers(all: true).filter { $0.labels["com.docker.compose.project"] == package }
            // verify
            #expect(failed.status == .failed)
            #expect(failed.lastError?.contains("health checks did not pass") == true, "\(failed.lastError ?? "")")
            #expect(log.contains("fatal: no config"), "the container's logs are attached: \(log)")
            #expect(log.contains("Rolled back"))
            #expect(after.status == .failed && after.lastError != nil)
            #expect(containersLeft.isEmpty, "nothing of the failed app is left running")

            // act: the same, kept for inspection
            _ = try await app.request(.DELETE, "/api/v1/marketplace/installs/\(rolledBack.install.id)?deleteData=true", token: token)
            _ = try await waitUntil { try await app.request(.GET, "/api/v1/marketplace/installs/\(rolledBack.install.id)", token: token).status == .notFound }
            let kept = try await app.request(.POST, "/api/v1/marketplace/installs", token: token,
                                             json: #"{"package":"\#(package)","server":"\#(node.id)","keepOnFailure":true}"#).decode(Accepted.self)
            let keptJob = try await app.waitForJob(kept.job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
            let keptContainers = try await TestEngine.client().containers(all: true).filter { $0.labels["com.docker.compose.project"] == package }
            let cleanup = try await app.request(.DELETE, "/api/v1/marketplace/installs/\(kept.install.id)?deleteData=true", token: token).decode(Accepted.self)
            let cleaned = try await app.waitForJob(cleanup.job.id, toBe: [.succeeded, .failed], timeout: .seconds(60))
            // verify
            #expect(cleaned.status == .succeeded, "a failed install kept for inspection uninstalls cleanly")
            #expect(keptJob.status == .failed)
            #expect(!keptContainers.isEmpty, "kept for inspection when asked")
        }
    }

    @Test(arguments: TestDatabase.all)
    func anAppInstallsOnAnAgentNodeThroughItsAgent(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "apps-node")
            let agent = try await app.startAgent(for: server.id, joinToken: joinToken)
            defer { agent.cancel() }
            let package = "remote-\(UUID().uuidString.prefix(6).lowercased())"
            let port = try Self.freePort()
            _ = try await Self.addCatalog(app, token: token, package: package, version: "1.0.0", port: port)
            // act
            let accepted = try await app.request(.POST, "/api/v1/marketplace/installs", token: token,
                                                 json: #"{"package":"\#(package)","server":"\#(server.id)"}"#).decode(Accepted.self)
            let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
            let page = try await TestApp.client.get(url: "http://127.0.0.1:\(port)/").get()
            let folder = URL(fileURLWithPath: TestEngine.appsRoot).appendingPathComponent(package)
            let written = FileManager.default.fileExists(atPath: folder.appendingPathComponent("docker-compose.yml").path)
            let removal = try await app.request(.DELETE, "/api/v1/marketplace/installs/\(accepted.install.id)?deleteData=true", token: token).decode(Accepted.self)
            let removed = try await app.waitForJob(removal.job.id, toBe: [.succeeded, .failed], timeout: .seconds(60))
            let log = try await Self.jobLog(app, job.id)
            // verify
            #expect(job.status == .succeeded, "\(log)")
            #expect(page.status == .ok)
            #expect(written, "the agent wrote the app's files into its own apps directory")
            #expect(removed.status == .succeeded && !FileManager.default.fileExists(atPath: folder.path))
        }
    }

    @Test(arguments: TestDatabase.all)
    func anImageThatCannotBePulledFailsTheInstallWithComposesReasonAndLeavesNothing(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup: no registry is reachable here, so any image not on the engine cannot be pulled
            let token = try await app.token(role: .operator)
            let node = try await app.localServer(token: token)
            let package = "nopull-\(UUID().uuidString.prefix(6).lowercased())"
            _ = try await Self.addCatalog(app, token: token, package: package, version: "1.0.0", port: try Self.freePort(),
                                          image: "nebula-test/does-not-exist:1.0")
            // act
            let accepted = try await app.request(.POST, "/api/v1/marketplace/installs", token: token,
                                                 json: #"{"package":"\#(package)","server":"\#(node.id)"}"#).decode(Accepted.self)
            let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed], timeout: .seconds(120))
            let log = try await Self.jobLog(app, job.id)
            let left = try await TestEngine.client().containers(all: true).filter { $0.labels["com.docker.compose.project"] == package }
            // verify
            #expect(job.status == .failed)
            #expect(job.lastError?.contains("compose up failed") == true, "\(job.lastError ?? "")")
            #expect(log.contains("nebula-test/does-not-exist"), "compose's own reason is in the log")
            #expect(left.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: Config.absolute(app.config.appsDirectory)).appendingPathComponent(package).path),
                    "the rollback removed the app's folder")
        }
    }

    @Test(arguments: TestDatabase.all)
    func badValuesAndPortConflictsAreRefusedBeforeAnythingStarts(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup: something already listens on the app's default port
            let token = try await app.token(role: .operator)
            let viewer = try await app.token(role: .viewer)
            let node = try await app.localServer(token: token)
            let busy = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "0.0.0.0", port: 0).get()
            defer { busy.close(promise: nil) }
            let port = busy.localAddress?.port ?? 0
            let package = "clash-\(UUID().uuidString.prefix(6).lowercased())"
            _ = try await Self.addCatalog(app, token: token, package: package, version: "1.0.0", port: port)
            let path = "/api/v1/marketplace/installs"
            // act
            let conflict = try await app.request(.POST, path, token: token, json: #"{"package":"\#(package)","server":"\#(node.id)"}"#)
            let unknownVariable = try await app.request(.POST, path, token: token,
                                                        json: #"{"package":"\#(package)","server":"\#(node.id)","variables":{"NOPE":"1"}}"#)
            let badPort = try await app.request(.POST, path, token: token,
                                                json: #"{"package":"\#(package)","server":"\#(node.id)","variables":{"WEB_PORT":"99999"}}"#)
            let unknownPackage = try await app.request(.POST, path, token: token, json: #"{"package":"no-such-app","server":"\#(node.id)"}"#)
            let badName = try await app.request(.POST, path, token: token, json: #"{"package":"\#(package)","server":"\#(node.id)","name":"Bad Name!"}"#)
            let asViewer = try await app.request(.POST, path, token: viewer, json: #"{"package":"\#(package)","server":"\#(node.id)"}"#)
            let installs = try await app.request(.GET, path, token: token).decode(InstallList.self).items
            let started = try await TestEngine.client().containers(all: true).filter { $0.labels["com.docker.compose.project"] == package }
            // verify
            #expect(conflict.status == .conflict && conflict.errorCode == "port_conflict", "\(conflict.body)")
            #expect(conflict.body.contains("port \(port)"))
            let problems = try unknownVariable.decode(Problems.self)
            #expect(unknownVariable.status == .unprocessableEntity && problems.error.code == "invalid_variables")
            #expect(problems.error.problems?.map(\.path) == ["values.NOPE"])
            #expect(badPort.status == .unprocessableEntity)
            #expect(try badPort.decode(Problems.self).error.problems?.first?.path == "values.WEB_PORT")
            #expect(unknownPackage.status == .notFound)
            #expect(badName.status == .unprocessableEntity && badName.errorCode == "invalid_name")
            #expect(asViewer.status == .forbidden)
            #expect(installs.isEmpty && started.isEmpty, "nothing was installed or started")
        }
    }
}

extension TestEngine {
    /// Names of the test engine's volumes that start with `prefix`.
    static func volumes(prefix: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker", "-H", host ?? "", "volume", "ls", "-q"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }
}

/// An app installed with a domain is published: proxy route through a real Caddy, DNS record in
/// the managed domain, and it answers over HTTPS under its name; uninstalling takes both away.
@Suite(.enabled(if: TestEngine.enabled && CaddyTestServer.isAvailable, "needs dockerd and Caddy: run with `make test`"))
struct AppPublishingTests {
    @Test(arguments: TestDatabase.all)
    func anAppInstalledWithADomainGetsItsRouteRecordAndHTTPSUntilUninstalled(_ database: TestDatabase) async throws {
        try await withProxyApp(database, configure: { $0.measuresLocalHost = true }) { app, caddy, admin in
            // setup: a managed domain, the local server's address (where Caddy runs), a catalog app
            let zone = "apps-\(UUID().uuidString.prefix(6).lowercased()).test"
            let host = "web.\(zone)"
            let domain = try await app.request(.POST, "/api/v1/domains", token: admin, json: #"{"name":"\#(zone)","provider":"manual"}"#).decode(DomainDTO.self)
            let node = try await app.localServer(token: admin)
            let addressed = try await app.request(.PATCH, "/api/v1/servers/\(node.id)", token: admin, json: #"{"address":"127.0.0.1"}"#)
            let package = "pub-\(UUID().uuidString.prefix(6).lowercased())"
            _ = try await InstallsTests.addCatalog(app, token: admin, package: package, version: "1.0.0", port: try InstallsTests.freePort())
            // act
            let badName = try await app.request(.POST, "/api/v1/marketplace/installs", token: admin,
                                                json: #"{"package":"\#(package)","server":"\#(node.id)","domain":"not a host"}"#)
            let response = try await app.request(.POST, "/api/v1/marketplace/installs", token: admin,
                                                 json: #"{"package":"\#(package)","server":"\#(node.id)","domain":"Web.\#(zone)"}"#)
            let accepted = try response.decode(InstallsTests.Accepted.self)
            let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed], timeout: .seconds(120))
            let log = try await InstallsTests.jobLog(app, job.id)
            let taken = try await app.request(.POST, "/api/v1/marketplace/installs", token: admin,
                                              json: #"{"package":"\#(package)","server":"\#(node.id)","name":"second","domain":"\#(host)"}"#)
            let installed = try await app.request(.GET, "/api/v1/marketplace/installs/\(accepted.install.id)", token: admin).decode(AppInstallDTO.self)
            let routes = try await app.request(.GET, "/api/v1/proxy/routes", token: admin)
            let records = try await app.request(.GET, "/api/v1/domains/\(domain.id)/records", token: admin).decode(ListPage<DNSRecordDTO>.self).items
            let page = try await curlThroughCaddy(host: host, port: caddy.httpsPort, trusting: try await caddy.rootCertificatePEM(), in: app.directory)
            // verify
            #expect(addressed.status == .ok, "\(addressed.body)")
            #expect(badName.status == .unprocessableEntity && badName.errorCode == "invalid_domain", "\(badName.body)")
            #expect(job.status == .succeeded, "\(log)")
            #expect(log.contains("proxy route \(host)") && log.contains("proxy configuration applied"), "\(log)")
            #expect(installed.domain == host && installed.publicURL == "https://\(host)/")
            #expect(taken.status == .conflict && taken.errorCode == "domain_taken", "\(taken.body)")
            #expect(routes.body.contains(#""host":"\#(host)""#), "\(routes.body)")
            #expect(records.map { "\($0.name) \($0.type.rawValue) \($0.content)" } == ["\(host) A 127.0.0.1"])
            #expect(page.status == 200, "the app answers through Caddy over HTTPS as \(host): \(page)")
            // act: uninstalling takes the route and the record away again
            let removal = try await app.request(.DELETE, "/api/v1/marketplace/installs/\(accepted.install.id)?deleteData=true", token: admin)
                .decode(InstallsTests.Accepted.self)
            let removed = try await app.waitForJob(removal.job.id, toBe: [.succeeded, .failed], timeout: .seconds(90))
            let removalLog = try await InstallsTests.jobLog(app, removed.id)
            let routesAfter = try await app.request(.GET, "/api/v1/proxy/routes", token: admin)
            let recordsAfter = try await app.request(.GET, "/api/v1/domains/\(domain.id)/records", token: admin).decode(ListPage<DNSRecordDTO>.self).items
            // verify
            #expect(removed.status == .succeeded, "\(removalLog)")
            #expect(removalLog.contains("proxy route \(host) removed"), "\(removalLog)")
            #expect(!routesAfter.body.contains(host), "\(routesAfter.body)")
            #expect(recordsAfter.isEmpty)
        }
    }
}
