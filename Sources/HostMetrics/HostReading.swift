import Foundation

/// What one look at a machine's files gives, before any rate is computed: the counters that become
/// rates against the next look, and the levels shown as they are. The local `HostSampler` and the
/// `RemoteHostSampler` both read it with `read(_:)` (from a directory or from files collected over
/// SSH) and turn it into a `HostSample` with `SampleHistory`, so both compute the same sample.
struct HostReading: Sendable {
    /// `/proc/uptime`: the clock rates are measured on.
    var uptime: Uptime
    /// `/proc/stat`.
    var cpuTimes: CPUTimes
    /// `/proc/loadavg`.
    var load: LoadAverage
    /// `/proc/meminfo`.
    var memory: MemoryUsage
    /// Whole disks of `/proc/diskstats` (see `DiskCounters.wholeDisks`).
    var disks: [DiskCounters]
    /// Reported interfaces of `/proc/net/dev` (see `InterfaceCounters.reported`).
    var interfaces: [InterfaceCounters]
    /// `/proc/[pid]/stat` of every process.
    var processes: ProcessTable
    /// hwmon and thermal-zone sensors.
    var temperatures: [TemperatureReading]
    /// Optional sources that exist but could not be read or parsed.
    var issues: [HostMetricsError]

    /// Reads every file-based source of `host`. Filesystem sizes and GPUs are not files; the
    /// samplers measure them their own way.
    /// - Throws: when `/proc/uptime`, `/proc/stat`, `/proc/loadavg` or `/proc/meminfo` cannot be read
    ///   or parsed. A failing `/proc/diskstats` or `/proc/net/dev` is an entry in `issues` instead.
    static func read(_ host: HostRoot) throws(HostMetricsError) -> HostReading {
        var issues: [HostMetricsError] = []
        let uptime = try Uptime.parse(host.read("proc/uptime"))
        let cpuTimes = try CPUTimes.parse(host.read("proc/stat"))
        let load = try LoadAverage.parse(host.read("proc/loadavg"))
        let memory = try MemoryUsage.parse(host.read("proc/meminfo"))
        let disks = optional(&issues) { () throws(HostMetricsError) in
            DiskCounters.wholeDisks(try DiskCounters.parse(host.read("proc/diskstats")))
        } ?? []
        let interfaces = optional(&issues) { () throws(HostMetricsError) in
            InterfaceCounters.reported(try InterfaceCounters.parse(host.read("proc/net/dev")))
        } ?? []
        return HostReading(uptime: uptime, cpuTimes: cpuTimes, load: load, memory: memory, disks: disks,
                           interfaces: interfaces, processes: ProcessTable.read(host),
                           temperatures: TemperatureSensors.read(host), issues: issues)
    }

    private static func optional<Value>(_ issues: inout [HostMetricsError],
                                        _ read: () throws(HostMetricsError) -> Value) -> Value? {
        do {
            return try read()
        } catch {
            issues.append(error)
            return nil
        }
    }
}

/// How a sampler turns readings into samples: how long the top-process lists are, and the units of
/// the machine's `/proc` counters.
struct SampleSettings: Sendable, Equatable {
    /// Length of the top-CPU and top-memory lists.
    var topProcessCount: Int
    /// Clock ticks per second of `/proc` CPU times (USER_HZ, 100 on every current Linux).
    var clockTicksPerSecond: Int
    /// Bytes per memory page.
    var pageSize: Int
}

/// The previous reading's counters, and the one place where a new reading becomes a `HostSample`
/// with rates against them. A reading whose uptime is not later than the previous one (the machine
/// rebooted, or the same instant was read twice) starts over like a first sample.
struct SampleHistory: Sendable {
    private struct Counters: Sendable {
        var uptime: Double
        var cpu: CPUTimes
        var disks: [DiskCounters]
        var interfaces: [InterfaceCounters]
        var processes: ProcessTable
    }

    private var previous: Counters?

    /// The sample of `reading`, with rates since the previous call; remembers `reading`'s counters
    /// for the next call. `filesystems` and `gpus` are put in as given.
    mutating func sample(_ reading: HostReading, at timestamp: Date, settings: SampleSettings,
                         filesystems: [FilesystemUsage] = [], gpus: [GPUInfo] = []) -> HostSample {
        let current = Counters(uptime: reading.uptime.seconds, cpu: reading.cpuTimes, disks: reading.disks,
                               interfaces: reading.interfaces, processes: reading.processes)
        var earlier = previous
        if let last = earlier, current.uptime <= last.uptime { earlier = nil }   // rebooted, or same instant
        previous = current
        let interval = earlier.map { current.uptime - $0.uptime }

        let cpu = earlier.map { CPUUsage.between($0.cpu, current.cpu) }
        let diskIO = earlier.map { DiskIORates.between($0.disks, current.disks, seconds: interval ?? 0) } ?? []
        let network = earlier.map { NetworkRates.between($0.interfaces, current.interfaces, seconds: interval ?? 0) } ?? []
        let summary = ProcessSummary.between(earlier?.processes, current.processes, seconds: interval ?? 0,
                                             clockTicksPerSecond: settings.clockTicksPerSecond,
                                             pageSize: settings.pageSize, limit: settings.topProcessCount)
        return HostSample(timestamp: timestamp, uptimeSeconds: current.uptime, intervalSeconds: interval, cpu: cpu,
                          logicalCores: current.cpu.cores.count, load: reading.load, memory: reading.memory,
                          filesystems: filesystems, diskIO: diskIO, network: network,
                          temperatures: reading.temperatures, gpus: gpus, processes: summary, issues: reading.issues)
    }

    /// Forgets the previous reading: the next sample is a first sample again.
    mutating func reset() {
        previous = nil
    }
}
