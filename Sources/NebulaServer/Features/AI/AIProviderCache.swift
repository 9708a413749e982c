import AIProviders
import Foundation

/// What the router needs of a provider: its settings, last health, models and API key, read
/// together and shared by the requests of the next moments.
struct AIProviderSnapshot: Sendable {
    var id: UUID
    var name: String
    var kind: AIProviderKind
    var baseURL: String
    var apiKey: String?
    /// The vault secret that should hold the key but is gone: requests fail saying so.
    var missingKeySecret: String?
    var isLocal: Bool
    var priority: Int
    var enabled: Bool
    var defaultModel: String?
    var timeoutSeconds: Int
    var health: String
    var models: [ModelInfo]
}

/// The providers as the router sees them, read from the database (and the vault) at most every
/// `maxAge`, and again at once after any change this process makes. Other replicas' changes show
/// within `maxAge`. Spares every chat the provider query, the models JSON and the key decryption.
final class AIProviderCache: Sendable {
    private struct State: Sendable {
        var readAt: ContinuousClock.Instant?
        var providers: [AIProviderSnapshot] = []
        /// Bumped by every change, so a read that started before it is not kept.
        var generation = 0
    }

    private let state = LockedValue(State())
    private let maxAge: Duration

    init(maxAge: Duration = .seconds(2)) {
        self.maxAge = maxAge
    }

    /// The cached snapshots, or `load()`'s when there are none or they are older than `maxAge`.
    func providers(load: () async throws -> [AIProviderSnapshot]) async throws -> [AIProviderSnapshot] {
        let (cached, generation) = state.withLock { state -> ([AIProviderSnapshot]?, Int) in
            guard let readAt = state.readAt, ContinuousClock.now - readAt < maxAge else { return (nil, state.generation) }
            return (state.providers, state.generation)
        }
        if let cached { return cached }
        let readAt = ContinuousClock.now
        let loaded = try await load()
        state.withLock { state in
            if state.generation == generation {
                state.readAt = readAt
                state.providers = loaded
            }
        }
        return loaded
    }

    /// Forgets the snapshots (a provider changed).
    func invalidate() {
        state.withLock { state in
            state.readAt = nil
            state.providers = []
            state.generation += 1
        }
    }
}
