import Foundation

/// Everything a dashboard shows about a machine at one moment. Rates (CPU, disk I/O, network,
/// process CPU) cover the interval since the sampler's previous sample; on the first sample (and
/// after a reboot) they are not known yet: `cpu` is nil and the rate lists are empty.
public struct HostSample: Codable, Sendable, Equatable {
    /// When the sample was taken (wall clock, for display and storage).
    public var timestamp: Date
    /// Seconds since boot.
    public var uptimeSeconds: Double
    /// Seconds since the previous sample (measured on the kernel's monotonic uptime); nil on the first.
    public var intervalSeconds: Double?
    /// Busy fraction of all CPUs and of each; nil on the first sample.
    public var cpu: CPUUsage?
    /// Online logical CPUs (the `cpuN` lines of `/proc/stat`).
    public var logicalCores: Int
    /// Load averages and task counts.
    public var load: LoadAverage
    /// RAM and swap.
    public var memory: MemoryUsage
    /// Real filesystems (see `MountEntry.realFilesystems`), in mount-table order.
    public var filesystems: [FilesystemUsage]
    /// Whole disks (see `DiskCounters.wholeDisks`).
    public var diskIO: [DiskIORate]
    /// Reported interfaces (see `InterfaceCounters.isReported`).
    public var network: [InterfaceRate]
    /// Empty on machines without sensors.
    public var temperatures: [TemperatureReading]
    /// Empty without `nvidia-smi`.
    public var gpus: [GPUInfo]
    /// Process count and the top processes by CPU and by memory.
    public var processes: ProcessSummary
    /// Optional sources that exist but failed this time (a `nvidia-smi` that hung, a mount that did
    /// not answer `statvfs`, an unreadable `/proc/diskstats`); the rest of the sample is still valid.
    public var issues: [HostMetricsError]

    public init(timestamp: Date, uptimeSeconds: Double, intervalSeconds: Double?, cpu: CPUUsage?, logicalCores: Int,
                load: LoadAverage, memory: MemoryUsage, filesystems: [FilesystemUsage], diskIO: [DiskIORate],
                network: [InterfaceRate], temperatures: [TemperatureReading], gpus: [GPUInfo],
                processes: ProcessSummary, issues: [HostMetricsError]) {
        self.timestamp = timestamp
        self.uptimeSeconds = uptimeSeconds
        self.intervalSeconds = intervalSeconds
        self.cpu = cpu
        self.logicalCores = logicalCores
        self.load = load
        self.memory = memory
        self.filesystems = filesystems
        self.diskIO = diskIO
        self.network = network
        self.temperatures = temperatures
        self.gpus = gpus
        self.processes = processes
        self.issues = issues
    }
}

/// Reads a Linux machine's metrics from `/proc`, `/sys` and `nvidia-smi` into `HostSample`s,
/// remembering the previous sample's counters to turn them into rates.
///
/// ```swift
/// let sampler = HostSampler()                 // or HostSampler(root: "/host") in a container
/// while true {
///     let sample = try await sampler.sample()
///     try await send(sample)
///     try await Task.sleep(for: .seconds(5))
/// }
/// ```
///
/// `/proc/stat`, `/proc/meminfo`, `/proc/loadavg` and `/proc/uptime` are required; every other
/// source is optional — missing means empty, failing means an entry in `HostSample.issues`.
/// Intervals are measured with `/proc/uptime`, so a wall-clock jump never distorts a rate and a
/// reboot (uptime going backwards) starts over like a first sample.
public actor HostSampler {
    /// The directory treated as `/`.
    public nonisolated let root: String
    /// Asked for GPUs on each sample; nil to skip GPUs.
    public nonisolated let gpuProbe: GPUProbe?
    /// How many processes each top list holds.
    public nonisolated let topProcessCount: Int
    /// How long `statvfs` on one mount point may take before that mount is left out (and skipped
    /// until the stuck call returns, so a stale NFS mount ties up at most one thread).
    public nonisolated let statfsTimeout: Duration
    /// Clock ticks per second of `/proc` CPU times.
    public nonisolated let clockTicksPerSecond: Int
    /// Bytes per memory page.
    public nonisolated let pageSize: Int

    private var history = SampleHistory()
    private var unansweredMounts: Set<String> = []

    /// - Parameters:
    ///   - root: the directory treated as `/` (default `/`; `/host` when the host is bind-mounted
    ///     into a container; a fixture tree in tests).
    ///   - gpuProbe: how to find GPUs; nil to skip.
    ///   - topProcessCount: length of the top-CPU and top-memory lists.
    ///   - statfsTimeout: deadline for `statvfs` on one mount point.
    ///   - clockTicksPerSecond: defaults to this machine's `sysconf(_SC_CLK_TCK)`.
    ///   - pageSize: defaults to this machine's `sysconf(_SC_PAGESIZE)`.
    public init(root: String = "/", gpuProbe: GPUProbe? = GPUProbe(), topProcessCount: Int = 5,
                statfsTimeout: Duration = .seconds(2), clockTicksPerSecond: Int = ProcessTable.systemClockTicksPerSecond,
                pageSize: Int = ProcessTable.systemPageSize) {
        self.root = root
        self.gpuProbe = gpuProbe
        self.topProcessCount = topProcessCount
        self.statfsTimeout = statfsTimeout
        self.clockTicksPerSecond = clockTicksPerSecond
        self.pageSize = pageSize
    }

    /// Reads the machine now and computes rates against the previous call.
    /// - Throws: when a required source (`/proc/stat`, `/proc/meminfo`, `/proc/loadavg`,
    ///   `/proc/uptime`) cannot be read or parsed — is `/proc` mounted under `root`?
    public func sample() async throws(HostMetricsError) -> HostSample {
        let host = HostRoot(root)
        // Counters first, with no suspension point until the history is updated, so two overlapping
        // calls cannot measure against the same previous sample.
        let reading = try HostReading.read(host)
        var sample = history.sample(reading, at: Date(), settings: settings)

        sample.filesystems = await measureFilesystems(host, issues: &sample.issues)
        if let gpuProbe {
            do { sample.gpus = try await gpuProbe.probe() } catch { sample.issues.append(error) }
        }
        return sample
    }

    private nonisolated var settings: SampleSettings {
        SampleSettings(topProcessCount: topProcessCount, clockTicksPerSecond: clockTicksPerSecond, pageSize: pageSize)
    }

    /// Forgets the previous sample: the next `sample()` is a first sample again.
    public func reset() {
        history.reset()
    }

    /// The machine's hardware profile. GPUs come from `gpuProbe`; a failing probe gives no GPUs.
    /// - Throws: when `/proc/cpuinfo` or `/proc/meminfo` cannot be read or parsed.
    public func hardwareProfile() async throws(HostMetricsError) -> HardwareProfile {
        let gpus = (try? await gpuProbe?.probe()) ?? []
        return try HardwareProfile.read(root: root, gpus: gpus)
    }

    private func measureFilesystems(_ host: HostRoot, issues: inout [HostMetricsError]) async -> [FilesystemUsage] {
        let mounts: [MountEntry]
        do {
            mounts = try MountEntry.realFilesystems(of: host, mountTables: mountTableCandidates)
        } catch {
            issues.append(error)
            return []
        }
        var usages: [FilesystemUsage] = []
        for mount in mounts {
            let path = host.path(mount.mountPoint)
            guard !unansweredMounts.contains(path) else {
                issues.append(.timedOut("statvfs \(mount.mountPoint)", after: statfsTimeout.inSeconds))
                continue
            }
            let root = self.root
            let timeout = statfsTimeout
            let outcome = await Deadline.run(timeout: timeout) { [weak self] in
                let started = ContinuousClock.now
                let usage = FilesystemUsage.measure(mount, root: root)
                if started.duration(to: .now) >= timeout {
                    Task { await self?.mountAnswered(path) }
                }
                return usage
            }
            switch outcome {
            case .finished(let usage):
                if let usage { usages.append(usage) }
            case .timedOut:
                unansweredMounts.insert(path)
                issues.append(.timedOut("statvfs \(mount.mountPoint)", after: timeout.inSeconds))
            }
        }
        return usages
    }

    /// Where the mount table is read. On a host, this process's view. Under another root (a
    /// container with the host's `/proc` at `/host/proc`), `proc/self` would describe the container's
    /// mount namespace, so the host's init (`proc/1/mounts`) is asked first, as node_exporter does.
    nonisolated var mountTableCandidates: [String] {
        HostRoot(root).isThisMachinesRoot
            ? ["proc/self/mounts", "proc/mounts"]
            : ["proc/1/mounts", "proc/self/mounts", "proc/mounts"]
    }

    private func mountAnswered(_ path: String) {
        unansweredMounts.remove(path)
    }
}
