import DNSProviders
import Foundation
import NebulaTestSupport
import Testing

/// The PowerDNS server `start_pdns` (scripts/lib/peers.sh) started for this test run.
struct PowerDNSPeer: Sendable {
    var apiURL: String
    var apiKey: String
    var dnsPort: Int

    static var isAvailable: Bool { ProcessInfo.processInfo.environment["NEBULA_TEST_PDNS_API"] != nil }
    static let skipMessage: Comment = "PowerDNS is not running (scripts/test.sh starts it: start_pdns in scripts/lib/peers.sh)"

    static func require() throws -> PowerDNSPeer {
        let env = ProcessInfo.processInfo.environment
        guard let api = env["NEBULA_TEST_PDNS_API"], let key = env["NEBULA_TEST_PDNS_KEY"], let port = env["NEBULA_TEST_PDNS_DNS_PORT"].flatMap(Int.init) else {
            throw TestSupportError("NEBULA_TEST_PDNS_API, NEBULA_TEST_PDNS_KEY and NEBULA_TEST_PDNS_DNS_PORT must be set (start_pdns)")
        }
        return PowerDNSPeer(apiURL: api, apiKey: key, dnsPort: port)
    }

    var server: DNSServerAddress { DNSServerAddress(host: "127.0.0.1", port: dnsPort) }

    /// A zone name no other test uses.
    static func uniqueZone(_ label: String) -> String {
        "\(label)-\(UUID().uuidString.prefix(8).lowercased()).test"
    }

    /// What PowerDNS answers for `name`/`type` right now (values sorted).
    func answers(_ name: String, _ type: DNSQuery.RecordType) async throws -> [String] {
        try await DNSQuery.resolve(name, type: type, server: server, timeout: .seconds(10)).answers.map(\.value).sorted()
    }

    /// A client that talks to the same PowerDNS behind Nebula's back (to make drift).
    var client: DefaultPowerDNSClient {
        get throws {
            guard let url = URL(string: apiURL) else { throw TestSupportError("bad NEBULA_TEST_PDNS_API \(apiURL)") }
            return DefaultPowerDNSClient(settings: PowerDNSSettings(apiURL: url, apiKey: apiKey))
        }
    }
}
