import Foundation
import NebulaTestSupport
@testable import NebulaServer
import Testing

/// Adding providers and reading streamed answers in the AI tests.
enum AI {
    struct Providers: Decodable { var items: [AIProviderDTO] }
    struct Usage: Decodable { var items: [AIUsageSummary] }

    /// One Server-Sent Event of a finished response body.
    struct Event: Sendable {
        var name: String
        var data: String
        func json() -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:] }
    }

    /// Adds a provider through the API and returns it (health already checked once).
    static func addProvider(_ app: TestApp, token: String, _ json: String) async throws -> AIProviderDTO {
        let response = try await app.request(.POST, "/api/v1/ai/providers", token: token, json: json)
        try #require(response.status == .created, "\(response.body)")
        return try response.decode(AIProviderDTO.self)
    }

    /// An Ollama provider on `fake`.
    static func ollama(_ app: TestApp, token: String, name: String, _ fake: FakeModelServer, extra: String = "") async throws -> AIProviderDTO {
        try await addProvider(app, token: token, #"{"name":"\#(name)","kind":"ollama","baseURL":"\#(fake.url.absoluteString)"\#(extra)}"#)
    }

    /// An OpenAI-compatible provider on `fake` (a cloud one unless `extra` says otherwise).
    static func openAI(_ app: TestApp, token: String, name: String, _ fake: FakeModelServer, extra: String = #","isLocal":false"#) async throws -> AIProviderDTO {
        try await addProvider(app, token: token, #"{"name":"\#(name)","kind":"openai","baseURL":"\#(fake.openAIBaseURL.absoluteString)"\#(extra)}"#)
    }

    static func provider(_ app: TestApp, token: String, _ id: UUID) async throws -> AIProviderDTO {
        try await app.request(.GET, "/api/v1/ai/providers/\(id)", token: token).decode(AIProviderDTO.self)
    }

    /// The events of a whole `text/event-stream` body (comments and `retry:` lines skipped).
    static func events(_ body: String) -> [Event] {
        body.components(separatedBy: "\n\n").compactMap { block -> Event? in
            var name = "message"
            var data: [String] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            return data.isEmpty ? nil : Event(name: name, data: data.joined(separator: "\n"))
        }
    }

    /// The text of the `delta` events.
    static func text(_ events: [Event]) -> String {
        events.filter { $0.name == "delta" }.compactMap { $0.json()["text"] as? String }.joined()
    }

    /// Runs `body` with fake model servers, stopping them afterwards whatever happens.
    static func withFakes(_ count: Int, models: [String] = ["tiny-model"], apiKey: String? = nil,
                          _ body: ([FakeModelServer]) async throws -> Void) async throws {
        var fakes: [FakeModelServer] = []
        do {
            for _ in 0..<count { fakes.append(try await FakeModelServer.start(models: models, apiKey: apiKey)) }
            try await body(fakes)
        } catch {
            for fake in fakes { await fake.stop() }
            throw error
        }
        for fake in fakes { await fake.stop() }
    }
}
