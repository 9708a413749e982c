import AsyncHTTPClient
import DNSProviders
import Fluent
import Foundation
import NebulaCore
import Vapor

extension EventType {
    public static let domainCreated: EventType = "dns.domain_created"
    public static let domainUpdated: EventType = "dns.domain_updated"
    public static let domainDeleted: EventType = "dns.domain_deleted"
    /// Records of a domain changed in Nebula (not yet pushed). Data: domain, change.
    public static let dnsRecordsChanged: EventType = "dns.records_changed"
    /// Records were pushed to the provider. Data: domain, replaced, deleted.
    public static let dnsPushed: EventType = "dns.pushed"
    /// A push failed; nothing was changed at the provider. Data: domain, error.
    public static let dnsPushFailed: EventType = "dns.push_failed"
    /// Dynamic DNS found a new public address. Data: family, address, previous?.
    public static let dnsPublicIPChanged: EventType = "dns.public_ip_changed"
}

/// Domains and their DNS records. Records are edited in Nebula first; ``push(_:by:)`` makes the
/// provider match them in one atomic request, ``drift(_:by:)`` shows where the provider differs,
/// ``propagation(_:name:type:by:)`` asks the zone's authoritative servers what they answer.
/// Reading needs the viewer role; every change needs operator.
struct DomainsService: Sendable {
    let db: any Database
    let audit: AuditLog
    let events: EventBus
    let secrets: SecretsService
    let httpClient: HTTPClient
    var now: @Sendable () -> Date = { Date() }

    static let defaultTTL = 300
    static let maxRecordsPerDomain = 5000
    static let maxImportBytes = 2_000_000

    static func secretName(_ domain: String) -> String { "dns.\(domain)" }

    // MARK: Domains

    func domains(by actor: Actor) async throws -> [DomainDTO] {
        try actor.require(.viewer)
        let records = try await DomainRecord.query(on: db).sort(\.$name).all()
        var counts: [UUID: Int] = [:]
        for row in try await DNSRecordRow.query(on: db).all(\.$domain.$id) { counts[row, default: 0] += 1 }
        return try records.map { try Self.dto($0, recordCount: counts[$0.id ?? UUID()] ?? 0) }
    }

    func domain(_ id: UUID, by actor: Actor) async throws -> DomainDTO {
        try actor.require(.viewer)
        let record = try await domainRecord(id)
        return try await dto(record)
    }

    /// The domain whose zone holds `host` (the longest matching name), for apps and routes.
    func domain(holding host: String) async throws -> DomainRecord? {
        let all = try await DomainRecord.query(on: db).all()
        return all.filter { DNSName.isInZone(host, zone: $0.name) }.max { $0.name.count < $1.name.count }
    }

    func createDomain(_ input: DomainInput, by actor: Actor) async throws -> DomainDTO {
        try actor.require(.operator)
        guard let rawName = input.name, !rawName.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw NebulaError.unprocessable("Give the domain's name, e.g. example.com.", code: "invalid_name")
        }
        let name = try Self.zoneName(rawName)
        let kind = input.provider ?? .manual
        if try await DomainRecord.query(on: db).filter(\.$name == name).first() != nil {
            throw NebulaError.conflict("The domain \(name) already exists.", code: "name_taken")
        }
        let settings = try Self.settings(kind: kind, input: input, existing: nil)
        let secret = try Self.secret(kind: kind, given: input.secret, stored: nil)
        let ttl = try Self.ttl(input.defaultTTL ?? Self.defaultTTL)
        // Reach the provider before anything is saved: a wrong URL or key is reported now.
        if let provider = try makeProvider(kind: kind, settings: settings, secret: secret) {
            do {
                try await provider.ensureZone(name, nameservers: settings.nameservers?.compactMap { DNSServerAddress.parse($0)?.host } ?? [])
            } catch {
                throw Self.providerError(error, domain: name, doing: "setting up the zone")
            }
        }
        let record = DomainRecord()
        record.name = name
        record.provider = kind.rawValue
        record.settings = try Self.json(settings)
        record.hasSecret = secret != nil
        record.defaultTTL = ttl
        record.pushedSets = "[]"
        record.revision = 0
        record.pushedRevision = 0
        record.createdBy = actor.username
        if let secret {
            _ = try await secrets.store(name: Self.secretName(name), value: secret,
                                        description: "DNS provider \(kind.label) for \(name): \(kind.secretRole ?? "")", replace: true, by: actor)
        }
        try await record.create(on: db)
        try await audit.record("dns.domain.create", target: "domain:\(name)", by: actor, detail: kind.rawValue)
        await events.publish(.domainCreated, actor: actor.username, subject: "domain:\(name)", data: ["provider": kind.rawValue])
        if input.importExisting == true, kind != .manual {
            _ = try await importFromProvider(try record.requireID(), by: actor)
        }
        return try await dto(record)
    }

    func updateDomain(_ id: UUID, _ input: DomainInput, by actor: Actor) async throws -> DomainDTO {
        try actor.require(.operator)
        let record = try await domainRecord(id)
        if let name = input.name, (try? Self.zoneName(name)) != record.name {
            throw NebulaError.unprocessable("A domain's name cannot change; add the other domain instead.", code: "name_immutable")
        }
        let kind = try Self.kind(record)
        if let given = input.provider, given != kind {
            throw NebulaError.unprocessable("A domain's provider cannot change in place; export its records, delete it and add it again with the new provider.",
                                            code: "provider_immutable")
        }
        let existing = try Self.decodeSettings(record.settings)
        let settings = try Self.settings(kind: kind, input: input, existing: existing)
        let stored = record.hasSecret ? try await secrets.value(of: Self.secretName(record.name)) : nil
        let secret = try Self.secret(kind: kind, given: input.secret, stored: stored)
        if let ttl = input.defaultTTL { record.defaultTTL = try Self.ttl(ttl) }
        if let secret, secret != stored {
            _ = try await secrets.store(name: Self.secretName(record.name), value: secret,
                                        description: "DNS provider \(kind.label) for \(record.name): \(kind.secretRole ?? "")", replace: true, by: actor)
        }
        record.settings = try Self.json(settings)
        record.hasSecret = secret != nil
        try await record.update(on: db)
        try await audit.record("dns.domain.update", target: "domain:\(record.name)", by: actor)
        await events.publish(.domainUpdated, actor: actor.username, subject: "domain:\(record.name)")
        return try await dto(record)
    }

    /// Forgets the domain and its records in Nebula; the provider's zone is left as it is.
    func deleteDomain(_ id: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let record = try await domainRecord(id)
        try await db.transaction { tx in
            try await DNSRecordRow.query(on: tx).filter(\.$domain.$id == id).delete()
            try await record.delete(on: tx)
        }
        if record.hasSecret { try? await secrets.delete(name: Self.secretName(record.name), by: actor) }
        try await audit.record("dns.domain.delete", target: "domain:\(record.name)", by: actor)
        await events.publish(.domainDeleted, actor: actor.username, subject: "domain:\(record.name)")
    }

    // MARK: Records

    func records(of domainID: UUID, by actor: Actor) async throws -> [DNSRecordDTO] {
        try actor.require(.viewer)
        _ = try await domainRecord(domainID)
        return try await rows(of: domainID).map(Self.dto)
    }

    func createRecord(in domainID: UUID, _ input: DNSRecordInput, by actor: Actor) async throws -> DNSRecordDTO {
        try actor.require(.operator)
        let domain = try await domainRecord(domainID)
        let record = try Self.validRecord(input, zone: domain.name, defaultTTL: domain.defaultTTL)
        let existing = try await rows(of: domainID)
        guard existing.count < Self.maxRecordsPerDomain else {
            throw NebulaError.unprocessable("\(domain.name) already has \(Self.maxRecordsPerDomain) records, the most Nebula manages per domain.", code: "too_many_records")
        }
        if existing.contains(where: { Self.key($0) == Self.key(record) && $0.content == record.content }) {
            throw NebulaError.conflict("\(record.name) already has the \(record.type.rawValue) record \(record.content).", code: "record_exists")
        }
        try Self.requireNoConflicts(existing.map(Self.plain) + [record], zone: domain.name)
        let row = DNSRecordRow()
        row.$domain.id = domainID
        Self.fill(row, with: record, input: input, existing: nil)
        row.createdBy = actor.username
        try await db.transaction { tx in
            try await row.create(on: tx)
            try await Self.bumpRevision(domainID, on: tx)
        }
        try await audit.record("dns.record.create", target: "domain:\(domain.name)", by: actor, detail: "\(record.type.rawValue) \(record.name)")
        await events.publish(.dnsRecordsChanged, actor: actor.username, subject: "domain:\(domain.name)", data: ["change": "created", "name": record.name, "type": record.type.rawValue])
        return Self.dto(row)
    }

    func updateRecord(in domainID: UUID, _ recordID: UUID, _ input: DNSRecordInput, by actor: Actor) async throws -> DNSRecordDTO {
        try actor.require(.operator)
        let domain = try await domainRecord(domainID)
        let existing = try await rows(of: domainID)
        guard let row = existing.first(where: { $0.id == recordID }) else { throw NebulaError.notFound("DNS record \(recordID)") }
        let merged = DNSRecordInput(name: input.name ?? row.name + ".", type: input.type ?? DNSRecordType(rawValue: row.type),
                                    content: input.content ?? row.content, ttl: input.ttl ?? row.ttl,
                                    dynamic: input.dynamic ?? row.dynamic, comment: input.comment ?? row.comment)
        let record = try Self.validRecord(merged, zone: domain.name, defaultTTL: domain.defaultTTL)
        let others = existing.filter { $0.id != recordID }
        if others.contains(where: { Self.key($0) == Self.key(record) && $0.content == record.content }) {
            throw NebulaError.conflict("\(record.name) already has the \(record.type.rawValue) record \(record.content).", code: "record_exists")
        }
        try Self.requireNoConflicts(others.map(Self.plain) + [record], zone: domain.name)
        Self.fill(row, with: record, input: merged, existing: row)
        try await db.transaction { tx in
            try await row.update(on: tx)
            try await Self.bumpRevision(domainID, on: tx)
        }
        try await audit.record("dns.record.update", target: "domain:\(domain.name)", by: actor, detail: "\(record.type.rawValue) \(record.name)")
        await events.publish(.dnsRecordsChanged, actor: actor.username, subject: "domain:\(domain.name)", data: ["change": "updated", "name": record.name, "type": record.type.rawValue])
        return Self.dto(row)
    }

    func deleteRecord(in domainID: UUID, _ recordID: UUID, by actor: Actor) async throws {
        try actor.require(.operator)
        let domain = try await domainRecord(domainID)
        guard let row = try await DNSRecordRow.query(on: db).filter(\.$id == recordID).filter(\.$domain.$id == domainID).first() else {
            throw NebulaError.notFound("DNS record \(recordID)")
        }
        try await db.transaction { tx in
            try await row.delete(on: tx)
            try await Self.bumpRevision(domainID, on: tx)
        }
        try await audit.record("dns.record.delete", target: "domain:\(domain.name)", by: actor, detail: "\(row.type) \(row.name)")
        await events.publish(.dnsRecordsChanged, actor: actor.username, subject: "domain:\(domain.name)", data: ["change": "deleted", "name": row.name, "type": row.type])
    }

    /// Adds (or, with `replacing`, sets) the records of one name and type in one step — what an
    /// app install asks for. Returns the records as stored.
    func ensureRecordSet(in domainID: UUID, name: String, type: DNSRecordType, contents: [String], by actor: Actor) async throws -> [DNSRecordDTO] {
        try actor.require(.operator)
        let domain = try await domainRecord(domainID)
        let wanted = try contents.map { try Self.validRecord(DNSRecordInput(name: name + ".", type: type, content: $0), zone: domain.name, defaultTTL: domain.defaultTTL) }
        guard let first = wanted.first else { return [] }
        let existing = try await rows(of: domainID)
        let others = existing.filter { Self.key($0) != Self.key(first) }
        try Self.requireNoConflicts(others.map(Self.plain) + wanted, zone: domain.name)
        let current = existing.filter { Self.key($0) == Self.key(first) }
        if Set(current.map(\.content)) == Set(wanted.map(\.content)) { return current.map(Self.dto) }
        let created = wanted.map { record in
            let row = DNSRecordRow()
            row.$domain.id = domainID
            Self.fill(row, with: record, input: DNSRecordInput(), existing: nil)
            row.createdBy = actor.username
            return row
        }
        try await db.transaction { tx in
            for row in current { try await row.delete(on: tx) }
            for row in created { try await row.create(on: tx) }
            try await Self.bumpRevision(domainID, on: tx)
        }
        try await audit.record("dns.record.set", target: "domain:\(domain.name)", by: actor, detail: "\(type.rawValue) \(first.name)")
        await events.publish(.dnsRecordsChanged, actor: actor.username, subject: "domain:\(domain.name)", data: ["change": "set", "name": first.name, "type": type.rawValue])
        return created.map(Self.dto)
    }

    /// Removes the records of `name` with one of `types` (what an uninstalled app published).
    /// Answers how many were removed.
    func removeRecords(in domainID: UUID, named name: String, types: [DNSRecordType], by actor: Actor) async throws -> Int {
        try actor.require(.operator)
        let domain = try await domainRecord(domainID)
        let wanted = Set(types.map(\.rawValue))
        let doomed = try await rows(of: domainID).filter { $0.name == name && wanted.contains($0.type) }
        guard !doomed.isEmpty else { return 0 }
        try await db.transaction { tx in
            for row in doomed { try await row.delete(on: tx) }
            try await Self.bumpRevision(domainID, on: tx)
        }
        try await audit.record("dns.record.delete", target: "domain:\(domain.name)", by: actor, detail: "\(name) (\(doomed.count) record(s))")
        await events.publish(.dnsRecordsChanged, actor: actor.username, subject: "domain:\(domain.name)", data: ["change": "deleted", "name": name])
        return doomed.count
    }

    // MARK: Provider

    /// Makes the provider match Nebula: every set Nebula has is replaced where it differs, sets
    /// Nebula pushed before and no longer has are deleted, everything else is left alone. One
    /// atomic request; when the provider refuses, nothing changed there and the error is kept.
    func push(_ domainID: UUID, by actor: Actor) async throws -> PushOutcome {
        try actor.require(.operator)
        let domain = try await domainRecord(domainID)
        let revision = domain.revision
        guard let provider = try await provider(for: domain) else {
            // A manual domain's records are changed at the DNS host by hand: "push" records that
            // the owner did so, which clears the pending-changes mark.
            domain.pushedRevision = revision
            domain.lastPushedAt = now()
            domain.lastPushError = nil
            try await domain.update(on: db)
            try await audit.record("dns.push", target: "domain:\(domain.name)", by: actor, detail: "manual: marked as published")
            await events.publish(.dnsPushed, actor: actor.username, subject: "domain:\(domain.name)", data: ["manual": "true"])
            return PushOutcome(domain: try await dto(domain), replaced: 0, deleted: 0, upToDate: true)
        }
        let desired = Self.sets(try await rows(of: domainID).map(Self.plain))
        let current: [String: DNSRRSet]
        do {
            current = Self.sets(try await provider.records(zone: domain.name))
        } catch {
            throw try await pushFailed(domain, error: error, by: actor)
        }
        var changes: [DNSRRSet] = []
        for (key, set) in desired where current[key].map({ !Self.same($0, set) }) ?? true { changes.append(set) }
        let previouslyPushed = Set(Self.list(domain.pushedSets))
        var deleted = 0
        for key in previouslyPushed.subtracting(desired.keys) {
            guard let gone = current[key] else { continue }
            changes.append(DNSRRSet(name: gone.name, type: gone.type, ttl: gone.ttl, contents: []))
            deleted += 1
        }
        changes.sort { ($0.name, $0.type.rawValue) < ($1.name, $1.type.rawValue) }
        if !changes.isEmpty {
            do {
                try await provider.replace(changes, zone: domain.name)
            } catch {
                throw try await pushFailed(domain, error: error, by: actor)
            }
        }
        domain.pushedSets = try Self.json(desired.keys.sorted())
        domain.pushedRevision = revision
        domain.lastPushedAt = now()
        domain.lastPushError = nil
        try await domain.update(on: db)
        try await audit.record("dns.push", target: "domain:\(domain.name)", by: actor, detail: "\(changes.count - deleted) replaced, \(deleted) deleted")
        await events.publish(.dnsPushed, actor: actor.username, subject: "domain:\(domain.name)",
                             data: ["replaced": String(changes.count - deleted), "deleted": String(deleted)])
        return PushOutcome(domain: try await dto(domain), replaced: changes.count - deleted, deleted: deleted, upToDate: changes.isEmpty)
    }

    private func pushFailed(_ domain: DomainRecord, error: any Error, by actor: Actor) async throws -> NebulaError {
        let failure = Self.providerError(error, domain: domain.name, doing: "pushing the records")
        domain.lastPushError = failure.message
        try await domain.update(on: db)
        try await audit.record("dns.push", target: "domain:\(domain.name)", outcome: .failure, by: actor, detail: failure.message)
        await events.publish(.dnsPushFailed, actor: actor.username, subject: "domain:\(domain.name)", data: ["error": failure.message])
        return failure
    }

    /// Compares Nebula's records with the provider's, set by set.
    func drift(_ domainID: UUID, by actor: Actor) async throws -> DriftReport {
        try actor.require(.viewer)
        let domain = try await domainRecord(domainID)
        guard let provider = try await provider(for: domain) else {
            throw NebulaError.conflict("\(domain.name) is a manual domain: there is no provider to compare with; use the propagation check instead.", code: "manual_domain")
        }
        let desired = Self.sets(try await rows(of: domainID).map(Self.plain))
        let current: [String: DNSRRSet]
        do {
            current = Self.sets(try await provider.records(zone: domain.name)).filter { !Self.isProviderOwned($0.value, zone: domain.name) || desired[$0.key] != nil }
        } catch {
            throw Self.providerError(error, domain: domain.name, doing: "reading the zone")
        }
        let onlyNebula = desired.filter { current[$0.key] == nil }.values.map(RecordSetDTO.init)
        let onlyProvider = current.filter { desired[$0.key] == nil }.values.map(RecordSetDTO.init)
        let different = desired.compactMap { key, set -> RecordSetDifference? in
            guard let other = current[key], !Self.same(set, other) else { return nil }
            return RecordSetDifference(nebula: RecordSetDTO(set), provider: RecordSetDTO(other))
        }
        let order: (RecordSetDTO, RecordSetDTO) -> Bool = { ($0.name, $0.type.rawValue) < ($1.name, $1.type.rawValue) }
        return DriftReport(domain: domain.name, checkedAt: now(), inSync: onlyNebula.isEmpty && onlyProvider.isEmpty && different.isEmpty,
                           onlyInNebula: onlyNebula.sorted(by: order), onlyAtProvider: onlyProvider.sorted(by: order),
                           different: different.sorted { order($0.nebula, $1.nebula) })
    }

    /// Copies the provider's records that Nebula does not have yet (SOA and the apex NS set, which
    /// the provider owns, are skipped). Records that would conflict with Nebula's are reported, not copied.
    func importFromProvider(_ domainID: UUID, by actor: Actor) async throws -> RecordsImportOutcome {
        try actor.require(.operator)
        let domain = try await domainRecord(domainID)
        guard let provider = try await provider(for: domain) else {
            throw NebulaError.conflict("\(domain.name) is a manual domain: import a JSON or CSV file of its records instead.", code: "manual_domain")
        }
        let found: [DNSRecord]
        do {
            found = try await provider.records(zone: domain.name)
        } catch {
            throw Self.providerError(error, domain: domain.name, doing: "reading the zone")
        }
        let incoming = found.filter { !Self.isProviderOwned(DNSRRSet(name: $0.name, type: $0.type, ttl: $0.ttl, contents: [$0.content]), zone: domain.name) }
            .map { PortableRecord(name: $0.name + ".", type: $0.type.rawValue, content: $0.content, ttl: $0.ttl) }
        let wasInSync = domain.pushedRevision == domain.revision
        let outcome = try await importRecords(domain, incoming.enumerated().map { ($0.offset + 1, $0.element) }, replace: false, dryRun: false,
                                              skipConflicting: true, by: actor)
        if outcome.applied {
            // What came from the provider is Nebula's to manage from now on.
            let keys = Set(Self.list(domain.pushedSets)).union(Self.sets(try await rows(of: domainID).map(Self.plain)).keys)
            domain.pushedSets = try Self.json(keys.sorted())
            // The copied records are at the provider already: a domain in sync before stays in sync.
            if wasInSync { domain.pushedRevision = domain.revision }
            try await domain.update(on: db)
        }
        return outcome
    }

    /// Asks each authoritative server of the zone for every record set Nebula has (or only
    /// `name`/`type`) and compares the answers with Nebula's records.
    func propagation(_ domainID: UUID, name: String? = nil, type: DNSRecordType? = nil, by actor: Actor) async throws -> [PropagationReport] {
        try actor.require(.viewer)
        let domain = try await domainRecord(domainID)
        let records = try await rows(of: domainID).map(Self.plain)
        var sets = Array(Self.sets(records).values)
        if let name {
            let wanted = try Self.fullName(name, zone: domain.name)
            sets = sets.filter { $0.name == wanted }
        }
        if let type { sets = sets.filter { $0.type == type } }
        let servers = try await nameservers(of: domain)
        guard !servers.isEmpty else {
            throw NebulaError.unprocessable("No authoritative servers to ask: \(domain.name) has no NS records this machine can resolve; set the domain's name servers.", code: "no_nameservers")
        }
        let checker = PropagationChecker(timeout: .seconds(5))
        var reports: [PropagationReport] = []
        for set in sets.sorted(by: { ($0.name, $0.type.rawValue) < ($1.name, $1.type.rawValue) }) {
            let results = await checker.check(name: set.name, type: set.type, expected: set.contents, servers: servers)
            reports.append(PropagationReport(name: set.name, type: set.type, expected: set.contents.sorted(),
                                             propagated: !results.isEmpty && results.allSatisfy(\.matches), results: results))
        }
        return reports
    }

    private func nameservers(of domain: DomainRecord) async throws -> [DNSServerAddress] {
        let configured = try Self.decodeSettings(domain.settings).nameservers ?? []
        if !configured.isEmpty { return configured.compactMap(DNSServerAddress.parse) }
        // The zone's delegation as this machine's resolver sees it.
        let answer = try? await DNSQuery.resolve(domain.name, type: .NS, server: DNSQuery.systemResolver(), timeout: .seconds(5))
        return (answer?.answers ?? []).filter { $0.type == DNSQuery.RecordType.NS.code }.map { DNSServerAddress(host: $0.value, port: 53) }
    }

    // MARK: Import and export

    func export(_ domainID: UUID, format: String, by actor: Actor) async throws -> (body: String, contentType: String, filename: String) {
        try actor.require(.viewer)
        let domain = try await domainRecord(domainID)
        let records = try await rows(of: domainID).map {
            PortableRecord(name: $0.name, type: $0.type, content: $0.content, ttl: $0.ttl, dynamic: $0.dynamic, comment: $0.comment)
        }
        switch format {
        case "json":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            let data = try encoder.encode(PortableZone(domain: domain.name, exportedAt: now(), records: records))
            return (String(decoding: data, as: UTF8.self), "application/json", "\(domain.name).records.json")
        case "csv":
            var lines = [RecordsCSV.header.joined(separator: ",")]
            for record in records {
                lines.append(RecordsCSV.line([record.name, record.type, record.content, String(record.ttl ?? domain.defaultTTL),
                                              record.dynamic == true ? "true" : "false", record.comment ?? ""]))
            }
            return (lines.joined(separator: "\r\n") + "\r\n", "text/csv; charset=utf-8", "\(domain.name).records.csv")
        default:
            throw NebulaError.invalid("format is json or csv.", code: "invalid_format")
        }
    }

    /// Brings in records from a JSON export or a CSV file. Every row is validated and the result
    /// checked for conflicts first; when anything is wrong nothing is changed and every problem
    /// is reported with its row.
    func importFile(_ domainID: UUID, _ input: RecordsImportInput, by actor: Actor) async throws -> RecordsImportOutcome {
        try actor.require(.operator)
        if input.format == "provider" { return try await importFromProvider(domainID, by: actor) }
        let domain = try await domainRecord(domainID)
        guard let data = input.data, !data.isEmpty else { throw NebulaError.unprocessable("data is the file's content.", code: "missing_data") }
        guard data.utf8.count <= Self.maxImportBytes else {
            throw NebulaError.unprocessable("The file is larger than \(Self.maxImportBytes / 1_000_000) MB.", code: "file_too_large")
        }
        let mode = input.mode ?? "merge"
        guard mode == "merge" || mode == "replace" else { throw NebulaError.unprocessable("mode is merge or replace.", code: "invalid_mode") }
        let rows: [(Int, PortableRecord)]
        switch input.format ?? "json" {
        case "json":
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            guard let zone = try? decoder.decode(PortableZone.self, from: Data(data.utf8)) else {
                throw NebulaError.unprocessable("The JSON is not a records export: expected {\"domain\": …, \"records\": [{\"name\", \"type\", \"content\", \"ttl\"}]}.", code: "invalid_file")
            }
            rows = zone.records.enumerated().map { ($0.offset + 1, $0.element) }
        case "csv":
            rows = try RecordsCSV.parse(data)
        default:
            throw NebulaError.invalid("format is json, csv or provider.", code: "invalid_format")
        }
        return try await importRecords(domain, rows, replace: mode == "replace", dryRun: input.dryRun ?? false, skipConflicting: false, by: actor)
    }

    private func importRecords(_ domain: DomainRecord, _ items: [(Int, PortableRecord)], replace: Bool, dryRun: Bool, skipConflicting: Bool,
                               by actor: Actor) async throws -> RecordsImportOutcome {
        let domainID = try domain.requireID()
        var problems: [ImportProblem] = []
        var incoming: [(row: Int, record: DNSRecord, source: PortableRecord)] = []
        for (row, item) in items {
            guard let type = DNSRecordType(rawValue: item.type.uppercased()) else {
                problems.append(ImportProblem(row: row, message: "'\(item.type)' is not a record type Nebula manages (\(DNSRecordType.allCases.map(\.rawValue).joined(separator: ", ")))"))
                continue
            }
            do {
                let record = try Self.validRecord(DNSRecordInput(name: item.name, type: type, content: item.content, ttl: item.ttl), zone: domain.name, defaultTTL: domain.defaultTTL)
                incoming.append((row, record, item))
            } catch let error as NebulaError {
                problems.append(ImportProblem(row: row, message: error.message))
            }
        }
        let existing = try await rows(of: domainID)
        var kept = replace ? [] : existing.map(Self.plain)
        var seen = Set(kept.map { Self.identity($0) })
        var added: [(DNSRecord, PortableRecord)] = []
        var unchanged = 0
        var conflicts: [DNSConflict] = []
        for item in incoming {
            let id = Self.identity(item.record)
            if seen.contains(id) {
                unchanged += 1
                continue
            }
            if skipConflicting {
                let trial = DNSRecordValidator.conflicts(in: kept + [item.record], zone: domain.name)
                if !trial.isEmpty {
                    conflicts += trial
                    continue
                }
            }
            seen.insert(id)
            kept.append(item.record)
            added.append((item.record, item.source))
        }
        if !skipConflicting { conflicts = DNSRecordValidator.conflicts(in: kept, zone: domain.name) }
        if kept.count > Self.maxRecordsPerDomain {
            problems.append(ImportProblem(row: 0, message: "the zone would have \(kept.count) records, more than the \(Self.maxRecordsPerDomain) Nebula manages per domain"))
        }
        let keptIdentities = Set(kept.map { Self.identity($0) })
        let removed = replace ? existing.filter { !keptIdentities.contains(Self.identity(Self.plain($0))) } : []
        if replace { unchanged = existing.count - removed.count }
        let blocked = !problems.isEmpty || (!skipConflicting && !conflicts.isEmpty)
        let outcome = RecordsImportOutcome(applied: !blocked && !dryRun && (!added.isEmpty || !removed.isEmpty), dryRun: dryRun,
                                           added: added.count, removed: removed.count, unchanged: unchanged, problems: problems, conflicts: conflicts)
        guard outcome.applied else {
            if blocked, !dryRun {
                var error = NebulaError.unprocessable("Nothing was imported: \(problems.count) invalid row(s), \(conflicts.count) conflict(s). Fix them and import again.",
                                                      code: "invalid_import")
                error.problems = problems.map { FieldProblem(path: $0.row == 0 ? "file" : "row \($0.row)", message: $0.message) }
                    + conflicts.map { FieldProblem(path: $0.name, message: $0.message) }
                throw error
            }
            return outcome
        }
        let toAdd = added
        try await db.transaction { tx in
            for row in removed { try await row.delete(on: tx) }
            for (record, source) in toAdd {
                let row = DNSRecordRow()
                row.$domain.id = domainID
                Self.fill(row, with: record, input: DNSRecordInput(dynamic: source.dynamic, comment: source.comment), existing: nil)
                row.createdBy = actor.username
                try await row.create(on: tx)
            }
            try await Self.bumpRevision(domainID, on: tx)
        }
        domain.revision += 1
        try await audit.record("dns.records.import", target: "domain:\(domain.name)", by: actor, detail: "\(added.count) added, \(removed.count) removed")
        await events.publish(.dnsRecordsChanged, actor: actor.username, subject: "domain:\(domain.name)",
                             data: ["change": "imported", "added": String(added.count), "removed": String(removed.count)])
        return outcome
    }

    // MARK: Helpers

    func domainRecord(_ id: UUID) async throws -> DomainRecord {
        guard let record = try await DomainRecord.find(id, on: db) else { throw NebulaError.notFound("Domain \(id)") }
        return record
    }

    private func rows(of domainID: UUID) async throws -> [DNSRecordRow] {
        try await DNSRecordRow.query(on: db).filter(\.$domain.$id == domainID).sort(\.$name).sort(\.$type).sort(\.$content).all()
    }

    private func dto(_ record: DomainRecord) async throws -> DomainDTO {
        let count = try await DNSRecordRow.query(on: db).filter(\.$domain.$id == record.requireID()).count()
        return try Self.dto(record, recordCount: count)
    }

    /// The provider client for a domain, or nil for a manual one.
    func provider(for domain: DomainRecord) async throws -> (any DNSProvider)? {
        let kind = try Self.kind(domain)
        guard kind != .manual else { return nil }
        let secret = domain.hasSecret ? try await secrets.value(of: Self.secretName(domain.name)) : nil
        return try makeProvider(kind: kind, settings: try Self.decodeSettings(domain.settings), secret: secret)
    }

    private func makeProvider(kind: DNSProviderKind, settings: DomainSettings, secret: String?) throws -> (any DNSProvider)? {
        switch kind {
        case .manual:
            return nil
        case .powerdns:
            guard let url = settings.apiURL.flatMap(URL.init(string:)), let secret else {
                throw NebulaError.misconfigured("The PowerDNS domain needs its API URL and API key.")
            }
            return DefaultPowerDNSClient(settings: PowerDNSSettings(apiURL: url, serverID: settings.serverID ?? "localhost", apiKey: secret), httpClient: httpClient)
        case .cloudflare:
            guard let secret else { throw NebulaError.misconfigured("The Cloudflare domain needs its API token.") }
            var cloudflare = CloudflareSettings(apiToken: secret)
            if let url = settings.apiURL.flatMap(URL.init(string:)) { cloudflare.baseURL = url }
            return DefaultCloudflareClient(settings: cloudflare, httpClient: httpClient)
        }
    }

    static func providerError(_ error: any Error, domain: String, doing: String) -> NebulaError {
        guard let error = error as? DNSProviderError else {
            return NebulaError.badGateway("The DNS provider of \(domain) failed while \(doing): \(error)", code: "dns_provider_error")
        }
        let message = "The DNS provider of \(domain) failed while \(doing): \(error.message)"
        switch error.code {
        case .zoneNotFound: return NebulaError(.unprocessableEntity, code: "zone_not_found", message)
        case .rejected: return NebulaError(.unprocessableEntity, code: "dns_rejected", message + " Nothing was changed at the provider.")
        case .authenticationFailed: return NebulaError.badGateway(message, code: "dns_authentication_failed")
        case .unreachable, .timedOut: return NebulaError.badGateway(message, code: "dns_unreachable")
        case .rateLimited: return NebulaError(.tooManyRequests, code: "dns_rate_limited", message)
        case .invalidResponse: return NebulaError.badGateway(message, code: "dns_provider_error")
        }
    }

    static func kind(_ record: DomainRecord) throws -> DNSProviderKind {
        guard let kind = DNSProviderKind(rawValue: record.provider) else { throw NebulaError.misconfigured("Domain \(record.name) has an unknown provider.") }
        return kind
    }

    static func zoneName(_ raw: String) throws -> String {
        do {
            let name = try DNSName.normalise(raw.trimmingCharacters(in: .whitespaces))
            guard name.contains("."), !name.hasPrefix("*") else {
                throw NebulaError.unprocessable("'\(raw)' is not a domain: give a name like example.com.", code: "invalid_name")
            }
            return name
        } catch let error as DNSRecordError {
            throw NebulaError.unprocessable(error.message, code: "invalid_name")
        }
    }

    /// `www` → `www.example.com`, `@` → `example.com`, `www.example.com` or `www.example.com.` as is.
    static func fullName(_ raw: String, zone: String) throws -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        let candidate: String
        if trimmed == "@" || trimmed.isEmpty {
            candidate = zone
        } else if trimmed.hasSuffix(".") || DNSName.isInZone(trimmed.lowercased(), zone: zone) {
            candidate = trimmed
        } else {
            candidate = trimmed + "." + zone
        }
        do {
            let name = try DNSName.normalise(candidate)
            guard DNSName.isInZone(name, zone: zone) else {
                throw NebulaError.unprocessable("\(name) is not inside \(zone).", code: "outside_zone")
            }
            return name
        } catch let error as DNSRecordError {
            throw NebulaError.unprocessable(error.message, code: error.code)
        }
    }

    static func validRecord(_ input: DNSRecordInput, zone: String, defaultTTL: Int) throws -> DNSRecord {
        guard let type = input.type else {
            throw NebulaError.unprocessable("Choose the record type: \(DNSRecordType.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_type")
        }
        guard let content = input.content?.trimmingCharacters(in: .whitespaces), !content.isEmpty else {
            throw NebulaError.unprocessable("Give the record's content (an address, a host name or text).", code: "invalid_content")
        }
        let name = try fullName(input.name ?? "@", zone: zone)
        if input.dynamic == true, type != .A, type != .AAAA {
            throw NebulaError.unprocessable("Only A and AAAA records can follow the public IP.", code: "invalid_dynamic")
        }
        do {
            return try DNSRecordValidator.validate(DNSRecord(name: name, type: type, content: content, ttl: input.ttl ?? defaultTTL), zone: zone)
        } catch {
            throw NebulaError.unprocessable(error.message, code: error.code)
        }
    }

    static func requireNoConflicts(_ records: [DNSRecord], zone: String) throws {
        let conflicts = DNSRecordValidator.conflicts(in: records, zone: zone)
        guard conflicts.isEmpty else {
            throw NebulaError.conflict(conflicts.map(\.message).joined(separator: "; "), code: "record_conflict")
        }
    }

    private static func bumpRevision(_ domainID: UUID, on db: any Database) async throws {
        guard let domain = try await DomainRecord.find(domainID, on: db) else { throw NebulaError.notFound("Domain \(domainID)") }
        domain.revision += 1
        try await domain.update(on: db)
    }

    private static func fill(_ row: DNSRecordRow, with record: DNSRecord, input: DNSRecordInput, existing: DNSRecordRow?) {
        row.name = record.name
        row.type = record.type.rawValue
        row.content = record.content
        row.ttl = record.ttl
        row.dynamic = input.dynamic ?? existing?.dynamic ?? false
        let comment = (input.comment ?? existing?.comment)?.trimmingCharacters(in: .whitespacesAndNewlines)
        row.comment = comment?.isEmpty == false ? String(comment?.prefix(200) ?? "") : nil
    }

    static func plain(_ row: DNSRecordRow) -> DNSRecord {
        DNSRecord(name: row.name, type: DNSRecordType(rawValue: row.type) ?? .TXT, content: row.content, ttl: row.ttl)
    }

    static func dto(_ row: DNSRecordRow) -> DNSRecordDTO {
        DNSRecordDTO(id: row.id ?? UUID(), domainID: row.$domain.id, name: row.name, type: DNSRecordType(rawValue: row.type) ?? .TXT,
                     content: row.content, ttl: row.ttl, dynamic: row.dynamic, comment: row.comment, updatedAt: row.updatedAt)
    }

    static func dto(_ record: DomainRecord, recordCount: Int) throws -> DomainDTO {
        let kind = try kind(record)
        return DomainDTO(id: try record.requireID(), name: record.name, provider: kind, settings: try decodeSettings(record.settings),
                         hasSecret: record.hasSecret, defaultTTL: record.defaultTTL, recordCount: recordCount,
                         pendingChanges: record.revision != record.pushedRevision,
                         lastPushedAt: record.lastPushedAt, lastPushError: record.lastPushError, createdAt: record.createdAt)
    }

    private static func key(_ row: DNSRecordRow) -> String { row.name + "|" + row.type }
    private static func key(_ record: DNSRecord) -> String { record.name + "|" + record.type.rawValue }
    private static func identity(_ record: DNSRecord) -> String { key(record) + "|" + record.content }

    /// Records grouped into sets by name and type; a set's TTL is the lowest of its records.
    static func sets(_ records: [DNSRecord]) -> [String: DNSRRSet] {
        var sets: [String: DNSRRSet] = [:]
        for record in records {
            let key = key(record)
            if var set = sets[key] {
                set.contents.append(record.content)
                set.ttl = min(set.ttl, record.ttl)
                sets[key] = set
            } else {
                sets[key] = DNSRRSet(name: record.name, type: record.type, ttl: record.ttl, contents: [record.content])
            }
        }
        return sets.mapValues { set in
            var sorted = set
            sorted.contents = Array(Set(set.contents)).sorted()
            return sorted
        }
    }

    private static func same(_ a: DNSRRSet, _ b: DNSRRSet) -> Bool {
        a.ttl == b.ttl && Set(a.contents.map { $0.lowercased() }) == Set(b.contents.map { $0.lowercased() })
    }

    /// The SOA and the apex NS set belong to the provider (it rewrites them itself).
    private static func isProviderOwned(_ set: DNSRRSet, zone: String) -> Bool {
        set.type.rawValue == "NS" && set.name == zone
    }

    static func settings(kind: DNSProviderKind, input: DomainInput, existing: DomainSettings?) throws -> DomainSettings {
        var settings = existing ?? DomainSettings()
        if let url = input.apiURL {
            let trimmed = url.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty {
                settings.apiURL = nil
            } else {
                guard let parsed = URL(string: trimmed), let scheme = parsed.scheme, ["http", "https"].contains(scheme.lowercased()), parsed.host != nil else {
                    throw NebulaError.unprocessable("apiURL must be an http(s) URL such as http://ns1.lan:8081.", code: "invalid_api_url")
                }
                settings.apiURL = trimmed.hasSuffix("/") ? String(trimmed.dropLast()) : trimmed
            }
        }
        if let server = input.serverID {
            let trimmed = server.trimmingCharacters(in: .whitespaces)
            guard trimmed.isEmpty || trimmed.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                throw NebulaError.unprocessable("serverID is a PowerDNS server id such as localhost.", code: "invalid_server_id")
            }
            settings.serverID = trimmed.isEmpty ? nil : trimmed
        }
        if let servers = input.nameservers {
            let cleaned = servers.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for server in cleaned where DNSServerAddress.parse(server) == nil {
                throw NebulaError.unprocessable("'\(server)' is not a name server: give host or host:port.", code: "invalid_nameserver")
            }
            settings.nameservers = cleaned.isEmpty ? nil : cleaned
        }
        switch kind {
        case .manual:
            settings.apiURL = nil
            settings.serverID = nil
        case .powerdns:
            guard settings.apiURL != nil else {
                throw NebulaError.unprocessable("A PowerDNS domain needs apiURL, the address of the PowerDNS API (e.g. http://ns1.lan:8081).", code: "invalid_api_url")
            }
        case .cloudflare:
            settings.serverID = nil
        }
        return settings
    }

    private static func secret(kind: DNSProviderKind, given: String?, stored: String?) throws -> String? {
        guard kind != .manual else { return nil }
        let value = given.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 } ?? stored
        guard let value else {
            throw NebulaError.unprocessable("A \(kind.label) domain needs its \(kind.secretRole ?? "secret") in `secret`.", code: "missing_secret")
        }
        guard value.count <= 4096, !value.contains(where: { $0.isNewline }) else {
            throw NebulaError.unprocessable("The \(kind.secretRole ?? "secret") must be one line.", code: "invalid_secret")
        }
        return value
    }

    private static func ttl(_ value: Int) throws -> Int {
        guard (60...604_800).contains(value) else {
            throw NebulaError.unprocessable("The TTL is 60 to 604800 seconds.", code: "invalid_ttl")
        }
        return value
    }

    static func decodeSettings(_ json: String) throws -> DomainSettings {
        try JSONDecoder().decode(DomainSettings.self, from: Data(json.utf8))
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func list(_ json: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }
}
