import Fluent
import Foundation

/// A machine in the fleet: the local node, an agent node, or an agentless SSH server.
final class ServerRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are mutable reference types used inside one task only.
    static let schema = "servers"

    @ID(key: .id) var id: UUID?
    @Field(key: "name") var name: String
    @Field(key: "connection") var connection: ServerConnection
    @OptionalField(key: "address") var address: String?
    @OptionalField(key: "port") var port: Int?
    @OptionalField(key: "username") var username: String?
    /// JSON array of tags.
    @Field(key: "tags") var tags: String
    @Field(key: "status") var status: ServerStatus
    @OptionalField(key: "last_seen_at") var lastSeenAt: Date?
    /// The newest full sample (JSON `HostSample`), for the server page's details.
    @OptionalField(key: "latest_sample") var latestSample: String?
    /// The headline numbers of that sample (JSON `LatestMetrics`), so lists need not decode it whole.
    @OptionalField(key: "latest_metrics") var latestMetrics: String?
    /// SHA-256 of the agent's credential; nil until an agent joins, and after a revoke.
    @OptionalField(key: "agent_credential_hash") var agentCredentialHash: String?
    @OptionalField(key: "agent_version") var agentVersion: String?
    /// JSON `HardwareProfile` the agent sent when it connected.
    @OptionalField(key: "hardware") var hardware: String?
    /// Wake-on-LAN: the network card's MAC address, the LAN's broadcast address and UDP port.
    @OptionalField(key: "mac_address") var macAddress: String?
    @OptionalField(key: "wake_broadcast") var wakeBroadcast: String?
    @OptionalField(key: "wake_port") var wakePort: Int?
    /// SSH servers: the host key (OpenSSH format) pinned on first use.
    @OptionalField(key: "ssh_host_key") var sshHostKey: String?
    /// Why the last attempt to reach the server failed (SSH servers), for its page.
    @OptionalField(key: "last_error") var lastError: String?
    /// Comma-separated absolute folders the file browser may show.
    @OptionalField(key: "file_roots") var fileRoots: String?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}

    var tagList: [String] {
        (try? JSONDecoder().decode([String].self, from: Data(tags.utf8))) ?? []
    }
}

/// How the control plane reaches a server.
enum ServerConnection: String, Codable, Sendable, CaseIterable {
    /// The machine running `nebula serve`, measured in-process.
    case local
    /// A machine running `nebula agent`, which dials home.
    case agent
    /// A machine reached over SSH, without an agent.
    case ssh
}

/// Whether a server is reporting.
enum ServerStatus: String, Codable, Sendable, CaseIterable {
    case online, offline, unknown
}

/// One measurement of a server, kept for the charts.
final class MetricSampleRecord: Model, @unchecked Sendable {
    // @unchecked: see `ServerRecord`.
    static let schema = "metric_samples"

    @ID(custom: .id, generatedBy: .database) var id: Int?
    @Field(key: "server_id") var serverID: UUID
    @Field(key: "at") var at: Date
    @OptionalField(key: "cpu") var cpu: Double?
    @Field(key: "memory_used") var memoryUsed: Int64
    @Field(key: "memory_total") var memoryTotal: Int64
    @Field(key: "swap_used") var swapUsed: Int64
    @Field(key: "disk_used") var diskUsed: Int64
    @Field(key: "disk_total") var diskTotal: Int64
    @Field(key: "net_rx") var netRx: Double
    @Field(key: "net_tx") var netTx: Double
    @Field(key: "disk_read") var diskRead: Double
    @Field(key: "disk_write") var diskWrite: Double
    @Field(key: "load1") var load1: Double
    @OptionalField(key: "temperature") var temperature: Double?
    @OptionalField(key: "gpu") var gpu: Double?

    init() {}
}
