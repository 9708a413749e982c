import DNSProviders
import Fluent
import Foundation
import Logging
import NebulaCore

/// Dynamic DNS: find the public address, point the records marked `dynamic` at it, push the
/// domains that changed. Runs on a timer in the process that runs jobs, and on demand.
extension DomainsService {
    static let defaultIPEndpoints = ["https://api.ipify.org", "https://api6.ipify.org", "https://icanhazip.com"]
    static let defaultDynamicInterval = 5

    func dynamicSettings(by actor: Actor) async throws -> DynamicDNSSettingsDTO {
        try actor.require(.viewer)
        return try await dynamicDTO(try await dynamicRecord())
    }

    func updateDynamicSettings(_ input: DynamicDNSInput, by actor: Actor) async throws -> DynamicDNSSettingsDTO {
        try actor.require(.operator)
        let record = try await dynamicRecord()
        if let endpoints = input.endpoints {
            let cleaned = endpoints.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !cleaned.isEmpty, cleaned.count <= 10 else {
                throw NebulaError.unprocessable("Give 1 to 10 endpoints that answer with the public IP (e.g. https://api.ipify.org).", code: "invalid_endpoints")
            }
            for endpoint in cleaned {
                guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
                    throw NebulaError.unprocessable("'\(endpoint)' is not an http(s) URL.", code: "invalid_endpoints")
                }
            }
            record.endpoints = try Self.json(cleaned)
        }
        if let minutes = input.intervalMinutes {
            guard (1...1440).contains(minutes) else {
                throw NebulaError.unprocessable("The interval is 1 to 1440 minutes.", code: "invalid_interval")
            }
            record.intervalMinutes = minutes
        }
        if let enabled = input.enabled { record.enabled = enabled }
        try await record.save(on: db)
        try await audit.record("dns.dynamic.settings", target: "dns:dynamic", by: actor, detail: record.enabled ? "enabled" : "disabled")
        return try await dynamicDTO(record)
    }

    /// Detects the public address(es) the dynamic records need and updates the records that differ.
    /// A run someone asked for is audited; the timer's runs only when they change something.
    func runDynamicDNS(by actor: Actor, audited: Bool = true) async throws -> DynamicDNSRunOutcome {
        try actor.require(.operator)
        let settings = try await dynamicRecord()
        let rows = try await DNSRecordRow.query(on: db).filter(\.$dynamic == true).all()
        let endpoints = Self.list(settings.endpoints).compactMap(URL.init(string:))
        let detector = PublicIPDetector(endpoints: endpoints, httpClient: httpClient, timeout: .seconds(10))
        var errors: [String] = []
        var addresses: [DNSRecordType: String] = [:]
        for (type, family) in [(DNSRecordType.A, IPFamily.v4), (.AAAA, .v6)] where rows.contains(where: { $0.type == type.rawValue }) {
            do {
                addresses[type] = try await detector.detect(family)
            } catch {
                errors.append("IP\(family.rawValue): \(error.message)")
            }
        }
        var updated: [DNSRecordRow] = []
        var domains: Set<UUID> = []
        for row in rows {
            guard let type = DNSRecordType(rawValue: row.type), let address = addresses[type], row.content != address else { continue }
            let domainID = row.$domain.id
            // Another record with the new address would collide with the unique index: drop the stale one instead.
            let duplicate = try await DNSRecordRow.query(on: db).filter(\.$domain.$id == domainID).filter(\.$name == row.name)
                .filter(\.$type == row.type).filter(\.$content == address).first()
            let stale = duplicate != nil
            if !stale { row.content = address }
            try await db.transaction { tx in
                if stale {
                    try await row.delete(on: tx)
                } else {
                    try await row.update(on: tx)
                }
                guard let domain = try await DomainRecord.find(domainID, on: tx) else { return }
                domain.revision += 1
                try await domain.update(on: tx)
            }
            if !stale { updated.append(row) }
            domains.insert(domainID)
        }
        var pushed: [String] = []
        for domainID in domains {
            guard let domain = try await DomainRecord.find(domainID, on: db) else { continue }
            try await audit.record("dns.dynamic.update", target: "domain:\(domain.name)", by: actor,
                                   detail: addresses.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) → \($0.value)" }.joined(separator: ", "))
            await events.publish(.dnsRecordsChanged, actor: actor.username, subject: "domain:\(domain.name)", data: ["change": "dynamic"])
            guard (try? Self.kind(domain)) != .manual else { continue }
            do {
                _ = try await push(domainID, by: actor)
                pushed.append(domain.name)
            } catch let error as NebulaError {
                errors.append("\(domain.name): \(error.message)")
            }
        }
        let previous4 = settings.lastIPv4, previous6 = settings.lastIPv6
        if let v4 = addresses[.A] { settings.lastIPv4 = v4 }
        if let v6 = addresses[.AAAA] { settings.lastIPv6 = v6 }
        settings.lastCheckedAt = now()
        if !updated.isEmpty { settings.lastChangedAt = now() }
        settings.lastError = errors.isEmpty ? nil : errors.joined(separator: "; ")
        try await settings.save(on: db)
        for (family, old, new) in [("v4", previous4, settings.lastIPv4), ("v6", previous6, settings.lastIPv6)] where new != nil && new != old {
            await events.publish(.dnsPublicIPChanged, actor: actor.username, subject: "dns:dynamic",
                                 data: ["family": family, "address": new ?? "", "previous": old ?? ""])
        }
        if audited {
            try await audit.record("dns.dynamic.run", target: "dns:dynamic", outcome: errors.isEmpty ? .success : .failure, by: actor,
                                   detail: "\(updated.count) record(s) updated" + (errors.isEmpty ? "" : "; " + errors.joined(separator: "; ")))
        }
        return DynamicDNSRunOutcome(ipv4: addresses[.A], ipv6: addresses[.AAAA], updated: updated.map(Self.dto), pushed: pushed.sorted(), errors: errors)
    }

    /// The settings row, created with the defaults the first time.
    func dynamicRecord() async throws -> DynamicDNSSettingsRecord {
        if let record = try await DynamicDNSSettingsRecord.find(DynamicDNSSettingsRecord.singleton, on: db) { return record }
        let record = DynamicDNSSettingsRecord()
        record.id = DynamicDNSSettingsRecord.singleton
        record.enabled = false
        record.endpoints = try Self.json(Self.defaultIPEndpoints)
        record.intervalMinutes = Self.defaultDynamicInterval
        return record
    }

    private func dynamicDTO(_ record: DynamicDNSSettingsRecord) async throws -> DynamicDNSSettingsDTO {
        let count = try await DNSRecordRow.query(on: db).filter(\.$dynamic == true).count()
        return DynamicDNSSettingsDTO(enabled: record.enabled, endpoints: Self.list(record.endpoints), intervalMinutes: record.intervalMinutes,
                                     lastIPv4: record.lastIPv4, lastIPv6: record.lastIPv6, lastCheckedAt: record.lastCheckedAt,
                                     lastChangedAt: record.lastChangedAt, lastError: record.lastError, dynamicRecords: count)
    }
}

/// Runs dynamic DNS every `intervalMinutes` while it is enabled and some record follows the
/// public IP. Started only in processes that run jobs, so replicas do not all ask at once.
final class DynamicDNSScheduler: Sendable {
    let domains: DomainsService
    let logger: Logger
    private let loop = BackgroundTask()

    init(domains: DomainsService, logger: Logger) {
        self.domains = domains
        self.logger = logger
    }

    func start() {
        loop.start { [self] in
            while !Task.isCancelled {
                let wait = await tick()
                try? await Task.sleep(for: wait)
            }
        }
    }

    func stop() async {
        await loop.stop()
    }

    /// One pass: runs when enabled and due; answers how long to sleep before the next look.
    func tick() async -> Duration {
        do {
            let settings = try await domains.dynamicRecord()
            let interval = Duration.seconds(60 * max(1, settings.intervalMinutes))
            guard settings.enabled else { return .seconds(60) }
            if let last = settings.lastCheckedAt, domains.now().timeIntervalSince(last) < Double(60 * settings.intervalMinutes) - 5 {
                return .seconds(max(5, Double(60 * settings.intervalMinutes) - domains.now().timeIntervalSince(last)))
            }
            let outcome = try await domains.runDynamicDNS(by: .system(), audited: false)
            if !outcome.errors.isEmpty { logger.warning("dynamic DNS: \(outcome.errors.joined(separator: "; "))") }
            return interval
        } catch {
            logger.warning("dynamic DNS failed: \(String(reflecting: error))")
            return .seconds(60)
        }
    }
}
