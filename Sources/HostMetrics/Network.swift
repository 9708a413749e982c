import Foundation

/// Cumulative traffic counters of one network interface: a line of `/proc/net/dev`.
public struct InterfaceCounters: Codable, Sendable, Equatable {
    /// Interface name: `eth0`, `enp3s0`, `wlan0`, `docker0`.
    public var name: String
    /// Bytes received since the interface came up.
    public var receivedBytes: UInt64
    /// Packets received.
    public var receivedPackets: UInt64
    /// Receive errors (bad frames, CRC).
    public var receiveErrors: UInt64
    /// Received packets dropped (no buffer, filtered).
    public var receiveDropped: UInt64
    /// Bytes sent since the interface came up.
    public var sentBytes: UInt64
    /// Packets sent.
    public var sentPackets: UInt64
    /// Send errors.
    public var sendErrors: UInt64
    /// Outgoing packets dropped.
    public var sendDropped: UInt64

    public init(name: String, receivedBytes: UInt64 = 0, receivedPackets: UInt64 = 0, receiveErrors: UInt64 = 0,
                receiveDropped: UInt64 = 0, sentBytes: UInt64 = 0, sentPackets: UInt64 = 0, sendErrors: UInt64 = 0,
                sendDropped: UInt64 = 0) {
        self.name = name
        self.receivedBytes = receivedBytes
        self.receivedPackets = receivedPackets
        self.receiveErrors = receiveErrors
        self.receiveDropped = receiveDropped
        self.sentBytes = sentBytes
        self.sentPackets = sentPackets
        self.sendErrors = sendErrors
        self.sendDropped = sendDropped
    }

    /// Parses every interface of `/proc/net/dev` (the two header lines are skipped).
    /// - Throws: `.malformed` when an interface line has fewer than 16 counters or a non-numeric one.
    public static func parse(_ text: String) throws(HostMetricsError) -> [InterfaceCounters] {
        var interfaces: [InterfaceCounters] = []
        for line in text.nonEmptyLines {
            guard let colon = line.firstIndex(of: ":"), !line.contains("|") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let columns = line[line.index(after: colon)...].fields
            guard columns.count >= 16 else {
                throw .malformed("/proc/net/dev", reason: "expected 16 counters for \(name) in: \(line)")
            }
            var numbers: [UInt64] = []
            for index in [0, 1, 2, 3, 8, 9, 10, 11] {
                guard let number = UInt64(columns[index]) else {
                    throw .malformed("/proc/net/dev", reason: "non-numeric counter '\(columns[index])' for \(name)")
                }
                numbers.append(number)
            }
            interfaces.append(InterfaceCounters(name: name, receivedBytes: numbers[0], receivedPackets: numbers[1],
                                                receiveErrors: numbers[2], receiveDropped: numbers[3],
                                                sentBytes: numbers[4], sentPackets: numbers[5],
                                                sendErrors: numbers[6], sendDropped: numbers[7]))
        }
        return interfaces
    }

    /// Interface name prefixes that are not reported. The rule: report what carries the host's own
    /// traffic, skip what only mirrors it.
    /// - skipped: `lo` (loopback), `veth` (one end of each container's pair), `br-` (Docker
    ///   compose networks), `virbr` (libvirt NAT bridges), `vnet` (libvirt VM taps), `ifb`
    ///   (traffic-shaping mirrors), `dummy`, and Kubernetes CNI plumbing (`cali`, `flannel`, `cni`);
    /// - kept: physical NICs (`eth0`, `enp3s0`, `wlan0`, `wlp2s0`), bonds and VLANs, `docker0` (all
    ///   default-bridge container traffic, once), and VPN tunnels (`tun`, `tap`, `wg`, `tailscale`).
    public static let ignoredNamePrefixes = ["veth", "br-", "virbr", "vnet", "ifb", "dummy", "cali", "flannel", "cni"]

    /// Whether an interface is shown on a dashboard (see `ignoredNamePrefixes`; `lo` is never shown).
    public static func isReported(_ name: String) -> Bool {
        name != "lo" && !ignoredNamePrefixes.contains(where: { name.hasPrefix($0) })
    }

    /// The interfaces of `interfaces` that `isReported`.
    public static func reported(_ interfaces: [InterfaceCounters]) -> [InterfaceCounters] {
        interfaces.filter { isReported($0.name) }
    }
}

/// Traffic of one interface between two snapshots.
public struct InterfaceRate: Codable, Sendable, Equatable {
    /// Interface name: `eth0`, `enp3s0`, `wlan0`, `docker0`.
    public var name: String
    /// Download, bytes per second.
    public var receivedBytesPerSecond: Double
    /// Upload, bytes per second.
    public var sentBytesPerSecond: Double
    /// Packets received per second.
    public var receivedPacketsPerSecond: Double
    /// Packets sent per second.
    public var sentPacketsPerSecond: Double
    /// Receive + send errors per second.
    public var errorsPerSecond: Double
    /// Bytes received since boot (or since the counter last wrapped).
    public var receivedBytesTotal: UInt64
    /// Bytes sent since boot (or since the counter last wrapped).
    public var sentBytesTotal: UInt64

    public init(name: String, receivedBytesPerSecond: Double, sentBytesPerSecond: Double, receivedPacketsPerSecond: Double = 0,
                sentPacketsPerSecond: Double = 0, errorsPerSecond: Double = 0, receivedBytesTotal: UInt64 = 0,
                sentBytesTotal: UInt64 = 0) {
        self.name = name
        self.receivedBytesPerSecond = receivedBytesPerSecond
        self.sentBytesPerSecond = sentBytesPerSecond
        self.receivedPacketsPerSecond = receivedPacketsPerSecond
        self.sentPacketsPerSecond = sentPacketsPerSecond
        self.errorsPerSecond = errorsPerSecond
        self.receivedBytesTotal = receivedBytesTotal
        self.sentBytesTotal = sentBytesTotal
    }
}

/// Turns two `/proc/net/dev` snapshots into per-interface rates.
public enum NetworkRates {
    /// Rates for every interface of `later`, over `seconds` elapsed. A counter that went backwards
    /// (32-bit wrap, interface re-created, reboot) yields 0 for that interval, never a negative rate;
    /// an interface absent from `earlier` or a non-positive interval yields zeros.
    public static func between(_ earlier: [InterfaceCounters], _ later: [InterfaceCounters], seconds: Double) -> [InterfaceRate] {
        let before = Dictionary(earlier.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return later.map { now in
            guard let then = before[now.name], seconds > 0, seconds.isFinite else {
                return InterfaceRate(name: now.name, receivedBytesPerSecond: 0, sentBytesPerSecond: 0,
                                     receivedBytesTotal: now.receivedBytes, sentBytesTotal: now.sentBytes)
            }
            func rate(_ value: KeyPath<InterfaceCounters, UInt64>) -> Double {
                Double(now[keyPath: value].delta(since: then[keyPath: value])) / seconds
            }
            return InterfaceRate(name: now.name, receivedBytesPerSecond: rate(\.receivedBytes), sentBytesPerSecond: rate(\.sentBytes),
                                 receivedPacketsPerSecond: rate(\.receivedPackets), sentPacketsPerSecond: rate(\.sentPackets),
                                 errorsPerSecond: rate(\.receiveErrors) + rate(\.sendErrors),
                                 receivedBytesTotal: now.receivedBytes, sentBytesTotal: now.sentBytes)
        }
    }
}
