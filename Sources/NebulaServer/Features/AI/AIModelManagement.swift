import AIProviders
import Fluent
import Foundation
import NebulaCore
import Vapor

extension EventType {
    /// A pull was queued. Data: provider, model, job.
    public static let aiModelPullStarted: EventType = "ai.model_pull_started"
    /// A pull finished and the model is on the node. Data: provider, model, job.
    public static let aiModelPulled: EventType = "ai.model_pulled"
    /// A pull failed. Data: provider, model, job, error.
    public static let aiModelPullFailed: EventType = "ai.model_pull_failed"
    public static let aiModelDeleted: EventType = "ai.model_deleted"
    public static let aiModelLoaded: EventType = "ai.model_loaded"
    public static let aiModelUnloaded: EventType = "ai.model_unloaded"
}

// MARK: - API shapes

/// A model on an Ollama node's disk.
struct InstalledModelDTO: Content, Equatable {
    var name: String
    var sizeBytes: Int64?
    var family: String?
    var parameterSize: String?
    var quantization: String?
    /// Whether it is in memory now.
    var running: Bool
}

/// A model in an Ollama node's memory.
struct RunningModelDTO: Content, Equatable {
    var name: String
    var sizeBytes: Int64
    /// The part of it in GPU memory.
    var sizeVRAM: Int64
    /// When Ollama unloads it unless it is used again (far in the future: kept loaded).
    var expiresAt: Date?
}

/// A pull that is queued or running.
struct ModelPullDTO: Content, Equatable {
    var model: String
    var jobId: UUID
    var status: JobStatus
    var progress: Double
}

/// What an Ollama node has: on disk, in memory, and being pulled.
struct OllamaModelsDTO: Content, Equatable {
    var providerId: UUID
    var provider: String
    var installed: [InstalledModelDTO]
    var running: [RunningModelDTO]
    var pulls: [ModelPullDTO]
}

/// The body of the model routes: `{"model": "llama3.1:8b"}`.
struct ModelNameInput: Codable, Sendable {
    var model: String?
    static let keys: Set<String> = ["model"]
}

/// A pull accepted as a job.
struct ModelPullAcceptedDTO: Content, Equatable {
    var provider: String
    var model: String
    var job: JobDTO
}

/// The result of delete, load and unload.
struct ModelActionDTO: Content, Equatable {
    var provider: String
    var model: String
    /// deleted, loaded, unloaded.
    var action: String
    var message: String
}

// MARK: - Service

/// Model management on Ollama nodes: the models on disk and in memory, pulls (durable jobs with
/// progress), delete, load and unload. Reading needs the viewer role, changes the operator role;
/// every change is audited and published. Other provider kinds answer 422 `not_ollama`.
struct AIModelManagement: Sendable {
    let ai: AIService
    let jobs: JobQueue

    var db: any Database { ai.db }
    var audit: AuditLog { ai.audit }
    var events: EventBus { ai.events }

    /// What a pull job carries: the provider's id and the model (and who asked, for events).
    struct PullPayload: Codable, Sendable, Equatable {
        var provider: UUID
        var model: String
        var requestedBy: String?
    }

    // MARK: Reading

    /// The node's installed and running models, asked now, and the pulls in progress.
    func models(of id: UUID, by actor: Actor) async throws -> OllamaModelsDTO {
        try actor.require(.viewer)
        let record = try await ai.providerRecord(id)
        let client = try ai.ollamaClient(for: record)
        let installed: [ModelInfo]
        let running: [RunningModel]
        do {
            async let tags = client.models()
            async let memory = client.runningModels()
            (installed, running) = try await (tags, memory)
        } catch {
            throw Self.apiError(error, provider: record.name, model: nil)
        }
        let loaded = Set(running.map(\.name))
        return OllamaModelsDTO(
            providerId: id, provider: record.name,
            installed: installed.map { InstalledModelDTO(name: $0.name, sizeBytes: $0.sizeBytes, family: $0.family, parameterSize: $0.parameterSize,
                                                         quantization: $0.quantization, running: loaded.contains($0.name)) },
            running: running.map { RunningModelDTO(name: $0.name, sizeBytes: $0.sizeBytes, sizeVRAM: $0.sizeVRAM, expiresAt: $0.expiresAt) },
            pulls: try await activePulls(of: id).map { ModelPullDTO(model: $0.payload.model, jobId: $0.job.id, status: $0.job.status, progress: $0.job.progress) })
    }

    /// Pull jobs of this provider, newest first: only queued and running ones unless `includeFinished`.
    func pulls(of id: UUID, includeFinished: Bool = false, limit: Int = 20) async throws -> [(job: JobDTO, payload: PullPayload)] {
        let query = JobRecord.query(on: db).filter(\.$type == AIModelPullJob.type)
        if !includeFinished { query.filter(\.$status ~~ [JobStatus.queued, .running]) }
        let records = try await query.sort(\.$createdAt, .descending).limit(includeFinished ? 200 : 1000).all()
        return records.compactMap { record -> (JobDTO, PullPayload)? in
            guard let payload = try? JSONDecoder().decode(PullPayload.self, from: Data(record.payload.utf8)), payload.provider == id else { return nil }
            return (JobDTO(record), payload)
        }.prefix(limit).map { $0 }
    }

    func activePulls(of id: UUID) async throws -> [(job: JobDTO, payload: PullPayload)] {
        try await pulls(of: id, includeFinished: false, limit: 1000)
    }

    // MARK: Changing

    /// Queues a pull of `model` on the node. A second pull of the same model on the same node while
    /// one is queued or running is refused (409 `pull_in_progress`).
    func pull(_ rawModel: String?, on id: UUID, by actor: Actor) async throws -> ModelPullAcceptedDTO {
        try actor.require(.operator)
        let model = try Self.modelName(rawModel)
        let record = try await ai.providerRecord(id)
        _ = try ai.ollamaClient(for: record)
        let key = "\(id)/\(model)"
        // Two clicks of the same form in this process are serialised here; the job table decides.
        guard Self.queueing.withLock({ $0.insert(key).inserted }) else {
            throw Self.busy(model, record.name)
        }
        defer { _ = Self.queueing.withLock { $0.remove(key) } }
        if try await activePulls(of: id).contains(where: { $0.payload.model == model }) {
            try await audit.record("ai.model.pull", target: Self.target(record.name, model), outcome: .failure, by: actor, detail: "already being pulled")
            throw Self.busy(model, record.name)
        }
        let payload = PullPayload(provider: id, model: model, requestedBy: actor.username)
        let job = try await jobs.enqueue(type: AIModelPullJob.type, payload: try Self.json(payload), maxAttempts: 1, by: actor)
        try await audit.record("ai.model.pull", target: Self.target(record.name, model), by: actor, detail: "job \(job.id)")
        await events.publish(.aiModelPullStarted, actor: actor.username, subject: "ai-provider:\(record.name)",
                             data: ["provider": record.name, "model": model, "job": job.id.uuidString])
        return ModelPullAcceptedDTO(provider: record.name, model: model, job: job)
    }

    /// Removes `model` from the node's disk, then refreshes the provider's model list.
    func delete(_ rawModel: String?, on id: UUID, by actor: Actor) async throws -> ModelActionDTO {
        try await change("delete", rawModel, on: id, by: actor, event: .aiModelDeleted) { client, model in
            try await client.delete(model)
            return ("deleted", "\(model) is deleted from the node.")
        }
    }

    /// Loads `model` into memory (Ollama keeps it for its keep-alive, 5 minutes by default).
    func load(_ rawModel: String?, on id: UUID, by actor: Actor) async throws -> ModelActionDTO {
        try await change("load", rawModel, on: id, by: actor, event: .aiModelLoaded) { client, model in
            try await client.load(model)
            return ("loaded", "\(model) is loaded.")
        }
    }

    /// Unloads `model` from memory now.
    func unload(_ rawModel: String?, on id: UUID, by actor: Actor) async throws -> ModelActionDTO {
        try await change("unload", rawModel, on: id, by: actor, event: .aiModelUnloaded) { client, model in
            try await client.unload(model)
            return ("unloaded", "\(model) is unloaded.")
        }
    }

    /// Authorize, validate, act on the node, audit (with the outcome), publish.
    private func change(_ verb: String, _ rawModel: String?, on id: UUID, by actor: Actor, event: EventType,
                        _ act: (OllamaClient, String) async throws -> (String, String)) async throws -> ModelActionDTO {
        try actor.require(.operator)
        let model = try Self.modelName(rawModel)
        let record = try await ai.providerRecord(id)
        let client = try ai.ollamaClient(for: record)
        let action = "ai.model.\(verb)"
        let done: (String, String)
        do {
            done = try await act(client, model)
        } catch {
            let mapped = Self.apiError(error, provider: record.name, model: model)
            try await audit.record(action, target: Self.target(record.name, model), outcome: .failure, by: actor,
                                   detail: String(AIService.message(mapped).prefix(300)))
            throw mapped
        }
        if verb == "delete" { try await ai.checkHealth(record) }
        try await audit.record(action, target: Self.target(record.name, model), by: actor)
        await events.publish(event, actor: actor.username, subject: "ai-provider:\(record.name)", data: ["provider": record.name, "model": model])
        return ModelActionDTO(provider: record.name, model: model, action: done.0, message: done.1)
    }

    // MARK: The pull job

    /// Streams Ollama's pull progress into the job: the fraction of bytes (every layer seen so far)
    /// as progress, a readable line in the log when the step changes and every few seconds.
    /// A lost connection is retried (Ollama resumes the download); an error Ollama reports ends it.
    func runPull(_ job: JobContext) async throws {
        let payload = try job.decodePayload(PullPayload.self)
        let record: AIProviderRecord
        do {
            record = try await ai.providerRecord(payload.provider)
        } catch {
            throw NebulaError.notFound("The AI provider this pull was for")
        }
        let client = try ai.ollamaClient(for: record)
        await job.log("Pulling \(payload.model) on \(record.name) (\(record.baseURL))")
        let retries = [Duration.seconds(2), .seconds(5), .seconds(15)]
        var attempt = 0
        while true {
            do {
                try await follow(client.pull(payload.model), model: payload.model, job: job)
                break
            } catch let error as AIProviderError where [.unreachable, .streamInterrupted].contains(error.code) && attempt < retries.count {
                try Task.checkCancellation()
                await job.log("\(error.message) Retrying in \(retries[attempt].components.seconds) s (Ollama resumes the download).")
                try await Task.sleep(for: retries[attempt])
                attempt += 1
            } catch let error as AIProviderError {
                let message = "Pulling \(payload.model) on \(record.name) failed: \(error.message)"
                await job.log(message)
                try? await audit.record("ai.model.pull.finish", target: Self.target(record.name, payload.model), outcome: .failure,
                                        by: .system("jobs"), detail: String(error.message.prefix(300)))
                await events.publish(.aiModelPullFailed, actor: payload.requestedBy, subject: "ai-provider:\(record.name)",
                                     data: ["provider": record.name, "model": payload.model, "job": job.id.uuidString, "error": String(error.message.prefix(500))])
                throw NebulaError.badGateway(message, code: error.code.rawValue)
            }
        }
        await job.progress(1)
        await job.log("\(payload.model) is on \(record.name).")
        try await ai.checkHealth(record)
        try? await audit.record("ai.model.pull.finish", target: Self.target(record.name, payload.model), by: .system("jobs"), detail: "job \(job.id)")
        await events.publish(.aiModelPulled, actor: payload.requestedBy, subject: "ai-provider:\(record.name)",
                             data: ["provider": record.name, "model": payload.model, "job": job.id.uuidString])
    }

    /// Reads one pull stream to its `success`.
    private func follow(_ stream: AsyncThrowingStream<PullProgress, any Error>, model: String, job: JobContext) async throws {
        var tracker = PullTracker()
        for try await line in stream {
            let report = tracker.consume(line, now: ContinuousClock.now)
            if let fraction = report.progress { await job.progress(fraction) }
            if let text = report.log { await job.log(text) }
        }
        // A cancelled job ends the stream early, without an error: do not call that a success.
        try Task.checkCancellation()
        guard tracker.succeeded else {
            throw AIProviderError(code: .streamInterrupted, message: "Ollama ended the pull of \(model) without reporting success.")
        }
    }

    // MARK: Helpers

    /// Keys (`provider/model`) of pulls being queued in this process right now.
    private static let queueing = LockedValue<Set<String>>([])

    static func busy(_ model: String, _ provider: String) -> NebulaError {
        NebulaError.conflict("\(model) is already being pulled on \(provider); follow that job or cancel it first.", code: "pull_in_progress")
    }

    static func target(_ provider: String, _ model: String) -> String { "ai-provider:\(provider)/model:\(model)" }

    static func json(_ payload: PullPayload) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(payload), as: UTF8.self)
    }

    /// A model reference as Ollama takes it: `[host[:port]/][namespace/]name[:tag]`, e.g.
    /// `llama3.1:8b`, `library/qwen2:0.5b`, `hf.co/org/repo:Q4_K_M`. ASCII letters, digits, `.`,
    /// `_`, `-`, at most 200 characters, no spaces.
    static func modelName(_ raw: String?) throws -> String {
        let name = (raw ?? "").trimmingCharacters(in: .whitespaces)
        let problem = NebulaError.unprocessable(
            "A model name is like llama3.1:8b, library/qwen2:0.5b or hf.co/org/repo:Q4_K_M: letters, digits, . _ - and /, an optional :tag, no spaces, at most 200 characters.",
            code: "invalid_model")
        guard (1...200).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-/:".contains($0)) }) else { throw problem }
        var segments = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...4).contains(segments.count) else { throw problem }
        // The tag: after a colon in the last segment.
        let last = segments.removeLast()
        let nameAndTag = last.split(separator: ":", omittingEmptySubsequences: false)
        guard nameAndTag.count <= 2 else { throw problem }
        if nameAndTag.count == 2 {
            let tag = nameAndTag[1]
            guard tag.count <= 128, let first = tag.first, first.isLetter || first.isNumber || first == "_" else { throw problem }
        }
        // A registry host may carry a port: `registry.lan:5000/team/model`.
        if segments.count >= 1, let host = segments.first, host.contains(":") {
            let parts = host.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber) else { throw problem }
            segments[0] = String(parts[0])
        }
        for segment in segments + [String(nameAndTag[0])] {
            guard let first = segment.first, let end = segment.last, first.isLetter || first.isNumber, end != ".", !segment.contains(".."),
                  !segment.contains(":") else { throw problem }
        }
        return name
    }

    /// An error of the Ollama client as the API answers it.
    static func apiError(_ error: any Error, provider: String, model: String?) -> any Error {
        guard let error = error as? AIProviderError else { return error }
        switch error.code {
        case .modelNotFound:
            let message = model.map { "\(provider) has no model \($0). Pull it first, or pick one from its installed models." } ?? error.message
            return NebulaError(.notFound, code: "model_not_found", message)
        case .unreachable:
            return NebulaError.badGateway(error.message, code: "provider_unreachable")
        case .timedOut:
            return NebulaError(.gatewayTimeout, code: "provider_timeout", error.message)
        case .rateLimited:
            return NebulaError(.tooManyRequests, code: "rate_limited", error.message)
        case .authenticationFailed:
            return NebulaError.badGateway(error.message, code: "provider_authentication_failed")
        case .invalidResponse, .streamInterrupted:
            return NebulaError.badGateway(error.message, code: "provider_error")
        case .rejected:
            return NebulaError.badGateway(error.message, code: "provider_rejected")
        }
    }

    /// Bytes as Ollama shows them (decimal units): "812 MB", "4.7 GB".
    static func size(_ bytes: Int64) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB"]
        var value = Double(max(0, bytes))
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(Int(value)) bytes" }
        return (unit >= 3 || value < 10 ? value.fixed(1, trimmingZeros: true) : value.fixed(0)) + " " + units[unit]
    }
}

/// Turns Ollama's pull lines into job progress and log lines. Each layer (`digest`) reports its
/// own bytes; the fraction is the bytes done over the bytes of every layer seen so far. A log line
/// is written when the step changes, and while downloading at most every 5 s or every 10 %.
struct PullTracker {
    struct Report {
        var progress: Double?
        var log: String?
    }

    private var layers: [String: (completed: Int64, total: Int64)] = [:]
    private var order: [String] = []
    private var lastStatus = ""
    private var lastProgress = -1.0
    private var lastLogAt: ContinuousClock.Instant?
    private var lastLoggedFraction = -1.0
    private(set) var succeeded = false

    var fraction: Double {
        let total = layers.values.reduce(Int64(0)) { $0 + $1.total }
        guard total > 0 else { return 0 }
        return min(1, Double(layers.values.reduce(Int64(0)) { $0 + min($1.completed, $1.total) }) / Double(total))
    }

    mutating func consume(_ line: PullProgress, now: ContinuousClock.Instant) -> Report {
        var report = Report()
        if line.status == "success" {
            succeeded = true
            return Report(progress: 1, log: "success")
        }
        if let digest = line.digest, let total = line.total, total > 0 {
            if layers[digest] == nil { order.append(digest) }
            layers[digest] = (line.completed ?? 0, total)
            let current = fraction
            // 99 % at most until Ollama says success (verifying and writing still follow).
            let shown = min(current, 0.99)
            if shown - lastProgress >= 0.01 || lastProgress < 0 {
                report.progress = shown
                lastProgress = shown
            }
            let stepChanged = line.status != lastStatus
            let due = lastLogAt.map { now - $0 >= .seconds(5) } ?? true
            if stepChanged || due || current - lastLoggedFraction >= 0.1 || (line.completed ?? 0) >= total && lastLoggedFraction < current {
                report.log = Self.describe(line, digest: digest, completed: line.completed ?? 0, total: total, overall: current)
                lastLogAt = now
                lastLoggedFraction = current
            }
        } else if line.status != lastStatus {
            report.log = line.status
            lastLogAt = now
        }
        lastStatus = line.status
        return report
    }

    /// "pulling sha256:ab12cd34ef56… 1.2 GB of 4.7 GB (25%)".
    static func describe(_ line: PullProgress, digest: String, completed: Int64, total: Int64, overall: Double) -> String {
        let verb = line.status.split(separator: " ").first.map(String.init) ?? "pulling"
        let shortDigest = digest.hasPrefix("sha256:") ? "sha256:" + digest.dropFirst(7).prefix(12) : String(digest.prefix(19))
        return "\(verb) \(shortDigest)… \(AIModelManagement.size(completed)) of \(AIModelManagement.size(total)) (\(overall.percent))"
    }
}

/// `ai.model.pull`: pulls a model onto an Ollama node (``AIModelManagement/runPull(_:)``). One
/// attempt: an error Ollama reports is final, and a re-pull resumes where the download stopped.
/// A restart gives the running pull back to the queue, and it continues on the next start.
struct AIModelPullJob: JobHandler {
    static let type = "ai.model.pull"
    var type: String { Self.type }
    var maxAttempts: Int { 1 }
    let models: AIModelManagement

    func run(_ job: JobContext) async throws {
        try await models.runPull(job)
    }
}

extension NebulaServices {
    /// Model management on Ollama nodes (shares the AI service and the job queue).
    var aiModels: AIModelManagement { AIModelManagement(ai: ai, jobs: jobs) }
}
