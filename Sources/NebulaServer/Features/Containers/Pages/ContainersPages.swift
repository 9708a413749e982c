import DockerEngine
import Foundation
import NebulaCore
import Plot
import Vapor

/// `/containers` (every node), `/servers/{id}/containers` (one node: containers, images, volumes,
/// networks) and `/servers/{id}/containers/{name}` (details, live logs and stats), with the
/// start/stop/restart/kill/remove forms.
enum ContainersPages {
    static func register(_ page: (HTTPMethod, [PathComponent], Role, String?, @escaping @Sendable (Request) async throws -> Response) -> Void) {
        page(.GET, ["containers"], .viewer, nil, fleet)
        page(.GET, ["servers", ":id", "containers"], .viewer, nil, node)
        page(.GET, ["servers", ":id", "containers", ":container"], .viewer, nil, detail)
        for action in ContainerAction.allCases {
            page(.POST, ["servers", ":id", "containers", ":container", .constant(action.rawValue)], .operator, "container.\(action.rawValue)") { req in
                try await change(req, action)
            }
        }
        page(.POST, ["servers", ":id", "images", "remove"], .operator, "image.remove", removeImage)
        page(.POST, ["servers", ":id", "images", "prune"], .operator, "images.prune", pruneImages)
        page(.POST, ["servers", ":id", "volumes", "remove"], .operator, "volume.remove", removeVolume)
    }

    /// The buttons a container row offers.
    enum ContainerAction: String, CaseIterable, Sendable {
        case start, stop, restart, kill, remove

        var change: ContainersService.Change {
            switch self {
            case .start: .start
            case .stop: .stop(timeoutSeconds: 10)
            case .restart: .restart(timeoutSeconds: 10)
            case .kill: .kill(signal: "SIGKILL")
            case .remove: .remove(force: true, volumes: false)
            }
        }

        var done: String {
            switch self {
            case .start: "started"
            case .stop: "stopped"
            case .restart: "restarted"
            case .kill: "killed"
            case .remove: "removed"
            }
        }
    }

    // MARK: Pages

    @Sendable static func fleet(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let servers = try await services.fleet.list(by: actor).items.filter { $0.connection != .ssh }
        // Every node is asked at once; a slow or offline one only costs its own section.
        let sections = await withTaskGroup(of: (Int, NodeSection).self) { group in
            for (index, server) in servers.enumerated() {
                group.addTask {
                    do {
                        let items = try await services.containers.containers(on: server.id, by: actor)
                        return (index, NodeSection(server: server, containers: items, error: nil))
                    } catch {
                        return (index, NodeSection(server: server, containers: [], error: Self.message(error)))
                    }
                }
            }
            var collected: [(Int, NodeSection)] = []
            for await section in group { collected.append(section) }
            return collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        let context = try await req.pageContext("Containers", active: .containers)
        let canOperate = actor.role >= .operator
        let html = Layout.page(context) {
            if sections.isEmpty {
                EmptyState(title: "No nodes with Docker", message: "Add a server with the agent under Servers; agentless (SSH) servers do not show containers.")
            }
            for section in sections {
                Card(title: section.server.name, subtitle: section.error ?? "\(section.containers.count) containers, \(section.containers.filter { $0.state == .running }.count) running",
                     actions: LinkButton("Images, volumes, networks", href: "/servers/\(section.server.id)/containers", style: .secondary)) {
                    if section.error == nil {
                        ContainerTable(serverID: section.server.id, containers: section.containers, canOperate: canOperate, csrfToken: context.csrfToken,
                                       back: "/containers")
                    }
                }
            }
        }
        return req.render(html)
    }

    struct NodeSection: Sendable {
        var server: ServerDTO
        var containers: [ContainerSummary]
        var error: String?
    }

    @Sendable static func node(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let server = try await services.fleet.find(id, by: actor)
        async let containers = result { try await services.containers.containers(on: id, by: actor) }
        async let images = result { try await services.containers.images(on: id, by: actor) }
        async let volumes = result { try await services.containers.volumes(on: id, by: actor) }
        async let networks = result { try await services.containers.networks(on: id, by: actor) }
        let (containerList, imageList, volumeList, networkList) = await (containers, images, volumes, networks)
        let context = try await req.pageContext("Containers on \(server.name)", active: .containers)
        let canOperate = actor.role >= .operator
        let back = "/servers/\(id)/containers"
        let html = Layout.page(context, actions: LinkButton("Back to \(server.name)", href: "/servers/\(id)", style: .secondary)) {
            Card(title: "Containers", subtitle: subtitle(containerList) { "\($0.count) containers, \($0.filter { $0.state == .running }.count) running" }) {
                if case .success(let items) = containerList {
                    ContainerTable(serverID: id, containers: items, canOperate: canOperate, csrfToken: context.csrfToken, back: back)
                }
            }
            Card(title: "Images", subtitle: subtitle(imageList) { "\($0.count) images, \(formatBytes(Int($0.reduce(0) { $0 + $1.size })))" },
                 actions: canOperate ? pruneForm(id, context.csrfToken) : nil) {
                if case .success(let items) = imageList {
                    DataTable(caption: "Images", headers: ["Tags", "Id", "Size", "Created", ""], rows: items.map { image in
                        [Text(image.repoTags.isEmpty ? "<none>" : image.repoTags.joined(separator: ", ")),
                         Mono(String(image.id.rawValue.replacingOccurrences(of: "sha256:", with: "").prefix(12))),
                         Text(formatBytes(Int(image.size))), RelativeTime(image.created),
                         canOperate ? removeForm("/servers/\(id)/images/remove", field: ("image", image.id.rawValue), csrf: context.csrfToken,
                                                 confirm: "Remove this image? Containers that use it must be removed first.") : Text("")]
                    }, emptyTitle: "No images", emptyMessage: "Nothing has been pulled or built on this node yet.")
                }
            }
            Card(title: "Volumes", subtitle: subtitle(volumeList) { "\($0.count) volumes" }) {
                if case .success(let items) = volumeList {
                    DataTable(caption: "Volumes", headers: ["Name", "Driver", "Mount point", ""], rows: items.map { volume in
                        [Text(volume.name), Text(volume.driver), Mono(volume.mountpoint),
                         canOperate ? removeForm("/servers/\(id)/volumes/remove", field: ("name", volume.name), csrf: context.csrfToken,
                                                 confirm: "Delete volume \(volume.name) and all data in it?") : Text("")]
                    }, emptyTitle: "No volumes", emptyMessage: "Named volumes appear here when apps create them.")
                }
            }
            Card(title: "Networks", subtitle: subtitle(networkList) { "\($0.count) networks" }) {
                if case .success(let items) = networkList {
                    DataTable(caption: "Networks", headers: ["Name", "Driver", "Scope", "Internal"], rows: items.map { network in
                        [Text(network.name), Text(network.driver), Text(network.scope), Text(network.isInternal ? "yes" : "no")]
                    }, emptyTitle: "No networks", emptyMessage: "Docker lists its networks here.")
                }
            }
        }
        return req.render(html)
    }

    @Sendable static func detail(req: Request) async throws -> Response {
        let services = try req.nebula
        let actor = try req.actor
        let id = try req.uuidParameter()
        let reference = try req.containerParameter()
        let server = try await services.fleet.find(id, by: actor)
        let details = try await services.containers.inspect(reference, on: id, by: actor)
        let context = try await req.pageContext("\(details.name) on \(server.name)", active: .containers)
        let canOperate = actor.role >= .operator
        let base = "/api/v1/servers/\(id)/containers/\(details.name)"
        let html = Layout.page(context, actions: LinkButton("All containers on \(server.name)", href: "/servers/\(id)/containers", style: .secondary)) {
            CardGrid {
                Card(title: "State", actions: StatusBadge(details.health?.rawValue ?? details.state.description, tone: ContainersPages.tone(details.state, details.health))) {
                    DetailList([
                        ("State", Text(details.state.description)),
                        ("Image", Mono(details.image)),
                        ("Started", details.startedAt.map { RelativeTime($0) as any Component } ?? Text("—")),
                        ("Exit code", Text(details.running ? "—" : String(details.exitCode))),
                        ("Restarts", Text(String(details.restartCount))),
                        ("Restart policy", Text(details.restartPolicy.isEmpty ? "no" : details.restartPolicy)),
                        ("Network", Text(details.networkMode)),
                        ("Command", Mono(details.command.joined(separator: " "))),
                        ("Id", Mono(String(details.id.rawValue.prefix(12)))),
                    ])
                    if canOperate {
                        ContainerActions(serverID: id, name: details.name, running: details.running, csrfToken: context.csrfToken,
                                         back: "/servers/\(id)/containers/\(details.name)")
                    }
                }
                Card(title: "Live usage", subtitle: details.running ? "Measured by Docker about every second." : "The container is not running.",
                     id: "container-stats") {
                    tag("dl", [.value("class", "details stats-live"), .value("data-stats-url", details.running ? base + "/stats?stream=true" : nil)]) {
                        for (key, label) in [("cpu", "CPU"), ("memory", "Memory"), ("network", "Network rx / tx"), ("block", "Disk read / write"), ("pids", "Processes")] {
                            Div {
                                tag("dt") { Text(label) }
                                tag("dd", [.value("data-stat", key)]) { Text("—") }
                            }
                        }
                    }
                }
            }
            if !details.mounts.isEmpty {
                Card(title: "Mounts") {
                    DataTable(caption: "Mounts", headers: ["Type", "Source", "Destination", "Mode"], rows: details.mounts.map {
                        [Text($0.type), Mono($0.name ?? $0.source), Mono($0.destination), Text($0.readWrite ? "rw" : "ro")]
                    }, emptyTitle: "", emptyMessage: "")
                }
            }
            if canOperate {
                Card(title: "Logs", subtitle: "stdout and stderr, newest at the bottom; follows new output live.", actions: LiveIndicator(),
                     id: "container-logs") {
                    Div {
                        tag("label", [.value("class", "inline-control")]) {
                            Text("Last ")
                            tag("select", [.value("name", "tail"), .value("data-log-tail", "true")]) {
                                for count in [100, 500, 2000, 10000] {
                                    tag("option", [.value("value", String(count)), .flag("selected", count == 500)]) { Text(String(count)) }
                                }
                            }
                            Text(" lines")
                        }
                        tag("label", [.value("class", "inline-control")]) {
                            voidTag("input", [.value("type", "checkbox"), .value("data-log-timestamps", "true")])
                            Text(" Timestamps")
                        }
                        tag("label", [.value("class", "inline-control")]) {
                            voidTag("input", [.value("type", "checkbox"), .value("data-log-follow", "true"), .flag("checked")])
                            Text(" Follow")
                        }
                        tag("button", [.value("type", "button"), .value("class", "button secondary"), .value("data-log-clear", "true")]) { Text("Clear") }
                    }.class("log-controls")
                    tag("pre", [.value("class", "log-view"), .value("data-logs-url", base + "/logs"), .value("aria-live", "off"), .value("tabindex", "0")]) {
                        Text("")
                    }
                }
            } else {
                Card(title: "Logs") { Paragraph("Logs need the operator role: they often contain tokens and passwords.").class("muted") }
            }
            tag("script", [.value("type", "module"), .value("src", "/js/containers.js")])
        }
        return req.render(html)
    }

    // MARK: Actions

    static func change(_ req: Request, _ action: ContainerAction) async throws -> Response {
        let id = try req.uuidParameter()
        let container = req.parameters.get("container") ?? ""
        let back = safeBack(req.formField("back"), default: "/servers/\(id)/containers")
        let destination = action == .remove && back.hasSuffix("/containers/\(container)") ? "/servers/\(id)/containers" : back
        return try await formAction(req, backTo: destination, success: "\(container) \(action.done).") {
            try await req.nebula.containers.change(container, on: id, action.change, by: try req.actor)
        }
    }

    @Sendable static func removeImage(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let image = req.formField("image") ?? ""
        return try await formAction(req, backTo: "/servers/\(id)/containers", success: "Image removed.") {
            try await req.nebula.containers.removeImage(image, on: id, force: false, by: try req.actor)
        }
    }

    @Sendable static func pruneImages(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        var report = ImagePruneReport(deleted: [], spaceReclaimed: 0)
        let response = try await formAction(req, backTo: "/servers/\(id)/containers", success: "Unused Nebula images removed.") {
            report = try await req.nebula.containers.pruneImages(on: id, by: try req.actor)
        }
        if !report.deleted.isEmpty || report.spaceReclaimed > 0 {
            return req.redirect(to: "/servers/\(id)/containers",
                                flash: Flash(kind: .success, message: "\(report.deleted.count) unused Nebula images removed, \(formatBytes(Int(report.spaceReclaimed))) freed."))
        }
        return response
    }

    @Sendable static func removeVolume(req: Request) async throws -> Response {
        let id = try req.uuidParameter()
        let name = req.formField("name") ?? ""
        return try await formAction(req, backTo: "/servers/\(id)/containers", success: "Volume \(name) removed.") {
            try await req.nebula.containers.removeVolume(name, on: id, force: false, by: try req.actor)
        }
    }

    // MARK: Helpers

    /// Green when up (and healthy, when it has a health check), red when unhealthy or dead, grey when stopped.
    static func tone(_ state: ContainerState, _ health: ContainerHealth?) -> StatusBadge.Tone {
        switch (state, health) {
        case (_, .unhealthy?), (.dead, _): .red
        case (.running, .starting?), (.restarting, _): .amber
        case (.running, _): .green
        default: .grey
        }
    }

    /// A local path to return to after a form; never another site.
    static func safeBack(_ raw: String?, default fallback: String) -> String {
        guard let raw, raw.hasPrefix("/"), !raw.hasPrefix("//"), !raw.contains("\\"), raw.count < 300 else { return fallback }
        return raw
    }

    static func result<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, NebulaError> {
        do {
            return .success(try await body())
        } catch let error as NebulaError {
            return .failure(error)
        } catch {
            return .failure(NebulaError.badGateway(String(describing: error), code: "docker_error"))
        }
    }

    static func subtitle<T>(_ result: Result<T, NebulaError>, _ describe: (T) -> String) -> String {
        switch result {
        case .success(let value): describe(value)
        case .failure(let error): error.message
        }
    }

    static func message(_ error: any Error) -> String {
        (error as? NebulaError)?.message ?? String(describing: error)
    }

    static func pruneForm(_ id: UUID, _ csrf: String?) -> any Component {
        CSRFForm(action: "/servers/\(id)/images/prune", csrfToken: csrf, classes: "inline-form",
                 confirm: "Remove unused images that Nebula built? Images Nebula did not create are never touched.") {
            SubmitButton("Prune Nebula images", style: .secondary)
        }
    }

    static func removeForm(_ action: String, field: (String, String), csrf: String?, confirm: String) -> any Component {
        CSRFForm(action: action, csrfToken: csrf, classes: "inline-form", confirm: confirm) {
            voidTag("input", [.value("type", "hidden"), .value("name", field.0), .value("value", field.1)])
            SubmitButton("Remove", style: .danger)
        }
    }
}

/// Start / stop / restart / kill / remove buttons for one container.
struct ContainerActions: Component {
    var serverID: UUID
    var name: String
    var running: Bool
    var csrfToken: String?
    var back: String

    var body: any Component {
        Node<HTML.BodyContext>.raw(Self.html(serverID: serverID, name: name, running: running, csrfToken: csrfToken, back: back))
    }

    /// Written as escaped text: a node with 200 containers renders 1000 of these forms.
    static func html(serverID: UUID, name: String, running: Bool, csrfToken: String?, back: String) -> String {
        let escape = HTMLEscaping.attributeValue
        let base = "/servers/\(serverID.uuidString)/containers/\(escape(name))/"
        let hidden = #"<input type="hidden" name="_csrf" value="\#(escape(csrfToken ?? ""))"><input type="hidden" name="back" value="\#(escape(back))">"#
        func button(_ action: String, _ label: String, _ style: String, confirm: String? = nil) -> String {
            let ask = confirm.map { #" data-confirm="\#(escape($0))""# } ?? ""
            return #"<form action="\#(base)\#(action)" method="post" class="inline-form"\#(ask)>\#(hidden)<button type="submit" class="button \#(style) small">\#(label)</button></form>"#
        }
        var html = #"<div class="button-row">"#
        if running {
            html += button("restart", "Restart", "secondary")
            html += button("stop", "Stop", "secondary")
            html += button("kill", "Kill", "danger", confirm: "Kill \(name) with SIGKILL? It gets no chance to shut down cleanly.")
        } else {
            html += button("start", "Start", "primary")
        }
        html += button("remove", "Remove", "danger", confirm: "Remove \(name)? Its anonymous volumes are kept.")
        return html + "</div>"
    }
}

/// The container table, written as escaped HTML text rather than a component tree so a node
/// with hundreds of containers renders in milliseconds.
struct ContainerTable: Component {
    var serverID: UUID
    var containers: [ContainerSummary]
    var canOperate: Bool
    var csrfToken: String?
    var back: String

    var body: any Component {
        if containers.isEmpty {
            return EmptyState(title: "No containers", message: "Install an app from the marketplace or start a container on this node.")
        }
        return Node<HTML.BodyContext>.raw(html)
    }

    var html: String {
        let escape = HTMLEscaping.attributeValue
        var html = #"<div class="table-wrap" role="region" aria-label="Containers" tabindex="0"><table class="table container-table"><thead><tr>"#
        html += ["Name", "Image", "State", "Status", "Ports", canOperate ? "Actions" : ""].map { "<th scope=\"col\">\($0)</th>" }.joined()
        html += "</tr></thead><tbody>"
        for container in containers.sorted(by: { $0.name < $1.name }) {
            let state = container.health?.rawValue ?? container.state.description
            // Docker lists a published port once per address family; show it once.
            var ports: [String] = []
            for port in container.ports {
                guard let published = port.publicPort else { continue }
                let text = "\(published)→\(port.privatePort)/\(port.type)"
                if !ports.contains(text) { ports.append(text) }
            }
            html += "<tr>"
            html += #"<td><a href="/servers/\#(serverID.uuidString)/containers/\#(escape(container.name))">\#(escape(container.name))</a></td>"#
            html += #"<td><code>\#(escape(container.image))</code></td>"#
            html += #"<td><span class="badge tone-\#(ContainersPages.tone(container.state, container.health).rawValue)">\#(escape(state))</span></td>"#
            html += "<td>\(escape(container.status))</td>"
            html += "<td>\(escape(ports.joined(separator: ", ")))</td>"
            html += "<td>" + (canOperate ? ContainerActions.html(serverID: serverID, name: container.name, running: container.state == .running,
                                                                  csrfToken: csrfToken, back: back) : "") + "</td>"
            html += "</tr>"
        }
        return html + "</tbody></table></div>"
    }
}

/// Inline monospace text (ids, commands, paths).
struct Mono: Component {
    var text: String
    init(_ text: String) { self.text = text }
    var body: any Component { tag("code", [.value("class", "mono")]) { Text(text) } }
}
