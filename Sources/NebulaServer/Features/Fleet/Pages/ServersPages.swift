import Foundation
import HostMetrics
import NebulaCore
import Plot
import Vapor

/// `/servers` (the fleet at a glance, live) and `/servers/{id}` (charts and details).
enum ServersPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["servers"], .viewer, nil, list)
        page(.POST, ["servers"], .operator, "server.create", create)
        page(.GET, ["servers", ":id"], .viewer, nil, detail)
        page(.POST, ["servers", ":id"], .operator, "server.update", update)
        page(.POST, ["servers", ":id", "delete"], .operator, "server.delete", delete)
        page(.POST, ["servers", ":id", "join-token"], .operator, "server.join_token", joinToken)
        page(.POST, ["servers", ":id", "revoke"], .operator, "server.revoke_agent", revoke)
    }

    // MARK: List

    @Sendable static func list(req: Request) async throws -> Response {
        let servers = try await req.nebula.fleet.list(by: try req.actor)
        let context = try await req.pageContext("Servers", active: .servers)
        let canEdit = (context.role ?? .viewer) >= .operator
        return req.render(Layout.page(context, actions: LiveIndicator()) {
            if servers.items.isEmpty {
                EmptyState(title: "No servers yet", message: "The machine running Nebula Command appears here a few seconds after start; add others below.")
            } else {
                Div {
                    for server in servers.items { ServerCard(server: server) }
                }.class("server-grid").attribute(named: "data-live-servers", value: "true")
            }
            if canEdit {
                Card(title: "Add a server", subtitle: "Agent nodes dial home with a join token; SSH servers are reached with a key from the vault.") {
                    CSRFForm(action: "/servers", csrfToken: context.csrfToken, classes: "form-grid") {
                        FormField(label: "Name", name: "name", placeholder: "nas", required: true)
                        SelectField(label: "Connection", name: "connection", options: [("agent", "Agent (nebula agent)"), ("ssh", "SSH (agentless)")], selected: "agent")
                        FormField(label: "Address", name: "address", placeholder: "192.168.1.20", hint: "Needed for SSH.")
                        FormField(label: "SSH port", name: "port", type: "number", placeholder: "22")
                        FormField(label: "SSH user", name: "username", placeholder: "root")
                        FormField(label: "Tags", name: "tags", placeholder: "media, rack-1", hint: "Comma-separated.")
                        SubmitButton("Add server")
                    }
                }
            }
            tag("script", [.value("type", "module"), .value("src", "/js/fleet.js")])
        })
    }

    // MARK: Detail

    @Sendable static func detail(req: Request) async throws -> Response {
        try await detail(req: req, issued: nil)
    }

    static func detail(req: Request, issued: AgentAccess.IssuedJoinToken?) async throws -> Response {
        let fleet = try req.nebula.fleet
        let id = try req.uuidParameter()
        let server = try await fleet.find(id, by: try req.actor)
        let sample = try await fleet.latestSample(of: id)
        let context = try await req.pageContext(server.name, active: .servers)
        let canEdit = (context.role ?? .viewer) >= .operator
        let range = req.query[String.self, at: "range"].flatMap(MetricsRange.init(rawValue:)) ?? .hour
        let joined = try await ServerRecord.find(id, on: req.db)?.agentCredentialHash != nil
        let hardware = try await fleet.hardwareProfile(of: id)
        let sshStatus = server.connection == .ssh ? try await req.nebula.ssh.status(of: id, by: try req.actor) : nil
        let relays = canEdit ? try await fleet.list(by: try req.actor).items.filter { $0.status == .online && $0.connection != .ssh } : []
        let actions = Div {
            StatusBadge(server.status.rawValue)
            if server.connection != .ssh {
                LinkButton("Containers", href: "/servers/\(server.id)/containers", style: .secondary)
            }
            if canEdit {
                LinkButton("Files", href: "/servers/\(server.id)/files", style: .secondary)
                LinkButton("Terminal", href: "/servers/\(server.id)/terminal", style: .secondary)
            }
        }.class("button-row")
        return req.render(Layout.page(context, actions: actions) {
            if let issued {
                Card(title: "Join this node", subtitle: "Run this on the node within the hour. The token works once and is not shown again.") {
                    CodeBlock(issued.command, id: "join-command")
                }
            }
            if let sshStatus {
                SSHCard(server: server, status: sshStatus, canEdit: canEdit, csrfToken: context.csrfToken)
            }
            if server.connection == .agent {
                Card(title: "Agent", subtitle: joined ? "An agent has joined as this server." : "No agent has joined yet.") {
                    if canEdit {
                        Div {
                            CSRFForm(action: "/servers/\(server.id)/join-token", csrfToken: context.csrfToken, classes: "inline-form") {
                                SubmitButton(joined ? "New join token" : "Create join token", style: .secondary)
                            }
                            if joined {
                                CSRFForm(action: "/servers/\(server.id)/revoke", csrfToken: context.csrfToken, classes: "inline-form",
                                         confirm: "Revoke this node's agent? It is disconnected at once and must join again.") {
                                    SubmitButton("Revoke agent", style: .danger)
                                }
                            }
                        }.class("button-row")
                    }
                }
            }
            Card(title: "Overview") {
                DetailList([
                    ("Connection", Text(server.connection.rawValue)),
                    ("Address", Text(server.address.map { "\($0)\(server.port.map { ":\($0)" } ?? "")" } ?? "—")),
                    ("Tags", Text(server.tags.isEmpty ? "—" : server.tags.joined(separator: ", "))),
                    ("Last report", server.lastSeenAt.map { RelativeTime($0) as any Component } ?? Text("never")),
                    ("Uptime", Text(sample.map { formatDuration($0.uptimeSeconds) } ?? "—")),
                    ("Load (1/5/15 min)", Text(sample.map { "\($0.load.one.fixed(2)) / \($0.load.five.fixed(2)) / \($0.load.fifteen.fixed(2))" } ?? "—")),
                    ("Memory", Text(sample.map { "\(formatBytes(Int(clamping: $0.memory.usedBytes))) of \(formatBytes(Int(clamping: $0.memory.totalBytes)))" } ?? "—")),
                    ("Processes", Text(sample.map { String($0.processes.count) } ?? "—")),
                ])
            }
            Card(title: "History", actions: Div {
                for option in MetricsRange.allCases {
                    LinkButton(option.rawValue, href: "/servers/\(server.id)?range=\(option.rawValue)", style: option == range ? .primary : .secondary)
                }
            }.class("button-row")) {
                Div {
                    for chart in ChartSpec.all {
                        Div {
                            H3(chart.title)
                            tag("canvas", [.value("data-chart", chart.key), .value("aria-label", chart.title + " chart"), .value("role", "img")])
                        }.class("chart-box")
                    }
                }
                .class("chart-grid")
                .attribute(named: "data-server-charts", escaping: server.id.uuidString)
                .attribute(named: "data-range", escaping: range.rawValue)
                Paragraph("Charts need the libjs-chart.js package (make run installs it).").class("muted chart-missing").attribute(named: "hidden", value: "hidden")
            }
            if let sample {
                CardGrid {
                    if let hardware { HardwareCard(profile: hardware) }
                    Card(title: "Filesystems") {
                        DataTable(caption: "Filesystems", headers: ["Mount", "Type", "Used", "Size", ""],
                                  rows: sample.filesystems.map { fs in
                                      [Span(fs.mountPoint).class("mono"), Text(fs.type), Text(formatBytes(Int(clamping: fs.usedBytes))),
                                       Text(formatBytes(Int(clamping: fs.totalBytes))), Meter(fraction: fs.totalBytes > 0 ? Double(fs.usedBytes) / Double(fs.totalBytes) : 0, label: "\(fs.mountPoint) used")]
                                  },
                                  emptyTitle: "No filesystems", emptyMessage: "None were readable.")
                    }
                    Card(title: "Top processes by CPU") {
                        DataTable(caption: "Top processes by CPU", headers: ["Process", "PID", "CPU", "Memory"],
                                  rows: sample.processes.topByCPU.map { process in
                                      [Span(process.name).class("mono"), Text(String(process.pid)), Text(process.cpuPercent.fixed(1) + " %"),
                                       Text(formatBytes(Int(clamping: process.residentBytes)))]
                                  },
                                  emptyTitle: "Measuring", emptyMessage: "CPU use appears after the second report.")
                    }
                    Card(title: "Top processes by memory") {
                        DataTable(caption: "Top processes by memory", headers: ["Process", "PID", "Memory"],
                                  rows: sample.processes.topByMemory.map { process in
                                      [Span(process.name).class("mono"), Text(String(process.pid)), Text(formatBytes(Int(clamping: process.residentBytes)))]
                                  },
                                  emptyTitle: "No processes", emptyMessage: "")
                    }
                    Card(title: "Temperatures and GPUs") {
                        DataTable(caption: "Sensors", headers: ["Sensor", "Reading"],
                                  rows: sample.temperatures.map { [Text($0.label), Text($0.celsius.fixed(1) + " °C")] }
                                      + sample.gpus.map { gpu in
                                          [Text("GPU \(gpu.index) · \(gpu.name)"),
                                           Text([gpu.utilization.map { ($0 * 100).fixed(0) + " % busy" },
                                                 gpu.temperatureCelsius.map { $0.fixed(0) + " °C" },
                                                 gpu.memoryUsedBytes.map { formatBytes(Int(clamping: $0)) + " VRAM used" }].compactMap { $0 }.joined(separator: " · "))]
                                      },
                                  emptyTitle: "No sensors", emptyMessage: "This machine exposes no thermal zones, hwmon sensors or NVIDIA GPUs.")
                    }
                }
            }
            if canEdit {
                PowerCard(server: server, relays: relays, csrfToken: context.csrfToken)
                Card(title: "Edit") {
                    CSRFForm(action: "/servers/\(server.id)", csrfToken: context.csrfToken, classes: "form-grid") {
                        FormField(label: "Name", name: "name", value: server.name, required: true)
                        if server.connection == .ssh {
                            FormField(label: "Address", name: "address", value: server.address ?? "", required: true)
                            FormField(label: "SSH port", name: "port", type: "number", value: server.port.map(String.init) ?? "22")
                            FormField(label: "SSH user", name: "username", value: server.username ?? "root")
                        }
                        FormField(label: "Tags", name: "tags", value: server.tags.joined(separator: ", "), hint: "Comma-separated.")
                        FormField(label: "MAC address (Wake-on-LAN)", name: "macAddress", value: server.macAddress ?? "", placeholder: "aa:bb:cc:dd:ee:ff",
                                  hint: "Empty turns Wake-on-LAN off.")
                        FormField(label: "Broadcast address", name: "wakeBroadcast", value: server.wakeBroadcast ?? "", placeholder: "255.255.255.255")
                        FormField(label: "Wake-on-LAN port", name: "wakePort", type: "number", value: server.wakePort.map(String.init) ?? "", placeholder: "9")
                        FormField(label: "File roots", name: "fileRoots", value: server.fileRoots.joined(separator: ", "), placeholder: "/srv, /home/pi",
                                  hint: "Absolute folders the file browser may show, comma-separated; empty turns it off.")
                        SubmitButton("Save changes")
                    }
                    if server.connection != .local {
                        CSRFForm(action: "/servers/\(server.id)/delete", csrfToken: context.csrfToken, classes: "inline-form", confirm: "Remove \(server.name) and its history?") {
                            SubmitButton("Remove server", style: .danger)
                        }
                    }
                }
            }
            tag("script", [.value("src", "/vendor/chart.js/chart.min.js")])
            tag("script", [.value("type", "module"), .value("src", "/js/fleet.js")])
        })
    }

    // MARK: Forms

    static func input(from req: Request) throws -> FleetService.ServerInput {
        var input = FleetService.ServerInput()
        input.name = req.formField("name")
        input.connection = req.formField("connection").flatMap(ServerConnection.init(rawValue:))
        input.address = req.content[String.self, at: "address"].map { $0.trimmingCharacters(in: .whitespaces) }
        if let port = req.formField("port") {
            guard let value = Int(port) else { throw NebulaError.unprocessable("The SSH port is a number from 1 to 65535.") }
            input.port = value
        }
        input.username = req.content[String.self, at: "username"]
        input.tags = req.content[String.self, at: "tags"].map { $0.split(separator: ",").map(String.init) }
        input.macAddress = req.content[String.self, at: "macAddress"]
        input.fileRoots = req.content[String.self, at: "fileRoots"].map { $0.split(separator: ",").map(String.init) }
        input.wakeBroadcast = req.content[String.self, at: "wakeBroadcast"]
        if let port = req.formField("wakePort") {
            guard let value = Int(port) else { throw NebulaError.unprocessable("The Wake-on-LAN port is a number from 1 to 65535.") }
            input.wakePort = value
        }
        return input
    }

    @Sendable static func create(req: Request) async throws -> Response {
        var created: ServerDTO?
        let response = try await formAction(req, backTo: "/servers", success: "Server added.") {
            created = try await req.nebula.fleet.create(try input(from: req), by: try req.actor)
        }
        if let created { return req.redirect(to: "/servers/\(created.id)", flash: Flash(kind: .success, message: "Added \(created.name).")) }
        return response
    }

    @Sendable static func update(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/servers/\(id)", success: "Saved.") {
            _ = try await req.nebula.fleet.update(id, try input(from: req), by: try req.actor)
        }
    }

    @Sendable static func joinToken(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            let issued = try await req.nebula.agents.issueJoinToken(for: id, publicURL: try req.publicBaseURL, by: try req.actor)
            return try await detail(req: req, issued: issued)
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/servers/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }

    @Sendable static func revoke(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        return try await formAction(req, backTo: "/servers/\(id)", success: "Agent revoked; it was disconnected.") {
            _ = try await req.nebula.agents.revoke(id, by: try req.actor)
        }
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        do {
            try await req.nebula.fleet.delete(id, by: try req.actor)
            return req.redirect(to: "/servers", flash: Flash(kind: .success, message: "Server removed."))
        } catch let error as NebulaError where error.status != .unauthorized {
            return req.redirect(to: "/servers/\(id)", flash: Flash(kind: .error, message: error.message))
        }
    }
}

/// One chart on the server page: the series it draws from `/metrics` and how to format values.
struct ChartSpec: Sendable {
    var key: String
    var title: String

    static let all = [
        ChartSpec(key: "cpu", title: "CPU"),
        ChartSpec(key: "memory", title: "Memory"),
        ChartSpec(key: "disk", title: "Disk space"),
        ChartSpec(key: "network", title: "Network"),
        ChartSpec(key: "diskio", title: "Disk I/O"),
        ChartSpec(key: "load", title: "Load"),
        ChartSpec(key: "temperature", title: "Temperature"),
    ]
}

/// A server's card on the fleet page; fleet.js updates the `data-metric` values live.
///
/// Written as HTML text rather than a Plot component tree: the fleet page renders hundreds of
/// these, and the tree cost most of the page's time (145 → under 100 ms for 200 servers). Every
/// value goes through `HTMLEscaping`.
struct ServerCard: Component {
    var server: ServerDTO

    var body: any Component { Node<HTML.BodyContext>.raw(Self.html(server)) }

    static func html(_ server: ServerDTO) -> String {
        let escape = HTMLEscaping.attributeValue
        let latest = server.latest
        func fraction(_ used: UInt64?, _ total: UInt64?) -> Double? {
            guard let used, let total, total > 0 else { return nil }
            return Double(used) / Double(total)
        }
        func bytes(_ used: UInt64, _ total: UInt64) -> String {
            formatBytes(Int(clamping: used)) + " / " + formatBytes(Int(clamping: total))
        }
        func meterRow(_ label: String, _ key: String, _ fraction: Double?, _ detail: String?) -> String {
            let clamped = fraction.map { $0.isFinite ? min(1, max(0, $0)) : 0 } ?? 0
            var row = #"<div class="meter-row"><span class="meter-label">\#(label)</span>"#
            row += #"<meter min="0" max="1" low="0.7" high="0.9" optimum="0" value="\#(clamped.fixed(3))" aria-label="\#(label)" data-metric-meter="\#(key)">\#(clamped.percent)</meter>"#
            row += #"<span class="meter-value" data-metric="\#(key)">\#(fraction.map(\.percent) ?? "—")</span>"#
            if let detail { row += #"<span class="meter-detail muted" data-metric-detail="\#(key)">\#(escape(detail))</span>"# }
            return row + "</div>"
        }
        func spark(_ key: String, _ label: String) -> String {
            #"<div class="spark-box"><span class="spark-label">\#(label)</span><svg viewBox="0 0 100 24" preserveAspectRatio="none" class="spark spark-\#(key)" data-spark="\#(key)" role="img" aria-label="\#(label)"></svg></div>"#
        }
        func fact(_ label: String, _ key: String, _ value: String?) -> String {
            #"<div><dt>\#(label)</dt><dd data-metric="\#(key)">\#(escape(value ?? "—"))</dd></div>"#
        }
        let status = server.status.rawValue
        var html = #"<article class="card server-card" data-server-id="\#(server.id.uuidString)">"#
        html += #"<div class="server-card-head"><a href="/servers/\#(server.id.uuidString)" class="server-name">\#(escape(server.name))</a>"#
        html += #"<span class="badge tone-\#(StatusBadge.tone(for: status).rawValue)" data-server-status="true">\#(status)</span></div>"#
        html += meterRow("CPU", "cpu", latest?.cpu, nil)
        html += #"<div class="spark-row">"# + spark("cpu", "CPU, last hour") + spark("memory", "Memory, last hour") + "</div>"
        html += meterRow("Memory", "memory", fraction(latest?.memoryUsedBytes, latest?.memoryTotalBytes), latest.map { bytes($0.memoryUsedBytes, $0.memoryTotalBytes) })
        html += meterRow("Disk", "disk", fraction(latest?.diskUsedBytes, latest?.diskTotalBytes), latest.map { bytes($0.diskUsedBytes, $0.diskTotalBytes) })
        html += #"<dl class="server-facts">"#
        html += fact("Net ↓", "netRx", latest.map { formatRate($0.networkReceiveBytesPerSecond) })
        html += fact("Net ↑", "netTx", latest.map { formatRate($0.networkSendBytesPerSecond) })
        html += fact("Load", "load1", latest.map { $0.load1.fixed(2) })
        html += fact("Temp", "temperature", latest?.temperature.map { $0.fixed(0) + " °C" })
        html += fact("Up", "uptime", latest.map { formatDuration($0.uptimeSeconds) })
        html += "</dl>"
        if !server.tags.isEmpty {
            html += #"<div class="tag-row">"# + server.tags.map { #"<span class="tag">\#(escape($0))</span>"# }.joined() + "</div>"
        }
        return html + "</article>"
    }
}

/// A `<meter>` from 0 to 1, coloured by how full it is.
struct Meter: Component {
    var fraction: Double
    var label: String

    var body: any Component {
        let clamped = fraction.isFinite ? min(1, max(0, fraction)) : 0
        return tag("meter", [.value("min", "0"), .value("max", "1"), .value("low", "0.7"), .value("high", "0.9"), .value("optimum", "0"),
                             .value("value", clamped.fixed(3)), .value("aria-label", label)]) {
            Text(clamped.percent)
        }
    }
}

func formatRate(_ bytesPerSecond: Double) -> String {
    formatBytes(Int(bytesPerSecond.isFinite ? bytesPerSecond : 0)) + "/s"
}

func formatDuration(_ seconds: Double) -> String {
    let total = Int(seconds)
    if total >= 86400 { return "\(total / 86400) d \(total % 86400 / 3600) h" }
    if total >= 3600 { return "\(total / 3600) h \(total % 3600 / 60) min" }
    return "\(total / 60) min"
}
