import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// What a request through Caddy returned.
struct ProxiedResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: String
}

/// Runs `body` with an HTTP client that trusts only `rootPEM` (Caddy's local CA) and never follows
/// redirects; shuts the client down afterwards.
func withProxyClient<T>(trusting rootPEM: String? = nil, _ body: (HTTPClient) async throws -> T) async throws -> T {
    var tls = TLSConfiguration.makeClientConfiguration()
    if let rootPEM {
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(rootPEM.utf8)))
    }
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.timeout.connect = .seconds(5)
    let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// One GET (optionally with basic-auth credentials `user:password`).
func fetch(_ client: HTTPClient, _ url: String, basicAuth: (String, String)? = nil) async throws -> ProxiedResponse {
    var request = HTTPClientRequest(url: url)
    if let (user, password) = basicAuth {
        request.headers.add(name: "Authorization", value: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
    }
    let response = try await client.execute(request, timeout: .seconds(15))
    let body = try await response.body.collect(upTo: 1 << 20)
    return ProxiedResponse(status: response.status, headers: response.headers, body: String(buffer: body))
}

/// The first request after a load may race Caddy obtaining the internal certificate: retry until
/// `accept` holds or 30 s pass; returns the last answer (or rethrows the last error).
func fetchRetrying(_ client: HTTPClient, _ url: String, basicAuth: (String, String)? = nil,
                   until accept: (ProxiedResponse) -> Bool = { $0.status == .ok }) async throws -> ProxiedResponse {
    let deadline = ContinuousClock.now + .seconds(30)
    var lastError: (any Error)?
    var last: ProxiedResponse?
    while ContinuousClock.now < deadline {
        do {
            let response = try await fetch(client, url, basicAuth: basicAuth)
            if accept(response) { return response }
            last = response
        } catch {
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(250))
    }
    if let last { return last }
    throw lastError ?? TestFailure("no answer from \(url) within 30 s")
}

/// A bcrypt hash of `password` made by Caddy itself (`caddy hash-password`).
func caddyHash(_ password: String) throws -> String {
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/caddy")
    process.arguments = ["hash-password", "--plaintext", password]
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let hash = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard process.terminationStatus == 0, hash.hasPrefix("$2") else {
        throw TestFailure("caddy hash-password failed (exit \(process.terminationStatus))")
    }
    return hash
}
