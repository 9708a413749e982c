import Fluent
import Foundation
import NebulaCore
import Plot
import Vapor

enum OverviewPage {
    struct Model {
        var users: Int
        var secrets: Int
        var jobCounts: [JobStatus: Int]
        var recentEvents: [EventEnvelope]
        var recentJobs: [JobDTO]
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let model = Model(
            users: try await services.identity.listUsers(by: actor).total,
            secrets: try await services.secrets.list(by: actor).total,
            jobCounts: try await services.jobs.counts(),
            recentEvents: try await services.events.recent(types: Set(OverviewPage.feedTypes), before: nil, limit: 15).items,
            recentJobs: try await services.jobs.list(status: nil, type: nil, limit: 8, offset: 0).items)
        return req.render(view(try await req.pageContext("Overview", active: .overview), model))
    }

    static func view(_ context: PageContext, _ model: Model) -> HTML {
        Layout.page(context) {
            StatGrid {
                StatCard(label: "Running jobs", value: String(model.jobCounts[.running] ?? 0), href: "/jobs?status=running", detail: "\(model.jobCounts[.queued] ?? 0) queued")
                StatCard(label: "Failed jobs", value: String(model.jobCounts[.failed] ?? 0), href: "/jobs?status=failed", detail: "kept for the retention period")
                StatCard(label: "Users", value: String(model.users), href: "/users")
                StatCard(label: "Secrets", value: String(model.secrets), href: "/secrets", detail: "encrypted at rest")
            }
            CardGrid {
                Card(title: "Recent events", subtitle: "Updates live", actions: LiveIndicator()) {
                    DataTable(caption: "Recent events", headers: ["When", "Event", "Subject", "Actor"],
                              rows: model.recentEvents.map(eventRow),
                              emptyTitle: "No events yet", emptyMessage: "Changes and job runs will appear here as they happen.",
                              live: LiveFeed(types: feedTypes.map(\.rawValue), max: 15))
                }
                Card(title: "Recent jobs", actions: LinkButton("All jobs", href: "/jobs")) {
                    DataTable(caption: "Recent jobs", headers: ["Job", "Status", "Queued"],
                              rows: model.recentJobs.map { job in
                                  [Link(job.type, url: "/jobs/\(job.id)"), StatusBadge(job.status.rawValue), RelativeTime(job.createdAt)]
                              },
                              emptyTitle: "No jobs yet", emptyMessage: "Background work such as maintenance shows up here.")
                }
            }
        }
    }

    /// What the Overview's feed shows: changes and job outcomes, not every progress tick.
    static let feedTypes: [EventType] = [
        .userCreated, .userUpdated, .userDeleted, .userLoggedIn, .tokenCreated, .tokenRevoked,
        .secretCreated, .secretUpdated, .secretDeleted, .secretRevealed, .settingsUpdated,
        .jobQueued, .jobSucceeded, .jobFailed, .jobRetrying, .jobCancelled,
    ]

    static func eventRow(_ event: EventEnvelope) -> [any Component] {
        [RelativeTime(event.occurredAt), Span(event.type.rawValue).class("mono"), subject(of: event), Text(event.actor ?? "system")]
    }

    /// A job subject links to its job page under a short id; other subjects are shown as they are.
    static func subject(of event: EventEnvelope) -> any Component {
        guard let subject = event.subject else { return Text("—") }
        if subject.hasPrefix("job:"), let id = UUID(uuidString: String(subject.dropFirst(4))) {
            return Link("job " + id.uuidString.prefix(8).lowercased(), url: "/jobs/\(id)")
        }
        return Text(subject)
    }
}

enum JobsPages {
    @Sendable static func list(req: Request) async throws -> Response {
        let services = try req.nebula
        let status = req.query[String.self, at: "status"].flatMap(JobStatus.init(rawValue:))
        let page = try await services.jobs.list(status: status, type: nil, limit: 100, offset: 0)
        let runnable = services.jobs.registeredTypes.filter { services.jobs.handler(for: $0)?.runnableByOperators == true }
        let context = try await req.pageContext("Jobs", active: .jobs)
        let canRun = (context.role ?? .viewer) >= .operator
        return req.render(Layout.page(context) {
            Card(title: "Filter") {
                Div {
                    LinkButton("All", href: "/jobs", style: status == nil ? .primary : .secondary)
                    for option in JobStatus.allCases {
                        LinkButton(option.rawValue.capitalized, href: "/jobs?status=\(option.rawValue)", style: status == option ? .primary : .secondary)
                    }
                }.class("button-row")
            }
            if canRun && !runnable.isEmpty {
                Card(title: "Run now", subtitle: "Queue a maintenance job by hand") {
                    CSRFForm(action: "/jobs/run", csrfToken: context.csrfToken, classes: "inline-form") {
                        SelectField(label: "Job type", name: "type", options: runnable.map { ($0, $0) }, selected: runnable.first)
                        SubmitButton("Queue job")
                    }
                }
            }
            Card(title: "\(page.total) job\(page.total == 1 ? "" : "s")") {
                DataTable(caption: "Jobs", headers: ["Job", "Status", "Progress", "Attempts", "Queued", "By"],
                          rows: page.items.map { job in
                              [Link(job.type, url: "/jobs/\(job.id)"), StatusBadge(job.status.rawValue),
                               ProgressBar(fraction: job.progress, label: "Progress of \(job.type)"),
                               Text("\(job.attempts) / \(job.maxAttempts)"), RelativeTime(job.createdAt), Text(job.createdBy ?? "system")]
                          },
                          emptyTitle: "No jobs", emptyMessage: status == nil ? "Nothing has been queued yet." : "No job is \(status?.rawValue ?? "")." )
            }
        })
    }

    @Sendable static func detail(req: Request) async throws -> Response {
        let services = try req.nebula
        let job = try await services.jobs.find(try req.uuidParameter())
        let lines = try await services.jobs.logLines(jobID: job.id, after: 0, limit: 5000)
        let context = try await req.pageContext("Job · \(job.type)", active: .jobs)
        let canCancel = (context.role ?? .viewer) >= .operator && !job.status.isFinal
        return req.render(Layout.page(context, actions: canCancel ? CSRFForm(action: "/jobs/\(job.id)/cancel", csrfToken: context.csrfToken, confirm: "Cancel this job?") {
            SubmitButton("Cancel job", style: .danger)
        } : nil) {
            Card(title: job.type, subtitle: job.id.uuidString) {
                DetailList([
                    ("Status", StatusBadge(job.status.rawValue, liveJobID: job.id.uuidString)),
                    ("Progress", ProgressBar(fraction: job.progress, label: "Progress", liveJobID: job.id.uuidString)),
                    ("Attempts", Text("\(job.attempts) of \(job.maxAttempts)")),
                    ("Queued", RelativeTime(job.createdAt)),
                    ("Started", job.startedAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                    ("Finished", job.finishedAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                    ("Queued by", Text(job.createdBy ?? "system")),
                    ("Last error", Text(job.lastError ?? "—")),
                ])
            }
            Card(title: "Log", subtitle: job.status.isFinal ? nil : "Streams while the job runs") {
                JobLog(jobID: job.id.uuidString, lines: lines.map(\.line), lastLineID: lines.last?.id, reloadOnEnd: !job.status.isFinal)
            }
        })
    }

    @Sendable static func run(req: Request) async throws -> Response {
        let services = try req.nebula
        let type = req.formField("type") ?? ""
        var created: JobDTO?
        let response = try await formAction(req, backTo: "/jobs", success: "Queued \(type).") {
            guard services.jobs.handler(for: type)?.runnableByOperators == true else {
                throw NebulaError.unprocessable("'\(type)' cannot be queued by hand.")
            }
            created = try await services.jobs.enqueue(type: type, by: try req.actor)
        }
        if let created { return req.redirect(to: "/jobs/\(created.id)", flash: Flash(kind: .success, message: "Queued \(type).")) }
        return response
    }

    @Sendable static func cancel(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/jobs/\(id)", success: "Cancellation requested.") {
            _ = try await req.nebula.jobs.cancel(id, by: try req.actor)
        }
    }
}

enum AuditPage {
    @Sendable static func show(req: Request) async throws -> Response {
        let services = try req.nebula
        var query = try AuditController.query(from: req)
        query.limit = min(query.limit, 100)
        let page = try await services.audit.search(query, by: try req.actor)
        let context = try await req.pageContext("Audit log", active: .audit)
        func link(offset: Int) -> String {
            var items = [URLQueryItem(name: "offset", value: String(offset))]
            for (name, value) in [("actor", query.actor), ("action", query.action), ("target", query.target), ("outcome", query.outcome?.rawValue)] {
                if let value { items.append(URLQueryItem(name: name, value: value)) }
            }
            var components = URLComponents()
            components.path = "/audit"
            components.queryItems = items
            return components.string ?? "/audit"
        }
        return req.render(Layout.page(context) {
            Card(title: "Search") {
                tag("form", [.value("action", "/audit"), .value("method", "get"), .value("class", "filter-form")]) {
                    FormField(label: "Actor", name: "actor", value: query.actor ?? "", placeholder: "alice")
                    FormField(label: "Action", name: "action", value: query.action ?? "", placeholder: "secret.* or auth.login")
                    FormField(label: "Target", name: "target", value: query.target ?? "", placeholder: "secret:db")
                    SelectField(label: "Outcome", name: "outcome", options: [("", "Any")] + AuditOutcome.allCases.map { ($0.rawValue, $0.rawValue.capitalized) },
                                selected: query.outcome?.rawValue ?? "")
                    SubmitButton("Search", style: .secondary)
                }
            }
            Card(title: "\(page.total) entr\(page.total == 1 ? "y" : "ies")") {
                DataTable(caption: "Audit entries", headers: ["When", "Actor", "Action", "Target", "Outcome", "From", "Detail"],
                          rows: page.items.map { entry in
                              [RelativeTime(entry.at), Text(entry.actor), Span(entry.action).class("mono"), Text(entry.target ?? "—"),
                               StatusBadge(entry.outcome.rawValue), Text(entry.ip ?? "—"), Text(entry.detail ?? "")]
                          },
                          emptyTitle: "Nothing matches", emptyMessage: "Try a wider search.")
                Div {
                    if query.offset > 0 { LinkButton("Newer", href: link(offset: max(0, query.offset - query.limit))) }
                    if query.offset + query.limit < page.total { LinkButton("Older", href: link(offset: query.offset + query.limit)) }
                }.class("button-row pager")
            }
        })
    }
}
