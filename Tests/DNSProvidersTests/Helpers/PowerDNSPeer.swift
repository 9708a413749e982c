import DNSProviders
import Foundation

/// The PowerDNS server `start_pdns` (scripts/lib/peers.sh) started, from its environment variables.
enum PowerDNSPeer {
    static let environment = ProcessInfo.processInfo.environment

    /// True when `NEBULA_TEST_PDNS_API` is set (the PowerDNS suites run only then).
    static var isAvailable: Bool { environment["NEBULA_TEST_PDNS_API"].map { !$0.isEmpty } ?? false }

    static var apiURL: URL? { environment["NEBULA_TEST_PDNS_API"].flatMap(URL.init(string:)) }
    static var apiKey: String { environment["NEBULA_TEST_PDNS_KEY"] ?? "" }
    static var dnsServer: DNSServerAddress {
        DNSServerAddress(host: "127.0.0.1", port: Int(environment["NEBULA_TEST_PDNS_DNS_PORT"] ?? "") ?? 53)
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "NEBULA_TEST_PDNS_API is not a URL; start PowerDNS with start_pdns (scripts/lib/peers.sh)" }
    }

    /// A client for the peer, with `key` instead of the right key when given.
    static func client(key: String? = nil) throws -> DefaultPowerDNSClient {
        guard let url = apiURL else { throw Missing() }
        return DefaultPowerDNSClient(settings: PowerDNSSettings(apiURL: url, apiKey: key ?? apiKey, timeout: .seconds(30)))
    }

    /// A zone name no other test uses: "t<random>.test".
    static func uniqueZone() -> String {
        "t\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000).test"
    }
}
