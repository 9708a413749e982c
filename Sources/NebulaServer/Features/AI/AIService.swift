import AIProviders
import Fluent
import Foundation
import NebulaCore
import Vapor

extension EventType {
    public static let aiProviderCreated: EventType = "ai.provider_created"
    public static let aiProviderUpdated: EventType = "ai.provider_updated"
    public static let aiProviderDeleted: EventType = "ai.provider_deleted"
    /// A provider's health changed. Data: provider, health, error?.
    public static let aiProviderHealthChanged: EventType = "ai.provider_health_changed"
}

/// Model providers: their settings, API keys (in the vault), health and model lists, and the
/// clients that talk to them. Reading needs the viewer role; changes need admin, because a
/// provider's key spends money and its answers reach every user.
struct AIService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let secrets: SecretsService
    let breakers: AIBreakers
    var cache = AIProviderCache()
    var now: @Sendable () -> Date = { Date() }

    static let defaultTimeoutSeconds = 300

    static func ownSecretName(_ provider: String) -> String { "ai.\(provider)" }

    // MARK: Providers

    func providers(by actor: Actor) async throws -> [AIProviderDTO] {
        try actor.require(.viewer)
        var result: [AIProviderDTO] = []
        for record in try await providerRecords() { result.append(try await dto(record)) }
        return result
    }

    func provider(_ id: UUID, by actor: Actor) async throws -> AIProviderDTO {
        try actor.require(.viewer)
        return try await dto(try await providerRecord(id))
    }

    /// Every provider in the order `auto` tries them: local first, then by priority and name.
    func providerRecords() async throws -> [AIProviderRecord] {
        try await AIProviderRecord.query(on: db).all().sorted { a, b in
            if a.isLocal != b.isLocal { return a.isLocal }
            if a.priority != b.priority { return a.priority < b.priority }
            return a.name < b.name
        }
    }

    /// ``providerRecords()`` as the router sees them (cached briefly, keys resolved).
    func providerSnapshots() async throws -> [AIProviderSnapshot] {
        try await cache.providers {
            var snapshots: [AIProviderSnapshot] = []
            for record in try await providerRecords() {
                // One provider's lost key must not stop the others.
                let key = try? await apiKey(of: record)
                snapshots.append(AIProviderSnapshot(id: try record.requireID(), name: record.name, kind: try Self.kind(record), baseURL: record.baseURL,
                                                    apiKey: key, missingKeySecret: key == nil ? record.apiKeySecret : nil,
                                                    isLocal: record.isLocal, priority: record.priority,
                                                    enabled: record.enabled, defaultModel: record.defaultModel, timeoutSeconds: record.timeoutSeconds,
                                                    health: record.health, models: Self.models(of: record)))
            }
            return snapshots
        }
    }

    func providerRecord(_ id: UUID) async throws -> AIProviderRecord {
        guard let record = try await AIProviderRecord.find(id, on: db) else { throw NebulaError.notFound("The AI provider") }
        return record
    }

    func createProvider(_ input: AIProviderInput, by actor: Actor) async throws -> AIProviderDTO {
        try actor.require(.admin)
        let name = try Self.providerName(input.name)
        guard let kind = input.kind else {
            throw NebulaError.unprocessable("Give the provider's kind: ollama, openai or anthropic.", code: "invalid_kind")
        }
        if try await AIProviderRecord.query(on: db).filter(\.$name == name).first() != nil {
            throw NebulaError.conflict("A provider named \(name) already exists.", code: "name_taken")
        }
        let baseURL = try Self.baseURL(input.baseURL ?? (kind == .anthropic ? AnthropicClient.defaultBaseURL.absoluteString : nil), kind: kind)
        let record = AIProviderRecord()
        record.name = name
        record.kind = kind.rawValue
        record.baseURL = baseURL
        record.isLocal = input.isLocal ?? Self.looksLocal(baseURL)
        record.priority = try Self.priority(input.priority ?? 100)
        record.enabled = input.enabled ?? true
        record.defaultModel = try Self.modelName(input.defaultModel)
        record.timeoutSeconds = try Self.timeout(input.timeoutSeconds ?? Self.defaultTimeoutSeconds)
        record.health = "unknown"
        record.models = "[]"
        record.createdBy = actor.username
        record.apiKeySecret = try await keySecret(for: name, kind: kind, input: input, current: nil, by: actor)
        try await record.create(on: db)
        cache.invalidate()
        try await audit.record("ai.provider.create", target: "ai-provider:\(name)", by: actor, detail: kind.rawValue)
        await events.publish(.aiProviderCreated, actor: actor.username, subject: "ai-provider:\(name)", data: ["kind": kind.rawValue])
        // The first health check now, so the answer already says whether it works.
        _ = try await checkHealth(record)
        return try await dto(record)
    }

    func updateProvider(_ id: UUID, _ input: AIProviderInput, by actor: Actor) async throws -> AIProviderDTO {
        try actor.require(.admin)
        let record = try await providerRecord(id)
        if let name = input.name, name != record.name {
            throw NebulaError.unprocessable("A provider's name cannot change (conversations and usage refer to it); add another provider instead.", code: "name_immutable")
        }
        let kind = try Self.kind(record)
        if let given = input.kind, given != kind {
            throw NebulaError.unprocessable("A provider's kind cannot change; add another provider instead.", code: "kind_immutable")
        }
        if let url = input.baseURL { record.baseURL = try Self.baseURL(url, kind: kind) }
        if let local = input.isLocal { record.isLocal = local }
        if let priority = input.priority { record.priority = try Self.priority(priority) }
        if let enabled = input.enabled { record.enabled = enabled }
        if let model = input.defaultModel { record.defaultModel = try Self.modelName(model.isEmpty ? nil : model) }
        if let timeout = input.timeoutSeconds { record.timeoutSeconds = try Self.timeout(timeout) }
        if input.apiKey != nil || input.apiKeySecret != nil {
            record.apiKeySecret = try await keySecret(for: record.name, kind: kind, input: input, current: record.apiKeySecret, by: actor)
        }
        try await record.update(on: db)
        cache.invalidate()
        await breakers.reset(try record.requireID())
        try await audit.record("ai.provider.update", target: "ai-provider:\(record.name)", by: actor)
        await events.publish(.aiProviderUpdated, actor: actor.username, subject: "ai-provider:\(record.name)")
        _ = try await checkHealth(record)
        return try await dto(record)
    }

    func deleteProvider(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.admin)
        let record = try await providerRecord(id)
        try await record.delete(on: db)
        cache.invalidate()
        if record.apiKeySecret == Self.ownSecretName(record.name) {
            try? await secrets.delete(name: Self.ownSecretName(record.name), by: actor)
        }
        await breakers.reset(id)
        try await audit.record("ai.provider.delete", target: "ai-provider:\(record.name)", by: actor)
        await events.publish(.aiProviderDeleted, actor: actor.username, subject: "ai-provider:\(record.name)")
    }

    /// Asks the provider for its models now and records health, latency and the list.
    func check(_ id: UUID, by actor: Actor) async throws -> AIProviderDTO {
        try actor.require(.viewer)
        let record = try await providerRecord(id)
        _ = try await checkHealth(record)
        try await audit.record("ai.provider.check", target: "ai-provider:\(record.name)", by: actor, detail: record.health)
        return try await dto(record)
    }

    /// One health check: the model list, timed. Returns whether the provider answered.
    @discardableResult
    func checkHealth(_ record: AIProviderRecord) async throws -> Bool {
        let before = record.health
        let started = ContinuousClock.now
        do {
            let models = try await client(for: record, timeout: .seconds(15)).models()
            record.health = "ok"
            record.healthError = nil
            record.latencyMilliseconds = Self.milliseconds(ContinuousClock.now - started)
            record.models = String(decoding: try JSONEncoder().encode(models), as: UTF8.self)
        } catch {
            record.health = "down"
            record.healthError = Self.message(error)
            record.latencyMilliseconds = nil
        }
        record.checkedAt = now()
        try await record.update(on: db)
        cache.invalidate()
        if before != record.health {
            await events.publish(.aiProviderHealthChanged, actor: nil, subject: "ai-provider:\(record.name)",
                                 data: ["provider": record.name, "health": record.health, "error": record.healthError ?? ""].filter { !$0.value.isEmpty })
        }
        return record.health == "ok"
    }

    /// Refreshes every enabled provider (the health loop).
    func checkAll() async {
        guard let records = try? await providerRecords() else { return }
        await withTaskGroup(of: Void.self) { group in
            for record in records where record.enabled {
                group.addTask { _ = try? await checkHealth(record) }
            }
        }
    }

    // MARK: Clients

    /// The client for a provider, with its API key from the vault.
    func client(for record: AIProviderRecord, timeout: Duration? = nil) async throws -> any ChatProvider {
        try Self.client(kind: try Self.kind(record), name: record.name, baseURL: record.baseURL, apiKey: try await apiKey(of: record),
                        timeout: timeout ?? .seconds(record.timeoutSeconds))
    }

    /// The client for a provider the router picked.
    static func client(for provider: AIProviderSnapshot) throws -> any ChatProvider {
        if let secret = provider.missingKeySecret {
            throw NebulaError.unprocessable("The vault secret \(secret) that holds provider \(provider.name)'s API key is gone; store it again or pick another.",
                                            code: "missing_api_key")
        }
        return try client(kind: provider.kind, name: provider.name, baseURL: provider.baseURL, apiKey: provider.apiKey, timeout: .seconds(provider.timeoutSeconds))
    }

    private static func client(kind: AIProviderKind, name: String, baseURL: String, apiKey key: String?, timeout limit: Duration) throws -> any ChatProvider {
        guard let url = URL(string: baseURL) else {
            throw NebulaError.misconfigured("The base URL of AI provider \(name) cannot be read; fix it in the provider's settings.")
        }
        switch kind {
        case .ollama:
            return OllamaClient(baseURL: url, timeout: limit)
        case .openai:
            return OpenAICompatibleClient(baseURL: url, apiKey: key, timeout: limit)
        case .anthropic:
            guard let key else {
                throw NebulaError.unprocessable("Anthropic provider \(name) has no API key; add one in its settings.", code: "missing_api_key")
            }
            return AnthropicClient(baseURL: url, apiKey: key, timeout: limit)
        }
    }

    /// The Ollama client of an Ollama provider (model management).
    func ollamaClient(for record: AIProviderRecord) throws -> OllamaClient {
        guard try Self.kind(record) == .ollama, let url = URL(string: record.baseURL) else {
            throw NebulaError.unprocessable("Provider \(record.name) is not an Ollama node; model management is for Ollama.", code: "not_ollama")
        }
        return OllamaClient(baseURL: url, timeout: .seconds(record.timeoutSeconds))
    }

    func apiKey(of record: AIProviderRecord) async throws -> String? {
        guard let name = record.apiKeySecret else { return nil }
        do {
            return try await secrets.value(of: name)
        } catch {
            throw NebulaError.unprocessable("The vault secret \(name) that holds provider \(record.name)'s API key is gone; store it again or pick another.",
                                            code: "missing_api_key")
        }
    }

    /// The models recorded at the provider's last successful check.
    static func models(of record: AIProviderRecord) -> [ModelInfo] {
        (try? JSONDecoder().decode([ModelInfo].self, from: Data(record.models.utf8))) ?? []
    }

    // MARK: Usage

    /// Records one model call (never fails the caller: accounting must not break a chat).
    func recordUsage(username: String, source: String, provider: String, model: String, usage: TokenUsage?,
                     firstToken: Duration?, duration: Duration, outcome: String) async {
        let row = AIUsageRecord()
        row.username = username
        row.source = source
        row.provider = provider
        row.model = model
        row.promptTokens = usage?.promptTokens ?? 0
        row.completionTokens = usage?.completionTokens ?? 0
        row.firstTokenMilliseconds = firstToken.map(Self.milliseconds)
        row.durationMilliseconds = Self.milliseconds(duration)
        row.outcome = outcome
        try? await row.create(on: db)
    }

    /// Usage per user, provider and model over the last `days`. Admins see everyone; others themselves.
    func usage(days: Int, by actor: Actor) async throws -> [AIUsageSummary] {
        try actor.require(.viewer)
        guard (1...400).contains(days) else { throw NebulaError.invalid("days is between 1 and 400.", code: "invalid_days") }
        var query = AIUsageRecord.query(on: db).filter(\.$createdAt >= now().addingTimeInterval(-Double(days) * 86400))
        if actor.role < .admin { query = query.filter(\.$username == actor.username) }
        var groups: [String: [AIUsageRecord]] = [:]
        for row in try await query.all() { groups["\(row.username)\u{0}\(row.provider)\u{0}\(row.model)", default: []].append(row) }
        return groups.values.compactMap { rows -> AIUsageSummary? in
            guard let first = rows.first else { return nil }
            let timed = rows.compactMap(\.firstTokenMilliseconds)
            return AIUsageSummary(username: first.username, provider: first.provider, model: first.model, requests: rows.count,
                                  errors: rows.filter { $0.outcome != "ok" }.count,
                                  promptTokens: rows.reduce(0) { $0 + $1.promptTokens }, completionTokens: rows.reduce(0) { $0 + $1.completionTokens },
                                  averageFirstTokenMs: timed.isEmpty ? nil : timed.reduce(0, +) / timed.count,
                                  averageDurationMs: rows.reduce(0) { $0 + $1.durationMilliseconds } / rows.count)
        }.sorted { ($0.username, $0.provider, $0.model) < ($1.username, $1.provider, $1.model) }
    }

    // MARK: Helpers

    func dto(_ record: AIProviderRecord) async throws -> AIProviderDTO {
        let id = try record.requireID()
        return AIProviderDTO(id: id, name: record.name, kind: try Self.kind(record), baseURL: record.baseURL, apiKeySecret: record.apiKeySecret,
                             hasAPIKey: record.apiKeySecret != nil, isLocal: record.isLocal, priority: record.priority, enabled: record.enabled,
                             defaultModel: record.defaultModel, timeoutSeconds: record.timeoutSeconds, health: record.health,
                             healthError: record.healthError, latencyMs: record.latencyMilliseconds, models: Self.models(of: record),
                             checkedAt: record.checkedAt, circuit: await breakers.describe(id))
    }

    /// Where the API key comes from: `apiKey` (stored as `ai.<name>`), `apiKeySecret` (an existing
    /// vault secret; empty removes the key), or what is set now.
    private func keySecret(for name: String, kind: AIProviderKind, input: AIProviderInput, current: String?, by actor: Actor) async throws -> String? {
        var chosen = current
        if let key = input.apiKey {
            let trimmed = key.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty, trimmed.count <= 4096, !trimmed.contains(where: \.isNewline) else {
                throw NebulaError.unprocessable("The API key must be one line of up to 4096 characters.", code: "invalid_api_key")
            }
            _ = try await secrets.store(name: Self.ownSecretName(name), value: trimmed, description: "API key of AI provider \(name) (\(kind.label))",
                                        replace: true, by: actor)
            chosen = Self.ownSecretName(name)
        } else if let secret = input.apiKeySecret {
            if secret.isEmpty {
                chosen = nil
            } else {
                try SecretsService.validate(name: secret)
                do {
                    _ = try await secrets.value(of: secret)
                } catch {
                    throw NebulaError.unprocessable("There is no vault secret named \(secret); store the key on the Secrets page first, or send apiKey.",
                                                    code: "unknown_secret")
                }
                chosen = secret
            }
        }
        if kind == .anthropic, chosen == nil {
            throw NebulaError.unprocessable("Anthropic needs an API key: send apiKey, or apiKeySecret naming a vault secret.", code: "missing_api_key")
        }
        return chosen
    }

    static func kind(_ record: AIProviderRecord) throws -> AIProviderKind {
        guard let kind = AIProviderKind(rawValue: record.kind) else {
            throw NebulaError.misconfigured("AI provider \(record.name) has an unknown kind \(record.kind).")
        }
        return kind
    }

    static func providerName(_ raw: String?) throws -> String {
        let name = (raw ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        guard (1...40).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
              name != "auto", name.first != "-" else {
            throw NebulaError.unprocessable("A provider's name is 1–40 lowercase letters, digits or dashes (not \"auto\"), e.g. gpu-box.", code: "invalid_name")
        }
        return name
    }

    static func baseURL(_ raw: String?, kind: AIProviderKind) throws -> String {
        let text = (raw ?? "").trimmingCharacters(in: .whitespaces)
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false,
              url.user == nil, url.query == nil else {
            throw NebulaError.unprocessable("Give the provider's base URL, e.g. \(kind.exampleURL) (http or https, no credentials or query).", code: "invalid_url")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// Loopback, private and `.lan`/`.local` hosts count as local.
    static func looksLocal(_ url: String) -> Bool {
        guard let host = URL(string: url)?.host?.lowercased() else { return false }
        if host == "localhost" || host == "::1" || host.hasPrefix("127.") || host.hasPrefix("10.") || host.hasPrefix("192.168.") { return true }
        if host.hasPrefix("172."), let second = Int(host.split(separator: ".").dropFirst().first ?? ""), (16...31).contains(second) { return true }
        if host.hasPrefix("fd") || host.hasPrefix("fe80") { return true }
        return [".lan", ".local", ".home.arpa", ".internal"].contains { host.hasSuffix($0) } || !host.contains(".")
    }

    static func priority(_ value: Int) throws -> Int {
        guard (0...1000).contains(value) else { throw NebulaError.unprocessable("priority is between 0 and 1000 (lower is tried first).", code: "invalid_priority") }
        return value
    }

    static func timeout(_ value: Int) throws -> Int {
        guard (5...3600).contains(value) else { throw NebulaError.unprocessable("timeoutSeconds is between 5 and 3600.", code: "invalid_timeout") }
        return value
    }

    static func modelName(_ raw: String?) throws -> String? {
        guard let raw else { return nil }
        let name = raw.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count), !name.contains(where: { $0.isNewline || $0 == " " }) else {
            throw NebulaError.unprocessable("A model name is 1–200 characters without spaces, e.g. llama3.1:8b.", code: "invalid_model")
        }
        return name
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    static func message(_ error: any Error) -> String {
        switch error {
        case let error as AIProviderError: error.message
        case let error as NebulaError: error.message
        default: String(describing: error)
        }
    }
}
