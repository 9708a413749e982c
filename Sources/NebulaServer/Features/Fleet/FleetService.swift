import Fluent
import Foundation
import HostMetrics
import NebulaAgent
import NebulaCore

/// The server registry, metric ingest and history, and online/offline tracking.
struct FleetService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    /// How often nodes report; a node is offline after three missed reports.
    let interval: Duration

    // MARK: Registry

    struct ServerInput: Sendable {
        var name: String?
        var connection: ServerConnection?
        var address: String?
        var port: Int?
        var username: String?
        var tags: [String]?
        /// Empty string clears Wake-on-LAN.
        var macAddress: String?
        var wakeBroadcast: String?
        var wakePort: Int?
        /// Absolute folders the file browser may show; empty turns it off.
        var fileRoots: [String]?
    }

    func list(by actor: Actor) async throws -> ListPage<ServerDTO> {
        try actor.require(.viewer)
        let servers = try await ServerRecord.query(on: db).sort(\.$name).all()
        // The local node first, then by name.
        let ordered = servers.filter { $0.connection == .local } + servers.filter { $0.connection != .local }
        return ListPage(items: ordered.map(ServerDTO.init), total: servers.count)
    }

    func find(_ id: UUID, by actor: Actor) async throws -> ServerDTO {
        try actor.require(.viewer)
        return ServerDTO(try await record(id))
    }

    func create(_ input: ServerInput, by actor: Actor) async throws -> ServerDTO {
        try actor.require(.operator)
        let server = ServerRecord()
        server.status = .unknown
        try apply(input, to: server, creating: true)
        try await save(server, action: "server.create", by: actor)
        await events.publish(.serverCreated, actor: actor.username, subject: "server:\(server.name)", data: ["connection": server.connection.rawValue])
        return ServerDTO(server)
    }

    func update(_ id: UUID, _ input: ServerInput, by actor: Actor) async throws -> ServerDTO {
        try actor.require(.operator)
        let server = try await record(id)
        try apply(input, to: server, creating: false)
        try await save(server, action: "server.update", by: actor)
        await events.publish(.serverUpdated, actor: actor.username, subject: "server:\(server.name)")
        return ServerDTO(server)
    }

    func delete(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let server = try await record(id)
        guard server.connection != .local else {
            throw NebulaError.conflict("The local node cannot be removed; set NEBULA_LOCAL_AGENT=false to stop measuring it.", code: "local_server")
        }
        try await server.delete(on: db)
        try await audit.record("server.delete", target: "server:\(server.name)", by: actor)
        await events.publish(.serverDeleted, actor: actor.username, subject: "server:\(server.name)")
    }

    /// The machine running the control plane, registered on first start under its host name.
    func ensureLocalServer(hostName: String) async throws -> UUID {
        if let existing = try await ServerRecord.query(on: db).filter(\.$connection == .local).first() {
            return try existing.requireID()
        }
        let server = ServerRecord()
        var name = Self.sanitizedName(hostName)
        if try await ServerRecord.query(on: db).filter(\.$name == name).first() != nil { name += "-local" }
        server.name = name
        server.connection = .local
        server.tags = "[\"local\"]"
        server.status = .unknown
        try await server.create(on: db)
        try await audit.record("server.create", target: "server:\(name)", by: .system("fleet"), detail: "the local node")
        await events.publish(.serverCreated, actor: "system", subject: "server:\(name)", data: ["connection": "local"])
        return try server.requireID()
    }

    // MARK: Metrics

    /// Stores a sample, marks the server online, and broadcasts the headline numbers live.
    func ingest(_ sample: HostSample, for id: UUID) async throws {
        let server = try await record(id)
        let latest = LatestMetrics(sample)
        let row = MetricSampleRecord()
        row.serverID = id
        row.at = sample.timestamp
        row.cpu = latest.cpu
        row.memoryUsed = Int64(clamping: latest.memoryUsedBytes)
        row.memoryTotal = Int64(clamping: latest.memoryTotalBytes)
        row.swapUsed = Int64(clamping: latest.swapUsedBytes)
        row.diskUsed = Int64(clamping: latest.diskUsedBytes)
        row.diskTotal = Int64(clamping: latest.diskTotalBytes)
        row.netRx = latest.networkReceiveBytesPerSecond
        row.netTx = latest.networkSendBytesPerSecond
        row.diskRead = latest.diskReadBytesPerSecond
        row.diskWrite = latest.diskWriteBytesPerSecond
        row.load1 = latest.load1
        row.temperature = latest.temperature
        row.gpu = latest.gpu
        try await row.create(on: db)
        let cameOnline = server.status != .online
        server.status = .online
        server.lastSeenAt = sample.timestamp
        server.latestSample = Self.encodeSample(sample)
        server.latestMetrics = Self.encodeLatest(latest)
        try await server.update(on: db)
        if cameOnline {
            await events.publish(.serverOnline, subject: "server:\(server.name)", data: ["id": id.uuidString])
        }
        var data = latest.eventData
        data["id"] = id.uuidString
        await events.broadcast(.serverMetrics, subject: "server:\(server.name)", data: data)
    }

    /// What an agent says about itself when it connects.
    func recordHello(serverID: UUID, version: String?, hardware: HardwareProfile?) async throws {
        let server = try await record(serverID)
        server.agentVersion = version.map { String($0.prefix(32)) }
        if let hardware {
            let encoder = JSONEncoder()
            server.hardware = (try? encoder.encode(hardware)).map { String(decoding: $0, as: UTF8.self) }
        }
        try await server.update(on: db)
    }

    /// Marks servers that missed three reports offline (once, with an event).
    @discardableResult
    func markSilentServersOffline(now: Date = Date()) async throws -> [String] {
        let cutoff = now.addingTimeInterval(-3 * interval.seconds)
        let silent = try await ServerRecord.query(on: db)
            .filter(\.$status == .online)
            .filter(\.$lastSeenAt < cutoff)
            .all()
        for server in silent {
            server.status = .offline
            try await server.update(on: db)
            await events.publish(.serverOffline, subject: "server:\(server.name)",
                                 data: ["id": server.id?.uuidString ?? "", "lastSeenAt": server.lastSeenAt.map { ISO8601DateFormatter().string(from: $0) } ?? ""])
        }
        return silent.map(\.name)
    }

    /// Sample-weighted averages in `step`-long buckets over `range`, read from the coarsest history
    /// tier that still has a point per step (raw samples, minute or hour rollups).
    func series(for id: UUID, range: MetricsRange, step: Int?, now: Date = Date(), by actor: Actor) async throws -> MetricsSeries {
        try actor.require(.viewer)
        _ = try await record(id)
        let stepSeconds = max(step ?? range.defaultStepSeconds, 1)
        guard range.seconds / Double(stepSeconds) <= Double(MetricsRange.maximumPoints) else {
            throw NebulaError.invalid("A \(range.rawValue) chart has at most \(MetricsRange.maximumPoints) points: use a step of at least \(Int((range.seconds / Double(MetricsRange.maximumPoints)).rounded(.up))) s.", code: "invalid_step")
        }
        let from = now.addingTimeInterval(-range.seconds)
        let resolution = MetricResolution.fitting(step: stepSeconds, oldest: range.seconds)
        let points = try await history.points(for: id, from: from, to: now, resolution: resolution)
        // Buckets start at multiples of the step since 1970, so a point keeps its place between refreshes.
        var buckets: [Int: MetricAccumulator] = [:]
        for point in points {
            buckets[Int((point.at.timeIntervalSince1970 / Double(stepSeconds)).rounded(.down)), default: MetricAccumulator()].add(point)
        }
        let keys = buckets.keys.sorted()
        func series(_ value: (MetricAccumulator) -> Double?) -> [SeriesPoint] {
            keys.compactMap { key in
                guard let bucket = buckets[key], let v = value(bucket) else { return nil }
                return SeriesPoint(t: Date(timeIntervalSince1970: Double(key * stepSeconds)), v: v)
            }
        }
        func fraction(_ part: MetricColumn, _ whole: MetricColumn) -> (MetricAccumulator) -> Double? {
            { bucket in
                guard let part = bucket.average(part), let whole = bucket.average(whole), whole > 0 else { return nil }
                return part / whole
            }
        }
        func column(_ column: MetricColumn) -> (MetricAccumulator) -> Double? { { $0.average(column) } }
        return MetricsSeries(range: range.rawValue, stepSeconds: stepSeconds, from: from, to: now,
                             resolution: resolution.map { "\($0.seconds)s" } ?? "raw", series: [
            "cpu": series(column(.cpu)),
            "memory": series(fraction(.memoryUsed, .memoryTotal)),
            "swap": series(column(.swapUsed)),
            "disk": series(fraction(.diskUsed, .diskTotal)),
            "netRx": series(column(.netRx)),
            "netTx": series(column(.netTx)),
            "diskRead": series(column(.diskRead)),
            "diskWrite": series(column(.diskWrite)),
            "load": series(column(.load1)),
            "temperature": series(column(.temperature)),
            "gpu": series(column(.gpu)),
        ])
    }

    /// The last hour of CPU and memory of every server, in 2-minute steps, for the fleet cards'
    /// sparklines (read from minute rollups where they exist: one query for the whole fleet).
    func sparklines(now: Date = Date(), by actor: Actor) async throws -> [UUID: Sparkline] {
        try actor.require(.viewer)
        let step = 120.0
        let points = try await history.points(for: nil, from: now.addingTimeInterval(-3600), to: now, resolution: .minute)
        var buckets: [UUID: [Int: MetricAccumulator]] = [:]
        for point in points {
            buckets[point.server, default: [:]][Int((point.at.timeIntervalSince1970 / step).rounded(.down)), default: MetricAccumulator()].add(point)
        }
        return buckets.mapValues { byBucket in
            let keys = byBucket.keys.sorted()
            return Sparkline(
                cpu: keys.compactMap { byBucket[$0]?.average(.cpu) },
                memory: keys.compactMap { key in
                    guard let bucket = byBucket[key], let used = bucket.average(.memoryUsed), let total = bucket.average(.memoryTotal), total > 0 else { return nil }
                    return used / total
                })
        }
    }

    /// Raw samples, minute and hour rollups of every server.
    var history: MetricHistory { MetricHistory(db: db) }

    /// What the node reported about its hardware when it connected.
    func hardwareProfile(of id: UUID) async throws -> HardwareProfile? {
        try await record(id).hardware.flatMap { try? JSONDecoder().decode(HardwareProfile.self, from: Data($0.utf8)) }
    }

    /// The newest full sample of a server, for its page.
    func latestSample(of id: UUID) async throws -> HostSample? {
        try await record(id).latestSample.flatMap(Self.decodeSample)
    }

    // MARK: Helpers

    private func record(_ id: UUID) async throws -> ServerRecord {
        guard let server = try await ServerRecord.find(id, on: db) else { throw NebulaError.notFound("Server \(id)") }
        return server
    }

    private func save(_ server: ServerRecord, action: String, by actor: Actor) async throws {
        if let clash = try await ServerRecord.query(on: db).filter(\.$name == server.name).first(), clash.id != server.id {
            try await audit.record(action, target: "server:\(server.name)", outcome: .failure, by: actor, detail: "name taken")
            throw NebulaError.conflict("A server named '\(server.name)' already exists.", code: "server_exists")
        }
        do {
            try await server.save(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw NebulaError.conflict("A server named '\(server.name)' already exists.", code: "server_exists")
        }
        try await audit.record(action, target: "server:\(server.name)", by: actor)
    }

    private func apply(_ input: ServerInput, to server: ServerRecord, creating: Bool) throws(NebulaError) {
        if let name = input.name ?? (creating ? "" : nil) {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard (1...64).contains(trimmed.count), trimmed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || " ._-".contains($0)) }) else {
                throw .unprocessable("A server name is 1–64 letters, digits, spaces, '.', '_' or '-'.", code: "invalid_server_name")
            }
            server.name = trimmed
        }
        if creating {
            guard let connection = input.connection, connection != .local else {
                throw .unprocessable("connection is \"agent\" or \"ssh\".", code: "invalid_connection")
            }
            server.connection = connection
        } else if let connection = input.connection, connection != server.connection {
            throw .unprocessable("A server's connection cannot change; remove it and add it again.", code: "invalid_connection")
        }
        if let address = input.address {
            let trimmed = address.trimmingCharacters(in: .whitespaces)
            guard trimmed.isEmpty || (trimmed.count <= 253 && trimmed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) })) else {
                throw .unprocessable("The address is a host name or an IP address.", code: "invalid_address")
            }
            server.address = trimmed.isEmpty ? nil : trimmed
        }
        if let port = input.port {
            guard (1...65535).contains(port) else { throw .unprocessable("The port is 1–65535.", code: "invalid_port") }
            server.port = port
        }
        if let username = input.username {
            let trimmed = username.trimmingCharacters(in: .whitespaces)
            guard trimmed.isEmpty || (trimmed.count <= 32 && trimmed.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "_-.".contains($0)) })) else {
                throw .unprocessable("The SSH user is up to 32 lower-case letters, digits, '_', '-' or '.'.", code: "invalid_username")
            }
            server.username = trimmed.isEmpty ? nil : trimmed
        }
        if let tags = input.tags {
            let cleaned = Array(Set(tags.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty })).sorted()
            guard cleaned.count <= 20, cleaned.allSatisfy({ $0.count <= 32 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) } }) else {
                throw .unprocessable("Up to 20 tags of 1–32 letters, digits, '-', '_' or '.'.", code: "invalid_tags")
            }
            server.tags = (try? String(decoding: JSONEncoder().encode(cleaned), as: UTF8.self)) ?? "[]"
        } else if creating {
            server.tags = "[]"
        }
        if let mac = input.macAddress {
            let trimmed = mac.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty {
                server.macAddress = nil
            } else {
                guard let parsed = MACAddress(trimmed) else {
                    throw .unprocessable("The MAC address looks like aa:bb:cc:dd:ee:ff.", code: "invalid_mac_address")
                }
                server.macAddress = parsed.description
            }
        }
        if let broadcast = input.wakeBroadcast {
            let trimmed = broadcast.trimmingCharacters(in: .whitespaces)
            guard trimmed.isEmpty || IPv4Text.isValid(trimmed) else {
                throw .unprocessable("The broadcast address is an IPv4 address such as 192.168.1.255.", code: "invalid_broadcast")
            }
            server.wakeBroadcast = trimmed.isEmpty ? nil : trimmed
        }
        if let port = input.wakePort {
            guard (1...65535).contains(port) else { throw .unprocessable("The Wake-on-LAN port is 1–65535 (usually 9).", code: "invalid_wake_port") }
            server.wakePort = port
        }
        if let roots = input.fileRoots {
            let cleaned = roots.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            // Stored comma-separated, so a root cannot contain one.
            guard !cleaned.contains(where: { $0.contains(",") }) else {
                throw .unprocessable("A file root cannot contain a comma.", code: "invalid_file_roots")
            }
            do {
                let parsed = try FileRoots(cleaned)
                server.fileRoots = parsed.paths.isEmpty ? nil : parsed.paths.joined(separator: ",")
            } catch {
                throw .unprocessable(error.description, code: "invalid_file_roots")
            }
        }
        if server.connection == .ssh {
            guard server.address != nil else { throw .unprocessable("An SSH server needs an address.", code: "invalid_address") }
            if server.port == nil { server.port = 22 }
            if server.username == nil { server.username = "root" }
        }
    }

    static func sanitizedName(_ raw: String) -> String {
        let cleaned = String(raw.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }.prefix(64))
        return cleaned.isEmpty ? "this-machine" : cleaned
    }

    static func encodeSample(_ sample: HostSample) -> String? {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(sample)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func encodeLatest(_ latest: LatestMetrics) -> String? {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(latest)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func decodeLatest(_ text: String) -> LatestMetrics? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(LatestMetrics.self, from: Data(text.utf8))
    }

    static func decodeSample(_ text: String) -> HostSample? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(HostSample.self, from: Data(text.utf8))
    }
}

/// Dotted-quad IPv4 text, as `inet_pton` accepts it.
enum IPv4Text {
    static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            (1...3).contains(part.count) && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) && (Int(part) ?? 256) <= 255
        }
    }
}

/// The chart ranges the API and pages offer.
enum MetricsRange: String, Codable, Sendable, CaseIterable {
    case hour = "1h", day = "24h", week = "7d", month = "30d", year = "1y"

    var seconds: TimeInterval {
        switch self {
        case .hour: 3600
        case .day: 86400
        case .week: 7 * 86400
        case .month: 30 * 86400
        case .year: 365 * 86400
        }
    }

    /// 120 to 365 points per chart, on bucket widths that match a history tier.
    var defaultStepSeconds: Int {
        switch self {
        case .hour: 30
        case .day: 600
        case .week: 3600
        case .month: 6 * 3600
        case .year: 86400
        }
    }

    /// More points than a chart can show are refused rather than computed.
    static let maximumPoints = 2000
}
