import Foundation

/// Cumulative I/O counters of one block device: a line of `/proc/diskstats`.
public struct DiskCounters: Codable, Sendable, Equatable {
    /// Kernel name: `nvme0n1`, `sda`, `sda1`, `vda`, `mmcblk0`.
    public var name: String
    /// Read requests completed.
    public var readsCompleted: UInt64
    /// 512-byte sectors read (always 512, whatever the device's real sector size).
    public var sectorsRead: UInt64
    /// Write requests completed.
    public var writesCompleted: UInt64
    /// 512-byte sectors written.
    public var sectorsWritten: UInt64
    /// Milliseconds during which the device had I/O in flight (its "busy" time).
    public var ioMilliseconds: UInt64

    public init(name: String, readsCompleted: UInt64 = 0, sectorsRead: UInt64 = 0, writesCompleted: UInt64 = 0,
                sectorsWritten: UInt64 = 0, ioMilliseconds: UInt64 = 0) {
        self.name = name
        self.readsCompleted = readsCompleted
        self.sectorsRead = sectorsRead
        self.writesCompleted = writesCompleted
        self.sectorsWritten = sectorsWritten
        self.ioMilliseconds = ioMilliseconds
    }

    /// Bytes read since boot: sectors × 512.
    public var bytesRead: UInt64 { sectorsRead &* 512 }
    /// Bytes written since boot: sectors × 512.
    public var bytesWritten: UInt64 { sectorsWritten &* 512 }

    /// Parses every line of `/proc/diskstats`
    /// (`major minor name reads merged sectors ms writes merged sectors ms inflight io_ms weighted_ms …`).
    /// - Throws: `.malformed` when a line has fewer than 14 fields or a counter is not a number.
    public static func parse(_ text: String) throws(HostMetricsError) -> [DiskCounters] {
        var disks: [DiskCounters] = []
        for line in text.nonEmptyLines {
            let columns = line.fields
            guard columns.count >= 14 else {
                throw .malformed("/proc/diskstats", reason: "expected at least 14 fields in: \(line)")
            }
            var numbers: [UInt64] = []
            for index in [3, 5, 7, 9, 12] {
                guard let number = UInt64(columns[index]) else {
                    throw .malformed("/proc/diskstats", reason: "non-numeric counter '\(columns[index])' in: \(line)")
                }
                numbers.append(number)
            }
            disks.append(DiskCounters(name: String(columns[2]), readsCompleted: numbers[0], sectorsRead: numbers[1],
                                      writesCompleted: numbers[2], sectorsWritten: numbers[3], ioMilliseconds: numbers[4]))
        }
        return disks
    }

    /// Device name prefixes that are not physical disks: `loop` (images, snaps), `ram` and `zram`
    /// (RAM disks, compressed swap) and `dm-` (LVM/LUKS volumes, whose I/O is already counted on the
    /// disk underneath).
    public static let ignoredNamePrefixes = ["loop", "ram", "zram", "dm-"]

    /// The whole physical disks among `disks`: ignored prefixes dropped, and a partition dropped when
    /// its parent disk is listed too (`sda1` with `sda`, `nvme0n1p2` with `nvme0n1`), so I/O is
    /// counted once. A partition whose parent is absent is kept.
    public static func wholeDisks(_ disks: [DiskCounters]) -> [DiskCounters] {
        let names = Set(disks.map(\.name))
        return disks.filter { disk in
            guard !ignoredNamePrefixes.contains(where: { disk.name.hasPrefix($0) }) else { return false }
            guard let parent = parentDisk(ofPartition: disk.name) else { return true }
            return !names.contains(parent)
        }
    }

    /// The disk a partition name would belong to: `sda1` → `sda`, `nvme0n1p2` → `nvme0n1`,
    /// `mmcblk0p1` → `mmcblk0`; nil for names that do not end in a digit.
    static func parentDisk(ofPartition name: String) -> String? {
        let base = name.reversed().drop(while: \.isNumber).reversed()
        guard base.count < name.count, !base.isEmpty else { return nil }
        let stem = String(base)
        if stem.hasSuffix("p"), stem.dropLast().last?.isNumber == true {
            return String(stem.dropLast())
        }
        return stem
    }
}

/// I/O throughput of one disk between two snapshots.
public struct DiskIORate: Codable, Sendable, Equatable {
    /// Kernel name of the disk.
    public var name: String
    /// Bytes read per second.
    public var readBytesPerSecond: Double
    /// Bytes written per second.
    public var writeBytesPerSecond: Double
    /// Read requests completed per second (IOPS).
    public var readsPerSecond: Double
    /// Write requests completed per second (IOPS).
    public var writesPerSecond: Double
    /// Share of the interval the disk had I/O in flight, 0...1 (`%util` in iostat).
    public var busyFraction: Double

    public init(name: String, readBytesPerSecond: Double, writeBytesPerSecond: Double, readsPerSecond: Double = 0,
                writesPerSecond: Double = 0, busyFraction: Double = 0) {
        self.name = name
        self.readBytesPerSecond = readBytesPerSecond
        self.writeBytesPerSecond = writeBytesPerSecond
        self.readsPerSecond = readsPerSecond
        self.writesPerSecond = writesPerSecond
        self.busyFraction = busyFraction
    }
}

/// Turns two `/proc/diskstats` snapshots into per-disk rates.
public enum DiskIORates {
    /// Rates for every disk of `later`, over `seconds` elapsed. A counter that went backwards
    /// (32-bit wrap, device re-attached, reboot) yields 0 for that interval, never a negative rate;
    /// a disk absent from `earlier` or a non-positive interval yields zeros.
    public static func between(_ earlier: [DiskCounters], _ later: [DiskCounters], seconds: Double) -> [DiskIORate] {
        let before = Dictionary(earlier.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return later.map { now in
            guard let then = before[now.name], seconds > 0, seconds.isFinite else {
                return DiskIORate(name: now.name, readBytesPerSecond: 0, writeBytesPerSecond: 0)
            }
            func rate(_ value: KeyPath<DiskCounters, UInt64>) -> Double {
                Double(now[keyPath: value].delta(since: then[keyPath: value])) / seconds
            }
            return DiskIORate(name: now.name, readBytesPerSecond: rate(\.bytesRead), writeBytesPerSecond: rate(\.bytesWritten),
                              readsPerSecond: rate(\.readsCompleted), writesPerSecond: rate(\.writesCompleted),
                              busyFraction: min(1, rate(\.ioMilliseconds) / 1000))
        }
    }
}
