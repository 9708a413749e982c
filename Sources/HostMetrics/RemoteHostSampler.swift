import Foundation

/// Turns the output of `RemoteCollection.sampleScript`, run on a remote Linux machine (over SSH),
/// into `HostSample`s, remembering the previous sample's counters to compute rates — the same
/// sample, computed by the same code, as `HostSampler` gives on that machine.
///
/// ```swift
/// let sampler = RemoteHostSampler()           // one per remote machine
/// while true {
///     let output = try await ssh.run(RemoteCollection.sampleScript)
///     let sample = try await sampler.sample(fromOutput: output)
///     try await Task.sleep(for: .seconds(5))
/// }
/// ```
///
/// As with `HostSampler`, intervals are measured with the remote `/proc/uptime`, so the SSH round
/// trip does not distort rates, and a reboot (uptime going backwards) starts over like a first sample.
public actor RemoteHostSampler {
    /// How many processes each top list holds.
    public nonisolated let topProcessCount: Int
    /// Clock ticks per second of the remote `/proc` CPU times (USER_HZ: 100 on every current Linux).
    public nonisolated let clockTicksPerSecond: Int
    /// Bytes per memory page of the remote machine; nil to use what the script reports (4096 if it
    /// reports nothing).
    public nonisolated let pageSize: Int?

    private var history = SampleHistory()

    /// - Parameters:
    ///   - topProcessCount: length of the top-CPU and top-memory lists.
    ///   - clockTicksPerSecond: USER_HZ of the remote kernel.
    ///   - pageSize: the remote page size; nil to take it from the script's output.
    public init(topProcessCount: Int = 5, clockTicksPerSecond: Int = 100, pageSize: Int? = nil) {
        self.topProcessCount = topProcessCount
        self.clockTicksPerSecond = clockTicksPerSecond
        self.pageSize = pageSize
    }

    /// The sample in `output` (what `RemoteCollection.sampleScript` printed), with rates against the
    /// previous call. Decode the command's bytes with `String(decoding:as: UTF8.self)`: bytes that are
    /// not UTF-8 become U+FFFD and only affect the names they are in.
    /// - Parameter timestamp: when the output was collected (default now).
    /// - Throws: `.malformed` (source "remote output") when the output is not a complete run of the
    ///   sample script; `.unreadable` or `.malformed` naming the file when a required file
    ///   (`/proc/uptime`, `/proc/stat`, `/proc/loadavg`, `/proc/meminfo`) is missing or broken. The
    ///   previous counters are kept, so the next good output still gets rates.
    public func sample(fromOutput output: String, at timestamp: Date = Date()) throws(HostMetricsError) -> HostSample {
        let collected = try RemoteOutput.parse(output, expecting: .sample)
        let host = HostRoot(files: collected.files)
        let reading = try HostReading.read(host)
        var issues: [HostMetricsError] = []
        let filesystems = collected.filesystems(host, issues: &issues)
        let gpus = collected.gpus(issues: &issues)
        let settings = SampleSettings(topProcessCount: topProcessCount, clockTicksPerSecond: clockTicksPerSecond,
                                      pageSize: pageSize ?? collected.pageSize ?? 4096)
        var sample = history.sample(reading, at: timestamp, settings: settings, filesystems: filesystems, gpus: gpus)
        sample.issues += issues
        return sample
    }

    /// Forgets the previous sample: the next one is a first sample again (call it when the
    /// connection now reaches a different machine).
    public func reset() {
        history.reset()
    }

    /// The hardware profile in `output` (what `RemoteCollection.hardwareScript` printed). GPUs come
    /// from `nvidia-smi`; a failing one gives no GPUs, as in `HostSampler.hardwareProfile()`.
    /// - Throws: `.malformed` (source "remote output") when the output is not a complete run of the
    ///   hardware script; `.unreadable` or `.malformed` naming `/proc/cpuinfo` or `/proc/meminfo`
    ///   when one is missing or broken.
    public static func hardwareProfile(fromOutput output: String) throws(HostMetricsError) -> HardwareProfile {
        let collected = try RemoteOutput.parse(output, expecting: .hardware)
        var ignored: [HostMetricsError] = []
        let gpus = collected.gpus(issues: &ignored)
        return try HardwareProfile.read(HostRoot(files: collected.files), gpus: gpus, system: collected.systemName,
                                        fallbackCores: 0)
    }
}
