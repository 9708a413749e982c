import DNSProviders
import Foundation
@testable import NebulaServer

/// What the domain routes act on in the access tests: a manual domain with one A record (the
/// examples add `www` and `mail`, so they do not collide with it). Its name server is a closed
/// loopback port, so a propagation check fails at once instead of asking the internet.
struct DomainTargets: Sendable {
    var domainID: UUID
    var recordID: UUID

    static func make(in app: TestApp, suffix: String) async throws -> DomainTargets {
        let domains = try app.services.domains
        let domain = try await domains.createDomain(DomainInput(name: "t-\(suffix.lowercased()).example.org", provider: .manual, nameservers: ["127.0.0.1:1"]), by: .system())
        let record = try await domains.createRecord(in: domain.id, DNSRecordInput(name: "files", type: .A, content: "192.0.2.20"), by: .system())
        return DomainTargets(domainID: domain.id, recordID: record.id)
    }
}
