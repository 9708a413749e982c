import Fluent
import Foundation
import Logging
import NebulaCore
import NIOCore
import NIOPosix
import NIOSSL
import ProxyAdmin
import X509

/// Checks the certificates of every proxied host and every DNS domain every six hours (and on
/// demand), so an expiring one is seen on the proxy page and as a `certificate.expiring` event
/// (routed to notifications) well before browsers start refusing it.
///
/// One process checks: the one that runs jobs (`NEBULA_JOB_WORKER`), like the check scheduler.
final class CertificateMonitor: Sendable {
    let proxy: ProxyService
    let logger: Logger
    let interval: Duration
    private let loop = BackgroundTask()

    init(proxy: ProxyService, logger: Logger, interval: Duration = .seconds(6 * 3600)) {
        self.proxy = proxy
        self.logger = logger
        self.interval = interval
    }

    func start() {
        loop.start { [proxy, logger, interval] in
            // A first look shortly after start, then on the interval.
            try? await Task.sleep(for: .seconds(30))
            while !Task.isCancelled {
                do {
                    _ = try await proxy.checkCertificates(by: .system("certificates"))
                } catch {
                    logger.warning("certificate check failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    func stop() async { await loop.stop() }
}

/// The leaf certificate a TLS server shows for a name: expiry and issuer. Whether the chain is
/// trusted is not the question (LAN hosts use Caddy's own CA); how long it lives is.
struct CertificateProbe: Sendable {
    var connectHost: String
    var port: Int
    /// SNI: the host whose certificate is wanted.
    var serverName: String
    var timeout: Duration = .seconds(10)

    struct Seen: Sendable {
        var notAfter: Date
        var issuer: String
    }

    func run() async throws -> Seen {
        let leaf = try await TLSProbe(target: HostPort(host: connectHost, port: port), warnDays: 0, timeout: timeout, serverName: serverName).leaf()
        return Seen(notAfter: Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)), issuer: Self.issuer(of: leaf))
    }

    /// The issuer's common name (or organisation, or the whole name).
    static func issuer(of certificate: NIOSSLCertificate) -> String {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return "unknown" }
        var commonName: String?
        var organization: String?
        for rdn in parsed.issuer {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.commonName { commonName = attribute.value.description }
                if attribute.type == .RDNAttributeType.organizationName { organization = attribute.value.description }
            }
        }
        return commonName ?? organization ?? parsed.issuer.description
    }
}

extension ProxyService {
    func certificates(by actor: Actor) async throws -> [ProxyCertificateDTO] {
        try actor.require(.viewer)
        let warnDays = try await currentSettings().warnDays
        return try await ProxyCertificateRecord.query(on: db).sort(\.$host).all().map { Self.dto($0, warnDays: warnDays, now: now()) }
    }

    /// Looks at every enabled TLS route's certificate through Caddy's HTTPS listener (SNI = the host)
    /// and at every domain's on port 443; stores what it saw and publishes `certificate.expiring`
    /// (within the warning window) or `certificate.expired`, once per host and day.
    func checkCertificates(by actor: Actor) async throws -> [ProxyCertificateDTO] {
        try actor.require(.operator)
        let settings = try await currentSettings()
        struct Target: Sendable { var host: String; var source: String; var connect: String; var port: Int; var acme = false }
        var targets: [Target] = []
        if settings.configured {
            let routes = try await ProxyRouteRecord.query(on: db).filter(\.$enabled == true).all()
            let acmeHosts = Set(routes.filter { $0.tls == ProxyTLSMode.auto.rawValue }.map(\.host))
            for host in Set(routes.filter { $0.tls != ProxyTLSMode.off.rawValue }.map(\.host)).sorted() {
                targets.append(Target(host: host, source: "route", connect: settings.listenHost.flatMap { $0 == "0.0.0.0" || $0 == "::" ? nil : $0 } ?? "127.0.0.1",
                                      port: settings.httpsPort, acme: acmeHosts.contains(host)))
            }
        }
        let domains = (try? await domainHosts(db)) ?? []
        for domain in Set(domains.map { $0.lowercased() }).sorted() {
            targets.append(Target(host: domain, source: "domain", connect: domain, port: 443))
        }
        let moment = now()
        let seen = await withTaskGroup(of: (Target, Result<CertificateProbe.Seen, any Error>).self) { group in
            for target in targets {
                group.addTask {
                    do {
                        return (target, .success(try await CertificateProbe(connectHost: target.connect, port: target.port, serverName: target.host).run()))
                    } catch {
                        return (target, .failure(error))
                    }
                }
            }
            var all: [(Target, Result<CertificateProbe.Seen, any Error>)] = []
            for await result in group { all.append(result) }
            return all
        }
        var kept = Set<String>()
        for (target, result) in seen {
            kept.insert(target.source + "|" + target.host)
            try await store(host: target.host, source: target.source, acme: target.acme, result: result, at: moment, settings: settings, by: actor)
        }
        // Hosts no longer proxied or domains removed are forgotten.
        for stale in try await ProxyCertificateRecord.query(on: db).all() where !kept.contains(stale.source + "|" + stale.host) {
            try await stale.delete(on: db)
        }
        try await audit.record("proxy.certificates.check", target: "proxy", by: actor,
                               detail: "\(targets.count) host(s), \(seen.filter { !$0.1.isSuccess }.count) unreachable")
        return try await ProxyCertificateRecord.query(on: db).sort(\.$host).all().map { Self.dto($0, warnDays: settings.warnDays, now: moment) }
    }

    /// Saves what one probe saw and publishes the day's expiry event. The scheduled monitor and a
    /// "Check now" (or another replica) may store the same host at once: the second insert meets
    /// the unique index, and is then retried as an update of the row the first one wrote, whose
    /// `alertedOn` also keeps the event from being published twice.
    private func store(host: String, source: String, acme: Bool, result: Result<CertificateProbe.Seen, any Error>, at moment: Date,
                       settings: ProxySettingsDTO, by actor: Actor, attempt: Int = 1) async throws {
        let record = try await ProxyCertificateRecord.query(on: db).filter(\.$host == host).filter(\.$source == source).first()
            ?? ProxyCertificateRecord()
        record.host = host
        record.source = source
        record.checkedAt = moment
        switch result {
        case .success(let certificate):
            record.notAfter = certificate.notAfter
            record.issuer = certificate.issuer
            record.daysLeft = Int((certificate.notAfter.timeIntervalSince(moment) / 86_400).rounded(.down))
            record.error = nil
        case .failure(let error):
            record.error = String(Self.describeFailure(error, host: host, acme: acme).prefix(500))
        }
        let state = Self.dto(record, warnDays: settings.warnDays, now: moment).state
        let today = Self.day(moment)
        var publish: EventType?
        if result.isSuccess, state == .expired || state == .expiring, record.alertedOn != today {
            publish = state == .expired ? .certificateExpired : .certificateExpiring
            record.alertedOn = today
        }
        do {
            try await record.save(on: db)
        } catch let error as any DatabaseError where error.isConstraintFailure && attempt == 1 {
            return try await store(host: host, source: source, acme: acme, result: result, at: moment, settings: settings, by: actor, attempt: 2)
        }
        if let publish, let notAfter = record.notAfter {
            await events.publish(publish, actor: actor.username, subject: "host:\(record.host)", data: [
                "host": record.host, "source": record.source, "daysLeft": String(record.daysLeft ?? 0),
                "notAfter": notAfter.formatted(.iso8601), "issuer": record.issuer ?? "",
                "severity": publish == .certificateExpired ? "critical" : "warning",
            ])
        }
    }

    static func day(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day())
    }

    /// What a failed look at a host's certificate means. For an ACME route the usual reason is that
    /// Caddy has no certificate yet (it answers the handshake with an alert), so the user is told
    /// what issuance needs rather than only what the handshake saw.
    static func describeFailure(_ error: any Error, host: String, acme: Bool) -> String {
        let seen = describeProbe(error)
        guard acme else { return seen }
        return "No certificate yet? Caddy gets one from the ACME CA once \(host) resolves to this proxy from the internet and ports 80 and 443 reach it; Caddy's log says why it has not. The check saw: \(seen)"
    }

    static func describeProbe(_ error: any Error) -> String {
        if let error = error as? TLSProbeError { return error.description }
        if let error = error as? ProbeTimeout { return error.description }
        return TCPProbe.describe(error)
    }

    static func dto(_ record: ProxyCertificateRecord, warnDays: Int, now: Date) -> ProxyCertificateDTO {
        let state: ProxyCertificateDTO.State
        if let notAfter = record.notAfter, record.error == nil {
            let days = Int((notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
            state = notAfter <= now ? .expired : days <= warnDays ? .expiring : .ok
        } else {
            state = .error
        }
        return ProxyCertificateDTO(host: record.host, source: record.source, notAfter: record.notAfter, issuer: record.issuer,
                                   daysLeft: record.notAfter.map { Int(($0.timeIntervalSince(now) / 86_400).rounded(.down)) }, state: state,
                                   checkedAt: record.checkedAt, error: record.error)
    }
}

private extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
