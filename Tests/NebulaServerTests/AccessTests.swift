import DockerEngine
import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import OpenAPIKit30
import Testing
import Vapor

/// Fresh things for routes with `:id` or `:name` to act on.
struct RouteTargets {
    var userID: UUID
    var tokenID: UUID
    var jobID: UUID
    var secretName: String
    var serverID: UUID
    /// The local node, named "nas" like the power example: the one server a power action reaches
    /// without an agent (the test configuration's power commands are harmless).
    var localServerID: UUID
    /// An SSH server (nothing listens on its port: "test connection" reports the refusal).
    var sshServerID: UUID
    var joinToken: String
    /// An app install of `uptime-kuma` at an old version on the local node (so an upgrade is possible).
    var installID: UUID
    /// A private catalog source (an empty folder).
    var sourceID: UUID
    /// Automation: a runbook and a workflow without runs, and a run waiting for an approval.
    var automation = AutomationTargets(runbookID: UUID(), workflowID: UUID(), runID: UUID())
    /// Monitoring: a check and an open incident of it.
    var monitoring = MonitoringTargets(checkID: UUID(), incidentID: UUID())
    /// Notifications: a channel no rule uses, a rule and a failed delivery.
    var notifications = NotificationTargets(channelID: UUID(), ruleID: UUID(), deliveryID: UUID())
    var domains = DomainTargets(domainID: UUID(), recordID: UUID())
    /// Proxy: a route and a version (with a real Caddy for apply and rollback).
    var proxy = ProxyTargets(routeID: UUID(), versionID: UUID())
    /// AI: a provider, a conversation (see AITargets).
    var ai = AITargets(providerID: UUID(), conversationID: UUID(), fake: nil)

    /// The things a route acts on; a Docker container, image tag and volume named like the secret
    /// are created on the test engine only for the routes that reach Docker.
    static func make(in app: TestApp, for route: Route? = nil) async throws -> RouteTargets {
        let services = try app.services
        let suffix = UUID().uuidString.prefix(6).lowercased()
        let user = try await services.identity.createUser(username: "target-\(suffix)", password: "target-password-1", role: .viewer, by: .system())
        let token = try await services.identity.createToken(name: "target", role: .viewer, expiresAt: nil, for: user.username, by: .system())
        let job = try await services.jobs.enqueue(type: RetentionJob.jobType, runAt: Date().addingTimeInterval(3600), by: .system())
        let secret = "target-\(suffix)"
        _ = try await services.secrets.store(name: secret, value: "target-value", description: nil, replace: false, by: .system())
        // Wake-on-LAN to a loopback port nobody listens on: the packet is sent, nothing wakes.
        let server = try await services.fleet.create(.init(name: "target-\(suffix)", connection: .agent, macAddress: "52:54:00:12:34:56",
                                                            wakeBroadcast: "127.0.0.1", wakePort: 9), by: .system())
        let join = try await services.agents.issueJoinToken(for: server.id, publicURL: app.baseURL, by: .system())
        let local = try await services.fleet.ensureLocalServer(hostName: "nas")
        // The local node shares a fresh folder holding a.txt and media/, the names the file examples use.
        let files = app.directory.appendingPathComponent("files-\(suffix)")
        try FileManager.default.createDirectory(at: files.appendingPathComponent("media"), withIntermediateDirectories: true)
        try Data("a".utf8).write(to: files.appendingPathComponent("a.txt"))
        _ = try await services.fleet.update(local, .init(fileRoots: [files.path]), by: .system())
        let ssh = try await services.fleet.create(.init(name: "ssh-\(suffix)", connection: .ssh, address: "127.0.0.1", port: 1), by: .system())
        let source = try await services.marketplace.addSource(.init(name: "target-\(suffix)", kind: .folder, location: files.path), by: .system())
        let install = try await Self.install(named: "target-\(suffix)", on: local, in: app)
        try await Self.deployProject(id: install, on: local, in: app)
        if let route, Set(route.path.map(\.description)).isDisjoint(with: ["containers", "images", "volumes"]) == false {
            try await Self.dockerTargets(named: secret, running: route.path.last?.description == "kill")
        }
        return RouteTargets(userID: user.id, tokenID: token.id, jobID: job.id, secretName: secret, serverID: server.id,
                            localServerID: local, sshServerID: ssh.id, joinToken: join.token, installID: install, sourceID: source.id,
                            automation: try await AutomationTargets.make(in: app, suffix: String(suffix)),
                            monitoring: try await MonitoringTargets.make(in: app, suffix: String(suffix)),
                            notifications: try await NotificationTargets.make(in: app, suffix: String(suffix)),
                            domains: try await DomainTargets.make(in: app, suffix: String(suffix)),
                            proxy: try await ProxyTargets.make(in: app, suffix: String(suffix), for: route),
                            ai: try await AITargets.make(in: app, suffix: String(suffix), for: route))
    }

    /// An install row as a finished install leaves it (nothing runs on the engine for it).
    static func install(named name: String, on server: UUID, in app: TestApp) async throws -> UUID {
        let install = AppInstall()
        install.name = name
        install.package = "uptime-kuma"
        install.title = "Uptime Kuma"
        install.version = "0.0.1"
        install.source = "built-in"
        install.serverID = server
        install.status = .running
        install.values = "{}"
        install.secretNames = "[]"
        install.ports = "[]"
        install.compose = "services: {}"
        install.probes = "[]"
        install.healthTimeoutSeconds = 10
        install.healthIntervalSeconds = 1
        install.hooks = "[]"
        install.keepOnFailure = false
        install.createdBy = "test"
        try await install.create(on: app.app.db)
        return try install.requireID()
    }

    /// A container, an image tag and a volume named `name` on the test engine.
    /// The container runs only for `kill` (which needs a running one); removing one without force needs it stopped.
    static func dockerTargets(named name: String, running: Bool) async throws {
        let docker = try TestEngine.client()
        let spec = ContainerSpec(image: TestEngine.image, command: ["sleep", "600"], name: name, labels: ["nebula.test": name])
        _ = running ? try await docker.run(spec) : try await docker.createContainer(spec)
        _ = try await docker.createVolume(name: name, labels: ["nebula.test": name])
        _ = try await CommandRunner.run(["docker", "-H", TestEngine.host ?? "", "tag", TestEngine.image.rawValue, "\(name):latest"], timeout: .seconds(30))
    }

    /// Removes what ``dockerTargets(named:)`` created (what the route under test left of it).
    func removeDockerTargets() async {
        proxy.stop()
        await ai.stop()
        guard let docker = try? TestEngine.client() else { return }
        try? await docker.remove(ContainerID(secretName), force: true, removeVolumes: true)
        try? await docker.removeVolume(name: secretName, force: true)
        _ = try? await CommandRunner.run(["docker", "-H", TestEngine.host ?? "", "rmi", "\(secretName):latest"], timeout: .seconds(30))
    }

    /// A request example with its placeholders filled in.
    func body(_ example: String?) -> String? {
        example?.replacingOccurrences(of: "$JOIN_TOKEN", with: joinToken)
            .replacingOccurrences(of: "00000000-0000-0000-0000-000000000000", with: localServerID.uuidString)
    }

    /// The route's path with its parameters filled in (and the file an upload writes).
    func path(for route: Route) -> String {
        route.path.last?.description == "upload" ? parameters(route) + "?root=0&path=uploaded.txt" : parameters(route)
    }

    private func parameters(_ route: Route) -> String {
        let words = route.path.map(\.description)
        return "/" + route.path.map { component -> String in
            guard case .parameter(let name) = component else { return component.description }
            switch name {
            case "container", "image": return secretName
            case "name" where words.contains("marketplace") || words.contains("packages"): return "uptime-kuma"
            case "name" where words.contains("library"): return words.first == "api" ? "diagnose-dns" : "diagnose-tls"
            case "name": return secretName
            default: break
            }
            if words.contains("installs") || words.first == "apps" { return installID.uuidString }
            if words.contains("deploys") { return name == "number" ? "1" : deployID.uuidString }
            if words.contains("sources") { return sourceID.uuidString }
            if words.contains("notifications") {
                if words.contains("rules") { return notifications.ruleID.uuidString }
                if words.contains("deliveries") { return notifications.deliveryID.uuidString }
                return notifications.channelID.uuidString
            }
            if words.contains("ai") { return ai.parameter(name, words: words) }
            if words.contains("proxy") { return words.contains("versions") ? proxy.versionID.uuidString : proxy.routeID.uuidString }
            if words.contains("domains") { return name == "recordID" ? domains.recordID.uuidString : domains.domainID.uuidString }
            if words.contains("runbooks") { return automation.runbookID.uuidString }
            if words.contains("workflows") { return automation.workflowID.uuidString }
            if words.contains("runs") { return automation.runID.uuidString }
            if words.contains("checks") { return monitoring.checkID.uuidString }
            if words.contains("incidents") { return monitoring.incidentID.uuidString }
            if words.contains("containers") || words.contains("images") || words.contains("volumes") || words.contains("networks") {
                return localServerID.uuidString
            }
            switch words.first == "api" ? words[2] : words[0] {
            case "users": return userID.uuidString
            case "tokens": return tokenID.uuidString
            case "jobs": return jobID.uuidString
            case "servers":
                if route.path.last?.description == "power" || route.path.contains(where: { $0.description == "files" }) {
                    return localServerID.uuidString
                }
                if route.path.contains(where: { $0.description == "ssh" }) { return sshServerID.uuidString }
                return serverID.uuidString
            default: return name
            }
        }.joined(separator: "/")
    }
}

extension RouteTargets {
    /// ``make(in:for:)``, naming the route and the full error when making its targets fails.
    static func makeReporting(in app: TestApp, for route: Route) async throws -> RouteTargets {
        do {
            return try await make(in: app, for: route)
        } catch {
            Issue.record("making the targets of \(route.label) failed: \(String(reflecting: error))")
            throw error
        }
    }
}

extension Route {
    var label: String { "\(method.rawValue) /\(path.map(\.description).joined(separator: "/"))" }
    var isMutating: Bool { [.POST, .PUT, .PATCH, .DELETE].contains(method) }
}

@Suite struct AccessTests {
    @Test(arguments: TestDatabase.all)
    func everyRouteEnforcesItsRole(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup
            let tokens: [Role: String] = [
                .viewer: try await app.token(role: .viewer),
                .operator: try await app.token(role: .operator),
                .admin: try await app.token(role: .admin),
            ]
            let routes = app.app.routes.all
            #expect(routes.count > 40)
            for route in routes {
                // verify: nothing is public by accident
                let endpoint = try #require(route.endpoint, "\(route.label) has no Endpoint (role) description")
                let targets = try await RouteTargets.makeReporting(in: app, for: route)
                defer { Task { await targets.removeDockerTargets() } }
                let path = targets.path(for: route)
                let isPageGET = endpoint.isPage && route.method == .GET
                for caller in [Role?.none, .viewer, .operator, .admin] {
                    // act
                    let token = caller.flatMap { tokens[$0] }
                    let response: TestResponse
                    if endpoint.produces == "text/event-stream" {
                        // A live stream never ends: look at its status, then hang up.
                        let stream = try await SSEReader.open(app.baseURL + path, token: token)
                        stream.close()
                        response = TestResponse(status: .init(statusCode: stream.status), headers: [:], body: "")
                    } else {
                        response = try await app.request(route.method, path, token: token,
                                                         json: targets.body(endpoint.request?.example) ?? (route.isMutating && !endpoint.isPage ? "{}" : nil))
                    }
                    let status = response.status.code
                    // verify
                    #expect(status < 500, "\(route.label) as \(caller?.rawValue ?? "anonymous") answered \(status): \(response.body.prefix(200))")
                    guard let required = endpoint.role else { continue }
                    switch caller {
                    case .none where isPageGET:
                        #expect(status == 303 && response.headers.first(name: "Location")?.hasPrefix("/login") == true, "\(route.label) anonymous → \(status)")
                    case .none:
                        #expect(status == 401, "\(route.label) anonymous → \(status)")
                    case .some(let role) where role < required:
                        #expect(status == 403, "\(route.label) as \(role.rawValue) → \(status)")
                    case .some(let role):
                        #expect(status != 401 && status != 403, "\(route.label) as \(role.rawValue) → \(status): \(response.body.prefix(200))")
                    }
                }
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func everyMutatingRouteWritesItsAuditEntry(_ database: TestDatabase) async throws {
        var options = RuntimeOptions.forTests
        options.startsBackgroundWork = false
        try await withApp(database, options: options) { app in
            // setup: an admin signed in with a browser session (pages) and a token (API)
            let adminToken = try await app.token(role: .admin, username: "root")
            let browser = CookieJar()
            let csrf = try #require(try await app.request(.GET, "/login", cookies: browser).csrfField)
            #expect(try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", "root"), ("password", "test-password-123")], cookies: browser).status == .seeOther)
            let pageForms: [String: [(String, String)]] = [
                "POST /login": [("username", "root"), ("password", "test-password-123")],
                "POST /logout": [],
                "POST /jobs/run": [("type", RetentionJob.jobType)],
                "POST /jobs/:id/cancel": [],
                "POST /users": [("username", "page-user"), ("password", "page-password-12"), ("role", "viewer")],
                "POST /users/:id": [("role", "operator")],
                "POST /users/:id/password": [("password", "another-password-1")],
                "POST /users/:id/delete": [],
                "POST /tokens": [("name", "page token"), ("role", "viewer")],
                "POST /tokens/:id/revoke": [],
                "POST /secrets": [("name", "page-secret"), ("value", "page-value-1")],
                "POST /secrets/:name/reveal": [],
                "POST /secrets/:name/delete": [],
                "POST /settings": [("instanceName", "Audited lab")],
                "POST /servers": [("name", "page-server"), ("connection", "ssh"), ("address", "192.0.2.9")],
                "POST /servers/:id": [("tags", "lab, rack-1")],
                "POST /servers/:id/delete": [],
                "POST /servers/:id/join-token": [],
                "POST /servers/:id/revoke": [],
                "POST /servers/:id/power": [("action", "reboot"), ("confirm", "nas")],
                "POST /servers/:id/wake": [],
                "POST /servers/:id/ssh/key": [],
                "POST /servers/:id/ssh/test": [],
                "POST /servers/:id/ssh/forget-host-key": [],
                "POST /servers/:id/files/mkdir": [("root", "0"), ("base", "media"), ("name", "page-folder")],
                "POST /servers/:id/files/rename": [("root", "0"), ("path", "a.txt"), ("to", "c.txt")],
                "POST /servers/:id/files/delete": [("root", "0"), ("path", "a.txt")],
                "POST /servers/:id/containers/:container/start": [],
                "POST /servers/:id/containers/:container/stop": [],
                "POST /servers/:id/containers/:container/restart": [],
                "POST /servers/:id/containers/:container/kill": [],
                "POST /servers/:id/containers/:container/remove": [],
                "POST /servers/:id/images/remove": [("image", "$TARGET")],
                "POST /servers/:id/images/prune": [],
                "POST /servers/:id/volumes/remove": [("name", "$TARGET")],
                "POST /marketplace/sources": [("name", "page-catalog"), ("kind", "folder"), ("location", "/srv/page-catalog")],
                "POST /marketplace/sources/:id/refresh": [],
                "POST /marketplace/sources/:id/delete": [],
                "POST /marketplace/:name/install": [("server", "$LOCAL_SERVER"), ("name", "page-kuma"), ("var.WEB_PORT", "39217")],
                "POST /apps/:id/upgrade": [],
                "POST /apps/:id/uninstall": [],
                "POST /deploys": [("name", "page-deploy"), ("server", "$LOCAL_SERVER"), ("repoUrl", "https://git.example.org/lab/page.git"), ("branch", "main"),
                                  ("dockerfile", "Dockerfile"), ("containerPort", "8080"), ("hostPort", "39218"), ("healthPath", "/")],
                "POST /deploys/:id/deploy": [],
                "POST /deploys/:id/releases/:number/rollback": [],
                "POST /deploys/:id/env": [("name", "PAGE_VAR"), ("value", "page-value")],
                "POST /deploys/:id/webhook-secret": [],
                "POST /deploys/:id/delete": [],
                "POST /runbooks": [("yaml", "name: page-runbook\nsteps:\n  - { name: Say, action: log, params: { message: hi } }\n")],
                "POST /workflows": [("yaml", "kind: workflow\nname: page-workflow\nsteps:\n  - { name: Say, action: log, params: { message: hi } }\n")],
                "POST /runbooks/paused": [("paused", "false")],
                "POST /runbooks/library/:name/install": [],
                "POST /runbooks/:id/run": [("dryRun", "on")],
                "POST /runbooks/:id/enabled": [("enabled", "false")],
                "POST /runbooks/:id/delete": [],
                "POST /runs/:id/approve": [],
                "POST /runs/:id/reject": [],
                "POST /runs/:id/cancel": [],
                "POST /checks": [("name", "page-check"), ("kind", "tcp"), ("host", "127.0.0.1"), ("port", "1"), ("intervalSeconds", "60"), ("timeoutSeconds", "5")],
                "POST /checks/:id": [("intervalSeconds", "120")],
                "POST /checks/:id/run": [],
                "POST /checks/:id/delete": [],
                "POST /monitoring/settings": [("statusPageEnabled", "true")],
                "POST /incidents/:id/acknowledge": [],
                "POST /incidents/:id/resolve": [("note", "page note")],
                "POST /notifications/channels": [("name", "page-hook"), ("kind", "ntfy"), ("url", "http://127.0.0.1:1"), ("topic", "t")],
                "POST /notifications/channels/:id/test": [],
                "POST /notifications/channels/:id/toggle": [],
                "POST /notifications/channels/:id/delete": [],
                "POST /notifications/rules": [("name", "page-rule"), ("channels", NotificationTargets.sharedChannel), ("minSeverity", "warning")],
                "POST /notifications/rules/:id/delete": [],
                "POST /notifications/deliveries/:id/retry": [],
                "POST /domains": [("name", "page.example.org"), ("provider", "manual"), ("defaultTTL", "300")],
                "POST /domains/:id/delete": [],
                "POST /domains/:id/records": [("name", "page"), ("type", "A"), ("content", "192.0.2.77"), ("ttl", "300")],
                "POST /domains/:id/records/:recordID/delete": [],
                "POST /domains/:id/push": [],
                "POST /domains/:id/import": [("format", "csv"), ("data", "name,type,content\nimported,A,192.0.2.78\n"), ("mode", "merge")],
                "POST /dns/dynamic": [("intervalMinutes", "15"), ("endpoints", "https://api.ipify.org")],
                "POST /dns/dynamic/run": [],
                "POST /proxy/routes": [("host", "page-route.localhost"), ("kind", "address"), ("address", "127.0.0.1:9"), ("enabled", "on")],
                "POST /proxy/routes/:id": [("revision", "1"), ("host", "page-edit.localhost"), ("kind", "address"), ("address", "127.0.0.1:9")],
                "POST /proxy/routes/:id/delete": [("revision", "1")],
                "POST /proxy/routes/:id/test": [],
                "POST /proxy/apply": [("force", "on")],
                "POST /proxy/versions/:id/rollback": [],
                "POST /proxy/settings": [("warnDays", "20")],
                "POST /proxy/certificates/check": [],
                "POST /ai/providers": [("name", "page-ai"), ("kind", "openai"), ("baseURL", "http://127.0.0.1:9/v1"), ("locality", "local"), ("priority", "50")],
                "POST /ai/providers/:id/settings": [("baseURL", "http://127.0.0.1:9/v1"), ("priority", "60"), ("timeoutSeconds", "60")],
                "POST /ai/providers/:id/enabled": [("enabled", "false")],
                "POST /ai/providers/:id/check": [],
                "POST /ai/providers/:id/delete": [],
                "POST /ai/agents": [("name", "page-agent"), ("tools.present", "1"), ("tool.list_servers", "on"), ("maxSteps", "6"), ("maxSeconds", "90"), ("requireApproval", "true")],
                "POST /ai/agents/:id": [("description", "edited on the page"), ("maxSteps", "5")],
                "POST /ai/agents/:id/delete": [],
                "POST /ai/agents/:id/run": [("message", "Which servers are there?")],
                "POST /ai/functions": [("name", "page_fn"), ("description", "Pokes a closed port."), ("method", "GET"), ("urlTemplate", "http://127.0.0.1:9/poke")],
                "POST /ai/functions/:id/delete": [],
                "POST /ai/executions/:id/approve": [],
                "POST /ai/executions/:id/reject": [("note", "not now")],
                "POST /ai/providers/:id/models/pull": [("model", "qwen2:0.5b")],
                "POST /ai/providers/:id/models/delete": [("model", "llama3.2:1b")],
                "POST /ai/providers/:id/models/load": [("model", "tiny-model")],
                "POST /ai/providers/:id/models/unload": [("model", "tiny-model")],
            ]
            for route in app.app.routes.all where route.isMutating {
                let endpoint = try #require(route.endpoint)
                if route.label == "POST /setup" { continue }  // closed once a user exists; SetupAndLoginTests covers it
                if route.label == "POST /api/v1/deploys/:id/webhook" { continue }  // HMAC-signed by the git host; DeploysTests covers it
                if route.label == "POST /api/v1/marketplace/validate" { continue }  // reads a manifest, changes nothing
                let action = try #require(endpoint.audit, "\(route.label) changes something but names no audit action")
                let targets = try await RouteTargets.makeReporting(in: app, for: route)
                defer { Task { await targets.removeDockerTargets() } }
                // A connection test is audited with its real outcome (here: refused, nothing listens).
                let peerDecides = route.path.last?.description == "test"
                let before = try await app.auditEntries(action: action).filter { peerDecides || $0.outcome == .success }.count
                // act
                let response: TestResponse
                if endpoint.isPage {
                    let form = try #require(pageForms[route.label], "add a form example for \(route.label)").map { field in
                        (field.0, field.1.replacingOccurrences(of: "$TARGET", with: targets.secretName)
                            .replacingOccurrences(of: "$LOCAL_SERVER", with: targets.localServerID.uuidString))
                    }
                    let session = route.label == "POST /logout" ? CookieJar() : browser
                    if route.label == "POST /logout" {
                        _ = try await app.request(.GET, "/login", cookies: session)
                        let token = try #require(session["nebula_csrf"])
                        _ = try await app.request(.POST, "/login", form: [("_csrf", token), ("username", "root"), ("password", "test-password-123")], cookies: session)
                    }
                    let token = try #require(session["nebula_csrf"])
                    response = try await app.request(route.method, targets.path(for: route), form: [("_csrf", token)] + form, cookies: session)
                } else {
                    let example = try endpoint.request.map { try #require($0.example, "\(route.label) needs a request example") }
                    response = try await app.request(route.method, targets.path(for: route), token: adminToken, json: targets.body(example))
                }
                // verify
                #expect(response.status.code < 400, "\(route.label) → \(response.status.code): \(response.body.count > 2000 ? response.body.prefix(1000) + " … " + response.body.suffix(1000) : response.body)")
                let entries = try await app.auditEntries(action: action)
                let after = entries.filter { peerDecides || $0.outcome == .success }.count
                // A page answers with a redirect and a flash either way: the newest entry says what went wrong.
                #expect(after == before + 1, "\(route.label) did not record \(action); newest: \(String(describing: entries.first))")
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func theOpenAPIDocumentIsValidAndDescribesEveryRoute(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // act
            let response = try await app.request(.GET, "/api/v1/openapi.json")
            // verify
            #expect(response.status == .ok)
            let document = try JSONDecoder().decode(OpenAPI.Document.self, from: Data(response.body.utf8))
            try document.validate()
            #expect(OpenAPIDocument.undocumentedRoutes(in: app.app.routes.all).isEmpty)
            let apiRoutes = app.app.routes.all.filter(OpenAPIDocument.isAPI)
            #expect(apiRoutes.count >= 20)
            for route in apiRoutes {
                let template = "/" + route.path.map { component -> String in
                    if case .parameter(let name) = component { return "{\(name)}" }
                    return component.description
                }.joined(separator: "/")
                let item = try #require(document.paths[OpenAPI.Path(rawValue: template)]?.pathItemValue, "\(template) is missing")
                let method = try #require(OpenAPI.BuiltinHttpMethod(rawValue: route.method.rawValue))
                let operation = try #require(item.for(method), "\(route.label) is missing")
                #expect(operation.responses[status: 400] != nil, "\(route.label) does not document its error shape")
                if route.endpoint?.request != nil { #expect(operation.requestBody != nil) }
            }
            #expect(response.body.contains(#""Error""#))
        }
    }
}

extension RouteTargets {
    /// The deploy project target shares the install target's id (one UUID, two tables).
    var deployID: UUID { installID }

    /// A deploy project as one deploy leaves it: release r1 built and superseded (so a rollback to it
    /// is possible), nothing running on the engine.
    static func deployProject(id: UUID, on server: UUID, in app: TestApp) async throws {
        let project = DeployProject()
        project.id = id
        project.name = "target-\(id.uuidString.prefix(8).lowercased())"
        project.serverID = server
        project.repoURL = "https://git.example.org/lab/target.git"
        project.branch = "main"
        project.dockerfile = "Dockerfile"
        project.containerPort = 8080
        project.hostPort = Int.random(in: 20000...29999)
        project.healthPath = "/"
        project.healthTimeoutSeconds = 10
        project.envNames = "[]"
        project.webhookSecret = DeploysService.webhookSecretName(project.name)
        project.createdBy = "test"
        try await project.create(on: app.app.db)
        let release = DeployRelease()
        release.projectID = id
        release.number = 1
        release.imageTag = DeploysService.imageTag(project.name, 1)
        release.imageID = "sha256:" + String(repeating: "0", count: 64)
        release.status = .superseded
        release.createdBy = "test"
        try await release.create(on: app.app.db)
    }
}
