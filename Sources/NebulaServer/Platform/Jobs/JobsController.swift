import NebulaCore
import Vapor

/// `/api/v1/jobs`: list, inspect, queue, cancel, and follow a job's log live.
struct JobsController: RouteCollection {
    struct EnqueueRequest: Codable, Sendable { var type: String }

    func boot(routes: any RoutesBuilder) throws {
        routes.endpoint(.GET, "jobs", role: .viewer, summary: "List jobs, newest first", tag: "Jobs", response: JobPageDoc.doc,
                        query: [QueryDoc(name: "status", description: "queued, running, succeeded, failed or cancelled"),
                                QueryDoc(name: "type", description: "Job type"),
                                QueryDoc(name: "limit", description: "1–500, default 50", schema: .integer),
                                QueryDoc(name: "offset", description: "Skip this many", schema: .integer)],
                        use: list)
        routes.endpoint(.POST, "jobs", role: .operator, audit: "job.enqueue", summary: "Queue a job of a type operators may run", tag: "Jobs",
                        request: EnqueueDoc.doc, response: JobDoc.doc, status: .created, use: enqueue)
        routes.endpoint(.GET, "jobs", ":id", role: .viewer, summary: "One job", tag: "Jobs", response: JobDoc.doc, use: show)
        routes.endpoint(.GET, "jobs", ":id", "log", role: .viewer,
                        summary: "The job's log as Server-Sent Events (`log`, `status`, `end`); follows while the job runs. With Accept: application/json, the lines so far.",
                        tag: "Jobs", query: [QueryDoc(name: "after", description: "Only lines with a larger id", schema: .integer)],
                        produces: "text/event-stream", use: log)
        routes.endpoint(.POST, "jobs", ":id", "cancel", role: .operator, audit: "job.cancel", summary: "Cancel a queued or running job", tag: "Jobs",
                        response: JobDoc.doc, use: cancel)
    }

    @Sendable func list(req: Request) async throws -> ListPage<JobDTO> {
        var status: JobStatus?
        if let raw = req.query[String.self, at: "status"], !raw.isEmpty {
            guard let parsed = JobStatus(rawValue: raw) else {
                throw NebulaError.invalid("status is one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_filter")
            }
            status = parsed
        }
        let type = req.query[String.self, at: "type"].flatMap { $0.isEmpty ? nil : $0 }
        return try await req.nebula.jobs.list(status: status, type: type,
                                                limit: try req.boundedInt("limit", default: 50, range: 1...500),
                                                offset: try req.boundedInt("offset", default: 0, range: 0...1_000_000))
    }

    @Sendable func enqueue(req: Request) async throws -> Response {
        let input = try req.decodeJSON(EnqueueRequest.self, allowedKeys: ["type"])
        let services = try req.nebula
        let actor = try req.actor
        guard let handler = services.jobs.handler(for: input.type), handler.runnableByOperators else {
            let runnable = services.jobs.registeredTypes.filter { services.jobs.handler(for: $0)?.runnableByOperators == true }
            throw NebulaError.unprocessable("'\(input.type)' cannot be queued by hand. Types you can run: \(runnable.joined(separator: ", ")).", code: "unknown_job_type")
        }
        let job = try await services.jobs.enqueue(type: input.type, by: actor)
        return try await job.encodeResponse(status: .created, for: req)
    }

    @Sendable func show(req: Request) async throws -> JobDTO {
        try await req.nebula.jobs.find(try req.uuidParameter())
    }

    @Sendable func cancel(req: Request) async throws -> JobDTO {
        try await req.nebula.jobs.cancel(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func log(req: Request) async throws -> Response {
        let services = try req.nebula
        let id = try req.uuidParameter()
        _ = try await services.jobs.find(id)
        let after = try Int(req.optionalInt64("after") ?? Int64(req.headers.first(name: "Last-Event-ID") ?? "0") ?? 0)
        if req.headers.accept.mediaTypes.first == .json {
            let lines = try await services.jobs.logLines(jobID: id, after: after, limit: 10_000)
            return try await ListPage(items: lines, total: lines.count).encodeResponse(for: req)
        }
        let queue = services.jobs
        let subject = "job:\(id)"
        let jobEvents = await services.events.subscribe(types: [.jobStarted, .jobRetrying, .jobSucceeded, .jobFailed, .jobCancelled, .jobProgress], after: nil)
        return ServerSentEvents.response(heartbeat: services.config.sseHeartbeat) { continuation in
            // Lines and the final state are read from the database, so a job running on another
            // replica streams the same way. Job events wake the loop at once and report each status
            // change even when it lasts shorter than the poll interval.
            let pending = LockedValue<[EventEnvelope]>([])
            let wakeup = Wakeup()
            let forward = Task {
                for await event in jobEvents where event.subject == subject {
                    pending.withLock { $0.append(event) }
                    wakeup.signal()
                }
            }
            defer { forward.cancel() }
            var lastLine = after
            var lastStatus: JobStatusMessage?
            func send(_ status: JobStatusMessage) {
                guard status != lastStatus else { return }
                continuation.yield(.json(status, event: "status", id: nil))
                lastStatus = status
            }
            func sendNewLines() async throws {
                for line in try await queue.logLines(jobID: id, after: lastLine) {
                    continuation.yield(.json(line, event: "log", id: String(line.id)))
                    lastLine = line.id
                }
            }
            while !Task.isCancelled {
                do {
                    for event in pending.withLock({ events in defer { events = [] }; return events }) {
                        guard var status = lastStatus else { continue }
                        switch event.type {
                        case .jobStarted:
                            status.status = .running
                            status.attempts = Int(event.data["attempt"] ?? "") ?? status.attempts
                        case .jobRetrying:
                            status.status = .queued
                        case .jobProgress:
                            status.progress = Double(event.data["progress"] ?? "") ?? status.progress
                        default:
                            continue
                        }
                        send(status)
                    }
                    try await sendNewLines()
                    let job = try await queue.find(id)
                    let status = JobStatusMessage(status: job.status, progress: job.progress, attempts: job.attempts, lastError: job.lastError)
                    send(status)
                    if job.status.isFinal {
                        try await sendNewLines()
                        continuation.yield(.json(status, event: "end", id: nil))
                        break
                    }
                } catch {
                    break
                }
                await wakeup.wait(timeout: .milliseconds(250))
            }
            continuation.finish()
        }
    }
}

struct JobStatusMessage: Codable, Sendable, Equatable {
    var status: JobStatus
    var progress: Double
    var attempts: Int
    var lastError: String?
}

extension JobDTO: Content {}
extension JobLogLineDTO: Content {}
