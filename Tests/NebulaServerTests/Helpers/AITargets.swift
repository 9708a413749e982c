import Foundation
import NebulaTestSupport
@testable import NebulaServer
import Vapor

/// What the AI routes act on in the access tests: an Ollama provider served by a fake model
/// server (so chat, the OpenAI-compatible endpoint and model management answer), and a
/// conversation. Made only for `/ai` routes; other routes get placeholders.
struct AITargets: Sendable {
    var providerID: UUID
    var conversationID: UUID
    var fake: FakeModelServer?
    /// Agents (see AIAgentTargets): an agent, an HTTP function, an execution waiting for approval.
    var agents: AIAgentTargets?

    static func make(in app: TestApp, suffix: String, for route: Route?) async throws -> AITargets {
        guard let route, route.path.contains(where: { $0.description == "ai" }) else {
            return AITargets(providerID: UUID(), conversationID: UUID())
        }
        let services = try app.services
        let fake = try await FakeModelServer.start(models: ["tiny-model", "llama3.2:1b"])
        do {
            let provider = try await services.ai.createProvider(AIProviderInput(name: "t-\(suffix)", kind: .ollama, baseURL: fake.url.absoluteString),
                                                                by: .system())
            let conversation = try await services.aiConversations.create(ConversationInput(title: "Target conversation"), by: .system())
            let agents = try await AIAgentTargets.make(in: app, suffix: suffix, provider: provider.name)
            return AITargets(providerID: provider.id, conversationID: conversation.id, fake: fake, agents: agents)
        } catch {
            await fake.stop()
            throw error
        }
    }

    func stop() async {
        await fake?.stop()
    }

    /// The id for the path parameter `name` of an `/ai/...` route.
    func parameter(_ name: String, words: [String]) -> String {
        if words.contains("conversations") { return conversationID.uuidString }
        if let agents {
            if words.contains("agents") { return agents.agentID.uuidString }
            if words.contains("functions") { return agents.functionID.uuidString }
            if words.contains("executions") { return agents.executionID.uuidString }
        }
        return providerID.uuidString
    }
}
