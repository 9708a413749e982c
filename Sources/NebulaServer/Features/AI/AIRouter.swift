import AIProviders
import Foundation
import NebulaCore
import Vapor

/// One circuit breaker per provider, shared by every request of this process.
actor AIBreakers {
    private var breakers: [UUID: CircuitBreaker] = [:]
    private let failureThreshold: Int
    private let cooldown: Duration

    init(failureThreshold: Int, cooldown: Duration) {
        self.failureThreshold = failureThreshold
        self.cooldown = cooldown
    }

    func breaker(_ provider: UUID) -> CircuitBreaker {
        if let existing = breakers[provider] { return existing }
        let made = CircuitBreaker(failureThreshold: failureThreshold, cooldown: cooldown)
        breakers[provider] = made
        return made
    }

    /// Forgets a provider's failures (its settings changed, or it was deleted).
    func reset(_ provider: UUID) {
        breakers[provider] = nil
    }

    /// `closed`, `open` or `half-open`, for the API and pages.
    func describe(_ provider: UUID) async -> String {
        guard let breaker = breakers[provider] else { return "closed" }
        switch await breaker.state {
        case .closed: return "closed"
        case .open(let until): return until <= .now ? "half-open" : "open"
        case .halfOpen: return "half-open"
        }
    }
}

/// What to ask, and where: `provider` nil or `auto` lets the router choose.
struct AIRouteRequest: Sendable {
    var provider: String?
    var model: String?
    var chat: ChatRequest
    /// Who asks and through what (`chat`, `openai`, `agent`), for the usage table.
    var username: String
    var source: String
}

/// An answer that has started: the provider and model that gave its first event, who was tried
/// before, and every event including the first. Usage and the breaker are recorded when `events` ends.
struct RoutedChat: Sendable {
    var provider: String
    var model: String
    var attempts: [RouteAttempt]
    var events: AsyncThrowingStream<ChatStreamEvent, any Error>
    /// When the request left Nebula, for time-to-first-token figures.
    var startedAt: ContinuousClock.Instant
}

/// Picks providers for a request and streams from the first that answers. `auto` tries local
/// providers first (those that have the model), then the others. A provider whose breaker is open
/// is skipped without a call. A failure before the first event moves on to the next candidate; once
/// an event has been passed on, a failure ends the answer with that error — it is never hidden
/// behind another provider's answer or reported as finished.
struct AIRouter: Sendable {
    let service: AIService

    /// Starts an answer. Throws a ``NebulaError`` (with a status and code for the API) when no
    /// provider could start one; the message lists what each attempt said.
    func open(_ request: AIRouteRequest) async throws -> RoutedChat {
        try Self.validate(request.chat)
        let candidates = try await candidates(provider: request.provider, model: request.model)
        var attempts: [RouteAttempt] = []
        var lastError: (any Error)?
        for (record, model) in candidates {
            try Task.checkCancellation()
            let breaker = await service.breakers.breaker(record.id)
            guard await breaker.allowRequest() else {
                attempts.append(RouteAttempt(provider: record.name, model: model, outcome: "circuit_open",
                                             error: "skipped: \(record.name) failed repeatedly; Nebula waits before trying it again"))
                continue
            }
            var chat = request.chat
            chat.model = model
            let started = ContinuousClock.now
            do {
                let client = try AIService.client(for: record)
                let events = try await Self.start(client.stream(chat), promptCharacters: Self.characters(chat), finish: { outcome, usage, firstToken in
                    if case .failure(let error) = outcome, Self.countsAgainst(error) {
                        await breaker.recordFailure()
                    } else {
                        await breaker.recordSuccess()
                    }
                    await service.recordUsage(username: request.username, source: request.source, provider: record.name, model: model, usage: usage,
                                              firstToken: firstToken.map { $0 - started }, duration: ContinuousClock.now - started,
                                              outcome: Self.outcome(outcome))
                })
                attempts.append(RouteAttempt(provider: record.name, model: model, outcome: "used", error: nil))
                return RoutedChat(provider: record.name, model: model, attempts: attempts, events: events, startedAt: started)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if Self.countsAgainst(error) { await breaker.recordFailure() } else { await breaker.recordSuccess() }
                await service.recordUsage(username: request.username, source: request.source, provider: record.name, model: model, usage: nil,
                                          firstToken: nil, duration: ContinuousClock.now - started, outcome: Self.outcome(.failure(error)))
                attempts.append(RouteAttempt(provider: record.name, model: model, outcome: "failed", error: AIService.message(error)))
                lastError = error
            }
        }
        throw Self.failure(attempts: attempts, lastError: lastError, model: request.model)
    }

    /// The providers to try, in order, each with the model to ask it for.
    func candidates(provider: String?, model: String?) async throws -> [(AIProviderSnapshot, String)] {
        let records = try await service.providerSnapshots()
        guard !records.isEmpty else {
            throw NebulaError(.serviceUnavailable, code: "no_providers", "No AI provider is set up yet; add an Ollama node or another provider on the AI page.")
        }
        let model = try AIService.modelName(model?.isEmpty == true ? nil : model)
        if let name = provider?.lowercased(), !name.isEmpty, name != "auto" {
            guard let record = records.first(where: { $0.name == name }) else {
                throw NebulaError(.notFound, code: "unknown_provider",
                                  "There is no AI provider named \(name); choose one of \(records.map(\.name).joined(separator: ", ")) or auto.")
            }
            return [(try Self.usable(record), try Self.model(model, on: record))]
        }
        // `provider/model` names one provider when a provider has that name (OpenRouter's own
        // model names also contain a slash, so an unknown prefix is part of the model name).
        if let model, let slash = model.firstIndex(of: "/"), let record = records.first(where: { $0.name == model[..<slash].lowercased() }) {
            return [(try Self.usable(record), String(model[model.index(after: slash)...]))]
        }
        let enabled = records.filter(\.enabled)
        // Providers last seen down are tried after the others, local before remote within each.
        let ordered = enabled.filter { $0.health != "down" } + enabled.filter { $0.health == "down" }
        guard let model else {
            let picked = ordered.compactMap { record in (record.defaultModel ?? record.models.first?.name).map { (record, $0) } }
            guard !picked.isEmpty else {
                throw NebulaError(.serviceUnavailable, code: "no_models",
                                  "No enabled AI provider has a model to offer yet; pull a model on an Ollama node or set a provider's default model.")
            }
            return picked
        }
        let offering = ordered.filter { record in record.models.contains { Self.sameModel($0.name, model) } }
        // A provider whose list is unknown (never reached) might have it: tried after those that list it.
        let unknown = ordered.filter { $0.models.isEmpty }
        let picked = (offering + unknown).map { ($0, Self.exactName(model, on: $0)) }
        guard !picked.isEmpty else {
            let known = Set(enabled.flatMap { $0.models.map(\.name) }).sorted()
            throw NebulaError(.notFound, code: "model_not_found",
                              "No enabled provider offers the model \(model). Available: \(known.prefix(30).joined(separator: ", "))\(known.count > 30 ? ", …" : "").")
        }
        return picked
    }

    // MARK: Streaming

    /// Starts `upstream` and waits for its first event. Before it, a failure is thrown (so the
    /// caller may try another provider); after it, the returned stream carries every event and
    /// ends with the upstream's error if it fails. `finish` runs once when an answer that started
    /// ends (success, failure or the consumer going away).
    static func start(_ upstream: AsyncThrowingStream<ChatStreamEvent, any Error>, promptCharacters: Int,
                      finish: @escaping @Sendable (Result<Void, any Error>, TokenUsage?, ContinuousClock.Instant?) async -> Void)
        async throws -> AsyncThrowingStream<ChatStreamEvent, any Error> {
        let (events, output) = AsyncThrowingStream<ChatStreamEvent, any Error>.makeStream()
        let (first, firstSignal) = AsyncThrowingStream<Void, any Error>.makeStream()
        let pump = Task {
            var started = false
            var usage: TokenUsage?
            var pieces = 0
            var firstAt: ContinuousClock.Instant?
            // Some servers (llama-cpp-python) ignore `include_usage`: then the answer's pieces are
            // counted (a streamed piece is about one token) and the prompt estimated.
            var estimate: TokenUsage { TokenUsage(promptTokens: max(1, promptCharacters / 4), completionTokens: pieces) }
            do {
                for try await event in upstream {
                    if !started {
                        started = true
                        firstAt = .now
                        firstSignal.yield()
                        firstSignal.finish()
                    }
                    switch event {
                    case .usage(let reported): usage = reported
                    case .text, .toolCall: pieces += 1
                    case .finished where usage == nil:
                        usage = estimate
                        output.yield(.usage(estimate))
                    case .finished: break
                    }
                    output.yield(event)
                }
                guard started else {
                    throw AIProviderError(code: .invalidResponse, message: "The provider ended the answer without sending anything.")
                }
                await finish(.success(()), usage, firstAt)
                output.finish()
            } catch {
                if started {
                    await finish(.failure(Task.isCancelled ? CancellationError() : error), usage ?? estimate, firstAt)
                    output.finish(throwing: error)
                } else {
                    firstSignal.finish(throwing: error)
                    output.finish(throwing: error)
                }
            }
        }
        output.onTermination = { _ in pump.cancel() }
        do {
            for try await _ in first { return events }
        } catch {
            throw error
        }
        // The waiting task was cancelled (the client went away) before anything arrived.
        pump.cancel()
        throw CancellationError()
    }

    // MARK: Rules

    static func validate(_ chat: ChatRequest) throws {
        guard !chat.messages.isEmpty, chat.messages.contains(where: { $0.role != .system }) else {
            throw NebulaError.unprocessable("Send at least one message (a user message to answer).", code: "empty_messages")
        }
        let size = characters(chat)
        guard size <= maxPromptBytes else {
            throw NebulaError(.payloadTooLarge, code: "prompt_too_large",
                              "The conversation is \(size / 1000) kB; the gateway accepts up to \(maxPromptBytes / 1000) kB. Start a new conversation or shorten the text.")
        }
        if let temperature = chat.temperature, !(0...2).contains(temperature) {
            throw NebulaError.unprocessable("temperature is between 0 and 2.", code: "invalid_temperature")
        }
        if let tokens = chat.maxTokens, !(1...200_000).contains(tokens) {
            throw NebulaError.unprocessable("maxTokens is between 1 and 200000.", code: "invalid_max_tokens")
        }
    }

    /// The text of a request (messages and tool arguments), for size limits and token estimates.
    static func characters(_ chat: ChatRequest) -> Int {
        chat.messages.reduce(0) { $0 + $1.content.utf8.count + $1.toolCalls.reduce(0) { $0 + $1.arguments.utf8.count } }
    }

    /// The largest conversation (all message text) the gateway sends on.
    static let maxPromptBytes = 1_000_000

    static func usable(_ record: AIProviderSnapshot) throws -> AIProviderSnapshot {
        guard record.enabled else {
            throw NebulaError.conflict("The AI provider \(record.name) is disabled; enable it on the AI page or choose another.", code: "provider_disabled")
        }
        return record
    }

    static func model(_ model: String?, on record: AIProviderSnapshot) throws -> String {
        if let model { return exactName(model, on: record) }
        guard let chosen = record.defaultModel ?? record.models.first?.name else {
            throw NebulaError.unprocessable("Provider \(record.name) has no default model and none is known yet; name a model.", code: "model_required")
        }
        return chosen
    }

    /// Ollama's `llama3` and `llama3:latest` are the same model.
    static func sameModel(_ a: String, _ b: String) -> Bool {
        func normal(_ name: String) -> String { name.hasSuffix(":latest") ? String(name.dropLast(7)) : name }
        return normal(a) == normal(b)
    }

    /// The model's name as this provider lists it.
    static func exactName(_ model: String, on record: AIProviderSnapshot) -> String {
        record.models.first { sameModel($0.name, model) }?.name ?? model
    }

    static func countsAgainst(_ error: any Error) -> Bool {
        switch error {
        case let error as AIProviderError: error.isProviderFailure
        case is CancellationError: false
        case is NebulaError: false
        default: true
        }
    }

    static func outcome(_ result: Result<Void, any Error>) -> String {
        switch result {
        case .success: "ok"
        case .failure(let error as AIProviderError): error.code.rawValue
        case .failure(is CancellationError): "cancelled"
        case .failure(let error as NebulaError): error.code
        case .failure: "error"
        }
    }

    /// The API error when nothing could start: one attempt keeps its own kind of status.
    static func failure(attempts: [RouteAttempt], lastError: (any Error)?, model: String?) -> NebulaError {
        let tried = attempts.map { "\($0.provider) (\($0.model)): \($0.error ?? $0.outcome)" }.joined(separator: "; ")
        if attempts.allSatisfy({ $0.outcome == "circuit_open" }) {
            return NebulaError(.serviceUnavailable, code: "providers_unavailable",
                               "Every provider for this request failed repeatedly and is paused for a short while. \(tried)")
        }
        if attempts.count == 1, let error = lastError as? AIProviderError {
            let (status, code): (HTTPResponseStatus, String) = switch error.code {
            case .modelNotFound: (.notFound, "model_not_found")
            case .authenticationFailed: (.badGateway, "provider_authentication_failed")
            case .rateLimited: (.tooManyRequests, "rate_limited")
            case .timedOut: (.gatewayTimeout, "provider_timeout")
            case .unreachable: (.badGateway, "provider_unreachable")
            default: (.badGateway, "provider_error")
            }
            return NebulaError(status, code: code, error.message)
        }
        if attempts.count == 1, let error = lastError as? NebulaError { return error }
        return NebulaError(.badGateway, code: "all_providers_failed", "No provider could answer. \(tried)")
    }
}
