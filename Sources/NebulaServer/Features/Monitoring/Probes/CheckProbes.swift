import AsyncHTTPClient
import DNSProviders
import DockerEngine
import Fluent
import Foundation
import HostMetrics
import NebulaCore

/// Runs one check of any kind. Holds the one `HTTPClient` every HTTP check shares (connection
/// pools per host, no client per probe); it is shut down with the scheduler.
final class CheckProbes: Sendable {
    let db: any Database
    let containers: ContainersService
    let http: HTTPClient

    init(db: any Database, containers: ContainersService) {
        self.db = db
        self.containers = containers
        var configuration = HTTPClient.Configuration()
        // Redirects are followed by HTTPProbe itself, per check.
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        configuration.decompression = .enabled(limit: .ratio(20))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    func run(_ check: CheckConfig, now: Date = Date()) async -> ProbeOutcome {
        let timeout = Duration.seconds(check.timeout)
        let spec = check.spec
        switch check.kind {
        case .http:
            return await HTTPProbe(spec: spec, timeout: timeout).run(using: http)
        case .tcp:
            return await TCPProbe(target: HostPort(host: spec.host ?? "", port: spec.port ?? 0), timeout: timeout).run()
        case .tls:
            return await TLSProbe(target: HostPort(host: spec.host ?? "", port: spec.port ?? 443), warnDays: spec.warnDays ?? 14, timeout: timeout).run(now: now)
        case .dns:
            return await DNSProbe(name: spec.recordName ?? "", type: DNSQuery.RecordType(rawValue: spec.recordType ?? "A") ?? .A, expected: spec.expected ?? [],
                                  resolver: spec.resolver.flatMap { HostPort(parsing: $0, defaultPort: 53) }, timeout: timeout).run()
        case .container:
            return await containerProbe(server: spec.serverId, container: spec.container ?? "", timeout: timeout)
        case .metric:
            return await metricProbe(spec, now: now)
        case .heartbeat:
            return await heartbeatProbe(server: spec.serverId, maxSilence: spec.maxSilenceSeconds ?? 60, now: now)
        }
    }

    // MARK: Container

    /// Running, and healthy when the container has a health check; read through the server's
    /// engine (the local Docker or the node's agent).
    private func containerProbe(server: UUID?, container: String, timeout: Duration) async -> ProbeOutcome {
        guard let server else { return .down("no server chosen") }
        let start = ContinuousClock.now
        do {
            let details = try await withProbeTimeout(timeout) { [containers] in
                try await containers.inspect(container, on: server, by: .system("monitoring"))
            }
            let latency = elapsedMs(since: start)
            guard details.running else {
                return .down("\(details.name) is \(details.state)" + (details.exitCode != 0 ? " (exit code \(details.exitCode))" : ""), latencyMs: latency)
            }
            if details.paused { return .down("\(details.name) is paused", latencyMs: latency) }
            switch details.health {
            case .none: return .up("\(details.name) is running", latencyMs: latency)
            case .healthy?: return .up("\(details.name) is running and healthy", latencyMs: latency)
            case .starting?: return .down("\(details.name) is running; its health check is still starting", latencyMs: latency)
            case .unhealthy?: return .down("\(details.name) is running but unhealthy", latencyMs: latency)
            }
        } catch let error as NebulaError {
            return .down(error.status == .notFound ? "no container named \(container)" : error.message, latencyMs: elapsedMs(since: start))
        } catch let timeout as ProbeTimeout {
            return .down("the node did not answer: \(timeout.description)", latencyMs: elapsedMs(since: start))
        } catch {
            return .down("\(error)", latencyMs: elapsedMs(since: start))
        }
    }

    // MARK: Metric

    /// Down while the metric is beyond the threshold in every reading of the last
    /// `sustainedMinutes` (the newest reading alone when 0), so a short spike does not count.
    private func metricProbe(_ spec: CheckSpec, now: Date) async -> ProbeOutcome {
        guard let serverID = spec.serverId, let metric = spec.metric, let threshold = spec.threshold else { return .down("incomplete metric check") }
        let comparison = spec.comparison ?? ">"
        // Per-mount disk usage is only in the newest full sample, so it is judged on that one reading.
        let perMount = metric == "disk" && spec.mount != nil
        let minutes = perMount ? 0 : spec.sustainedMinutes ?? 0
        do {
            guard let server = try await ServerRecord.find(serverID, on: db) else { return .down("the server no longer exists") }
            var values: [(at: Date, value: Double)] = []
            if perMount, let mount = spec.mount {
                guard let sample = server.latestSample.flatMap(FleetService.decodeSample) else { return .down("\(server.name) has reported no readings yet") }
                guard let filesystem = sample.filesystems.first(where: { $0.mountPoint == mount }), filesystem.totalBytes > 0 else {
                    return .down("\(server.name) has no filesystem mounted at \(mount)")
                }
                values = [(sample.timestamp, Double(filesystem.usedBytes) / Double(filesystem.totalBytes) * 100)]
            } else {
                let query = MetricSampleRecord.query(on: db).filter(\.$serverID == serverID)
                if minutes > 0 {
                    query.filter(\.$at >= now.addingTimeInterval(-Double(minutes) * 60)).sort(\.$at, .ascending).limit(2000)
                } else {
                    query.sort(\.$at, .descending).limit(1)
                }
                values = try await query.all().compactMap { row in Self.value(of: metric, in: row).map { (row.at, $0) } }
            }
            guard let newest = values.max(by: { $0.at < $1.at }) else {
                return .down("\(server.name) has no \(metric) readings" + (minutes > 0 ? " in the last \(minutes) min" : ""))
            }
            let unit = metric == "temperature" ? " °C" : "%"
            let shown = "\(metric) \(CheckRules.format((newest.value * 10).rounded() / 10))\(unit)"
            let breaching = values.allSatisfy { Self.compare($0.value, comparison, threshold) }
            // "Sustained" needs readings covering the window, not one reading that happens to be in it.
            let covered = minutes == 0 || (values.map(\.at).min().map { now.timeIntervalSince($0) >= Double(minutes) * 60 * 0.8 } ?? false)
            if breaching && covered {
                return .down("\(shown) \(comparison) \(CheckRules.format(threshold))\(unit)" + (minutes > 0 ? " for \(minutes) min" : ""))
            }
            return .up(shown)
        } catch {
            return .down("cannot read metrics: \(error)")
        }
    }

    static func value(of metric: String, in row: MetricSampleRecord) -> Double? {
        switch metric {
        case "cpu": return row.cpu.map { $0 * 100 }
        case "memory": return row.memoryTotal > 0 ? Double(row.memoryUsed) / Double(row.memoryTotal) * 100 : nil
        case "disk": return row.diskTotal > 0 ? Double(row.diskUsed) / Double(row.diskTotal) * 100 : nil
        case "temperature": return row.temperature
        default: return nil
        }
    }

    static func compare(_ value: Double, _ comparison: String, _ threshold: Double) -> Bool {
        switch comparison {
        case ">=": value >= threshold
        case "<": value < threshold
        case "<=": value <= threshold
        default: value > threshold
        }
    }

    // MARK: Heartbeat

    private func heartbeatProbe(server id: UUID?, maxSilence: Int, now: Date) async -> ProbeOutcome {
        guard let id else { return .down("no server chosen") }
        do {
            guard let server = try await ServerRecord.find(id, on: db) else { return .down("the server no longer exists") }
            guard let seen = server.lastSeenAt else { return .down("\(server.name) has never reported") }
            let silence = Int(now.timeIntervalSince(seen).rounded())
            if silence > maxSilence { return .down("\(server.name) last reported \(silence) s ago (more than \(maxSilence) s)") }
            return .up("\(server.name) reported \(max(silence, 0)) s ago")
        } catch {
            return .down("cannot read the server: \(error)")
        }
    }
}

extension HTTPProbe {
    /// The probe an `http` check's stored settings describe.
    init(spec: CheckSpec, timeout: Duration) {
        self.init(url: spec.url ?? "", method: Method(rawValue: spec.method ?? "GET") ?? .GET,
                  expectedStatus: spec.expectedStatus.flatMap(StatusRanges.init(parsing:)) ?? .success,
                  keyword: spec.keyword, keywordAbsent: spec.keywordAbsent ?? false, maxLatencyMs: spec.maxLatencyMs,
                  followRedirects: spec.followRedirects ?? true, ignoreTLSErrors: spec.ignoreTLSErrors ?? false, timeout: timeout)
    }
}
