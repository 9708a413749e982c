import Foundation
import NebulaCore
import Plot
import Vapor

/// `/checks` (every check with status, latency and uptime; a "New check" form), `/checks/{id}`
/// (details, recent results, hourly uptime, incidents, run now, edit, delete), `/incidents`,
/// `/incidents/{id}` (timeline, acknowledge, resolve) and the opt-in public `/status` page.
/// The list pages cost two queries whatever the number of checks (the rows and the cached uptime).
enum MonitoringPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["checks"], .viewer, nil, list)
        page(.POST, ["checks"], .operator, "check.create", create)
        page(.GET, ["checks", ":id"], .viewer, nil, detail)
        page(.POST, ["checks", ":id"], .operator, "check.update", update)
        page(.POST, ["checks", ":id", "run"], .operator, "check.run", run)
        page(.POST, ["checks", ":id", "delete"], .operator, "check.delete", delete)
        page(.POST, ["monitoring", "settings"], .admin, "monitoring.settings.update", updateSettings)
        page(.GET, ["incidents"], .viewer, nil, incidents)
        page(.GET, ["incidents", ":id"], .viewer, nil, incident)
        page(.POST, ["incidents", ":id", "acknowledge"], .operator, "incident.acknowledge", acknowledge)
        page(.POST, ["incidents", ":id", "resolve"], .operator, "incident.resolve", resolve)
    }

    static let kinds: [(value: String, label: String)] = [
        ("http", "HTTP(S)"), ("tcp", "TCP port"), ("dns", "DNS record"), ("tls", "TLS certificate"),
        ("container", "Container"), ("metric", "Server metric"), ("heartbeat", "Agent heartbeat"),
    ]

    // MARK: Checks

    @Sendable static func list(req: Request) async throws -> Response {
        try await renderList(req, flash: nil, status: .ok)
    }

    static func renderList(_ req: Request, flash: Flash?, status: HTTPResponseStatus, form: [String: String] = [:]) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let checks = try await services.monitoring.list(by: actor)
        let servers = try await services.fleet.list(by: actor).items
        let settings = try await services.monitoring.settings()
        var context = try await req.pageContext("Checks", active: .checks)
        if let flash { context.flash = flash }
        let canOperate = actor.role >= .operator
        let down = checks.filter { $0.status == .down }.count
        let html = Layout.page(context, actions: LinkButton("Incidents", href: "/incidents")) {
            StatGrid {
                StatCard(label: "Checks", value: "\(checks.count)", href: nil)
                StatCard(label: "Up", value: "\(checks.filter { $0.status == .up }.count)", href: nil)
                StatCard(label: "Down", value: "\(down)", href: nil)
                StatCard(label: "Open incidents", value: "\(checks.filter { $0.openIncidentId != nil }.count)", href: "/incidents?status=open")
            }
            Card(title: "Checks", subtitle: "Status changes arrive live.", actions: LiveIndicator()) {
                DataTable(caption: "Checks", headers: ["Status", "Name", "Kind", "Target", "Latency", "24 h", "7 d", "30 d", "Last checked"], rows: checks.map { check in
                    [Span(StatusBadge(statusWord(check), tone: tone(check.status))).attribute(named: "data-check-status", value: check.id.uuidString) as any Component,
                     Link(check.name, url: "/checks/\(check.id)"),
                     Text(check.kind.rawValue),
                     Mono(String(check.target.prefix(80))),
                     Text(check.lastLatencyMs.map { "\(Int($0.rounded())) ms" } ?? "—"),
                     Text(percent(check.uptime.day)), Text(percent(check.uptime.week)), Text(percent(check.uptime.month)),
                     check.lastCheckedAt.map { RelativeTime($0) as any Component } ?? Text("never")]
                }, emptyTitle: "No checks yet", emptyMessage: canOperate ? "Create one below." : "An operator can create checks.")
            }
            if canOperate {
                Card(title: "New check", subtitle: "Fill in the fields of the kind you choose; the others are ignored.") {
                    CSRFForm(action: "/checks", csrfToken: context.csrfToken, classes: "stack") {
                        FormField(label: "Name", name: "name", value: form["name"] ?? "", required: true)
                        SelectField(label: "Kind", name: "kind", options: kinds, selected: form["kind"] ?? "http")
                        FormField(label: "URL (http)", name: "url", value: form["url"] ?? "", placeholder: "https://nas.lan/health")
                        FormField(label: "Expected status (http)", name: "expectedStatus", value: form["expectedStatus"] ?? "200-299")
                        FormField(label: "Keyword (http)", name: "keyword", value: form["keyword"] ?? "", hint: "Text the page must contain.")
                        FormField(label: "Host (tcp, tls)", name: "host", value: form["host"] ?? "", placeholder: "nas.lan")
                        FormField(label: "Port (tcp, tls)", name: "port", type: "number", value: form["port"] ?? "")
                        FormField(label: "Record name (dns)", name: "recordName", value: form["recordName"] ?? "")
                        SelectField(label: "Record type (dns)", name: "recordType", options: ["A", "AAAA", "CNAME", "TXT", "MX"].map { ($0, $0) },
                                    selected: form["recordType"] ?? "A")
                        FormField(label: "Expected values (dns)", name: "expected", value: form["expected"] ?? "", hint: "Comma-separated.")
                        SelectField(label: "Server (container, metric, heartbeat)", name: "serverId", options: [("", "—")] + servers.map { ($0.id.uuidString, $0.name) },
                                    selected: form["serverId"])
                        FormField(label: "Container (container)", name: "container", value: form["container"] ?? "")
                        SelectField(label: "Metric (metric)", name: "metric", options: [("cpu", "CPU %"), ("memory", "Memory %"), ("disk", "Disk %"), ("temperature", "Temperature °C")],
                                    selected: form["metric"] ?? "cpu")
                        FormField(label: "Threshold (metric)", name: "threshold", type: "number", value: form["threshold"] ?? "",
                                  hint: "Down while the metric is above it for the sustained minutes.")
                        FormField(label: "Sustained minutes (metric)", name: "sustainedMinutes", type: "number", value: form["sustainedMinutes"] ?? "5")
                        FormField(label: "Interval (seconds)", name: "intervalSeconds", type: "number", value: form["intervalSeconds"] ?? "60", required: true,
                                  hint: "At least 10.")
                        FormField(label: "Timeout (seconds)", name: "timeoutSeconds", type: "number", value: form["timeoutSeconds"] ?? "10", required: true,
                                  hint: "Shorter than the interval.")
                        SelectField(label: "Severity", name: "severity", options: [("warning", "Warning"), ("critical", "Critical"), ("info", "Info")],
                                    selected: form["severity"] ?? "warning")
                        SelectField(label: "On the public status page", name: "public", options: [("false", "No"), ("true", "Yes")], selected: form["public"] ?? "false")
                        SubmitButton("Create check")
                    }
                }
            }
            Card(title: "Public status page", subtitle: settings.statusPageEnabled ? "On: /status shows the public checks to anyone." : "Off: /status answers 404.") {
                if settings.statusPageEnabled { Paragraph { Link("Open the status page", url: "/status") } }
                if actor.role >= .admin {
                    CSRFForm(action: "/monitoring/settings", csrfToken: context.csrfToken, classes: "inline-form") {
                        Input(type: .hidden, name: "statusPageEnabled", value: settings.statusPageEnabled ? "false" : "true")
                        SubmitButton(settings.statusPageEnabled ? "Turn the status page off" : "Turn the status page on", style: .secondary)
                    }
                }
            }
            tag("script", [.value("type", "module"), .value("src", "/js/checks.js")])
        }
        return req.render(html, status: status)
    }

    @Sendable static func detail(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let check = try await services.monitoring.find(id, by: actor)
        let results = try await services.monitoring.results(of: id, limit: 50, by: actor)
        let uptime = try await services.monitoring.uptime(of: id, hours: 48, by: actor)
        let incidents = try await services.monitoring.incidents(ofCheck: id, limit: 20, by: actor)
        let context = try await req.pageContext("Check \(check.name)", active: .checks)
        let canOperate = actor.role >= .operator
        let base = "/checks/\(id)"
        let actions: (any Component)? = canOperate ? CSRFForm(action: base + "/run", csrfToken: context.csrfToken, classes: "inline-form") {
            SubmitButton("Run now")
        } : nil
        let html = Layout.page(context, actions: actions) {
            CardGrid {
                Card(title: "Status", actions: Span(StatusBadge(statusWord(check), tone: tone(check.status))).attribute(named: "data-check-status", value: id.uuidString)) {
                    DetailList([
                        ("Last result", Text(check.lastMessage ?? "not checked yet")),
                        ("Latency", Text(check.lastLatencyMs.map { "\(Int($0.rounded())) ms" } ?? "—")),
                        ("Since", check.statusSince.map { RelativeTime($0) as any Component } ?? Text("—")),
                        ("Uptime", Text("\(percent(check.uptime.day)) 24 h · \(percent(check.uptime.week)) 7 d · \(percent(check.uptime.month)) 30 d")),
                        ("Open incident", check.openIncidentId.map { Link("view", url: "/incidents/\($0)") as any Component } ?? Text("none")),
                    ])
                }
                Card(title: "Settings") {
                    DetailList([
                        ("Kind", Text(check.kind.rawValue)), ("Target", Mono(check.target)),
                        ("Interval / timeout", Text("\(check.intervalSeconds) s / \(check.timeoutSeconds) s")),
                        ("Incidents", Text("open after \(check.failuresBeforeIncident) failures, resolve after \(check.successesBeforeResolve) successes; \(check.severity.rawValue)")),
                        ("Enabled", Text(check.enabled ? "yes" : "no (runs only when asked)")), ("Public", Text(check.public ? "yes" : "no")),
                    ])
                }
            }
            Card(title: "Hourly uptime", subtitle: "The last 48 hours, from the rollups.") {
                DataTable(caption: "Hours", headers: ["Hour", "Checks", "Failures", "Average latency", "Highest latency"], rows: uptime.hours.reversed().prefix(48).map { hour in
                    [Text(hour.start.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))) as any Component,
                     Text("\(hour.count)"), Text("\(hour.failures)"),
                     Text(hour.avgLatencyMs.map { "\(Int($0.rounded())) ms" } ?? "—"), Text(hour.maxLatencyMs.map { "\(Int($0.rounded())) ms" } ?? "—")]
                }, emptyTitle: "No rollups yet", emptyMessage: "Results are rolled up every few minutes.")
            }
            Card(title: "Recent results", subtitle: "A healthy result that repeats the previous one is stored without its message.") {
                DataTable(caption: "Results", headers: ["When", "Result", "Latency", "Message"], rows: results.map { result in
                    [RelativeTime(result.at) as any Component, StatusBadge(result.ok ? "up" : "down"),
                     Text(result.latencyMs.map { "\(Int($0.rounded())) ms" } ?? "—"), Text(result.message ?? "")]
                }, emptyTitle: "No results yet", emptyMessage: "Run the check or wait for its interval.")
            }
            Card(title: "Incidents") {
                incidentTable(incidents)
            }
            if canOperate {
                CardGrid {
                    Card(title: "Edit") {
                        CSRFForm(action: base, csrfToken: context.csrfToken, classes: "stack") {
                            FormField(label: "Name", name: "name", value: check.name, required: true)
                            FormField(label: "Interval (seconds)", name: "intervalSeconds", type: "number", value: "\(check.intervalSeconds)", required: true)
                            FormField(label: "Timeout (seconds)", name: "timeoutSeconds", type: "number", value: "\(check.timeoutSeconds)", required: true)
                            FormField(label: "Failures before an incident", name: "failuresBeforeIncident", type: "number", value: "\(check.failuresBeforeIncident)")
                            FormField(label: "Successes before it resolves", name: "successesBeforeResolve", type: "number", value: "\(check.successesBeforeResolve)")
                            SelectField(label: "Enabled", name: "enabled", options: [("true", "Yes"), ("false", "No")], selected: check.enabled ? "true" : "false")
                            SelectField(label: "On the public status page", name: "public", options: [("false", "No"), ("true", "Yes")], selected: check.public ? "true" : "false")
                            SubmitButton("Save", style: .secondary)
                        }
                    }
                    Card(title: "Delete check", subtitle: "Removes its results; its incidents stay as history.") {
                        CSRFForm(action: base + "/delete", csrfToken: context.csrfToken, classes: "inline-form", confirm: "Delete the check \(check.name)?") {
                            SubmitButton("Delete check", style: .danger)
                        }
                    }
                }
            }
            tag("script", [.value("type", "module"), .value("src", "/js/checks.js")])
        }
        return req.render(html)
    }

    @Sendable static func create(req: Request) async throws -> Response {
        let names = ["name", "kind", "url", "expectedStatus", "keyword", "host", "port", "recordName", "recordType", "expected", "serverId", "container",
                     "metric", "threshold", "sustainedMinutes", "intervalSeconds", "timeoutSeconds", "severity", "public"]
        var form: [String: String] = [:]
        for name in names { form[name] = req.formField(name) ?? "" }
        do {
            let kind = try CheckRules.kind(form["kind"])
            var spec = CheckSpec()
            func text(_ name: String) -> String? { form[name].flatMap { $0.isEmpty ? nil : $0 } }
            func number(_ name: String) throws -> Int? {
                guard let raw = text(name) else { return nil }
                guard let value = Int(raw) else { throw CheckRules.fail(name, "\(name) must be a whole number.", code: "invalid_number") }
                return value
            }
            switch kind {
            case .http: spec.url = text("url"); spec.expectedStatus = text("expectedStatus"); spec.keyword = text("keyword")
            case .tcp, .tls: spec.host = text("host"); spec.port = try number("port")
            case .dns: spec.recordName = text("recordName"); spec.recordType = text("recordType")
                spec.expected = text("expected")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            case .container: spec.serverId = text("serverId").flatMap(UUID.init(uuidString:)); spec.container = text("container")
            case .metric: spec.serverId = text("serverId").flatMap(UUID.init(uuidString:)); spec.metric = text("metric")
                spec.threshold = text("threshold").flatMap(Double.init); spec.sustainedMinutes = try number("sustainedMinutes")
            case .heartbeat: spec.serverId = text("serverId").flatMap(UUID.init(uuidString:))
            }
            let input = CheckInput(name: form["name"], kind: kind.rawValue, intervalSeconds: try number("intervalSeconds"), timeoutSeconds: try number("timeoutSeconds"),
                                   public: form["public"] == "true", severity: text("severity"), spec: spec)
            let created = try await req.nebula.monitoring.create(input, by: try req.actor)
            return req.redirect(to: "/checks/\(created.id)", flash: Flash(kind: .success, message: "\(created.name) is created; its first result comes within its interval."))
        } catch let error as NebulaError where error.status.code < 500 {
            let field = error.problems.first.map { " (\($0.path))" } ?? ""
            return try await renderList(req, flash: Flash(kind: .error, message: error.message + field), status: error.status, form: form)
        }
    }

    @Sendable static func update(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/checks/\(id)", success: "Saved.") {
            func number(_ name: String) throws -> Int? {
                guard let raw = req.formField(name), !raw.isEmpty else { return nil }
                guard let value = Int(raw) else { throw CheckRules.fail(name, "\(name) must be a whole number.", code: "invalid_number") }
                return value
            }
            let input = CheckInput(name: req.formField("name"), intervalSeconds: try number("intervalSeconds"), timeoutSeconds: try number("timeoutSeconds"),
                                   enabled: req.formField("enabled").map { $0 == "true" }, public: req.formField("public").map { $0 == "true" },
                                   failuresBeforeIncident: try number("failuresBeforeIncident"), successesBeforeResolve: try number("successesBeforeResolve"))
            _ = try await req.nebula.monitoring.update(id, input, by: try req.actor)
        }
    }

    @Sendable static func run(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let result = try await req.nebula.monitoring.run(id, by: try req.actor)
            return req.redirect(to: "/checks/\(id)", flash: Flash(kind: result.ok ? .success : .error, message: "\(result.ok ? "Up" : "Down"): \(result.message)"))
        } catch let error as NebulaError {
            return req.redirect(to: "/checks/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            try await req.nebula.monitoring.delete(id, by: try req.actor)
            return req.redirect(to: "/checks", flash: Flash(kind: .success, message: "The check is deleted."))
        } catch let error as NebulaError {
            return req.redirect(to: "/checks/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func updateSettings(req: Request) async throws -> Response {
        try await formAction(req, backTo: "/checks", success: "Saved.") {
            _ = try await req.nebula.monitoring.updateSettings(MonitoringSettingsInput(statusPageEnabled: req.formField("statusPageEnabled") == "true"), by: try req.actor)
        }
    }

    // MARK: Incidents

    @Sendable static func incidents(req: Request) async throws -> Response {
        let services = try req.nebula
        let filter = IncidentStatusFilter(rawValue: (try? req.query.get(String.self, at: "status")) ?? "all") ?? .all
        let items = try await services.monitoring.incidents(status: filter, limit: 200, by: try req.actor)
        let context = try await req.pageContext("Incidents", active: .checks)
        let html = Layout.page(context, actions: LinkButton("Checks", href: "/checks")) {
            Card(title: filter == .open ? "Open incidents" : filter == .resolved ? "Resolved incidents" : "Incidents",
                 subtitle: "An incident opens after a check fails several times in a row and resolves after it passes several times.") {
                Paragraph {
                    Link("All", url: "/incidents")
                    Text(" · ")
                    Link("Open", url: "/incidents?status=open")
                    Text(" · ")
                    Link("Resolved", url: "/incidents?status=resolved")
                }
                incidentTable(items)
            }
        }
        return req.render(html)
    }

    static func incidentTable(_ items: [IncidentDTO]) -> any Component {
        DataTable(caption: "Incidents", headers: ["Status", "Check", "Severity", "Message", "Opened", "Resolved"], rows: items.map { incident in
            [StatusBadge(incident.status.rawValue, tone: incident.status == .resolved ? .green : incident.status == .acknowledged ? .amber : .red) as any Component,
             Link(incident.check, url: "/incidents/\(incident.id)"),
             StatusBadge(incident.severity.rawValue, tone: incident.severity == .critical ? .red : incident.severity == .warning ? .amber : .grey),
             Text(String(incident.message.prefix(160))),
             RelativeTime(incident.openedAt),
             incident.resolvedAt.map { RelativeTime($0) as any Component } ?? Text("—")]
        }, emptyTitle: "No incidents", emptyMessage: "Nothing has failed long enough to open one.")
    }

    @Sendable static func incident(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let incident = try await services.monitoring.incident(id, by: actor)
        let context = try await req.pageContext("Incident: \(incident.check)", active: .checks)
        let canOperate = actor.role >= .operator && incident.status != .resolved
        let html = Layout.page(context, actions: LinkButton("Check", href: "/checks/\(incident.checkId)")) {
            Card(title: "Incident", actions: StatusBadge(incident.status.rawValue, tone: incident.status == .resolved ? .green : incident.status == .acknowledged ? .amber : .red)) {
                DetailList([
                    ("Check", Link(incident.check, url: "/checks/\(incident.checkId)")), ("Severity", Text(incident.severity.rawValue)),
                    ("Message", Text(incident.message)), ("Opened", RelativeTime(incident.openedAt)),
                    ("Acknowledged", Text(incident.acknowledgedBy.map { "by \($0)" } ?? "no")),
                    ("Resolved", Text(incident.resolvedBy.map { "by \($0)" } ?? "no")),
                ])
                if canOperate {
                    Div {
                        if incident.status == .open {
                            CSRFForm(action: "/incidents/\(id)/acknowledge", csrfToken: context.csrfToken, classes: "inline-form") {
                                SubmitButton("Acknowledge", style: .secondary)
                            }
                        }
                        CSRFForm(action: "/incidents/\(id)/resolve", csrfToken: context.csrfToken, classes: "inline-form",
                                 confirm: "Resolve by hand? While the check still fails, no new incident opens until it has passed once.") {
                            FormField(label: "Note", name: "note", hint: "Optional; added to the timeline.")
                            SubmitButton("Resolve")
                        }
                    }.class("stack")
                }
            }
            Card(title: "Timeline", subtitle: "State changes, runbook runs and notifications, oldest first.") {
                DataTable(caption: "Timeline", headers: ["When", "What", "Details", "By"], rows: (incident.timeline ?? []).map { entry in
                    [RelativeTime(entry.at) as any Component, StatusBadge(entry.kind, tone: entry.kind == "opened" || entry.kind == "failing" ? .red
                        : entry.kind == "resolved" || entry.kind == "recovered" ? .green : .blue),
                     Text(entry.message), Text(entry.actor ?? "—")]
                }, emptyTitle: "Nothing yet", emptyMessage: "")
            }
        }
        return req.render(html)
    }

    @Sendable static func acknowledge(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/incidents/\(id)", success: "Acknowledged.") {
            _ = try await req.nebula.monitoring.acknowledge(id, by: try req.actor)
        }
    }

    @Sendable static func resolve(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/incidents/\(id)", success: "Resolved.") {
            _ = try await req.nebula.monitoring.resolve(id, note: req.formField("note"), by: try req.actor)
        }
    }

    // MARK: Public status page

    /// No login: 404 unless an admin switched it on; names, status and uptime of public checks only.
    @Sendable static func statusPage(req: Request) async throws -> Response {
        guard let page = try await req.nebula.monitoring.statusPage() else { throw NebulaError.notFound("Page") }
        let context = await req.bareContext(page.title)
        let down = page.checks.filter { $0.status == .down }.count
        let html = Layout.bare(context, wide: true) {
            Paragraph(page.checks.isEmpty ? "No services are listed." : down == 0 ? "All services are operational." : "\(down) of \(page.checks.count) services are down.")
                .class(down == 0 ? "muted" : "")
            DataTable(caption: "Services", headers: ["Service", "Status", "24 h", "7 d", "30 d"], rows: page.checks.map { check in
                [Text(check.name) as any Component, StatusBadge(statusWord(check), tone: tone(check.status)),
                 Text(percent(check.uptime.day)), Text(percent(check.uptime.week)), Text(percent(check.uptime.month))]
            }, emptyTitle: "Nothing to show", emptyMessage: "No check is marked public.")
        }
        return req.render(html)
    }

    // MARK: Helpers

    static func statusWord(_ check: CheckDTO) -> String {
        check.status == .unknown ? "pending" : check.status.rawValue
    }

    static func tone(_ status: CheckStatus) -> StatusBadge.Tone {
        switch status {
        case .up: .green
        case .down: .red
        case .unknown: .grey
        }
    }

    static func percent(_ value: Double?) -> String {
        guard let value else { return "—" }
        return value >= 99.995 ? "100%" : String(format: "%.2f%%", value)
    }
}
