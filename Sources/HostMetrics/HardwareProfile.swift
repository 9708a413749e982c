import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The processor as `/proc/cpuinfo` describes it.
public struct CPUDescription: Codable, Sendable, Equatable {
    /// Marketing name: x86 `model name`; on ARM `Hardware` (SoC), `Processor` (32-bit kernels) or
    /// `Model` (Raspberry Pi); nil when the kernel gives none (many arm64 boards).
    public var model: String?
    /// Logical CPUs (one `processor` block each).
    public var logicalCores: Int
    /// Physical cores (distinct `physical id`/`core id` pairs); nil when the kernel does not say (ARM).
    public var physicalCores: Int?

    public init(model: String?, logicalCores: Int, physicalCores: Int? = nil) {
        self.model = model
        self.logicalCores = logicalCores
        self.physicalCores = physicalCores
    }

    /// The keys tried, in order, for the model name.
    static let modelKeys = ["model name", "Hardware", "Processor", "Model", "cpu model", "cpu"]

    /// Parses `/proc/cpuinfo` (`key<TAB>: value` lines, a blank line between processors).
    /// - Throws: `.malformed` when the text has no `key: value` line at all.
    public static func parse(_ text: String) throws(HostMetricsError) -> CPUDescription {
        var firstValue: [String: String] = [:]
        var logical = 0
        var cores: Set<String> = []
        var physicalID = ""
        var sawPair = false
        for line in text.nonEmptyLines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            sawPair = true
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "processor" where Int(value) != nil: logical += 1
            case "physical id": physicalID = value
            case "core id": cores.insert("\(physicalID)/\(value)")
            default: break
            }
            if firstValue[key] == nil, !value.isEmpty { firstValue[key] = value }
        }
        guard sawPair else { throw .malformed("/proc/cpuinfo", reason: "no 'key : value' lines") }
        let model = modelKeys.lazy.compactMap { firstValue[$0] }.first { Int($0) == nil }
        return CPUDescription(model: model, logicalCores: logical, physicalCores: cores.isEmpty ? nil : cores.count)
    }
}

/// The operating system, from `/etc/os-release` (or `/usr/lib/os-release`).
public struct OSRelease: Codable, Sendable, Equatable {
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    public var prettyName: String?
    /// `NAME`, e.g. `Debian GNU/Linux`.
    public var name: String?
    /// `ID`, e.g. `debian`, `ubuntu`, `arch`.
    public var id: String?
    /// `VERSION_ID`, e.g. `12`, `24.04`.
    public var versionID: String?

    public init(prettyName: String? = nil, name: String? = nil, id: String? = nil, versionID: String? = nil) {
        self.prettyName = prettyName
        self.name = name
        self.id = id
        self.versionID = versionID
    }

    /// What to show: `PRETTY_NAME`, else `NAME VERSION_ID`, else `NAME`, else "Linux".
    public var displayName: String {
        if let prettyName { return prettyName }
        if let name { return [name, versionID].compactMap { $0 }.joined(separator: " ") }
        return "Linux"
    }

    /// Parses os-release (`KEY=value`, values optionally in single or double quotes with `\`
    /// escapes; `#` comments).
    /// - Throws: `.malformed` when there is no `KEY=value` line.
    public static func parse(_ text: String) throws(HostMetricsError) -> OSRelease {
        var values: [String: String] = [:]
        for rawLine in text.nonEmptyLines {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = unquote(line[line.index(after: equals)...])
        }
        guard !values.isEmpty else { throw .malformed("/etc/os-release", reason: "no KEY=value lines") }
        func value(_ key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
        return OSRelease(prettyName: value("PRETTY_NAME"), name: value("NAME"), id: value("ID"), versionID: value("VERSION_ID"))
    }

    private static func unquote(_ raw: Substring) -> String {
        guard let quote = raw.first, quote == "\"" || quote == "'", raw.count >= 2, raw.last == quote else { return String(raw) }
        var result = ""
        var escaped = false
        for character in raw.dropFirst().dropLast() {
            if escaped || character != "\\" || quote == "'" {
                result.append(character)
                escaped = false
            } else {
                escaped = true
            }
        }
        return result
    }
}

/// A whole disk, from `/sys/block`.
public struct BlockDevice: Codable, Sendable, Equatable {
    /// Kernel name: `nvme0n1`, `sda`.
    public var name: String
    /// Capacity: `/sys/block/<name>/size` (512-byte sectors) × 512.
    public var sizeBytes: UInt64
    /// `/sys/block/<name>/device/model`, e.g. `Samsung SSD 980 PRO 1TB`; nil when the driver gives none (virtio).
    public var model: String?
    /// True for a spinning disk, false for flash (`queue/rotational`); nil when unknown.
    public var rotational: Bool?

    public init(name: String, sizeBytes: UInt64, model: String? = nil, rotational: Bool? = nil) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.model = model
        self.rotational = rotational
    }

    /// The disks of `root`/sys/block, skipping `DiskCounters.ignoredNamePrefixes` (loop, ram, zram,
    /// dm-) and empty devices (a card reader or DVD drive without a medium).
    public static func read(root: String = "/") -> [BlockDevice] {
        read(HostRoot(root))
    }

    /// The disks of `host` (see `read(root:)`).
    static func read(_ host: HostRoot) -> [BlockDevice] {
        host.list("sys/block").compactMap { name in
            guard !DiskCounters.ignoredNamePrefixes.contains(where: { name.hasPrefix($0) }),
                  let sectors = host.readValue("sys/block/\(name)/size").flatMap({ UInt64($0) }), sectors > 0
            else { return nil }
            let rotational = host.readValue("sys/block/\(name)/queue/rotational").map { $0 == "1" }
            return BlockDevice(name: name, sizeBytes: sectors &* 512, model: host.readValue("sys/block/\(name)/device/model"),
                               rotational: rotational)
        }
    }
}

/// A GPU's model and memory, for the hardware profile.
public struct GPUModel: Codable, Sendable, Equatable {
    /// Product name, e.g. `NVIDIA GeForce RTX 3090`.
    public var name: String
    /// VRAM, bytes; nil when the driver does not say.
    public var memoryTotalBytes: UInt64?

    public init(name: String, memoryTotalBytes: UInt64?) {
        self.name = name
        self.memoryTotalBytes = memoryTotalBytes
    }
}

/// What a machine is: shown when a node joins and on its server page. It changes rarely, so it is
/// read once per connection, not every sample.
public struct HardwareProfile: Codable, Sendable, Equatable {
    /// The machine's host name.
    public var hostname: String?
    /// CPU model name; nil when the kernel gives none.
    public var cpuModel: String?
    /// Logical CPUs (hardware threads).
    public var logicalCores: Int
    /// Physical cores; nil when the kernel does not say (ARM).
    public var physicalCores: Int?
    /// RAM, bytes (`MemTotal`).
    public var memoryTotalBytes: UInt64
    /// Swap space, bytes (`SwapTotal`).
    public var swapTotalBytes: UInt64
    /// Whole disks (see `BlockDevice.read`).
    public var disks: [BlockDevice]
    /// NVIDIA GPUs; empty without `nvidia-smi`.
    public var gpus: [GPUModel]
    /// e.g. `Debian GNU/Linux 12 (bookworm)`.
    public var operatingSystem: String
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    public var kernel: String?
    /// Machine architecture, e.g. `x86_64`, `aarch64`.
    public var architecture: String?

    public init(hostname: String?, cpuModel: String?, logicalCores: Int, physicalCores: Int?, memoryTotalBytes: UInt64,
                swapTotalBytes: UInt64, disks: [BlockDevice], gpus: [GPUModel], operatingSystem: String, kernel: String?,
                architecture: String?) {
        self.hostname = hostname
        self.cpuModel = cpuModel
        self.logicalCores = logicalCores
        self.physicalCores = physicalCores
        self.memoryTotalBytes = memoryTotalBytes
        self.swapTotalBytes = swapTotalBytes
        self.disks = disks
        self.gpus = gpus
        self.operatingSystem = operatingSystem
        self.kernel = kernel
        self.architecture = architecture
    }

    /// Reads the profile of the machine under `root`. `gpus` comes from `GPUProbe.probe()` (empty
    /// without NVIDIA GPUs). Kernel and host name come from `proc/sys/kernel/{osrelease,hostname}`
    /// under `root`, falling back to `uname`; the architecture always comes from `uname` (a container
    /// shares its host's kernel, so it is the host's).
    /// - Throws: when `/proc/cpuinfo` or `/proc/meminfo` cannot be read or parsed. The other sources
    ///   are optional: a missing os-release gives "Linux", missing `/sys/block` no disks.
    public static func read(root: String = "/", gpus: [GPUInfo] = []) throws(HostMetricsError) -> HardwareProfile {
        try read(HostRoot(root), gpus: gpus, system: SystemName.current(),
                 fallbackCores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The profile of `host` (see `read(root:gpus:)`), with `uname`'s answers in `system` and
    /// `fallbackCores` used when neither `/proc/cpuinfo` nor `/proc/stat` counts the CPUs.
    static func read(_ host: HostRoot, gpus: [GPUInfo], system: SystemName?, fallbackCores: Int) throws(HostMetricsError) -> HardwareProfile {
        let cpu = try CPUDescription.parse(host.read("proc/cpuinfo"))
        let memory = try MemoryUsage.parse(host.read("proc/meminfo"))
        let os = (try? host.readFirst(["etc/os-release", "usr/lib/os-release"])).flatMap { try? OSRelease.parse($0) }
        let logical = cpu.logicalCores > 0
            ? cpu.logicalCores
            : ((try? CPUTimes.parse(host.read("proc/stat")).cores.count) ?? fallbackCores)
        return HardwareProfile(hostname: host.readValue("proc/sys/kernel/hostname") ?? system?.nodeName,
                               cpuModel: cpu.model, logicalCores: logical, physicalCores: cpu.physicalCores,
                               memoryTotalBytes: memory.totalBytes, swapTotalBytes: memory.swapTotalBytes,
                               disks: BlockDevice.read(host),
                               gpus: gpus.map { GPUModel(name: $0.name, memoryTotalBytes: $0.memoryTotalBytes) },
                               operatingSystem: os?.displayName ?? "Linux",
                               kernel: host.readValue("proc/sys/kernel/osrelease") ?? system?.release,
                               architecture: system?.machine)
    }
}

/// The fields of `uname(2)` this module uses.
struct SystemName: Sendable, Equatable {
    var nodeName: String
    var release: String
    var machine: String

    /// Parses the output of `uname -nrm` (`node release machine`, the order `uname` always prints).
    static func parse(_ text: String) -> SystemName? {
        let columns = text.fields.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        guard columns.count == 3 else { return nil }
        return SystemName(nodeName: columns[0], release: columns[1], machine: columns[2])
    }

    static func current() -> SystemName? {
        var name = utsname()
        guard uname(&name) == 0 else { return nil }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        return SystemName(nodeName: text(name.nodename), release: text(name.release), machine: text(name.machine))
    }
}
