import Crypto
import DockerEngine
import Fluent
import Foundation
import NebulaAgent
import NebulaCore
import Vapor

extension EventType {
    public static let deployProjectCreated: EventType = "deploy.project_created"
    public static let deployProjectDeleted: EventType = "deploy.project_deleted"
    public static let deployEnvChanged: EventType = "deploy.env_changed"
    public static let deployStarted: EventType = "deploy.started"
    public static let deploySucceeded: EventType = "deploy.succeeded"
    public static let deployFailed: EventType = "deploy.failed"
    public static let deployRolledBack: EventType = "deploy.rolled_back"
}

/// Git deploys: projects built from a repository's Dockerfile on a chosen server and run there as
/// the Compose project `deploy-<name>`. Every deploy is a release that keeps its image and its log
/// (the job's); a release only goes live once its health check passes, else the previous one stays.
/// Reading needs the viewer role, every change the operator role; changes are audited and
/// published as `deploy.*` events. The API, the pages and the webhook all call this.
struct DeploysService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let jobs: JobQueue
    let secrets: SecretsService
    let containers: ContainersService

    /// What `POST /api/v1/deploys` takes.
    struct CreateRequest: Codable, Sendable {
        var name: String
        /// The server to build and run on; the control plane's own machine when absent.
        var server: UUID?
        var repoUrl: String
        var branch: String?
        /// A vault secret holding an HTTPS access token for a private repository.
        var tokenSecret: String?
        var dockerfile: String?
        var containerPort: Int
        var hostPort: Int
        var healthPath: String?
        var healthTimeoutSeconds: Int?
        /// Environment variables; their values go to the vault.
        var variables: [String: String]?
    }

    /// A new project and its webhook secret, shown this once.
    struct Created: Content {
        var project: DeployProjectDTO
        var webhookSecret: String
        var webhookUrl: String
    }

    /// A rotated webhook secret, shown this once.
    struct WebhookSecret: Content {
        var webhookSecret: String
        var webhookUrl: String
    }

    /// A release and the job doing its work.
    struct Accepted: Content {
        var release: DeployReleaseDTO
        var job: JobDTO
    }

    /// What the webhook did with a delivery.
    struct WebhookOutcome: Content {
        /// `queued` or `ignored`.
        var status: String
        var reason: String?
        var release: Int?
        var job: UUID?
    }

    // MARK: Reading

    func list(by actor: Actor) async throws -> [DeployProjectDTO] {
        try actor.require(.viewer)
        let projects = try await DeployProject.query(on: db).sort(\.$name).all()
        let servers = Dictionary(try await ServerRecord.query(on: db).all().compactMap { server in server.id.map { ($0, server) } },
                                 uniquingKeysWith: { first, _ in first })
        var result: [DeployProjectDTO] = []
        for project in projects {
            let latest = try await DeployRelease.query(on: db).filter(\.$projectID == project.requireID()).sort(\.$number, .descending).first()
            let live = try await liveRelease(of: project)
            result.append(DeployProjectDTO(project, server: servers[project.serverID], live: live, latest: latest))
        }
        return result
    }

    func find(_ id: UUID, by actor: Actor) async throws -> DeployProjectDTO {
        try actor.require(.viewer)
        let project = try await record(id)
        let latest = try await DeployRelease.query(on: db).filter(\.$projectID == id).sort(\.$number, .descending).first()
        return DeployProjectDTO(project, server: try await ServerRecord.find(project.serverID, on: db), live: try await liveRelease(of: project), latest: latest)
    }

    func releases(of id: UUID, by actor: Actor) async throws -> [DeployReleaseDTO] {
        try actor.require(.viewer)
        _ = try await record(id)
        return try await DeployRelease.query(on: db).filter(\.$projectID == id).sort(\.$number, .descending).all().map(DeployReleaseDTO.init)
    }

    // MARK: Projects

    /// Checks every field, stores the variables and a new webhook secret in the vault, and creates
    /// the project (nothing runs until the first deploy).
    func create(_ request: CreateRequest, baseURL: String, by actor: Actor) async throws -> Created {
        try actor.require(.operator)
        let name = request.name.trimmingCharacters(in: .whitespaces)
        try Self.validate(name: name)
        let url = request.repoUrl.trimmingCharacters(in: .whitespaces)
        try Self.validate(repoURL: url)
        let branch = (request.branch ?? "main").trimmingCharacters(in: .whitespaces)
        try Self.validate(branch: branch)
        let dockerfile = (request.dockerfile ?? "Dockerfile").trimmingCharacters(in: .whitespaces)
        try Self.validate(dockerfile: dockerfile)
        try Self.validate(port: request.containerPort, field: "containerPort")
        try Self.validate(port: request.hostPort, field: "hostPort")
        let healthPath = request.healthPath.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        if let healthPath { try Self.validate(healthPath: healthPath) }
        let healthTimeout = request.healthTimeoutSeconds ?? 60
        guard (5...900).contains(healthTimeout) else {
            throw NebulaError.unprocessable("healthTimeoutSeconds is 5–900.", code: "invalid_health_timeout")
        }
        let variables = request.variables ?? [:]
        for (key, value) in variables { try Self.validate(variable: key, value: value, allowEmpty: false) }
        let tokenSecret = request.tokenSecret.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        if let tokenSecret {
            try SecretsService.validate(name: tokenSecret)
            guard (try? await secrets.value(of: tokenSecret)) != nil else {
                throw NebulaError.unprocessable("No secret named '\(tokenSecret)' in the vault; store the access token under Secrets first.", code: "unknown_token_secret")
            }
            guard url.lowercased().hasPrefix("https://") || url.lowercased().hasPrefix("http://") else {
                throw NebulaError.unprocessable("An access token works only with an https repository URL.", code: "invalid_repo_url")
            }
        }
        guard try await DeployProject.query(on: db).filter(\.$name == name).first() == nil else {
            throw NebulaError.conflict("A deploy project named '\(name)' already exists; choose another name.", code: "name_taken")
        }
        let node = try await serverNode(request.server)
        try await NodePorts.ensureFree([(request.hostPort, "host port")], on: node, db: db)

        let project = DeployProject()
        project.id = UUID()
        project.name = name
        project.serverID = try node.server.requireID()
        project.repoURL = url
        project.branch = branch
        project.tokenSecret = tokenSecret
        project.dockerfile = dockerfile
        project.containerPort = request.containerPort
        project.hostPort = request.hostPort
        project.healthPath = healthPath
        project.healthTimeoutSeconds = healthTimeout
        project.envNames = try InstallsService.json(variables.keys.sorted())
        project.webhookSecret = Self.webhookSecretName(name)
        project.createdBy = actor.username
        let secret = Self.newWebhookSecret()
        _ = try await secrets.store(name: project.webhookSecret, value: secret, description: "Webhook key of the deploy project \(name)", replace: true, by: actor)
        for (key, value) in variables {
            _ = try await secrets.store(name: Self.variableSecretName(name, key), value: value, description: "\(key) of the deploy project \(name)",
                                        replace: true, by: actor)
        }
        try await project.create(on: db)
        try await audit.record("deploy.project.create", target: "deploy:\(name)@server:\(node.name)", by: actor,
                               detail: "\(GitCheckout.redacted(url))#\(branch), port \(request.hostPort)→\(request.containerPort)")
        await events.publish(.deployProjectCreated, actor: actor.username, subject: "deploy:\(name)", data: ["id": try project.requireID().uuidString])
        return Created(project: DeployProjectDTO(project, server: node.server, live: nil, latest: nil), webhookSecret: secret,
                       webhookUrl: Self.webhookURL(baseURL, try project.requireID()))
    }

    /// Stops and removes the project's containers, folder (the checkout) and release images on its
    /// node, its vault secrets and its releases. Nothing else on the node is touched.
    func delete(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let project = try await record(id)
        let node = try await containers.node(project.serverID)
        if try await DeployRelease.query(on: db).filter(\.$projectID == id).filter(\.$status == .building).first() != nil {
            throw NebulaError.conflict("\(project.name) is being deployed; wait for that to finish.", code: "deploy_busy")
        }
        let down = try await node.engine.apps(.down(project: project.nodeProject, removeData: true, timeoutSeconds: 120))
        guard down.ok else {
            try await audit.record("deploy.project.delete", target: "deploy:\(project.name)", outcome: .failure, by: actor, detail: down.message)
            throw NebulaError.badGateway("Could not remove \(project.name) from \(node.name): \(down.message)", code: "deploy_remove_failed")
        }
        let releases = try await DeployRelease.query(on: db).filter(\.$projectID == id).all()
        for release in releases where release.imageID != nil {
            _ = try? await node.engine.perform(.removeImage(image: release.imageTag, force: false))
        }
        for name in project.environmentNames {
            try? await secrets.delete(name: Self.variableSecretName(project.name, name), by: actor)
        }
        try? await secrets.delete(name: project.webhookSecret, by: actor)
        try await DeployRelease.query(on: db).filter(\.$projectID == id).delete()
        try await project.delete(on: db)
        try await audit.record("deploy.project.delete", target: "deploy:\(project.name)@server:\(node.name)", by: actor,
                               detail: "\(releases.count) releases removed")
        await events.publish(.deployProjectDeleted, actor: actor.username, subject: "deploy:\(project.name)", data: ["id": id.uuidString])
    }

    /// Sets environment variables (an empty value removes one). They apply from the next deploy or rollback.
    func setEnvironment(_ id: UUID, variables: [String: String], by actor: Actor) async throws -> DeployProjectDTO {
        try actor.require(.operator)
        let project = try await record(id)
        guard !variables.isEmpty else { throw NebulaError.unprocessable("Give at least one variable.", code: "no_variables") }
        for (key, value) in variables { try Self.validate(variable: key, value: value, allowEmpty: true) }
        var names = Set(project.environmentNames)
        for (key, value) in variables.sorted(by: { $0.key < $1.key }) {
            let secret = Self.variableSecretName(project.name, key)
            if value.isEmpty {
                if names.remove(key) != nil { try? await secrets.delete(name: secret, by: actor) }
            } else {
                _ = try await secrets.store(name: secret, value: value, description: "\(key) of the deploy project \(project.name)", replace: true, by: actor)
                names.insert(key)
            }
        }
        project.envNames = try InstallsService.json(names.sorted())
        try await project.update(on: db)
        let removed = variables.filter { $0.value.isEmpty }.keys.sorted()
        let set = variables.filter { !$0.value.isEmpty }.keys.sorted()
        try await audit.record("deploy.env.set", target: "deploy:\(project.name)", by: actor,
                               detail: "set: \(set.joined(separator: ", "))" + (removed.isEmpty ? "" : "; removed: \(removed.joined(separator: ", "))"))
        await events.publish(.deployEnvChanged, actor: actor.username, subject: "deploy:\(project.name)", data: ["id": id.uuidString])
        return try await find(id, by: actor)
    }

    /// A new webhook secret (the old one stops working at once), shown this once.
    func rotateWebhookSecret(_ id: UUID, baseURL: String, by actor: Actor) async throws -> WebhookSecret {
        try actor.require(.operator)
        let project = try await record(id)
        let secret = Self.newWebhookSecret()
        _ = try await secrets.store(name: project.webhookSecret, value: secret, description: "Webhook key of the deploy project \(project.name)",
                                    replace: true, by: actor)
        try await audit.record("deploy.webhook.rotate", target: "deploy:\(project.name)", by: actor)
        return WebhookSecret(webhookSecret: secret, webhookUrl: Self.webhookURL(baseURL, id))
    }

    // MARK: Deploying

    /// Queues a build of the branch's head as the next release.
    func deploy(_ id: UUID, by actor: Actor) async throws -> Accepted {
        try actor.require(.operator)
        let project = try await record(id)
        let node = try await containers.node(project.serverID)
        try await ensureIdle(project)
        let number = (try await DeployRelease.query(on: db).filter(\.$projectID == id).max(\.$number) ?? 0) + 1
        let release = DeployRelease()
        release.id = UUID()
        release.projectID = id
        release.number = number
        release.imageTag = Self.imageTag(project.name, number)
        release.status = .building
        release.createdBy = actor.username
        try await release.create(on: db)
        let job = try await jobs.enqueue(type: DeployBuildJob.type, payload: try InstallsService.json(JobPayload(release: try release.requireID())),
                                         maxAttempts: 1, by: actor)
        release.jobID = job.id
        try await release.update(on: db)
        try await audit.record("deploy.start", target: "deploy:\(project.name)@server:\(node.name)", by: actor, detail: "release r\(number), job \(job.id)")
        await events.publish(.deployStarted, actor: actor.username, subject: "deploy:\(project.name)",
                             data: ["id": id.uuidString, "release": String(number), "job": job.id.uuidString])
        return Accepted(release: DeployReleaseDTO(release), job: job)
    }

    /// Queues bringing release `number` back (its kept image, today's environment), health-gated.
    func rollback(_ id: UUID, to number: Int, by actor: Actor) async throws -> Accepted {
        try actor.require(.operator)
        let project = try await record(id)
        guard let release = try await DeployRelease.query(on: db).filter(\.$projectID == id).filter(\.$number == number).first() else {
            throw NebulaError.notFound("Release r\(number) of \(project.name)")
        }
        guard release.imageID != nil, release.status != .building else {
            throw NebulaError.conflict("Release r\(number) has no image to run (its build \(release.status == .building ? "is running" : "failed")).", code: "no_image")
        }
        guard project.currentRelease != number else {
            throw NebulaError.conflict("Release r\(number) is already live.", code: "already_live")
        }
        let node = try await containers.node(project.serverID)
        try await ensureIdle(project)
        let job = try await jobs.enqueue(type: DeployRollbackJob.type, payload: try InstallsService.json(JobPayload(release: try release.requireID())),
                                         maxAttempts: 1, by: actor)
        try await audit.record("deploy.rollback", target: "deploy:\(project.name)@server:\(node.name)", by: actor,
                               detail: "to r\(number) from \(project.currentRelease.map { "r\($0)" } ?? "nothing"), job \(job.id)")
        await events.publish(.deployStarted, actor: actor.username, subject: "deploy:\(project.name)",
                             data: ["id": id.uuidString, "release": String(number), "job": job.id.uuidString, "rollback": "true"])
        return Accepted(release: DeployReleaseDTO(release), job: job)
    }

    /// A GitHub push delivery: the signature (`X-Hub-Signature-256`, HMAC-SHA256 of the raw body
    /// with the project's webhook secret) is checked in constant time; a push to the project's branch
    /// queues a deploy as the system, `ping` and other branches are ignored.
    func webhook(_ id: UUID, body: Data, signature: String?, event: String?, ip: String?) async throws -> WebhookOutcome {
        let caller = Actor(userID: nil, username: "webhook", role: .viewer, credential: .system, ip: ip)
        guard let project = try await DeployProject.find(id, on: db) else { throw NebulaError.notFound("Deploy project \(id)") }
        let key = try? await secrets.value(of: project.webhookSecret)
        guard let key, Self.verify(signature: signature, body: body, key: key) else {
            try await audit.record("deploy.webhook", target: "deploy:\(project.name)", outcome: .denied, by: caller,
                                   detail: signature == nil ? "no X-Hub-Signature-256 header" : "the signature does not match")
            throw NebulaError(.unauthorized, code: "invalid_signature",
                              "The X-Hub-Signature-256 header is missing or does not match this project's webhook secret.")
        }
        func ignored(_ reason: String) async throws -> WebhookOutcome {
            try await audit.record("deploy.webhook", target: "deploy:\(project.name)", by: caller, detail: "ignored: \(reason)")
            return WebhookOutcome(status: "ignored", reason: reason)
        }
        let kind = event?.lowercased() ?? "push"
        if kind == "ping" { return try await ignored("ping") }
        guard kind == "push" else { return try await ignored("\(kind.prefix(40)) events do not deploy") }
        struct Push: Decodable { var ref: String? }
        guard let push = try? JSONDecoder().decode(Push.self, from: body), let ref = push.ref else {
            throw NebulaError.invalid("The push payload has no 'ref'.", code: "invalid_payload")
        }
        guard ref == "refs/heads/\(project.branch)" else {
            return try await ignored("\(ref.prefix(200)) is not refs/heads/\(project.branch)")
        }
        try await audit.record("deploy.webhook", target: "deploy:\(project.name)", by: caller, detail: "push to \(project.branch)")
        let accepted = try await deploy(id, by: .system("webhook"))
        return WebhookOutcome(status: "queued", reason: nil, release: accepted.release.number, job: accepted.job.id)
    }

    static func verify(signature: String?, body: Data, key: String) -> Bool {
        guard let signature, signature.hasPrefix("sha256="), let mac = Self.hexBytes(String(signature.dropFirst(7))), mac.count == 32 else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: SymmetricKey(data: Data(key.utf8)))
    }

    /// `sha256=<hex>` for `body`, as GitHub sends it.
    static func signature(of body: Data, key: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    // MARK: Shared with the jobs

    struct JobPayload: Codable, Sendable {
        var release: UUID
    }

    func record(_ id: UUID) async throws -> DeployProject {
        guard let project = try await DeployProject.find(id, on: db) else { throw NebulaError.notFound("Deploy project \(id)") }
        return project
    }

    func liveRelease(of project: DeployProject) async throws -> DeployRelease? {
        guard let number = project.currentRelease else { return nil }
        return try await DeployRelease.query(on: db).filter(\.$projectID == project.requireID()).filter(\.$number == number).first()
    }

    /// Refuses a second deploy while one runs; a release left `building` by a job that is over
    /// (the control plane restarted mid-deploy) is marked failed first.
    private func ensureIdle(_ project: DeployProject) async throws {
        let building = try await DeployRelease.query(on: db).filter(\.$projectID == project.requireID()).filter(\.$status == .building).all()
        for release in building {
            if let jobID = release.jobID, let job = try? await jobs.find(jobID), job.status == .queued || job.status == .running {
                throw NebulaError.conflict("Release r\(release.number) of \(project.name) is being deployed; wait for it to finish.", code: "deploy_busy")
            }
            release.status = .failed
            release.error = release.error ?? "The deploy was interrupted."
            release.finishedAt = Date()
            try await release.update(on: db)
        }
        for job in try await jobs.list(status: nil, type: DeployRollbackJob.type, limit: 50, offset: 0).items
        where (job.status == .queued || job.status == .running) {
            if let payload = try? JSONDecoder().decode(JobPayload.self, from: Data(job.payload.utf8)),
               let release = try await DeployRelease.find(payload.release, on: db), release.projectID == project.id {
                throw NebulaError.conflict("A rollback of \(project.name) is running; wait for it to finish.", code: "deploy_busy")
            }
        }
    }

    /// Every variable's value, from the vault.
    func environment(of project: DeployProject) async throws -> [String: String] {
        var values: [String: String] = [:]
        for name in project.environmentNames {
            values[name] = try await secrets.value(of: Self.variableSecretName(project.name, name))
        }
        return values
    }

    /// The Compose file that runs release `number`: one service `app`, the port mapping, the
    /// variables read from the project's `.env`.
    static func compose(for project: DeployProject, release number: Int) -> String {
        var lines = [
            "services:",
            "  app:",
            "    image: \"\(imageTag(project.name, number))\"",
            "    restart: unless-stopped",
            // A tiny init as PID 1 passes SIGTERM on, so an app without signal handling stops at once when replaced.
            "    init: true",
            "    ports:",
            "      - \"\(project.hostPort):\(project.containerPort)\"",
            "    labels:",
            "      \(NodeDocker.deployLabel): \"\(project.name)\"",
            "      dev.nebula.release: \"\(number)\"",
        ]
        let names = project.environmentNames
        if !names.isEmpty {
            lines.append("    environment:")
            for name in names { lines.append("      \(name): \"${\(name)}\"") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func healthCheck(of project: DeployProject) -> HealthCheck {
        project.healthPath.map { .http(port: project.hostPort, path: $0, expectStatus: nil) } ?? .tcp(port: project.hostPort)
    }

    static func imageTag(_ name: String, _ number: Int) -> String { "nebula-deploy/\(name):r\(number)" }
    static func webhookSecretName(_ name: String) -> String { "deploy.\(name).webhook" }
    static func variableSecretName(_ name: String, _ variable: String) -> String { "deploy.\(name).\(variable)" }
    static func webhookURL(_ base: String, _ id: UUID) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/api/v1/deploys/\(id.uuidString)/webhook"
    }

    static func newWebhookSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// The server `id`, or the control plane's own machine.
    private func serverNode(_ id: UUID?) async throws -> ContainersService.Node {
        if let id { return try await containers.node(id) }
        guard let local = try await ServerRecord.query(on: db).filter(\.$connection == .local).first() else {
            throw NebulaError.unprocessable("Choose a server: this control plane has not registered its own machine.", code: "server_required")
        }
        return try await containers.node(try local.requireID())
    }

    // MARK: Validation

    static func validate(name: String) throws(NebulaError) {
        let bytes = Array(name.utf8)
        func ok(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        guard (1...40).contains(bytes.count), ok(bytes[0]), bytes.allSatisfy({ ok($0) || $0 == UInt8(ascii: "-") }) else {
            throw .unprocessable("'\(name.prefix(64))' is not a valid project name: 1–40 lower-case letters, digits or '-', starting with a letter or digit.",
                                 code: "invalid_name")
        }
    }

    static func validate(repoURL url: String) throws(NebulaError) {
        func refuse(_ why: String) -> NebulaError { .unprocessable("The repository URL \(why).", code: "invalid_repo_url") }
        guard !url.isEmpty, url.utf8.count <= 500 else { throw refuse("must be 1–500 characters") }
        guard !url.hasPrefix("-") else { throw refuse("must not start with '-'") }
        guard !url.contains(where: { $0.isWhitespace || $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else { throw refuse("must not contain spaces or control characters") }
        let lower = url.lowercased()
        if lower.contains("://") {
            guard ["https://", "http://", "ssh://", "git://", "file://"].contains(where: { lower.hasPrefix($0) }) else {
                throw refuse("must be https://, http://, ssh://, git:// or file://")
            }
            guard let components = URLComponents(string: url) else { throw refuse("cannot be parsed") }
            if components.password != nil || ((lower.hasPrefix("http://") || lower.hasPrefix("https://")) && components.user != nil) {
                throw refuse("must not contain credentials; store the access token in the vault and name it as the token secret")
            }
            if !lower.hasPrefix("file://") && (components.host ?? "").isEmpty { throw refuse("has no host") }
            if lower.hasPrefix("file://") && !(components.path.hasPrefix("/")) { throw refuse("needs an absolute path") }
        } else {
            // scp-like: [user@]host:path
            guard let colon = url.firstIndex(of: ":"), colon > url.startIndex, !url[..<colon].contains("/") else {
                throw refuse("must be https://, ssh://, git://, file:// or user@host:path")
            }
            if url[..<colon].split(separator: "@").count > 2 { throw refuse("cannot be parsed") }
        }
    }

    static func validate(branch: String) throws(NebulaError) {
        let forbidden: Set<Character> = ["~", "^", ":", "?", "*", "[", "\\", " "]
        guard !branch.isEmpty, branch.utf8.count <= 200, !branch.hasPrefix("-"), !branch.hasPrefix("/"), !branch.hasSuffix("/"), !branch.hasSuffix(".lock"),
              !branch.contains(".."), !branch.contains("@{"), !branch.contains("//"),
              !branch.contains(where: { forbidden.contains($0) || $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else {
            throw .unprocessable("'\(branch.prefix(64))' is not a valid branch name.", code: "invalid_branch")
        }
    }

    static func validate(dockerfile: String) throws(NebulaError) {
        let parts = dockerfile.split(separator: "/", omittingEmptySubsequences: false)
        guard !dockerfile.isEmpty, dockerfile.utf8.count <= 200, !dockerfile.hasPrefix("/"), !dockerfile.hasPrefix("-"),
              !parts.contains(where: { $0 == ".." || $0.isEmpty }), !dockerfile.contains("\\"),
              !dockerfile.contains(where: { $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else {
            throw .unprocessable("The Dockerfile path '\(dockerfile.prefix(64))' must be relative to the repository, without '..'.", code: "invalid_dockerfile")
        }
    }

    static func validate(healthPath: String) throws(NebulaError) {
        guard healthPath.hasPrefix("/"), healthPath.utf8.count <= 200, !healthPath.contains(".."),
              !healthPath.contains(where: { $0.isWhitespace || $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else {
            throw .unprocessable("The health check path must start with '/' and have no spaces or '..'.", code: "invalid_health_path")
        }
    }

    static func validate(port: Int, field: String) throws(NebulaError) {
        guard (1...65535).contains(port) else { throw .unprocessable("\(field) must be 1–65535.", code: "invalid_port") }
    }

    static func validate(variable name: String, value: String, allowEmpty: Bool) throws(NebulaError) {
        let bytes = Array(name.utf8)
        func letter(_ b: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || b == UInt8(ascii: "_") }
        guard (1...50).contains(bytes.count), letter(bytes[0]), bytes.allSatisfy({ letter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw .unprocessable("'\(name.prefix(64))' is not a variable name: 1–50 letters, digits or '_', not starting with a digit.", code: "invalid_variable")
        }
        guard allowEmpty || !value.isEmpty, value.utf8.count <= SecretsService.maxValueBytes,
              !value.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw .unprocessable("The value of \(name) must be 1 byte to 64 KiB on one line.", code: "invalid_variable")
        }
    }
}

/// A project as the API and pages show it; never a secret value.
struct DeployProjectDTO: Content, Equatable {
    var id: UUID
    var name: String
    var serverId: UUID
    var serverName: String?
    var repoUrl: String
    var branch: String
    /// The vault secret holding the access token (its name only).
    var tokenSecret: String?
    var dockerfile: String
    var containerPort: Int
    var hostPort: Int
    var healthPath: String?
    var healthTimeoutSeconds: Int
    /// The variables' names; values stay in the vault.
    var variables: [String]
    var currentRelease: Int?
    var liveRelease: DeployReleaseDTO?
    var latestRelease: DeployReleaseDTO?
    /// Where the live release answers.
    var url: String
    var webhookPath: String
    var createdBy: String
    var createdAt: Date?
    var updatedAt: Date?

    init(_ project: DeployProject, server: ServerRecord?, live: DeployRelease?, latest: DeployRelease?) {
        id = project.id ?? UUID()
        name = project.name
        serverId = project.serverID
        serverName = server?.name
        repoUrl = project.repoURL
        branch = project.branch
        tokenSecret = project.tokenSecret
        dockerfile = project.dockerfile
        containerPort = project.containerPort
        hostPort = project.hostPort
        healthPath = project.healthPath
        healthTimeoutSeconds = project.healthTimeoutSeconds
        variables = project.environmentNames
        currentRelease = project.currentRelease
        liveRelease = live.map(DeployReleaseDTO.init)
        latestRelease = latest.map(DeployReleaseDTO.init)
        let host = server.flatMap { $0.connection == .local ? "127.0.0.1" : $0.address } ?? "127.0.0.1"
        url = "http://\(host):\(project.hostPort)\(project.healthPath ?? "/")"
        webhookPath = "/api/v1/deploys/\(id.uuidString)/webhook"
        createdBy = project.createdBy
        createdAt = project.createdAt
        updatedAt = project.updatedAt
    }
}

struct DeployReleaseDTO: Content, Equatable {
    var id: UUID
    var projectId: UUID
    var number: Int
    var commitSha: String?
    var commitSubject: String?
    var imageTag: String
    var imageId: String?
    var status: DeployReleaseStatus
    /// The build job; its log is the release's build and run log (`/jobs/{jobId}`).
    var jobId: UUID?
    var error: String?
    var createdBy: String
    var createdAt: Date?
    var finishedAt: Date?

    init(_ release: DeployRelease) {
        id = release.id ?? UUID()
        projectId = release.projectID
        number = release.number
        commitSha = release.commitSHA
        commitSubject = release.commitSubject
        imageTag = release.imageTag
        imageId = release.imageID
        status = release.status
        jobId = release.jobID
        error = release.error
        createdBy = release.createdBy
        createdAt = release.createdAt
        finishedAt = release.finishedAt
    }
}
