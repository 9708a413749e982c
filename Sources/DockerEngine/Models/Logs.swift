import Foundation

/// Which output a log line came from.
public enum LogStream: String, Sendable, Hashable, Codable {
    case stdout, stderr
    /// A container with a TTY has one combined stream: its lines are reported as this.
    case console
}

/// One line of a container's output, without its line break.
public struct LogLine: Sendable, Hashable, Codable {
    public var stream: LogStream
    /// The text (invalid UTF-8 repaired).
    public var text: String
    /// Docker's timestamp, when asked for with `timestamps: true`.
    public var timestamp: Date?

    public init(stream: LogStream, text: String, timestamp: Date? = nil) {
        self.stream = stream
        self.text = text
        self.timestamp = timestamp
    }
}

/// One measurement of a container's resource use (`GET /containers/{id}/stats`).
public struct ContainerStats: Sendable, Hashable, Codable {
    /// When Docker took it.
    public var read: Date?
    /// Percent of one CPU (200 = two CPUs fully busy), from the delta to the previous sample; 0 on
    /// the first sample of a stream.
    public var cpuPercent: Double
    /// CPUs the container may use.
    public var onlineCPUs: Int
    /// Bytes in use, without the page cache (as `docker stats` shows it).
    public var memoryUsage: UInt64
    /// The memory limit (the host's memory when none is set).
    public var memoryLimit: UInt64
    /// Bytes received over all networks.
    public var networkRx: UInt64
    /// Bytes sent over all networks.
    public var networkTx: UInt64
    /// Bytes read from block devices.
    public var blockRead: UInt64
    /// Bytes written to block devices.
    public var blockWrite: UInt64
    /// Processes and threads.
    public var pids: UInt64

    /// `memoryUsage` as a percentage of `memoryLimit`.
    public var memoryPercent: Double {
        memoryLimit == 0 ? 0 : Double(memoryUsage) / Double(memoryLimit) * 100
    }
}
