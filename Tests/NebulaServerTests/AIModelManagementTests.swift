import AIProviders
import Foundation
import NebulaCore
@testable import NebulaServer
import NebulaTestSupport
import Testing

/// Model management on an Ollama node, against the fake model server speaking Ollama's API
/// (`/api/tags`, `/api/ps`, `/api/generate`, `/api/delete`, `/api/pull`) on loopback.
@Suite struct AIModelManagementTests {
    struct Accepted: Decodable { var provider: String; var model: String; var job: JobDTO }

    static func models(_ app: TestApp, _ id: UUID, token: String) async throws -> OllamaModelsDTO {
        let response = try await app.request(.GET, "/api/v1/ai/providers/\(id)/models", token: token)
        try #require(response.status == .ok, "\(response.body)")
        return try response.decode(OllamaModelsDTO.self)
    }

    static func post(_ app: TestApp, _ id: UUID, _ verb: String, model: String, token: String) async throws -> TestResponse {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["model": model]), as: UTF8.self)
        return try await app.request(.POST, "/api/v1/ai/providers/\(id)/models/\(verb)", token: token, json: body)
    }

    static func log(_ app: TestApp, _ job: UUID) async throws -> [String] {
        try await app.services.jobs.logLines(jobID: job, after: 0, limit: 5000).map(\.line)
    }

    @Test(arguments: TestDatabase.all)
    func listsInstalledModelsWithTheirDetails(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await AI.withFakes(1, models: ["tiny-model", "llama3.1:8b"]) { fakes in
                // setup
                let admin = try await app.token(role: .admin)
                let viewer = try await app.token(role: .viewer)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                // act
                let listed = try await Self.models(app, provider.id, token: viewer)
                // verify
                #expect(listed.provider == "gpu-box")
                #expect(listed.installed.map(\.name) == ["tiny-model", "llama3.1:8b"])
                let first = try #require(listed.installed.first)
                #expect((first.sizeBytes ?? 0) > 1_000_000_000)
                #expect(first.family == "llama")
                #expect(first.parameterSize == "1.2B")
                #expect(first.quantization == "Q4_K_M")
                #expect(first.running == false)
                #expect(listed.running.isEmpty)
                #expect(listed.pulls.isEmpty)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func loadShowsTheModelInMemoryAndUnloadRemovesIt(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await AI.withFakes(1, models: ["tiny-model", "spare-model"]) { fakes in
                // setup
                let admin = try await app.token(role: .admin)
                let operatorToken = try await app.token(role: .operator)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                // act
                let loaded = try await Self.post(app, provider.id, "load", model: "tiny-model", token: operatorToken)
                let running = try await Self.models(app, provider.id, token: operatorToken)
                let unloaded = try await Self.post(app, provider.id, "unload", model: "tiny-model", token: operatorToken)
                let after = try await Self.models(app, provider.id, token: operatorToken)
                // verify
                #expect(loaded.status == .ok, "\(loaded.body)")
                #expect(try loaded.decode(ModelActionDTO.self).action == "loaded")
                let inMemory = try #require(running.running.first)
                #expect(running.running.count == 1)
                #expect(inMemory.name == "tiny-model")
                #expect(inMemory.sizeVRAM > 0 && inMemory.sizeBytes >= inMemory.sizeVRAM)
                #expect((inMemory.expiresAt ?? .distantPast) > Date())
                #expect(running.installed.first { $0.name == "tiny-model" }?.running == true)
                #expect(unloaded.status == .ok, "\(unloaded.body)")
                #expect(after.running.isEmpty)
                #expect(fakes[0].loadedModels.isEmpty)
                let actions = try await app.auditEntries().map(\.action)
                #expect(actions.contains("ai.model.load") && actions.contains("ai.model.unload"))
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func pullRunsAsAJobWithProgressAndTheModelAppears(_ database: TestDatabase) async throws {
        try await withApp(database, configure: Self.leaseOutlastingAStarvedRunner) { app in
            try await AI.withFakes(1) { fakes in
                // setup
                let admin = try await app.token(role: .admin)
                let operatorToken = try await app.token(role: .operator)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                fakes[0].pullDelay = .milliseconds(150)
                fakes[0].pullSteps = 12
                // act
                let response = try await Self.post(app, provider.id, "pull", model: "library/qwen2:0.5b", token: operatorToken)
                let second = try await Self.post(app, provider.id, "pull", model: "library/qwen2:0.5b", token: operatorToken)
                let accepted = try response.decode(Accepted.self)
                let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(90))
                // verify
                #expect(response.status == .accepted, "\(response.body)")
                #expect(accepted.job.type == "ai.model.pull")
                #expect(second.status == .conflict && second.errorCode == "pull_in_progress", "\(second.body)")
                #expect(job.status == .succeeded, "\(job.lastError ?? "")")
                #expect(job.progress == 1)
                let lines = try await Self.log(app, job.id)
                #expect(lines.contains { $0.hasPrefix("pulling sha256:") && $0.contains(" GB of ") && $0.contains("%)") }, "\(lines)")
                #expect(lines.contains { $0.contains("(100%)") }, "\(lines)")
                #expect(lines.contains("success"))
                #expect(fakes[0].installedModels.contains("library/qwen2:0.5b"))
                #expect(try await Self.models(app, provider.id, token: operatorToken).installed.contains { $0.name == "library/qwen2:0.5b" })
                // The provider's stored list (the model pickers) was refreshed by the job.
                #expect(try await AI.provider(app, token: operatorToken, provider.id).models.contains { $0.name == "library/qwen2:0.5b" })
                // A pull of the same model once the first ended is accepted again.
                let again = try await Self.post(app, provider.id, "pull", model: "library/qwen2:0.5b", token: operatorToken)
                #expect(again.status == .accepted)
                _ = try await app.waitForJob(try again.decode(Accepted.self).job.id, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(90))
                #expect(try await app.auditEntries(action: "ai.model.pull").filter { $0.outcome == .success }.count == 2)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func aFailingPullFailsTheJobWithOllamasMessage(_ database: TestDatabase) async throws {
        try await withApp(database, configure: Self.leaseOutlastingAStarvedRunner) { app in
            try await AI.withFakes(1) { fakes in
                // setup
                let admin = try await app.token(role: .admin)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                fakes[0].failNextPull(message: "pull model manifest: registry answered 503, try again later")
                // act
                let response = try await Self.post(app, provider.id, "pull", model: "qwen2:0.5b", token: admin)
                let accepted = try response.decode(Accepted.self)
                let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(90))
                // verify
                #expect(job.status == .failed)
                #expect(job.lastError?.contains("pull model manifest: registry answered 503, try again later") == true, "\(job.lastError ?? "")")
                #expect(job.attempts == 1)
                #expect(!fakes[0].installedModels.contains("qwen2:0.5b"))
                #expect(try await Self.log(app, job.id).contains { $0.contains("registry answered 503") })
                let finished = try await app.auditEntries(action: "ai.model.pull.finish")
                #expect(finished.first?.outcome == .failure)
            }
        }
    }

    /// A pull is one attempt (Ollama's own errors are final): a lease that lapses because a starved
    /// runner missed the renewals would fail it, so these tests give the worker two minutes.
    static func leaseOutlastingAStarvedRunner(_ config: inout Config) {
        config.jobLease = .seconds(120)
    }

    @Test(arguments: TestDatabase.all)
    func cancellingThePullJobStopsThePull(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await AI.withFakes(1) { fakes in
                // setup: a pull of about 30 s
                let admin = try await app.token(role: .admin)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                fakes[0].pullDelay = .milliseconds(500)
                fakes[0].pullSteps = 60
                let accepted = try await Self.post(app, provider.id, "pull", model: "qwen2:0.5b", token: admin).decode(Accepted.self)
                let deadline = ContinuousClock.now + .seconds(45)
                while try await app.services.jobs.find(accepted.job.id).progress == 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                }
                // act
                let cancel = try await app.request(.POST, "/api/v1/jobs/\(accepted.job.id)/cancel", token: admin)
                let job = try await app.waitForJob(accepted.job.id, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(45))
                // verify
                #expect(cancel.status == .ok, "\(cancel.body)")
                #expect(job.status == .cancelled, "\(job.status) \(job.lastError ?? "")")
                #expect(job.progress > 0 && job.progress < 1)
                #expect(!fakes[0].installedModels.contains("qwen2:0.5b"))
                // Nothing is pulling any more: the same model may be pulled again.
                #expect(try await Self.models(app, provider.id, token: admin).pulls.isEmpty)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func deleteRemovesTheModelAndAnUnknownOneIsNotFound(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await AI.withFakes(1, models: ["tiny-model", "spare-model"]) { fakes in
                // setup
                let admin = try await app.token(role: .admin)
                let operatorToken = try await app.token(role: .operator)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                // act
                let deleted = try await Self.post(app, provider.id, "delete", model: "spare-model", token: operatorToken)
                let missing = try await Self.post(app, provider.id, "delete", model: "never-pulled:1b", token: operatorToken)
                let loadMissing = try await Self.post(app, provider.id, "load", model: "never-pulled:1b", token: operatorToken)
                // verify
                #expect(deleted.status == .ok, "\(deleted.body)")
                #expect(fakes[0].installedModels == ["tiny-model"])
                #expect(try await Self.models(app, provider.id, token: operatorToken).installed.map(\.name) == ["tiny-model"])
                #expect(try await AI.provider(app, token: operatorToken, provider.id).models.map(\.name) == ["tiny-model"])
                #expect(missing.status == .notFound && missing.errorCode == "model_not_found", "\(missing.body)")
                #expect(loadMissing.status == .notFound && loadMissing.errorCode == "model_not_found", "\(loadMissing.body)")
                let entries = try await app.auditEntries(action: "ai.model.delete")
                #expect(entries.filter { $0.outcome == .success }.count == 1)
                #expect(entries.filter { $0.outcome == .failure }.count == 1)
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func aNodeThatDoesNotAnswerIsABadGateway(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup: an Ollama provider on a loopback port nobody listens on
            let admin = try await app.token(role: .admin)
            let provider = try await AI.addProvider(app, token: admin, #"{"name":"gone","kind":"ollama","baseURL":"http://127.0.0.1:9"}"#)
            // act
            let listed = try await app.request(.GET, "/api/v1/ai/providers/\(provider.id)/models", token: admin)
            let load = try await Self.post(app, provider.id, "load", model: "tiny-model", token: admin)
            // verify
            #expect(listed.status == .badGateway && listed.errorCode == "provider_unreachable", "\(listed.body)")
            #expect(load.status == .badGateway && load.errorCode == "provider_unreachable", "\(load.body)")
        }
    }

    @Test(arguments: TestDatabase.all)
    func otherProvidersAndBadNamesAreRefused(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await AI.withFakes(1) { fakes in
                // setup
                let admin = try await app.token(role: .admin)
                let viewer = try await app.token(role: .viewer)
                let ollama = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                let openAI = try await AI.openAI(app, token: admin, name: "cloud", fakes[0])
                let bad = ["", "bad name", "../etc/passwd", "a:b:c", "x:", "-rm", "model\n", String(repeating: "a", count: 201), "hf.co//repo", "ünïcode", "host:port/model", "a/b/c/d/e"]
                // act
                let list = try await app.request(.GET, "/api/v1/ai/providers/\(openAI.id)/models", token: admin)
                let pull = try await Self.post(app, openAI.id, "pull", model: "llama3.1:8b", token: admin)
                var refused: [String: TestResponse] = [:]
                for name in bad { refused[name] = try await Self.post(app, ollama.id, "pull", model: name, token: admin) }
                let asViewer = try await Self.post(app, ollama.id, "pull", model: "llama3.1:8b", token: viewer)
                let extraKey = try await app.request(.POST, "/api/v1/ai/providers/\(ollama.id)/models/load", token: admin, json: #"{"model":"tiny-model","force":true}"#)
                // verify
                #expect(list.status == .unprocessableEntity && list.errorCode == "not_ollama", "\(list.body)")
                #expect(pull.status == .unprocessableEntity && pull.errorCode == "not_ollama", "\(pull.body)")
                for (name, response) in refused {
                    #expect(response.status == .unprocessableEntity && response.errorCode == "invalid_model", "\(name.debugDescription) → \(response.status.code) \(response.body)")
                }
                #expect(asViewer.status == .forbidden)
                #expect(extraKey.status.code == 400 || extraKey.status.code == 422)
                #expect(try await app.services.jobs.list(status: nil, type: AIModelPullJob.type, limit: 10, offset: 0).total == 0)
            }
        }
    }

    @Test func modelNamesOllamaTakesAreAccepted() throws {
        for name in ["llama3.1:8b", "library/qwen2:0.5b", "hf.co/org/repo:Q4_K_M", "tiny-model", "registry.lan:5000/team/model:latest",
                     "nomic-embed-text", "qwen2.5-coder:1.5b-instruct-q8_0", "user/model_v2:latest"] {
            #expect(try AIModelManagement.modelName(name) == name)
        }
        #expect(AIModelManagement.size(4_661_224_676) == "4.7 GB")
        #expect(AIModelManagement.size(1_200_000_000) == "1.2 GB")
        #expect(AIModelManagement.size(812_000_000) == "812 MB")
        #expect(AIModelManagement.size(999) == "999 bytes")
    }

    @Test func progressIsTheShareOfBytesOverEveryLayer() {
        // setup
        var tracker = PullTracker()
        let start = ContinuousClock.now
        // act
        let manifest = tracker.consume(PullProgress(status: "pulling manifest"), now: start)
        let first = tracker.consume(PullProgress(status: "pulling aaaa", digest: "sha256:" + String(repeating: "a", count: 64), total: 3_000_000_000, completed: 1_500_000_000), now: start)
        let second = tracker.consume(PullProgress(status: "pulling bbbb", digest: "sha256:" + String(repeating: "b", count: 64), total: 1_000_000_000, completed: 0), now: start)
        let done = tracker.consume(PullProgress(status: "success"), now: start)
        // verify
        #expect(manifest.log == "pulling manifest" && manifest.progress == nil)
        #expect(first.progress == 0.5)
        #expect(first.log == "pulling sha256:aaaaaaaaaaaa… 1.5 GB of 3 GB (50%)")
        #expect(second.progress == nil || second.progress == 0.375)
        #expect(tracker.fraction == 0.375)
        #expect(done.progress == 1 && tracker.succeeded)
    }

    @Test(arguments: TestDatabase.all)
    func theProviderPageShowsModelsMemoryAndPulls(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            try await AI.withFakes(1, models: ["tiny-model", "llama3.1:8b"]) { fakes in
                // setup
                let admin = try await app.token(role: .admin)
                let viewer = try await app.token(role: .viewer)
                let provider = try await AI.ollama(app, token: admin, name: "gpu-box", fakes[0])
                let openAI = try await AI.openAI(app, token: admin, name: "cloud", fakes[0])
                _ = try await Self.post(app, provider.id, "load", model: "tiny-model", token: admin)
                fakes[0].pullDelay = .milliseconds(400)
                fakes[0].pullSteps = 60
                let pulling = try await Self.post(app, provider.id, "pull", model: "qwen2:0.5b", token: admin).decode(Accepted.self)
                // act
                let asAdmin = try await app.request(.GET, "/ai/providers/\(provider.id)", token: admin)
                let asViewer = try await app.request(.GET, "/ai/providers/\(provider.id)", token: viewer)
                let other = try await app.request(.GET, "/ai/providers/\(openAI.id)", token: viewer)
                _ = try await app.request(.POST, "/api/v1/jobs/\(pulling.job.id)/cancel", token: admin)
                // verify
                #expect(asAdmin.status == .ok)
                for text in ["gpu-box", "llama3.1:8b", "Q4_K_M", "in memory", "GPU)", " min</span>", "Pull a model", "qwen2:0.5b",
                             "data-job-progress=\"\(pulling.job.id)\"", "/models/delete", "/models/unload", "/models/load"] {
                    #expect(asAdmin.body.contains(text), "the admin's page lacks \(text)")
                }
                #expect(asAdmin.body.contains(" GB"))
                #expect(asViewer.status == .ok)
                #expect(!asViewer.body.contains("/models/delete") && !asViewer.body.contains("action=\"/ai/providers/\(provider.id)/models/pull\""))
                #expect(other.status == .ok)
                #expect(other.body.contains("tiny-model") && other.body.contains("for Ollama nodes"))
                _ = try await app.waitForJob(pulling.job.id, toBe: [.succeeded, .failed, .cancelled], timeout: .seconds(45))
            }
        }
    }
}
