import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing
import Yams

@Suite struct MarketplaceTests {
    /// The apps the shipped catalog must always have.
    static let requiredApps = ["plex", "jellyfin", "sonarr", "radarr", "prowlarr", "lidarr", "bazarr", "qbittorrent", "home-assistant",
                               "mosquitto", "node-red", "zigbee2mqtt", "ollama", "open-webui", "comfyui", "uptime-kuma", "grafana",
                               "prometheus", "nextcloud", "minio", "syncthing", "immich", "paperless-ngx", "vaultwarden", "pihole",
                               "adguard-home", "gitea", "code-server", "n8n", "wordpress"]

    static func manifest(_ name: String, title: String = "Demo app", port: Int = 8080) -> String {
        """
        name: \(name)
        title: \(title)
        version: 1.0.0
        description: A small demo app for tests.
        category: dev
        icon: "🧪"
        variables:
          - name: WEB_PORT
            description: Host port.
            type: port
            default: \(port)
        compose:
          services:
            web:
              image: traefik/whoami:v1.10.3
              ports:
                - "${WEB_PORT}:80"
        health_checks:
          - type: http
            port: ${WEB_PORT}
        """
    }

    /// One manifest with eight different problems.
    static let brokenManifest = """
    name: Bad_Name
    title: Broken
    version: v1
    description: Many problems at once.
    category: media
    maintainer: someone
    variables:
      - name: MODE
        description: How it runs.
        type: enum
      - name: WEB_PORT
        description: Host port.
        type: port
        default: http
      - name: GREETING
        description: A word.
        type: string
    compose:
      services:
        web:
          image: nginx:1.27
          ports:
            - "${WEB_PORT}:80"
          environment:
            LEVEL: ${LOG_LEVEL}
          volumes:
            - /var/run/docker.sock:/var/run/docker.sock
        worker:
          command: ["run"]
    health_checks:
      - type: http
        port: ${GREETING}
    """

    func temporaryDirectory(_ prefix: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    // MARK: Manifest format

    @Test func everyShippedManifestParsesAndFollowsTheCatalogRules() throws {
        // setup
        let directory = try #require(CatalogLoader.builtInDirectory)
        // act
        let catalog = try CatalogLoader.load(directory: directory)
        // verify
        #expect(catalog.failures.isEmpty, "\(catalog.failures.map { "\($0.file): \($0.problems.map(\.description))" })")
        #expect(catalog.packages.count >= 40)
        let names = Set(catalog.packages.map(\.manifest.name))
        #expect(Set(Self.requiredApps).subtracting(names).isEmpty, "missing: \(Set(Self.requiredApps).subtracting(names).sorted())")
        for (file, manifest) in catalog.packages {
            #expect(file == manifest.name + ".yaml", "\(file) holds \(manifest.name)")
            #expect(!manifest.healthChecks.isEmpty)
            #expect(!manifest.composeYAML.contains("docker.sock:") || manifest.composeYAML.contains("${DOCKER_SOCKET}:"), "\(file) mounts the Docker socket directly")
            for variable in manifest.variables where variable.type == .password {
                #expect(variable.secret && variable.generate == .password && variable.default == nil, "\(file): \(variable.name)")
            }
            // Every image is pinned to a version: no missing tag, no :latest.
            let compose = try #require(try Yams.compose(yaml: manifest.composeYAML))
            for service in manifest.services {
                let image = try #require(compose["services"]?[service]?["image"]?.string)
                let tag = image.split(separator: "/").last?.split(separator: ":").dropFirst().first
                #expect(tag != nil && tag != "latest", "\(file): \(service) uses \(image)")
            }
        }
        let byName = Dictionary(uniqueKeysWithValues: catalog.packages.map { ($0.manifest.name, $0.manifest) })
        #expect(byName["plex"]?.composeYAML.contains("plexinc/pms-docker:") == true)
        for arr in ["sonarr", "radarr", "prowlarr", "lidarr", "bazarr", "qbittorrent"] {
            #expect(byName[arr]?.composeYAML.contains("lscr.io/linuxserver/\(arr):") == true, "\(arr) uses the linuxserver image")
        }
        let immichServices = Set(byName["immich"]?.services ?? [])
        #expect(immichServices.isSuperset(of: ["immich-server", "database", "redis"]))
        #expect(byName["paperless-ngx"]?.services.contains("broker") == true)
        #expect(byName["wordpress"]?.composeYAML.contains("mariadb:") == true)
        #expect(byName["dozzle"]?.variable("DOCKER_SOCKET")?.type == .path)
    }

    @Test func anInvalidManifestReportsEveryProblemWithItsPath() throws {
        // act
        let result = ManifestParser.check(yaml: Self.brokenManifest)
        // verify
        guard case .failure(let problems) = result else {
            Issue.record("the broken manifest was accepted")
            return
        }
        let paths = problems.problems.map(\.path)
        #expect(Set(paths) == [
            "name", "version", "maintainer",
            "variables[0].options", "variables[1].default",
            "compose.services.web.environment.LEVEL", "compose.services.web.volumes[0]", "compose.services.worker.image",
            "health_checks[0].port",
        ], "\(problems)")
        #expect(paths.count == Set(paths).count, "each problem once: \(paths)")
        let messages = Dictionary(problems.problems.map { ($0.path, $0.message) }, uniquingKeysWith: { $0 + " / " + $1 })
        #expect(messages["compose.services.web.volumes[0]"]?.contains("absolute host paths must come from a path variable") == true)
        #expect(messages["compose.services.web.environment.LEVEL"]?.contains("${LOG_LEVEL}") == true)
        #expect(messages["health_checks[0].port"]?.contains("port variable") == true)
        #expect(messages["compose.services.worker.image"]?.contains("needs an image") == true)
    }

    @Test func composeMustBeAMappingAndGeneratedVariablesFollowTheRules() throws {
        // setup
        let asString = Self.manifest("demo").replacingOccurrences(of: """
        compose:
          services:
            web:
              image: traefik/whoami:v1.10.3
              ports:
                - "${WEB_PORT}:80"
        """, with: "compose: |\n  services:\n    web:\n      image: traefik/whoami:v1.10.3")
        let badGenerate = Self.manifest("demo").replacingOccurrences(of: "    default: 8080", with: "    generate: hex\n  - name: DB_PASSWORD\n    description: x\n    type: password\n    default: hunter2")
        // act
        let stringProblems = try #require(ManifestParser.check(yaml: asString).failureProblems)
        let generateProblems = try #require(ManifestParser.check(yaml: badGenerate).failureProblems)
        let valid = try ManifestParser.parse(yaml: Self.manifest("demo"))
        // verify
        #expect(stringProblems.map(\.path).contains("compose"))
        #expect(Set(generateProblems.map(\.path)) == ["variables[0].generate", "variables[1].default"], "\(generateProblems)")
        #expect(valid.healthChecks == [ManifestHealthCheck(type: .http, port: nil, portVariable: "WEB_PORT", path: "/", expectStatus: nil, intervalSeconds: 2, timeoutSeconds: 120)])
        #expect(valid.composeYAML.contains("${WEB_PORT}:80"))
        #expect(try Yams.compose(yaml: valid.composeYAML)?["services"]?["web"]?["image"]?.string == "traefik/whoami:v1.10.3")
    }

    @Test func aYAMLSyntaxErrorNamesTheLine() {
        // setup
        let yaml = "name: demo\ntitle: Demo\nversion: 1.0: broken\n"
        // act
        let problems = ManifestParser.check(yaml: yaml).failureProblems ?? []
        // verify
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("line 3") == true, "\(problems)")
    }

    @Test func installValuesAreCheckedAndSecretsAreGeneratedFresh() throws {
        // setup
        let manifest = try ManifestParser.parse(yaml: """
        name: values-demo
        title: Values demo
        version: 2.0.0
        description: Variables of every kind.
        category: dev
        variables:
          - name: WEB_PORT
            description: Host port.
            type: port
            default: 8080
          - name: MODE
            description: Mode.
            type: enum
            options: [fast, safe]
            default: safe
          - name: ADMIN_EMAIL
            description: Who gets the mail.
            type: string
            required: true
          - name: ADMIN_PASSWORD
            description: Generated.
            type: password
            generate: password
          - name: SESSION_KEY
            description: Generated.
            type: string
            generate: hex
            secret: true
          - name: INSTANCE_ID
            description: Generated.
            type: string
            generate: uuid
        compose:
          services:
            app:
              image: traefik/whoami:v1.10.3
              ports: ["${WEB_PORT}:80"]
              environment:
                MODE: ${MODE}
                EMAIL: ${ADMIN_EMAIL}
                PASSWORD: ${ADMIN_PASSWORD}
                KEY: ${SESSION_KEY:-unset}
                ID: $INSTANCE_ID
        health_checks:
          - type: tcp
            port: ${WEB_PORT}
        """)
        // act
        let problems = manifest.validate(values: ["NOPE": "1", "WEB_PORT": "70000", "MODE": "turbo"])
        let first = try manifest.resolve(values: ["ADMIN_EMAIL": "me@example.com", "MODE": "fast"])
        let second = try manifest.resolve(values: ["ADMIN_EMAIL": "me@example.com"])
        // verify
        #expect(Set(problems.map(\.path)) == ["values.NOPE", "values.WEB_PORT", "values.MODE", "values.ADMIN_EMAIL"], "\(problems)")
        #expect(problems.first { $0.path == "values.WEB_PORT" }?.message.contains("1 to 65535") == true)
        #expect(problems.first { $0.path == "values.MODE" }?.message.contains("fast, safe") == true)
        #expect(problems.first { $0.path == "values.ADMIN_EMAIL" }?.message.contains("required") == true)
        #expect(manifest.validate(values: ["ADMIN_EMAIL": "a@b.c", "WEB_PORT": "0"]).map(\.path) == ["values.WEB_PORT"])
        #expect(first["WEB_PORT"] == "8080" && first["MODE"] == "fast" && second["MODE"] == "safe")
        for values in [first, second] {
            let password = try #require(values["ADMIN_PASSWORD"])
            #expect(password.count == 24 && password.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
            let hex = try #require(values["SESSION_KEY"])
            #expect(hex.count == 32 && hex.allSatisfy { "0123456789abcdef".contains($0) })
            #expect(UUID(uuidString: values["INSTANCE_ID"] ?? "") != nil)
        }
        #expect(first["ADMIN_PASSWORD"] != second["ADMIN_PASSWORD"])
        #expect(first["SESSION_KEY"] != second["SESSION_KEY"])
        #expect(first["INSTANCE_ID"] != second["INSTANCE_ID"])
        #expect(manifest.variable("ADMIN_PASSWORD")?.secret == true)
        #expect(throws: ManifestProblems.self) { try manifest.resolve(values: [:]) }
    }

    // MARK: API

    struct Summary: Decodable { var name: String; var category: String; var source: String; var version: String }
    struct Items<T: Decodable>: Decodable { var items: [T] }
    struct Variable: Decodable { var name: String; var type: String; var secret: Bool; var `default`: String? }
    struct Detail: Decodable { var name: String; var source: String; var composeYAML: String; var variables: [Variable]; var healthChecks: [ManifestHealthCheck] }
    struct ProblemBody: Decodable {
        struct Inner: Decodable { var code: String; var problems: [FieldProblem] }
        var error: Inner
    }
    struct Source: Decodable { var id: UUID; var name: String; var status: String; var packageCount: Int; var lastError: String?; var failures: [CatalogFailure] }

    @Test(arguments: TestDatabase.all)
    func packagesAreListedFilteredShownAndManifestsValidated(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let viewer = try await app.token(role: .viewer)
            let validate = try JSONSerialization.data(withJSONObject: ["manifest": Self.manifest("checked-app")])
            let invalid = try JSONSerialization.data(withJSONObject: ["manifest": Self.brokenManifest])
            // act
            let all = try await app.request(.GET, "/api/v1/marketplace/packages", token: viewer).decode(Items<Summary>.self).items
            let ai = try await app.request(.GET, "/api/v1/marketplace/packages?category=ai", token: viewer).decode(Items<Summary>.self).items
            let search = try await app.request(.GET, "/api/v1/marketplace/packages?q=JELLY", token: viewer).decode(Items<Summary>.self).items
            let badCategory = try await app.request(.GET, "/api/v1/marketplace/packages?category=games", token: viewer)
            let plex = try await app.request(.GET, "/api/v1/marketplace/packages/plex", token: viewer).decode(Detail.self)
            let nextcloud = try await app.request(.GET, "/api/v1/marketplace/packages/nextcloud", token: viewer).decode(Detail.self)
            let missing = try await app.request(.GET, "/api/v1/marketplace/packages/no-such-app", token: viewer)
            let anonymous = try await app.request(.GET, "/api/v1/marketplace/packages")
            let valid = try await app.request(.POST, "/api/v1/marketplace/validate", token: viewer, json: String(decoding: validate, as: UTF8.self))
            let rejected = try await app.request(.POST, "/api/v1/marketplace/validate", token: viewer, json: String(decoding: invalid, as: UTF8.self))
            let unknownField = try await app.request(.POST, "/api/v1/marketplace/validate", token: viewer, json: #"{"manifest":"name: x","extra":1}"#)
            // verify
            #expect(all.count >= 40 && all.allSatisfy { $0.source == "built-in" })
            #expect(!ai.isEmpty && ai.allSatisfy { $0.category == "ai" } && ai.contains { $0.name == "ollama" })
            #expect(Set(search.map(\.name)) == ["jellyfin", "jellyseerr"])
            #expect(badCategory.status == .badRequest && badCategory.errorCode == "invalid_category")
            #expect(plex.name == "plex" && plex.source == "built-in" && plex.composeYAML.contains("plexinc/pms-docker"))
            #expect(plex.variables.contains { $0.name == "PLEX_CLAIM" && $0.secret })
            #expect(plex.healthChecks.first?.portVariable == "WEB_PORT")
            // Secret variables carry no default values: passwords are generated at install time.
            #expect(nextcloud.variables.filter(\.secret).count >= 3)
            for detail in [plex, nextcloud] {
                #expect(detail.variables.filter(\.secret).allSatisfy { $0.default == nil })
            }
            #expect(missing.status == .notFound)
            #expect(anonymous.status == .unauthorized)
            #expect(valid.status == .ok)
            #expect(try valid.decode(Detail.self).name == "checked-app")
            #expect(rejected.status == .unprocessableEntity)
            let body = try rejected.decode(ProblemBody.self)
            #expect(body.error.code == "invalid_manifest")
            #expect(body.error.problems.contains(FieldProblem(path: "compose.services.worker.image", message: "every service needs an image")))
            #expect(body.error.problems.count == 9)
            #expect(unknownField.status == .badRequest && unknownField.errorCode == "unknown_field")
        }
    }

    @Test(arguments: TestDatabase.all)
    func aFolderSourceAddsItsValidPackagesAndReportsTheBrokenOnes(_ database: TestDatabase) async throws {
        let folder = try temporaryDirectory("nebula-catalog")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.manifest("private-app", title: "Private app").write(to: folder.appendingPathComponent("private-app.yaml"), atomically: true, encoding: .utf8)
        try Self.brokenManifest.write(to: folder.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        try Self.manifest("plex").write(to: folder.appendingPathComponent("plex.yml"), atomically: true, encoding: .utf8)
        try await withApp(database) { app in
            // setup
            let operatorToken = try await app.token(role: .operator)
            let viewer = try await app.token(role: .viewer)
            let body = #"{"name":"home-apps","kind":"folder","location":"\#(folder.path)"}"#
            // act
            let denied = try await app.request(.POST, "/api/v1/marketplace/sources", token: viewer, json: body)
            let created = try await app.request(.POST, "/api/v1/marketplace/sources", token: operatorToken, json: body)
            let duplicate = try await app.request(.POST, "/api/v1/marketplace/sources", token: operatorToken, json: body)
            let relative = try await app.request(.POST, "/api/v1/marketplace/sources", token: operatorToken, json: #"{"name":"rel","kind":"folder","location":"catalog"}"#)
            let packages = try await app.request(.GET, "/api/v1/marketplace/packages", token: viewer).decode(Items<Summary>.self).items
            let detail = try await app.request(.GET, "/api/v1/marketplace/packages/private-app", token: viewer).decode(Detail.self)
            try Self.manifest("second-app").write(to: folder.appendingPathComponent("second-app.yaml"), atomically: true, encoding: .utf8)
            let source = try created.decode(Source.self)
            let refreshed = try await app.request(.POST, "/api/v1/marketplace/sources/\(source.id)/refresh", token: operatorToken).decode(Source.self)
            let listed = try await app.request(.GET, "/api/v1/marketplace/sources", token: viewer).decode(Items<Source>.self).items
            let afterRefresh = try await app.request(.GET, "/api/v1/marketplace/packages?q=second-app", token: viewer).decode(Items<Summary>.self).items
            let removed = try await app.request(.DELETE, "/api/v1/marketplace/sources/\(source.id)", token: operatorToken)
            let afterRemove = try await app.request(.GET, "/api/v1/marketplace/packages/private-app", token: viewer)
            // verify
            #expect(denied.status == .forbidden)
            #expect(try await app.auditEntries(action: "marketplace.source.add").contains { $0.outcome == .denied })
            #expect(created.status == .created)
            #expect(source.packageCount == 1 && source.status == "error")
            #expect(source.lastError?.contains("broken.yaml") == true && source.lastError?.contains("plex.yml") == true, "\(source.lastError ?? "")")
            #expect(source.failures.first { $0.file == "broken.yaml" }?.problems.count == 9)
            #expect(duplicate.status == .conflict && duplicate.errorCode == "source_exists")
            #expect(relative.status == .unprocessableEntity && relative.errorCode == "invalid_location")
            #expect(packages.contains { $0.name == "private-app" && $0.source == "home-apps" })
            #expect(packages.filter { $0.name == "plex" }.map(\.source) == ["built-in"], "the shipped plex wins")
            #expect(detail.source == "home-apps")
            #expect(refreshed.packageCount == 2)
            #expect(listed.map(\.name) == ["home-apps"] && listed.first?.packageCount == 2)
            #expect(afterRefresh.map(\.name) == ["second-app"])
            #expect(removed.status == .noContent)
            #expect(afterRemove.status == .notFound)
            let actions = try await app.auditEntries(action: "marketplace.source.*").filter { $0.outcome != .denied }.map(\.action)
            #expect(Set(actions) == ["marketplace.source.add", "marketplace.source.refresh", "marketplace.source.remove"])
            let events = try await app.services.events.recent(types: [.marketplaceSourceAdded, .marketplaceSourceRefreshed, .marketplaceSourceRemoved],
                                                              before: nil, limit: 10).items
            #expect(events.count == 3)
        }
    }

    @Test(arguments: TestDatabase.all)
    func aGitSourceIsClonedAndRefreshedOnDemand(_ database: TestDatabase) async throws {
        // setup: a real repository with one manifest
        let repository = try temporaryDirectory("nebula-catalog-repo")
        defer { try? FileManager.default.removeItem(at: repository) }
        func git(_ arguments: String...) async throws {
            let result = try await CommandRunner.run(["git", "-C", repository.path, "-c", "user.name=Nebula Test", "-c", "user.email=test@nebula.invalid"] + arguments,
                                                     timeout: .seconds(30))
            #expect(result.status == 0, "git \(arguments): \(result.output)")
        }
        try await git("init", "--quiet", "--initial-branch=main")
        try Self.manifest("git-app").write(to: repository.appendingPathComponent("git-app.yaml"), atomically: true, encoding: .utf8)
        try await git("add", ".")
        try await git("commit", "--quiet", "-m", "first app")
        try await withApp(database) { app in
            let token = try await app.token(role: .operator)
            // act
            let created = try await app.request(.POST, "/api/v1/marketplace/sources", token: token,
                                                json: #"{"name":"git-apps","kind":"git","location":"file://\#(repository.path)","branch":"main"}"#)
            let source = try created.decode(Source.self)
            let checkout = URL(fileURLWithPath: app.config.dataDirectory).appendingPathComponent("catalogs").appendingPathComponent(source.id.uuidString.lowercased())
            let first = try await app.request(.GET, "/api/v1/marketplace/packages?q=git-app", token: token).decode(Items<Summary>.self).items
            try Self.manifest("git-app-two").write(to: repository.appendingPathComponent("git-app-two.yaml"), atomically: true, encoding: .utf8)
            try await git("add", ".")
            try await git("commit", "--quiet", "-m", "second app")
            let beforeRefresh = try await app.request(.GET, "/api/v1/marketplace/packages?q=git-app", token: token).decode(Items<Summary>.self).items
            let refreshed = try await app.request(.POST, "/api/v1/marketplace/sources/\(source.id)/refresh", token: token).decode(Source.self)
            let afterRefresh = try await app.request(.GET, "/api/v1/marketplace/packages?q=git-app", token: token).decode(Items<Summary>.self).items
            let badBranch = try await app.request(.POST, "/api/v1/marketplace/sources", token: token,
                                                  json: #"{"name":"bad-branch","kind":"git","location":"file://\#(repository.path)","branch":"no-such-branch"}"#)
            let passwordURL = try await app.request(.POST, "/api/v1/marketplace/sources", token: token,
                                                    json: #"{"name":"leaky","kind":"git","location":"https://me:hunter2@git.example.com/c.git"}"#)
            let optionURL = try await app.request(.POST, "/api/v1/marketplace/sources", token: token,
                                                  json: #"{"name":"sneaky","kind":"git","location":"--upload-pack=touch /tmp/x"}"#)
            let hadCheckout = FileManager.default.fileExists(atPath: checkout.appendingPathComponent("git-app-two.yaml").path)
            let removed = try await app.request(.DELETE, "/api/v1/marketplace/sources/\(source.id)", token: token)
            // verify
            #expect(created.status == .created)
            #expect(source.status == "ok" && source.packageCount == 1 && source.lastError == nil)
            #expect(first.map(\.name) == ["git-app"] && first.first?.source == "git-apps")
            #expect(beforeRefresh.map(\.name) == ["git-app"], "nothing changes until a refresh")
            #expect(refreshed.packageCount == 2 && refreshed.status == "ok")
            #expect(Set(afterRefresh.map(\.name)) == ["git-app", "git-app-two"])
            #expect(badBranch.status == .created)
            let failed = try badBranch.decode(Source.self)
            #expect(failed.status == "error" && failed.lastError?.contains("git clone failed") == true && failed.packageCount == 0)
            #expect(passwordURL.status == .unprocessableEntity && !passwordURL.body.contains("hunter2"))
            #expect(optionURL.status == .unprocessableEntity)
            #expect(hadCheckout)
            #expect(removed.status == .noContent)
            #expect(!FileManager.default.fileExists(atPath: checkout.path), "the checkout is deleted with the source")
        }
    }

    // MARK: Pages

    @Test(arguments: [TestDatabase.sqlite])
    func theMarketplacePagesShowPackagesAndSources(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            _ = try await app.token(role: .operator, username: "browser")
            let browser = CookieJar()
            let csrf = try #require(try await app.request(.GET, "/login", cookies: browser).csrfField)
            _ = try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", "browser"), ("password", "test-password-123")], cookies: browser)
            // act
            let list = try await app.request(.GET, "/marketplace", cookies: browser)
            let filtered = try await app.request(.GET, "/marketplace?q=immich&category=storage", cookies: browser)
            let detail = try await app.request(.GET, "/marketplace/immich", cookies: browser)
            let sources = try await app.request(.GET, "/marketplace/sources", cookies: browser)
            let token = try #require(browser["nebula_csrf"])
            let added = try await app.request(.POST, "/marketplace/sources", form: [("_csrf", token), ("name", "later"), ("kind", "folder"), ("location", "/nonexistent/catalog")], cookies: browser)
            let afterAdd = try await app.request(.GET, "/marketplace/sources", cookies: browser)
            // verify
            #expect(list.status == .ok && list.body.contains(#"data-package="plex""#) && list.body.contains(#"href="/marketplace""#))
            #expect(filtered.body.contains(#"data-package="immich""#) && !filtered.body.contains(#"data-package="plex""#))
            #expect(detail.status == .ok && detail.body.contains(#"id="install""#) && detail.body.contains("DB_PASSWORD") && detail.body.contains("compose-file"))
            #expect(detail.body.contains("generated (password)"))
            #expect(sources.status == .ok && sources.body.contains("No private catalogs"))
            #expect(added.status == .seeOther)
            #expect(afterAdd.body.contains("/nonexistent/catalog") && afterAdd.body.contains("does not exist"))
        }
    }

    // MARK: CLI

    @Test func theValidateCommandChecksAFolder() async throws {
        // setup
        let catalog = try #require(CatalogLoader.builtInDirectory)
        let broken = try temporaryDirectory("nebula-broken-catalog")
        defer { try? FileManager.default.removeItem(at: broken) }
        try Self.brokenManifest.write(to: broken.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        try Self.manifest("fine-app").write(to: broken.appendingPathComponent("fine-app.yml"), atomically: true, encoding: .utf8)
        let environment = ProcessInfo.processInfo.environment
        // act
        let valid = try await CLI.run(["marketplace", "validate", catalog.path], environment: environment)
        let invalid = try await CLI.run(["marketplace", "validate", broken.path], environment: environment)
        let single = try await CLI.run(["marketplace", "validate", broken.appendingPathComponent("fine-app.yml").path], environment: environment)
        let missing = try await CLI.run(["marketplace", "validate", broken.appendingPathComponent("nope").path], environment: environment)
        // verify
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        #expect(valid.lastLine.hasSuffix("packages valid") && (Int(valid.lastLine.split(separator: " ").first ?? "") ?? 0) >= 40)
        #expect(invalid.status != 0)
        #expect(invalid.stdout.contains("broken.yaml: compose.services.worker.image: every service needs an image"))
        #expect(invalid.stdout.contains("broken.yaml: variables[0].options:"))
        #expect(invalid.lastLine == "1 package valid, 1 invalid")
        #expect(single.status == 0 && single.lastLine == "1 package valid")
        #expect(missing.status != 0 && missing.stderr.contains("does not exist"))
    }
}

extension Result where Failure == ManifestProblems {
    /// The problems of a failed parse, or nil.
    var failureProblems: [ManifestProblem]? {
        if case .failure(let problems) = self { return problems.problems }
        return nil
    }
}
