import Foundation

/// Ticks (USER_HZ, usually 1/100 s) one CPU — or all of them together — has spent in each state
/// since boot: one `cpu`/`cpuN` line of `/proc/stat`.
///
/// `guest` and `guest_nice` are not kept: the kernel already counts them in `user` and `nice`.
public struct CPUCounters: Codable, Sendable, Equatable {
    /// Normal-priority user-space code.
    public var user: UInt64
    /// Low-priority (niced) user-space code.
    public var nice: UInt64
    /// Kernel code on behalf of processes.
    public var system: UInt64
    /// Nothing to do.
    public var idle: UInt64
    /// Idle while waiting for disk I/O; counted as idle.
    public var iowait: UInt64
    /// Hardware interrupts.
    public var irq: UInt64
    /// Deferred interrupt work (network, block).
    public var softirq: UInt64
    /// Time a hypervisor gave to another guest while this one wanted to run; counted as busy.
    public var steal: UInt64

    public init(user: UInt64 = 0, nice: UInt64 = 0, system: UInt64 = 0, idle: UInt64 = 0,
                iowait: UInt64 = 0, irq: UInt64 = 0, softirq: UInt64 = 0, steal: UInt64 = 0) {
        self.user = user
        self.nice = nice
        self.system = system
        self.idle = idle
        self.iowait = iowait
        self.irq = irq
        self.softirq = softirq
        self.steal = steal
    }

    /// Ticks spent doing nothing: `idle + iowait`.
    public var idleTicks: UInt64 { idle &+ iowait }
    /// Ticks spent working: `user + nice + system + irq + softirq + steal`.
    public var busyTicks: UInt64 { user &+ nice &+ system &+ irq &+ softirq &+ steal }
    /// All ticks.
    public var totalTicks: UInt64 { idleTicks &+ busyTicks }
}

/// A snapshot of `/proc/stat`'s CPU lines: the aggregate and each online CPU.
public struct CPUTimes: Codable, Sendable, Equatable {
    /// One logical CPU (a `cpuN` line).
    public struct Core: Codable, Sendable, Equatable {
        /// The `N` of `cpuN`.
        public var id: Int
        /// Its ticks in each state.
        public var counters: CPUCounters
        public init(id: Int, counters: CPUCounters) {
            self.id = id
            self.counters = counters
        }
    }

    /// The `cpu` line: all CPUs together.
    public var aggregate: CPUCounters
    /// The `cpuN` lines in file order (cpu0, cpu1, …); an offline CPU has no line.
    public var cores: [Core]

    public init(aggregate: CPUCounters, cores: [Core]) {
        self.aggregate = aggregate
        self.cores = cores
    }

    /// Parses the text of `/proc/stat`. Lines other than `cpu`/`cpuN` are ignored; kernels that
    /// write fewer than eight columns (pre-2.6.11) get zeros for the missing ones.
    /// - Throws: `.malformed` when there is no aggregate `cpu` line or a CPU line has a non-numeric or
    ///   missing (fewer than four) column.
    public static func parse(_ text: String) throws(HostMetricsError) -> CPUTimes {
        var aggregate: CPUCounters?
        var cores: [Core] = []
        for line in text.nonEmptyLines where line.hasPrefix("cpu") {
            let columns = line.fields
            guard let label = columns.first else { continue }
            let values = columns.dropFirst().prefix(8)
            guard values.count >= 4 else {
                throw .malformed("/proc/stat", reason: "CPU line with fewer than 4 counters: \(line)")
            }
            var numbers: [UInt64] = []
            for value in values {
                guard let number = UInt64(value) else {
                    throw .malformed("/proc/stat", reason: "non-numeric counter '\(value)' in: \(line)")
                }
                numbers.append(number)
            }
            numbers += Array(repeating: 0, count: 8 - numbers.count)
            let counters = CPUCounters(user: numbers[0], nice: numbers[1], system: numbers[2], idle: numbers[3],
                                       iowait: numbers[4], irq: numbers[5], softirq: numbers[6], steal: numbers[7])
            if label == "cpu" {
                aggregate = counters
            } else if let id = Int(label.dropFirst(3)) {
                cores.append(Core(id: id, counters: counters))
            } else {
                throw .malformed("/proc/stat", reason: "unknown CPU label '\(label)'")
            }
        }
        guard let aggregate else {
            throw .malformed("/proc/stat", reason: "no aggregate 'cpu' line")
        }
        return CPUTimes(aggregate: aggregate, cores: cores)
    }
}

/// How busy the CPUs were between two `CPUTimes` snapshots, as fractions from 0 (idle) to 1 (fully busy).
public struct CPUUsage: Codable, Sendable, Equatable {
    /// All CPUs together.
    public var total: Double
    /// One per entry of the later snapshot's `cores`, in the same order (normally `cores[i]` is `cpu<i>`).
    public var cores: [Double]

    public init(total: Double, cores: [Double]) {
        self.total = total
        self.cores = cores
    }

    /// The busy fraction of each CPU between two snapshots, always within 0...1.
    ///
    /// Cores are matched by id. When a CPU's counters went backwards as a whole (the host rebooted, or
    /// the snapshots come from different machines) the earlier snapshot is treated as zero, so the
    /// result is the average since the reset; a single counter that steps back (some kernels let
    /// `iowait` do so) contributes 0. A core missing from the earlier snapshot (hot-plugged) is
    /// measured from zero the same way. No elapsed ticks gives 0.
    public static func between(_ earlier: CPUTimes, _ later: CPUTimes) -> CPUUsage {
        let earlierCores = Dictionary(earlier.cores.map { ($0.id, $0.counters) }, uniquingKeysWith: { first, _ in first })
        let cores = later.cores.map { core in
            busyFraction(from: earlierCores[core.id] ?? CPUCounters(), to: core.counters)
        }
        return CPUUsage(total: busyFraction(from: earlier.aggregate, to: later.aggregate), cores: cores)
    }

    static func busyFraction(from earlier: CPUCounters, to later: CPUCounters) -> Double {
        let start = later.totalTicks < earlier.totalTicks ? CPUCounters() : earlier
        let busy = later.busyTicks.delta(since: start.busyTicks)
        let idle = later.idleTicks.delta(since: start.idleTicks)
        let elapsed = busy &+ idle
        guard elapsed > 0 else { return 0 }
        return min(1, max(0, Double(busy) / Double(elapsed)))
    }
}
