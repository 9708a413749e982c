import AsyncHTTPClient
import Foundation
import Logging
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import NIOCore
import NIOHTTP1
import Testing
import Vapor

/// Boots a real control plane on a free loopback port against `database`, runs `body`, and
/// tears everything down (server, workers, temporary files, the PostgreSQL test database).
func withApp(
    _ database: TestDatabase,
    configure adjust: (inout Config) -> Void = { _ in },
    options: RuntimeOptions = .forTests,
    _ body: (TestApp) async throws -> Void
) async throws {
    LogCapture.bootstrapOnce()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let (db, cleanup) = try await database.provision(in: directory)
    var config = Config(dataDirectory: directory.path, database: db, masterKey: .file(path: directory.appendingPathComponent("master.key").path))
    config.jobPollInterval = .milliseconds(50)
    config.jobLease = .seconds(10)
    config.sseHeartbeat = .seconds(1)
    // Measuring this machine writes audit entries and events in the background; suites about
    // the fleet switch it on themselves.
    config.measuresLocalHost = false
    // Never the real systemctl: a test that reboots the local node runs `true`.
    config.powerCommands = PowerCommands(reboot: ["true"], shutdown: ["true"])
    // The local node's Docker is the throwaway dockerd `make test` starts, never the machine's own.
    if let endpoint = TestEngine.endpoint { config.dockerEndpoint = endpoint }
    adjust(&config)
    do {
        let app = try await TestApp.start(config: config, options: options, directory: directory)
        do {
            try await body(app)
        } catch {
            await app.stop()
            throw error
        }
        await app.stop()
    } catch {
        await cleanup()
        try? FileManager.default.removeItem(at: directory)
        throw error
    }
    await cleanup()
    try? FileManager.default.removeItem(at: directory)
}

extension RuntimeOptions {
    /// Cheap bcrypt so hundreds of logins stay fast; everything else as in production.
    static var forTests: RuntimeOptions {
        var options = RuntimeOptions()
        options.passwordHashCost = 4
        return options
    }
}

/// A running control plane and a client for it.
struct TestApp: Sendable {
    let app: Application
    let config: Config
    let baseURL: String
    let directory: URL
    private let stopped = LockedValue(false)

    var services: NebulaServices { get throws { try app.nebula } }

    /// Starts another instance (a replica, or the same data after a restart).
    static func start(config: Config, options: RuntimeOptions = .forTests, directory: URL, port: Int = 0) async throws -> TestApp {
        let app = try await Application.make(.testing)
        app.logger.logLevel = .debug
        do {
            try await NebulaServer.configure(app, config: config, options: options)
            app.http.server.configuration.hostname = "127.0.0.1"
            app.http.server.configuration.port = port
            try await app.server.start(address: .hostname("127.0.0.1", port: port))
            guard let port = app.http.server.shared.localAddress?.port else { throw TestSetupError.noPort }
            return TestApp(app: app, config: config, baseURL: "http://127.0.0.1:\(port)", directory: directory)
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
    }

    /// Stops the server and shuts the application down; safe to call more than once.
    func stop() async {
        let alreadyStopped = stopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        await app.server.shutdown()
        try? await app.asyncShutdown()
    }

    // MARK: Requests

    /// One HTTP request. `json` is sent as the body with `Content-Type: application/json`,
    /// `form` URL-encoded, `raw` as it is (`application/octet-stream`).
    func request(_ method: NIOHTTP1.HTTPMethod, _ path: String, token: String? = nil, json: String? = nil,
                 form: [(String, String)]? = nil, raw: Data? = nil, headers: [(String, String)] = [], cookies: CookieJar? = nil,
                 timeout: Duration = .seconds(30)) async throws -> TestResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: Self.encodeForm(form)))
        }
        if let raw {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .bytes(ByteBuffer(data: raw))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let cookies, let header = cookies.header { request.headers.add(name: "Cookie", value: header) }
        let response = try await Self.client.execute(request, timeout: .seconds(timeout.components.seconds))
        let body = try await response.body.collect(upTo: 16 << 20)
        cookies?.store(response.headers)
        return TestResponse(status: response.status, headers: response.headers, body: String(buffer: body), data: Data(buffer: body))
    }

    /// Like a browser's fetch with `redirect: "manual"`: tests look at each redirect themselves.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    static func encodeForm(_ fields: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return fields.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
            .joined(separator: "&")
    }

    // MARK: Fixtures

    /// Creates a user with `role` and returns a bearer token acting with that role.
    func token(role: Role, username: String? = nil) async throws -> String {
        let services = try services
        let name = username ?? "\(role.rawValue)-\(UUID().uuidString.prefix(6).lowercased())"
        _ = try await services.identity.createUser(username: name, password: "test-password-123", role: role, by: .system("test"))
        return try await services.identity.createToken(name: "test", role: role, expiresAt: nil, for: name, by: .system("test")).token
    }

    func auditEntries(action: String? = nil) async throws -> [AuditEntryDTO] {
        var query = AuditLog.Query()
        query.action = action
        query.limit = 500
        return try await services.audit.search(query, by: .system("test")).items
    }
}

/// A response with its body read.
struct TestResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: String
    /// The body's bytes, for binary answers such as downloads.
    var data = Data()

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(body.utf8))
    }

    /// The `code` of an error body, or nil.
    var errorCode: String? { (try? decode(APIErrorBody.self))?.error.code }

    /// The value of the hidden `_csrf` field of the first form in an HTML page.
    var csrfField: String? {
        guard let range = body.range(of: #"name="_csrf" value="([^"]+)""#, options: .regularExpression) else { return nil }
        let match = body[range]
        return match.split(separator: "\"").dropFirst(3).first.map(String.init)
    }
}

/// The cookies of one browser.
final class CookieJar: Sendable {
    private let cookies = LockedValue<[String: String]>([:])

    var header: String? {
        let all = cookies.withLock { $0 }
        return all.isEmpty ? nil : all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ")
    }

    subscript(name: String) -> String? { cookies.withLock { $0[name] } }

    func store(_ headers: HTTPHeaders) {
        for line in headers["Set-Cookie"] {
            let pair = line.split(separator: ";", maxSplits: 1).first ?? ""
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard let name = parts.first else { continue }
            let value = parts.count > 1 ? parts[1] : ""
            let expired = line.lowercased().contains("max-age=0")
            cookies.withLock { $0[name] = expired || value.isEmpty ? nil : value }
        }
    }
}
