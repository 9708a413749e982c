import Foundation

/// RAM and swap, in bytes, from `/proc/meminfo`.
public struct MemoryUsage: Codable, Sendable, Equatable {
    /// Usable RAM (`MemTotal`).
    public var totalBytes: UInt64
    /// RAM that can be handed to programs without swapping (`MemAvailable`): free memory plus the
    /// reclaimable part of the page cache. On kernels older than 3.14, `MemFree + Buffers + Cached`.
    public var availableBytes: UInt64
    /// `total − available`: what programs really hold, the number a dashboard shows as "used".
    public var usedBytes: UInt64
    /// Completely unused RAM (`MemFree`).
    public var freeBytes: UInt64
    /// Block-device buffers (`Buffers`).
    public var buffersBytes: UInt64
    /// Page cache (`Cached`).
    public var cachedBytes: UInt64
    /// Swap space (`SwapTotal`); 0 without swap.
    public var swapTotalBytes: UInt64
    /// Unused swap (`SwapFree`).
    public var swapFreeBytes: UInt64
    /// `SwapTotal − SwapFree`.
    public var swapUsedBytes: UInt64

    public init(totalBytes: UInt64, availableBytes: UInt64, freeBytes: UInt64 = 0, buffersBytes: UInt64 = 0,
                cachedBytes: UInt64 = 0, swapTotalBytes: UInt64 = 0, swapFreeBytes: UInt64 = 0) {
        self.totalBytes = totalBytes
        self.availableBytes = min(availableBytes, totalBytes)
        self.usedBytes = totalBytes.delta(since: availableBytes)
        self.freeBytes = freeBytes
        self.buffersBytes = buffersBytes
        self.cachedBytes = cachedBytes
        self.swapTotalBytes = swapTotalBytes
        self.swapFreeBytes = min(swapFreeBytes, swapTotalBytes)
        self.swapUsedBytes = swapTotalBytes.delta(since: swapFreeBytes)
    }

    /// `used / total`, 0 when the total is unknown.
    public var usedFraction: Double { totalBytes == 0 ? 0 : Double(usedBytes) / Double(totalBytes) }

    /// Parses `/proc/meminfo` (`MemTotal:  24684096 kB` lines); values with a `kB` unit are
    /// converted to bytes (the kernel's "kB" is KiB).
    /// - Throws: `.malformed` when `MemTotal` is missing or a value used here is not a number.
    public static func parse(_ text: String) throws(HostMetricsError) -> MemoryUsage {
        var values: [String: UInt64] = [:]
        for line in text.nonEmptyLines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let rest = line[line.index(after: colon)...].fields
            guard let number = rest.first else { continue }
            guard let amount = UInt64(number) else {
                throw .malformed("/proc/meminfo", reason: "non-numeric value in: \(line)")
            }
            let multiplier: UInt64 = rest.count > 1 && rest[1].lowercased() == "kb" ? 1024 : 1
            values[key] = amount.multipliedReportingOverflow(by: multiplier).partialValue
        }
        guard let total = values["MemTotal"] else {
            throw .malformed("/proc/meminfo", reason: "no MemTotal line")
        }
        let free = values["MemFree"] ?? 0
        let buffers = values["Buffers"] ?? 0
        let cached = values["Cached"] ?? 0
        let available = values["MemAvailable"] ?? (free &+ buffers &+ cached)
        return MemoryUsage(totalBytes: total, availableBytes: available, freeBytes: free, buffersBytes: buffers,
                           cachedBytes: cached, swapTotalBytes: values["SwapTotal"] ?? 0,
                           swapFreeBytes: values["SwapFree"] ?? 0)
    }
}
