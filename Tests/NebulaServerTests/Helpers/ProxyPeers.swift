import AsyncHTTPClient
import Foundation
import NebulaTestSupport
@testable import NebulaServer
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Testing

/// A control plane with a real Caddy (its own ports and data) set as the proxy: `admin` is an
/// admin token. Caddy is stopped afterwards, whatever happens.
func withProxyApp(_ database: TestDatabase, configure: (inout Config) -> Void = { _ in },
                  _ body: (TestApp, CaddyTestServer, String) async throws -> Void) async throws {
    try #require(CaddyTestServer.isAvailable, "\(CaddyTestServer.unavailableReason)")
    let caddy = try await CaddyTestServer.start()
    defer { caddy.stop() }
    try await withApp(database, configure: configure) { app in
        let admin = try await app.token(role: .admin)
        let saved = try await app.request(.PUT, "/api/v1/proxy/settings", token: admin, json: """
        {"adminURL":"\(caddy.adminURL.absoluteString)","httpPort":\(caddy.httpPort),"httpsPort":\(caddy.httpsPort),"listenHost":"127.0.0.1"}
        """)
        try #require(saved.status == .ok, "\(saved.body)")
        try await body(app, caddy, admin)
    }
}

/// GETs `url` through Caddy trusting only `rootPEM`; retries for up to 30 s until `accept` holds
/// (the first request after a load may race Caddy issuing its internal certificate).
func fetchThroughCaddy(_ url: String, trusting rootPEM: String, until accept: @escaping (HTTPResponseStatus, String) -> Bool = { status, _ in status == .ok })
    async throws -> (status: HTTPResponseStatus, body: String) {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(rootPEM.utf8)))
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.timeout.connect = .seconds(5)
    let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    defer { Task { try? await client.shutdown() } }
    let deadline = ContinuousClock.now + .seconds(30)
    var last: (HTTPResponseStatus, String)?
    var lastError: (any Error)?
    while ContinuousClock.now < deadline {
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(15))
            let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
            last = (response.status, body)
            if accept(response.status, body) { return (response.status, body) }
        } catch {
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(250))
    }
    if let last { return last }
    throw lastError ?? TestSetupError.noPort
}

/// GETs `https://host:port/path` through Caddy on 127.0.0.1 with `curl --resolve`, so the request
/// carries the real host name (SNI and Host) without any DNS; trusts only `rootPEM`. Retries for
/// up to 30 s until it answers 200. The status code and body.
func curlThroughCaddy(host: String, port: Int, path: String = "/", trusting rootPEM: String, in directory: URL) async throws -> (status: Int, body: String) {
    let ca = directory.appendingPathComponent("caddy-root-\(UUID().uuidString.prefix(6)).pem")
    try rootPEM.write(to: ca, atomically: true, encoding: .utf8)
    let deadline = ContinuousClock.now + .seconds(30)
    var last: (Int, String) = (0, "")
    while ContinuousClock.now < deadline {
        last = try await Task.detached {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments = ["-s", "--max-time", "10", "--resolve", "\(host):\(port):127.0.0.1", "--cacert", ca.path,
                                 "-w", "\n%{http_code}", "https://\(host):\(port)\(path)"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            let code = Int(text.split(separator: "\n").last ?? "") ?? 0
            return (code, String(text.dropLast(String(code).count + 1)))
        }.value
        if last.0 == 200 { return last }
        try await Task.sleep(for: .milliseconds(500))
    }
    return last
}
