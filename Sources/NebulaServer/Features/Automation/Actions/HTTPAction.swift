import AsyncHTTPClient
import Foundation
import NebulaCore
import NIOCore
import NIOHTTP1

/// `http`: one HTTP request. Params: `method` (GET), `url`, `headers`, `body` (text, or a mapping
/// sent as JSON), `expected_status` (a code or a list; 200–399 when absent). Secrets go in as
/// `{{ secrets.NAME }}` and are masked in the output and the log.
struct HTTPAction: RunbookAction {
    let name = "http"
    let summary = "Send an HTTP request and check its status"
    let parameters = [ActionParameter(name: "method", kind: .string, allowed: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
                      ActionParameter(name: "url", kind: .string, required: true),
                      ActionParameter(name: "headers", kind: .object),
                      ActionParameter(name: "body", kind: .any),
                      ActionParameter(name: "expected_status", kind: .any),
                      ActionParameter(name: "follow_redirects", kind: .boolean)]

    func isIdempotent(_ params: [String: TemplateValue]) -> Bool {
        ["GET", "HEAD"].contains((params.text("method") ?? "GET").uppercased())
    }

    func validate(_ params: [String: TemplateValue]) -> [(parameter: String, message: String)] {
        var problems: [(String, String)] = []
        if let url = params.literal("url")?.textValue, let problem = AutomationHTTP.checkURL(url) { problems.append(("url", problem)) }
        if let expected = params.literal("expected_status"), AutomationHTTP.expectedStatuses(expected) == nil {
            problems.append(("expected_status", "must be a status code (100–599) or a list of them"))
        }
        return problems
    }

    func run(_ params: [String: TemplateValue], _ context: ActionContext) async throws -> TemplateValue {
        let method = (params.text("method") ?? "GET").uppercased()
        let url = try params.requiredText("url")
        if let problem = AutomationHTTP.checkURL(url) { throw ActionFailure("url \(problem)") }
        var headers: [(String, String)] = []
        for (key, value) in params["headers"]?.objectValue ?? [:] { headers.append((key, value.rendered)) }
        var body: String?
        switch params["body"] {
        case .object?, .list?:
            body = params["body"]?.jsonText
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("Content-Type", "application/json")) }
        case .some(let value) where value != .null:
            body = value.rendered
        default:
            body = nil
        }
        let expected = params["expected_status"].flatMap(AutomationHTTP.expectedStatuses)
        await context.log("\(method) \(context.mask(url))")
        let response = try await AutomationHTTP.perform(method: method, url: url, headers: headers, body: body, timeout: context.timeout,
                                                        followRedirects: try params.flag("follow_redirects") ?? true)
        let ok = expected?.contains(response.status) ?? (200...399).contains(response.status)
        let text = context.mask(String(response.body.prefix(4096)))
        await context.log("→ \(response.status) in \(Int(response.latencyMs)) ms")
        let output: TemplateValue = ["status_code": .number(Double(response.status)), "body": .string(text),
                                     "latency_ms": .number(response.latencyMs.rounded()), "ok": .bool(ok)]
        guard ok else {
            throw ActionFailureWithOutput(description: "\(method) \(context.mask(url)) answered \(response.status), expected \(expected.map { $0.map(String.init).joined(separator: " or ") } ?? "200–399")",
                                          output: output)
        }
        return output
    }

    func dryRun(_ params: [String: TemplateValue], _ context: ActionContext) async -> String {
        "would send \((params.text("method") ?? "GET").uppercased()) \(context.mask(params.text("url") ?? ""))"
    }
}

/// A failure that still has a result worth keeping (the status code of a bad answer).
struct ActionFailureWithOutput: Error, CustomStringConvertible, Sendable {
    let description: String
    let output: TemplateValue
}

/// HTTP for the `http` and `health_check` actions.
enum AutomationHTTP {
    struct Answer: Sendable {
        var status: Int
        var body: String
        var latencyMs: Double
    }

    /// Why `url` cannot be requested, or nil.
    static func checkURL(_ url: String) -> String? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = parsed.host, !host.isEmpty else {
            return "must be an http:// or https:// URL (got '\(url.prefix(80))')"
        }
        return nil
    }

    /// A code, a list of codes, or a text like `200,204`.
    static func expectedStatuses(_ value: TemplateValue) -> [Int]? {
        let codes: [Int]?
        switch value {
        case .list(let list): codes = list.map { $0.integerValue ?? -1 }
        case .string(let text): codes = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) ?? -1 }
        default: codes = value.integerValue.map { [$0] }
        }
        guard let codes, !codes.isEmpty, codes.allSatisfy({ (100...599).contains($0) }) else { return nil }
        return codes
    }

    static func perform(method: String, url: String, headers: [(String, String)], body: String?, timeout: Duration,
                        followRedirects: Bool) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "User-Agent", value: "nebula-runbook")
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let client = followRedirects ? HTTPClient.shared : noRedirects
        let started = ContinuousClock.now
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(max(1, timeout.seconds) * 1000)))
            let collected = try await response.body.collect(upTo: 1 << 20)
            let latency = (ContinuousClock.now - started).seconds * 1000
            return Answer(status: Int(response.status.code), body: String(buffer: collected), latencyMs: latency)
        } catch let error as HTTPClientError {
            throw ActionFailure("\(method) \(url.prefix(200)) failed: \(error)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ActionFailure("\(method) \(url.prefix(200)) failed: \(error)")
        }
    }

    /// A client that reports redirects instead of following them.
    static let noRedirects: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
