import Foundation
import HostMetrics
import NebulaCore

/// A server as the API shows it, with its latest readings.
struct ServerDTO: Codable, Sendable, Equatable {
    var id: UUID
    var name: String
    var connection: ServerConnection
    var address: String?
    var port: Int?
    var username: String?
    var tags: [String]
    var status: ServerStatus
    var lastSeenAt: Date?
    var latest: LatestMetrics?
    var createdAt: Date?
    /// Wake-on-LAN settings; `macAddress` nil when not set up.
    var macAddress: String?
    var wakeBroadcast: String?
    var wakePort: Int?
    /// Folders the file browser may show.
    var fileRoots: [String]

    init(_ server: ServerRecord) {
        id = server.id ?? UUID()
        name = server.name
        connection = server.connection
        address = server.address
        port = server.port
        username = server.username
        tags = server.tagList
        status = server.status
        lastSeenAt = server.lastSeenAt
        latest = server.latestMetrics.flatMap(FleetService.decodeLatest)
            ?? server.latestSample.flatMap(FleetService.decodeSample).map(LatestMetrics.init)
        createdAt = server.createdAt
        macAddress = server.macAddress
        wakeBroadcast = server.macAddress == nil ? nil : server.wakeBroadcast ?? "255.255.255.255"
        wakePort = server.macAddress == nil ? nil : server.wakePort ?? 9
        fileRoots = server.fileRootList
    }
}

/// The headline numbers of a sample: what a fleet card shows.
struct LatestMetrics: Codable, Sendable, Equatable {
    var at: Date
    /// 0…1; nil on the first sample after start (no interval yet).
    var cpu: Double?
    var memoryUsedBytes: UInt64
    var memoryTotalBytes: UInt64
    var swapUsedBytes: UInt64
    var swapTotalBytes: UInt64
    var diskUsedBytes: UInt64
    var diskTotalBytes: UInt64
    var networkReceiveBytesPerSecond: Double
    var networkSendBytesPerSecond: Double
    var diskReadBytesPerSecond: Double
    var diskWriteBytesPerSecond: Double
    var load1: Double
    var uptimeSeconds: Double
    /// The hottest sensor, °C.
    var temperature: Double?
    /// The busiest GPU, 0…1.
    var gpu: Double?
    var processes: Int

    init(_ sample: HostSample) {
        at = sample.timestamp
        cpu = sample.cpu?.total
        memoryUsedBytes = sample.memory.usedBytes
        memoryTotalBytes = sample.memory.totalBytes
        swapUsedBytes = sample.memory.swapUsedBytes
        swapTotalBytes = sample.memory.swapTotalBytes
        diskUsedBytes = sample.filesystems.reduce(0) { $0 + $1.usedBytes }
        diskTotalBytes = sample.filesystems.reduce(0) { $0 + $1.totalBytes }
        networkReceiveBytesPerSecond = sample.network.reduce(0) { $0 + $1.receivedBytesPerSecond }
        networkSendBytesPerSecond = sample.network.reduce(0) { $0 + $1.sentBytesPerSecond }
        diskReadBytesPerSecond = sample.diskIO.reduce(0) { $0 + $1.readBytesPerSecond }
        diskWriteBytesPerSecond = sample.diskIO.reduce(0) { $0 + $1.writeBytesPerSecond }
        load1 = sample.load.one
        uptimeSeconds = sample.uptimeSeconds
        temperature = sample.temperatures.map(\.celsius).max()
        gpu = sample.gpus.compactMap(\.utilization).max()
        processes = sample.processes.count
    }

    /// Small string facts for the live `server.metrics` event.
    var eventData: [String: String] {
        var data: [String: String] = [
            "memoryUsed": String(memoryUsedBytes), "memoryTotal": String(memoryTotalBytes),
            "diskUsed": String(diskUsedBytes), "diskTotal": String(diskTotalBytes),
            "netRx": String(format: "%.0f", networkReceiveBytesPerSecond), "netTx": String(format: "%.0f", networkSendBytesPerSecond),
            "load1": String(format: "%.2f", load1), "uptime": String(format: "%.0f", uptimeSeconds),
        ]
        if let cpu { data["cpu"] = String(format: "%.4f", cpu) }
        if let temperature { data["temperature"] = String(format: "%.1f", temperature) }
        if let gpu { data["gpu"] = String(format: "%.4f", gpu) }
        return data
    }
}

/// One point of a chart series: the bucket's start and its average.
struct SeriesPoint: Codable, Sendable, Equatable {
    var t: Date
    var v: Double
}

/// `GET /api/v1/servers/{id}/metrics`: named series over a range.
struct MetricsSeries: Codable, Sendable {
    var range: String
    var stepSeconds: Int
    var from: Date
    var to: Date
    /// Where the points come from: `raw` samples, or `60s` / `3600s` rollups (with finer data after
    /// the newest rollup).
    var resolution: String
    /// `cpu` (0…1), `memory` (0…1), `swap` (bytes), `disk` (0…1), `netRx`/`netTx` (bytes/s),
    /// `diskRead`/`diskWrite` (bytes/s), `load`, `temperature` (°C), `gpu` (0…1).
    var series: [String: [SeriesPoint]]
}

/// A fleet card's small charts: CPU and memory (0…1), oldest first.
struct Sparkline: Codable, Sendable, Equatable {
    var cpu: [Double]
    var memory: [Double]
}
