import AsyncHTTPClient
import Foundation
import NebulaCore
import NIOCore
import NIOHTTP1

/// User-defined HTTP functions as agent tools: the URL template's `{param}` placeholders are filled
/// with URL-encoded arguments, header values' `{{secret:name}}` references with vault secrets at
/// call time (masked out of the answer and never stored), and the body from the body template or,
/// for POST/PUT/PATCH without one, the arguments as JSON. Redirects are not followed, so a secret
/// header never travels to another host.
enum HTTPFunctions {
    static let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    /// Header names whose values are credentials: they must come from the vault.
    static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token", "private-token"]

    /// `{name}` placeholders of a template.
    static func placeholders(in template: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: #"\{([A-Za-z_][A-Za-z0-9_]*)\}"#) else { return [] }
        let range = NSRange(template.startIndex..., in: template)
        return regex.matches(in: template, range: range).compactMap { match in Range(match.range(at: 1), in: template).map { String(template[$0]) } }
    }

    /// `{{secret:name}}` references of a header value.
    static func secretReferences(in value: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: #"\{\{\s*secret:([A-Za-z0-9_.\-]+)\s*\}\}"#) else { return [] }
        let range = NSRange(value.startIndex..., in: value)
        return regex.matches(in: value, range: range).compactMap { match in Range(match.range(at: 1), in: value).map { String(value[$0]) } }
    }

    static func fill(_ template: String, _ value: (String) -> String) -> String {
        guard let regex = try? NSRegularExpression(pattern: #"\{([A-Za-z_][A-Za-z0-9_]*)\}"#) else { return template }
        var output = ""
        var last = template.startIndex
        for match in regex.matches(in: template, range: NSRange(template.startIndex..., in: template)) {
            guard let whole = Range(match.range, in: template), let name = Range(match.range(at: 1), in: template) else { continue }
            output += template[last..<whole.lowerBound]
            output += value(String(template[name]))
            last = whole.upperBound
        }
        return output + template[last...]
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// The URL with each placeholder replaced by its argument, percent-encoded.
    static func url(_ template: String, _ arguments: [String: TemplateValue]) -> String {
        fill(template) { name in (arguments[name]?.rendered ?? "").addingPercentEncoding(withAllowedCharacters: unreserved) ?? "" }
    }

    /// The body template with each placeholder replaced by its argument, JSON-escaped (a string
    /// without its quotes, so `"{name}"` stays valid JSON; numbers and booleans as written).
    static func body(_ template: String, _ arguments: [String: TemplateValue]) -> String {
        fill(template) { name in
            guard let value = arguments[name] else { return "" }
            if case .string = value { return String(value.jsonText.dropFirst().dropLast()) }
            return value.jsonText
        }
    }

    static func tool(_ record: AIFunctionRecord) -> AgentTool {
        let parameters = ToolSchema.parse(record.parameters) ?? BuiltInTools.schema([:])
        let headers = (try? JSONDecoder().decode([String: String].self, from: Data(record.headers.utf8))) ?? [:]
        let method = record.method, template = record.urlTemplate, bodyTemplate = record.bodyTemplate, timeout = record.timeoutSeconds
        return AgentTool(name: record.name, description: record.description, parameters: parameters, changesSomething: record.changesSomething,
                         kind: "http", functionID: record.id) { arguments, context in
            let url = url(template, arguments)
            var request = HTTPClientRequest(url: url)
            request.method = HTTPMethod(rawValue: method)
            request.headers.add(name: "User-Agent", value: "nebula-agent")
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
                var resolved = value
                for secret in secretReferences(in: value) {
                    let secretValue: String
                    do {
                        secretValue = try await context.services.secrets.value(of: secret)
                    } catch {
                        throw AgentToolFailure("The vault secret \(secret) this function's \(name) header needs is missing; store it on the Secrets page.")
                    }
                    context.masks.withLock { $0.append(secretValue) }
                    resolved = resolved.replacingOccurrences(of: #"\{\{\s*secret:"# + NSRegularExpression.escapedPattern(for: secret) + #"\s*\}\}"#,
                                                             with: NSRegularExpression.escapedTemplate(for: secretValue), options: .regularExpression)
                }
                request.headers.replaceOrAdd(name: name, value: resolved)
            }
            if let bodyTemplate, !bodyTemplate.isEmpty {
                request.body = .bytes(ByteBuffer(string: body(bodyTemplate, arguments)))
                if !request.headers.contains(name: "Content-Type") {
                    let looksJSON = bodyTemplate.trimmingCharacters(in: .whitespaces).first.map { "{[".contains($0) } ?? false
                    request.headers.add(name: "Content-Type", value: looksJSON ? "application/json" : "text/plain; charset=utf-8")
                }
            } else if ["POST", "PUT", "PATCH"].contains(method) {
                request.body = .bytes(ByteBuffer(string: TemplateValue.object(arguments).jsonText))
                if !request.headers.contains(name: "Content-Type") { request.headers.add(name: "Content-Type", value: "application/json") }
            }
            let seconds = min(timeout, context.secondsLeft)
            let status: Int
            let text: String
            do {
                let response = try await AutomationHTTP.noRedirects.execute(request, timeout: .seconds(Int64(seconds)))
                let collected = try await response.body.collect(upTo: 1 << 20)
                status = Int(response.status.code)
                text = String(buffer: collected)
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
                throw AgentToolFailure("\(method) \(context.mask(url).prefix(200)) did not answer within \(seconds) s.")
            } catch {
                throw AgentToolFailure("\(method) \(context.mask(url).prefix(200)) failed: \(context.mask(String(describing: error)).prefix(300))")
            }
            let masked = context.mask(text)
            let answer: TemplateValue = ToolSchema.parse(masked) ?? .string(masked)
            guard (200..<300).contains(status) else {
                throw AgentToolFailure("\(method) \(context.mask(url).prefix(200)) answered HTTP \(status): \(ToolOutput.bounded(masked, limit: 2000))")
            }
            return ToolOutput.json(.object(["status": .number(Double(status)), "body": answer]))
        }
    }
}
