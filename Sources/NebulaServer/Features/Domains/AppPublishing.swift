import DNSProviders
import Fluent
import Foundation
import NebulaCore
import ProxyAdmin

extension InstallsService {
    /// The host name an install asks to be published under, normalised, or nil. Refused when it
    /// is not a host name or a proxy route already serves it.
    static func validDomain(_ raw: String?, db: any Database) async throws -> String? {
        guard let raw = raw?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        let host: String
        do {
            host = try DNSName.normalise(raw)
        } catch {
            throw NebulaError.unprocessable("'\(raw.prefix(100))' is not a host name for the app: \(error.message)", code: "invalid_domain")
        }
        guard host.contains("."), !host.hasPrefix("*") else {
            throw NebulaError.unprocessable("Give the app a full host name such as photos.example.com.", code: "invalid_domain")
        }
        if try await ProxyRouteRecord.query(on: db).filter(\.$host == host).first() != nil {
            throw NebulaError.conflict("A proxy route already serves \(host); choose another name or remove that route.", code: "domain_taken")
        }
        if try await AppInstall.query(on: db).filter(\.$domain == host).first() != nil {
            throw NebulaError.conflict("Another app is already published as \(host).", code: "domain_taken")
        }
        return host
    }
}

/// Publishes a freshly installed app under the host name it asked for: a proxy route to the app
/// (HTTPS via Caddy, `tls internal` for LAN names), applied when Caddy is configured, and — when
/// the name is inside a domain Nebula manages — an A record pointing at the proxy, pushed to the
/// provider. Every step logs to the install job; a step that cannot be done is explained there and
/// never fails the install (the app itself is healthy).
struct AppPublishing: Sendable {
    let proxy: ProxyService
    let domains: DomainsService

    /// What happened, one line per step, for the job log.
    func publish(_ install: AppInstall, by actor: Actor) async -> [String] {
        guard let host = install.domain, let id = install.id else { return [] }
        var log: [String] = []
        // 1. The route.
        do {
            let route = try await proxy.createRoute(ProxyRouteInput(host: host, upstream: ProxyUpstream(kind: .app, install: id.uuidString),
                                                                    websocket: true, redirectToHTTPS: true), by: actor)
            log.append("proxy route \(route.host) → app \(install.name) added (TLS \(route.tls.rawValue))")
        } catch let error as NebulaError {
            log.append("could not add the proxy route for \(host): \(error.message)")
            return log
        } catch {
            log.append("could not add the proxy route for \(host): \(error)")
            return log
        }
        // 2. The DNS record, when Nebula manages the name's domain.
        do {
            if let domain = try await domains.domain(holding: host), let domainID = domain.id {
                if let address = try await proxyAddress() {
                    _ = try await domains.ensureRecordSet(in: domainID, name: host, type: address.contains(":") ? .AAAA : .A, contents: [address], by: actor)
                    if (try? DomainsService.kind(domain)) == .manual {
                        log.append("DNS: \(host) → \(address) recorded in \(domain.name) (manual domain: publish it at your DNS host)")
                    } else {
                        let outcome = try await domains.push(domainID, by: actor)
                        log.append("DNS: \(host) → \(address) pushed to \(outcome.domain.provider.label)")
                    }
                } else {
                    log.append("DNS: no address known for the proxy (set the local server's address, or turn on dynamic DNS); add the record for \(host) by hand")
                }
            } else {
                log.append("DNS: \(host) is not in a domain Nebula manages; point it at the proxy yourself")
            }
        } catch let error as NebulaError {
            log.append("DNS: could not publish \(host): \(error.message)")
        } catch {
            log.append("DNS: could not publish \(host): \(error)")
        }
        // 3. Apply the proxy configuration.
        do {
            let settings = try await proxy.currentSettings()
            if settings.configured {
                let outcome = try await proxy.apply(ProxyApplyInput(), by: actor)
                log.append("proxy configuration applied (version \(outcome.version?.number.description ?? "unchanged")): https://\(host)/")
            } else {
                log.append("Caddy is not configured: the route is saved; set Caddy up under Proxy and apply")
            }
        } catch let error as NebulaError {
            log.append("could not apply the proxy configuration: \(error.message)")
        } catch {
            log.append("could not apply the proxy configuration: \(error)")
        }
        return log
    }

    /// Undoes ``publish(_:by:)`` when the app is uninstalled: removes the routes to the app (and
    /// the one for its host name), its DNS record set in a managed domain (pushed), and applies.
    func unpublish(_ install: AppInstall, by actor: Actor) async -> [String] {
        guard let host = install.domain, let id = install.id else { return [] }
        var log: [String] = []
        do {
            let routes = try await ProxyRouteRecord.query(on: proxy.db).all().filter { route in
                route.host == host || ProxyService.upstreams(route).contains { $0.kind == .app && ($0.install == id.uuidString || $0.install == install.name) }
            }
            for route in routes {
                try await proxy.deleteRoute(try route.requireID(), revision: route.revision, by: actor)
                log.append("proxy route \(route.host)\(route.pathPrefix) removed")
            }
            if !routes.isEmpty, try await proxy.currentSettings().configured {
                let outcome = try await proxy.apply(ProxyApplyInput(), by: actor)
                log.append("proxy configuration applied (version \(outcome.version?.number.description ?? "unchanged"))")
            }
        } catch let error as NebulaError {
            log.append("could not remove the proxy route for \(host): \(error.message)")
        } catch {
            log.append("could not remove the proxy route for \(host): \(error)")
        }
        do {
            if let domain = try await domains.domain(holding: host), let domainID = domain.id {
                let removed = try await domains.removeRecords(in: domainID, named: host, types: [.A, .AAAA], by: actor)
                if removed > 0, (try? DomainsService.kind(domain)) != .manual {
                    _ = try await domains.push(domainID, by: actor)
                    log.append("DNS: \(host) removed from \(domain.name) and pushed")
                } else if removed > 0 {
                    log.append("DNS: \(host) removed from \(domain.name) (manual domain: remove it at your DNS host)")
                }
            }
        } catch let error as NebulaError {
            log.append("DNS: could not remove \(host): \(error.message)")
        } catch {
            log.append("DNS: could not remove \(host): \(error)")
        }
        return log
    }

    /// Where DNS should send people for the proxy: the local server's address (Caddy runs next to
    /// the control plane), else the public IPv4 dynamic DNS found last.
    private func proxyAddress() async throws -> String? {
        if let local = try await ServerRecord.query(on: proxy.db).filter(\.$connection == .local).first(),
           let address = local.address, Self.isIPAddress(address) {
            return address
        }
        return try await domains.dynamicRecord().lastIPv4
    }

    static func isIPAddress(_ text: String) -> Bool {
        DNSRecordValidator.isIPAddress(text)
    }
}
