import Foundation
import NebulaCore
@testable import NebulaServer
import NIOHTTP1
import Testing

@Suite struct BadInputTests {
    @Test(arguments: TestDatabase.all)
    func malformedRequestsGetAClearJSONErrorAndChangeNothing(_ database: TestDatabase) async throws {
        try await withApp(database, configure: { $0.maxBodyBytes = 4096 }) { app in
            // setup
            let token = try await app.token(role: .admin)
            let cases: [(String, String, NIOHTTP1.HTTPMethod, String?, HTTPResponseStatus, String)] = [
                ("malformed JSON", "/api/v1/secrets", .POST, #"{"name": "a", "value": "#, .badRequest, "invalid_request"),
                ("wrong type", "/api/v1/secrets", .POST, #"{"name": 5, "value": "x"}"#, .badRequest, "invalid_request"),
                ("missing field", "/api/v1/secrets", .POST, #"{"name": "a"}"#, .badRequest, "invalid_request"),
                ("unknown field", "/api/v1/secrets", .POST, #"{"name": "a", "value": "x", "admin": true}"#, .badRequest, "unknown_field"),
                ("not an object", "/api/v1/users", .POST, #"[1, 2]"#, .badRequest, "invalid_request"),
                ("bad role", "/api/v1/users", .POST, #"{"username":"x1","password":"long-enough-pass","role":"root"}"#, .badRequest, "invalid_request"),
                ("oversize body", "/api/v1/secrets", .POST, #"{"name":"big","value":""# + String(repeating: "a", count: 8000) + #""}"#, .payloadTooLarge, "payload_too_large"),
                ("bad UUID", "/api/v1/jobs/not-a-uuid", .GET, nil, .badRequest, "invalid_id"),
                ("unknown job", "/api/v1/jobs/\(UUID())", .GET, nil, .notFound, "not_found"),
                ("bad limit", "/api/v1/events?limit=100000", .GET, nil, .badRequest, "invalid_request"),
                ("bad time", "/api/v1/audit?since=yesterday", .GET, nil, .badRequest, "invalid_request"),
                ("bad status", "/api/v1/jobs?status=exploded", .GET, nil, .badRequest, "invalid_filter"),
                ("bad setting", "/api/v1/settings", .PATCH, #"{"eventRetentionDays": 0}"#, .unprocessableEntity, "invalid_setting"),
                ("unknown route", "/api/v1/nothing-here", .GET, nil, .notFound, "not_found"),
            ]
            for (name, path, method, body, status, code) in cases {
                // act
                let response = try await app.request(method, path, token: token, json: body)
                // verify
                #expect(response.status == status, "\(name): \(response.status) \(response.body.prefix(200))")
                #expect(response.errorCode == code, "\(name): \(response.body.prefix(200))")
                #expect(response.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true, "\(name)")
                let message = try response.decode(APIErrorBody.self).error.message
                #expect(!message.isEmpty && !message.contains("Swift.") && !message.contains("DecodingError"), "\(name): \(message)")
            }
            #expect(try await app.services.secrets.list(by: .system()).total == 0, "nothing half-written")
            #expect(try await app.services.settings.current().eventRetentionDays == 30)
        }
    }

    @Test(arguments: TestDatabase.all)
    func pagesShowReadableErrors(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .viewer)
            // act
            let missing = try await app.request(.GET, "/jobs/\(UUID())", token: token)
            let badID = try await app.request(.GET, "/jobs/nope", token: token)
            // verify
            #expect(missing.status == .notFound && missing.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true)
            #expect(missing.body.contains("was not found"))
            #expect(badID.status == .badRequest && badID.body.contains("is not a valid id"))
        }
    }

    @Test func startupProblemsAreOneClearLine() async throws {
        // setup
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-start-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let blocker = directory.appendingPathComponent("file")
        try Data().write(to: blocker)
        var unwritable = Config(dataDirectory: blocker.appendingPathComponent("data").path, database: .sqlite(path: blocker.appendingPathComponent("data/x.sqlite").path),
                                masterKey: .file(path: blocker.appendingPathComponent("data/master.key").path))
        unwritable.port = 0
        var unreachable = Config(dataDirectory: directory.path, database: .postgres(url: "postgres://nebula:s3cret-pw@127.0.0.1:1/nebula"),
                                 masterKey: .file(path: directory.appendingPathComponent("master.key").path))
        unreachable.port = 0
        // act
        let dataError = await #expect(throws: StartupError.self) { _ = try await TestApp.start(config: unwritable, directory: directory) }
        let databaseError = await #expect(throws: StartupError.self) { _ = try await TestApp.start(config: unreachable, directory: directory) }
        // verify
        #expect(dataError?.description.hasPrefix("NEBULA_DATA_DIR") == true)
        #expect(databaseError?.description.contains("cannot prepare the database (PostgreSQL at postgres://nebula:***@127.0.0.1:1/nebula)") == true)
        #expect(databaseError?.description.contains("s3cret-pw") == false)
    }
}

@Suite struct ConfigTests {
    @Test func defaultsNeedNoConfiguration() throws {
        // act
        let config = try Config.load(environment: [:])
        // verify
        #expect(config.host == "127.0.0.1" && config.port == 8080)
        #expect(config.database == .sqlite(path: "./nebula-data/nebula.sqlite"))
        #expect(config.masterKey == .file(path: "./nebula-data/master.key"))
    }

    @Test func environmentOverridesAndDotEnvIsParsed() throws {
        // setup
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        let dotEnv = Config.parseDotEnv("# comment\nexport NEBULA_PORT=9000\nNEBULA_HOST='0.0.0.0'\n\nDATABASE_URL=\"postgres://u:p@db:5432/n\"\n")
        // act
        let config = try Config.load(environment: dotEnv.merging(["NEBULA_MASTER_KEY": key, "NEBULA_DATA_DIR": "/srv/nebula"]) { $1 })
        // verify
        #expect(config.port == 9000 && config.host == "0.0.0.0")
        #expect(config.database == .postgres(url: "postgres://u:p@db:5432/n"))
        #expect(config.masterKey == .environment(Data(repeating: 7, count: 32)))
        #expect(config.dataDirectory == "/srv/nebula")
    }

    @Test(arguments: [
        ("NEBULA_PORT", "eighty"), ("NEBULA_PORT", "70000"), ("DATABASE_URL", "mysql://x@y/z"), ("NEBULA_MASTER_KEY", "c2hvcnQ="),
        ("NEBULA_JOB_WORKER", "maybe"), ("NEBULA_LOG_LEVEL", "loud"), ("NEBULA_PUBLIC_URL", "not a url"),
    ])
    func malformedValuesNameTheVariable(_ variable: String, _ value: String) {
        // act
        let error = #expect(throws: ConfigError.self) { try Config.load(environment: [variable: value]) }
        // verify
        #expect(error?.variable == variable)
        #expect(error?.description.hasPrefix(variable) == true)
    }

    @Test func everyVariableIsInTheREADME() throws {
        // setup
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        // verify
        #expect(text.hasPrefix("# ") && text.contains("make run") && text.contains("make test"))
        for variable in Config.variables { #expect(text.contains("`\(variable.name)`"), "README lacks \(variable.name)") }
    }
}

@Suite struct SystemTests {
    @Test(arguments: TestDatabase.all)
    func healthReadinessAndMetricsAnswer(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .viewer)
            _ = try await app.request(.GET, "/api/v1/jobs", token: token)
            _ = try await app.request(.GET, "/api/v1/jobs/\(UUID())", token: token)
            // act
            let health = try await app.request(.GET, "/healthz")
            let ready = try await app.request(.GET, "/readyz")
            let metrics = try await app.request(.GET, "/metrics")
            // verify
            #expect(health.status == .ok && health.body == "ok")
            #expect(ready.status == .ok && ready.body.contains(#""migrations":"applied""#))
            #expect(metrics.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
            #expect(metrics.body.contains(#"nebula_http_requests_total{method="GET",route="/api/v1/jobs",status="200"} 1"#))
            #expect(metrics.body.contains(#"nebula_http_requests_total{method="GET",route="/api/v1/jobs/:id",status="404"} 1"#))
            #expect(metrics.body.contains("nebula_http_request_duration_seconds_bucket"))
            #expect(metrics.body.contains(#"nebula_jobs_in_status_count{status="queued"}"#))
        }
    }

    @Test(arguments: TestDatabase.all)
    func debianFrontEndLibrariesAreServedAndNothingElse(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            #expect(FileManager.default.fileExists(atPath: "/usr/share/javascript/chart.js/chart.min.js"), "make test installs libjs-chart.js")
            // act
            let chart = try await app.request(.GET, "/vendor/chart.js/chart.min.js")
            let otherLibrary = try await app.request(.GET, "/vendor/jquery/jquery.js")
            let traversal = try await app.request(.GET, "/vendor/chart.js/..%2F..%2F..%2Fetc%2Fpasswd")
            let hidden = try await app.request(.GET, "/vendor/chart.js/.htaccess")
            // verify
            #expect(chart.status == .ok && chart.body.contains("Chart"))
            #expect(otherLibrary.status == .notFound)
            #expect(traversal.status.code >= 400 && !traversal.body.contains("root:"))
            #expect(hidden.status == .notFound)
        }
    }
}
