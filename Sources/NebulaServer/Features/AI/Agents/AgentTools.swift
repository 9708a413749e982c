import DockerEngine
import Foundation
import NebulaCore

/// What a tool runs with: the platform's services, who acts (every service checks this actor's
/// role, so an agent can never do more than the person running it), and when time is up.
struct AgentToolContext: Sendable {
    let services: NebulaServices
    let actor: Actor
    let deadline: ContinuousClock.Instant
    /// Secret values used by this call, masked out of anything kept or shown.
    let masks: LockedValue<[String]>

    init(services: NebulaServices, actor: Actor, deadline: ContinuousClock.Instant) {
        self.services = services
        self.actor = actor
        self.deadline = deadline
        self.masks = LockedValue([])
    }

    /// Seconds left until the deadline (at least 1).
    var secondsLeft: Int { max(1, Int((deadline - .now).components.seconds)) }

    func mask(_ text: String) -> String {
        masks.withLock { values in values.filter { $0.count >= 3 } }.reduce(text) { $0.replacingOccurrences(of: $1, with: "••••") }
    }
}

/// A tool an agent may call: its definition for the model and what it does.
struct AgentTool: Sendable {
    var name: String
    var description: String
    /// A JSON Schema object.
    var parameters: TemplateValue
    /// Whether calling it changes something (then it waits for approval when the agent asks for that).
    var changesSomething: Bool
    /// `built-in` or `http`.
    var kind: String
    var functionID: UUID?
    /// Runs the call with validated arguments and answers text for the model.
    var run: @Sendable ([String: TemplateValue], AgentToolContext) async throws -> String

    var dto: AgentToolDTO {
        AgentToolDTO(name: name, description: description, parameters: parameters, changesSomething: changesSomething, kind: kind, functionId: functionID)
    }
}

/// The failure of a tool, in words for the model.
struct AgentToolFailure: Error, CustomStringConvertible, Sendable {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Results go back to the model as compact JSON, at most ``limit`` bytes.
enum ToolOutput {
    static let limit = 8 * 1024

    /// Compact JSON for `value`, cut to the limit with a note saying so.
    static func json(_ value: TemplateValue) -> String { bounded(value.jsonText) }

    /// `text` cut to the limit (on a character boundary), saying how much was left out.
    static func bounded(_ text: String, limit: Int = limit) -> String {
        let bytes = text.utf8.count
        guard bytes > limit else { return text }
        var kept = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > limit - 80 { break }
            kept.append(character)
            used += size
        }
        return kept + " …[cut: \(bytes - used) more bytes of \(bytes) not shown]"
    }

    /// A list of at most `max` items, with `shown`/`total` when some were left out.
    static func list(_ key: String, _ items: [TemplateValue], max: Int) -> TemplateValue {
        var object: [String: TemplateValue] = [key: .list(Array(items.prefix(max))), "total": .number(Double(items.count))]
        if items.count > max { object["note"] = .string("showing the first \(max) of \(items.count)") }
        return .object(object)
    }
}

/// The tools every agent may be given, calling the platform's own services.
enum BuiltInTools {
    static let diagnoseRunbooks = ["diagnose-service-health", "diagnose-endpoint-health", "diagnose-tls", "diagnose-disk-usage",
                                   "diagnose-recent-errors", "diagnose-dns"]

    static let all: [AgentTool] = [listServers, serverMetrics, listContainers, containerLogs, restartContainer, runDiagnoseRunbook,
                                   listIncidents, checkCertificate]

    static func named(_ name: String) -> AgentTool? { all.first { $0.name == name } }

    static func schema(_ properties: [String: TemplateValue], required: [String] = []) -> TemplateValue {
        .object(["type": "object", "properties": .object(properties), "required": .list(required.map { .string($0) }),
                 "additionalProperties": false])
    }

    static func string(_ description: String, maxLength: Int = 200) -> TemplateValue {
        .object(["type": "string", "description": .string(description), "minLength": 1, "maxLength": .number(Double(maxLength))])
    }

    static func integer(_ description: String, minimum: Int, maximum: Int) -> TemplateValue {
        .object(["type": "integer", "description": .string(description), "minimum": .number(Double(minimum)), "maximum": .number(Double(maximum))])
    }

    static let serverParameter = string("The server's name as list_servers shows it (or its id)")

    // MARK: Fleet

    static let listServers = AgentTool(
        name: "list_servers", description: "Lists the homelab's servers with their status, connection, address, tags and latest CPU/memory/disk use.",
        parameters: schema([:]), changesSomething: false, kind: "built-in", functionID: nil
    ) { _, context in
        let servers = try await context.services.fleet.list(by: context.actor).items
        return ToolOutput.json(ToolOutput.list("servers", servers.map { server in
            var item: [String: TemplateValue] = ["name": .string(server.name), "status": .string(server.status.rawValue),
                                                 "connection": .string(server.connection.rawValue)]
            if let address = server.address { item["address"] = .string(address) }
            if !server.tags.isEmpty { item["tags"] = .list(server.tags.map { .string($0) }) }
            if let latest = server.latest { item.merge(summary(latest)) { $1 } }
            return .object(item)
        }, max: 100))
    }

    static let serverMetrics = AgentTool(
        name: "server_metrics", description: "The latest metrics of one server: CPU, memory, swap, disk, network and disk I/O rates, load and uptime.",
        parameters: schema(["server": serverParameter], required: ["server"]), changesSomething: false, kind: "built-in", functionID: nil
    ) { arguments, context in
        let server = try await findServer(arguments["server"]?.stringValue ?? "", context)
        var item: [String: TemplateValue] = ["name": .string(server.name), "status": .string(server.status.rawValue)]
        if let seen = server.lastSeenAt { item["lastSeenAt"] = .string(ISO8601DateFormatter().string(from: seen)) }
        guard let latest = server.latest else {
            item["note"] = "no metrics recorded yet"
            return ToolOutput.json(.object(item))
        }
        item.merge(summary(latest)) { $1 }
        item["swapUsedGB"] = gigabytes(latest.swapUsedBytes)
        item["networkInKBps"] = rounded(latest.networkReceiveBytesPerSecond / 1024)
        item["networkOutKBps"] = rounded(latest.networkSendBytesPerSecond / 1024)
        item["diskReadKBps"] = rounded(latest.diskReadBytesPerSecond / 1024)
        item["diskWriteKBps"] = rounded(latest.diskWriteBytesPerSecond / 1024)
        item["uptimeHours"] = rounded(latest.uptimeSeconds / 3600)
        item["measuredAt"] = .string(ISO8601DateFormatter().string(from: latest.at))
        return ToolOutput.json(.object(item))
    }

    static func summary(_ latest: LatestMetrics) -> [String: TemplateValue] {
        var item: [String: TemplateValue] = [
            "memoryUsedGB": gigabytes(latest.memoryUsedBytes), "memoryTotalGB": gigabytes(latest.memoryTotalBytes),
            "diskUsedGB": gigabytes(latest.diskUsedBytes), "diskTotalGB": gigabytes(latest.diskTotalBytes), "load1": rounded(latest.load1),
        ]
        if let cpu = latest.cpu { item["cpuPercent"] = rounded(cpu * 100) }
        return item
    }

    static func gigabytes(_ bytes: UInt64) -> TemplateValue { rounded(Double(bytes) / 1_073_741_824) }

    static func rounded(_ value: Double) -> TemplateValue { .number((value * 10).rounded() / 10) }

    static func findServer(_ reference: String, _ context: AgentToolContext) async throws -> ServerDTO {
        let servers = try await context.services.fleet.list(by: context.actor).items
        let wanted = reference.trimmingCharacters(in: .whitespaces)
        if let server = servers.first(where: { $0.name == wanted || $0.id.uuidString.lowercased() == wanted.lowercased() })
            ?? servers.first(where: { $0.name.lowercased() == wanted.lowercased() }) {
            return server
        }
        throw AgentToolFailure("There is no server named \(wanted.prefix(80)). Known servers: \(servers.prefix(30).map(\.name).joined(separator: ", ")).")
    }

    // MARK: Containers

    static let listContainers = AgentTool(
        name: "list_containers", description: "Lists the Docker containers of a server with image, state, status and health.",
        parameters: schema(["server": serverParameter, "all": .object(["type": "boolean", "description": "Include stopped containers (default true)"])],
                           required: ["server"]),
        changesSomething: false, kind: "built-in", functionID: nil
    ) { arguments, context in
        let server = try await findServer(arguments["server"]?.stringValue ?? "", context)
        let all = arguments["all"]?.boolValue ?? true
        let containers = try await context.services.containers.containers(on: server.id, all: all, by: context.actor)
        return ToolOutput.json(ToolOutput.list("containers", containers.map { container in
            var item: [String: TemplateValue] = ["name": .string(container.name), "image": .string(container.image),
                                                 "state": .string("\(container.state)"), "status": .string(container.status)]
            if let health = container.health { item["health"] = .string(health.rawValue) }
            return .object(item)
        }, max: 150))
    }

    static let containerLogs = AgentTool(
        name: "container_logs", description: "The last lines of a container's log (stdout and stderr).",
        parameters: schema(["server": serverParameter, "container": string("The container's name or id"),
                            "tail": integer("How many lines from the end (default 100)", minimum: 1, maximum: 500)],
                           required: ["server", "container"]),
        changesSomething: false, kind: "built-in", functionID: nil
    ) { arguments, context in
        let server = try await findServer(arguments["server"]?.stringValue ?? "", context)
        let container = arguments["container"]?.stringValue ?? ""
        let lines = try await context.services.containers.logs(container, on: server.id, tail: arguments["tail"]?.wholeNumber ?? 100,
                                                               since: nil, timestamps: false, by: context.actor)
        // The newest lines matter most: cut from the front.
        var text = lines.map { ($0.stream == .stderr ? "[err] " : "") + $0.text }.joined(separator: "\n")
        let room = ToolOutput.limit - 400
        if text.utf8.count > room {
            var kept = Substring(text)
            while kept.utf8.count > room { kept = kept.dropFirst(max(1, (kept.utf8.count - room) / 4)) }
            text = "…[cut: the first \(text.utf8.count - kept.utf8.count) bytes are not shown]\n" + kept
        }
        return ToolOutput.bounded(TemplateValue.object(["container": .string(container), "lines": .number(Double(lines.count)), "log": .string(text)]).jsonText)
    }

    static let restartContainer = AgentTool(
        name: "restart_container", description: "Restarts a Docker container on a server (stops it with a 10 s grace period, then starts it).",
        parameters: schema(["server": serverParameter, "container": string("The container's name or id")], required: ["server", "container"]),
        changesSomething: true, kind: "built-in", functionID: nil
    ) { arguments, context in
        let server = try await findServer(arguments["server"]?.stringValue ?? "", context)
        let container = arguments["container"]?.stringValue ?? ""
        try await context.services.containers.change(container, on: server.id, .restart(timeoutSeconds: 10), by: context.actor)
        return ToolOutput.json(.object(["restarted": .string(container), "server": .string(server.name)]))
    }

    // MARK: Automation

    /// Diagnose runbooks only read (certificates, DNS, disk use, logs, health checks): the tool does
    /// not change the homelab, so it runs without approval. Starting one records a runbook run
    /// (and installs the shipped copy on first use), audited by the automation service as usual.
    static let runDiagnoseRunbook = AgentTool(
        name: "run_diagnose_runbook",
        description: "Runs one of the shipped read-only diagnose runbooks and returns its outcome and log. Inputs: diagnose-tls {host, port?, min_days?}, diagnose-dns {name, ...}, diagnose-service-health {check}, diagnose-endpoint-health {url}, diagnose-disk-usage, diagnose-recent-errors (see each runbook's inputs).",
        parameters: schema(["runbook": .object(["type": "string", "enum": .list(diagnoseRunbooks.map { .string($0) }), "description": "Which diagnose runbook"]),
                            "inputs": .object(["type": "object", "description": "The runbook's inputs, e.g. {\"host\": \"nas.lan\"}"])],
                           required: ["runbook"]),
        changesSomething: false, kind: "built-in", functionID: nil
    ) { arguments, context in
        let automation = context.services.automation
        let name = arguments["runbook"]?.stringValue ?? ""
        let entries = try await automation.libraryEntries(by: context.actor)
        guard let entry = entries.first(where: { $0.name == name }) else { throw AgentToolFailure("There is no library runbook named \(name).") }
        let runbookID: UUID
        if let installed = entry.installedId {
            runbookID = installed
        } else {
            runbookID = try await automation.install(library: name, by: context.actor).id
        }
        let inputs = arguments["inputs"]?.objectValue ?? [:]
        let started = try await automation.start(runbookID, dryRun: false, inputs: inputs, by: context.actor)
        // Wait for the outcome (diagnose runbooks are quick), but never past the agent's deadline.
        let until = min(context.deadline, .now + .seconds(90))
        var detail = try await automation.run(started.id, by: context.actor)
        while !detail.run.status.isFinal, detail.run.status != .waitingApproval, ContinuousClock.now < until {
            try await Task.sleep(for: .milliseconds(300))
            detail = try await automation.run(started.id, by: context.actor)
        }
        var result: [String: TemplateValue] = ["runbook": .string(name), "runId": .string(started.id.uuidString), "status": .string(detail.run.status.rawValue)]
        if let error = detail.run.error { result["error"] = .string(error) }
        if !detail.run.status.isFinal { result["note"] = "still running; its outcome will be on the runbook run page" }
        result["steps"] = .list(detail.steps.map { step in
            var item: [String: TemplateValue] = ["name": .string(step.name), "status": .string(step.status.rawValue)]
            if let error = step.error { item["error"] = .string(error) }
            if let output = step.output { item["output"] = output }
            return .object(item)
        })
        result["log"] = .list(detail.log.suffix(40).map { .string($0.line) })
        return ToolOutput.json(.object(result))
    }

    // MARK: Monitoring

    static let listIncidents = AgentTool(
        name: "list_incidents", description: "Lists monitoring incidents, newest first: check, severity, status, message and times.",
        parameters: schema(["status": .object(["type": "string", "enum": ["open", "resolved", "all"], "description": "Which incidents (default open)"]),
                            "limit": integer("At most this many (default 20)", minimum: 1, maximum: 50)]),
        changesSomething: false, kind: "built-in", functionID: nil
    ) { arguments, context in
        let filter = IncidentStatusFilter(rawValue: arguments["status"]?.stringValue ?? "open") ?? .open
        let incidents = try await context.services.monitoring.incidents(status: filter, limit: arguments["limit"]?.wholeNumber ?? 20, by: context.actor)
        let formatter = ISO8601DateFormatter()
        return ToolOutput.json(ToolOutput.list("incidents", incidents.map { incident in
            var item: [String: TemplateValue] = ["check": .string(incident.check), "severity": .string(incident.severity.rawValue),
                                                 "status": .string(incident.status.rawValue), "message": .string(String(incident.message.prefix(300))),
                                                 "openedAt": .string(formatter.string(from: incident.openedAt))]
            if let resolved = incident.resolvedAt { item["resolvedAt"] = .string(formatter.string(from: resolved)) }
            if let by = incident.acknowledgedBy { item["acknowledgedBy"] = .string(by) }
            return .object(item)
        }, max: 50))
    }

    static let checkCertificate = AgentTool(
        name: "check_certificate", description: "Connects to a host over TLS and says how many days its certificate has left and when it expires.",
        parameters: schema(["host": string("The host name, e.g. nas.example.org", maxLength: 253),
                            "port": integer("The TLS port (default 443)", minimum: 1, maximum: 65535)], required: ["host"]),
        changesSomething: false, kind: "built-in", functionID: nil
    ) { arguments, context in
        try context.actor.require(.viewer)
        let host = arguments["host"]?.stringValue ?? ""
        guard host.first != "-", host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:".contains($0)) }) else {
            throw AgentToolFailure("'\(host.prefix(60))' is not a host name.")
        }
        let port = arguments["port"]?.wholeNumber ?? 443
        let probe = TLSProbe(target: HostPort(host: host, port: port), warnDays: 0, timeout: .seconds(min(15, context.secondsLeft)))
        let expiry: Date
        do {
            expiry = try await probe.expiry()
        } catch {
            throw AgentToolFailure("\(host):\(port): \(TCPProbe.describe(error))")
        }
        let days = Int(floor(expiry.timeIntervalSinceNow / 86_400))
        return ToolOutput.json(.object(["host": .string(host), "port": .number(Double(port)), "daysLeft": .number(Double(days)),
                                        "expiresAt": .string(ISO8601DateFormatter().string(from: expiry)), "expired": .bool(expiry <= Date())]))
    }
}
