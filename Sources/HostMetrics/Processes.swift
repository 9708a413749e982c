import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One process as `/proc/[pid]/stat` describes it.
public struct ProcessSnapshot: Codable, Sendable, Equatable {
    /// Process id.
    public var pid: Int32
    /// The command name (`comm`, at most 15 characters; may contain spaces and parentheses).
    public var name: String
    /// One-letter state: `R` running, `S` sleeping, `D` waiting on I/O, `Z` zombie, `I` idle kernel thread…
    public var state: String
    /// Parent's process id (0 for init and kernel threads' parent).
    public var parentPID: Int32
    /// CPU time used so far, user + system, in clock ticks (`utime + stime`).
    public var cpuTicks: UInt64
    /// When the process started, in clock ticks after boot; with `pid` it identifies a process,
    /// so a recycled pid is not mistaken for the old process.
    public var startTicks: UInt64
    /// Resident set size in pages (`rss`, the same counter as `statm`'s `resident`).
    public var residentPages: UInt64
    /// Number of threads.
    public var threads: Int

    public init(pid: Int32, name: String, state: String = "S", parentPID: Int32 = 0, cpuTicks: UInt64 = 0,
                startTicks: UInt64 = 0, residentPages: UInt64 = 0, threads: Int = 1) {
        self.pid = pid
        self.name = name
        self.state = state
        self.parentPID = parentPID
        self.cpuTicks = cpuTicks
        self.startTicks = startTicks
        self.residentPages = residentPages
        self.threads = threads
    }

    /// Parses `/proc/[pid]/stat`: `pid (comm) state ppid … utime stime … num_threads … starttime vsize rss …`.
    /// The name is what lies between the first `(` and the *last* `)`, since `comm` may contain both.
    /// - Throws: `.malformed` when the parentheses or a needed field (up to `rss`) are missing or not numbers.
    public static func parse(_ text: String) throws(HostMetricsError) -> ProcessSnapshot {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close,
              let pid = Int32(text[..<open].trimmingCharacters(in: .whitespaces)) else {
            throw .malformed("/proc/[pid]/stat", reason: "expected 'pid (name) …', got '\(text.prefix(80))'")
        }
        let name = String(text[text.index(after: open)..<close])
        let rest = text[text.index(after: close)...].fields
        guard rest.count >= 22 else {
            throw .malformed("/proc/\(pid)/stat", reason: "expected at least 24 fields, got \(rest.count + 2)")
        }
        func number(_ index: Int, _ field: String) throws(HostMetricsError) -> UInt64 {
            guard let value = UInt64(rest[index]) else {
                throw .malformed("/proc/\(pid)/stat", reason: "\(field) '\(rest[index])' is not a number")
            }
            return value
        }
        let user = try number(11, "utime")
        let system = try number(12, "stime")
        return ProcessSnapshot(pid: pid, name: name, state: String(rest[0]), parentPID: Int32(rest[1]) ?? 0,
                               cpuTicks: user &+ system, startTicks: try number(19, "starttime"),
                               residentPages: try number(21, "rss"), threads: Int(rest[17]) ?? 1)
    }
}

/// Every process of a machine at one moment, read from `/proc/[pid]/stat`.
public struct ProcessTable: Codable, Sendable, Equatable {
    /// In `/proc` listing order (ascending pid).
    public var processes: [ProcessSnapshot]

    public init(processes: [ProcessSnapshot]) {
        self.processes = processes
    }

    /// Reads `/proc/[pid]/stat` for every numeric entry of `root`/proc — one file per process, since
    /// `stat` already carries the name, CPU ticks and resident pages. A process that exits between
    /// the directory listing and the read, or whose file cannot be parsed, is skipped silently.
    public static func read(root: String = "/") -> ProcessTable {
        read(HostRoot(root))
    }

    /// The process table of `host` (see `read(root:)`).
    static func read(_ host: HostRoot) -> ProcessTable {
        let processes = host.list("proc").compactMap { entry -> ProcessSnapshot? in
            guard !entry.isEmpty, entry.allSatisfy(\.isNumber),
                  let text = try? host.read("proc/\(entry)/stat") else { return nil }
            return try? ProcessSnapshot.parse(text)
        }
        return ProcessTable(processes: processes)
    }

    /// Bytes per memory page on this machine (`sysconf(_SC_PAGESIZE)`, usually 4096).
    public static var systemPageSize: Int {
        let size = sysconf(Int32(_SC_PAGESIZE))
        return size > 0 ? size : 4096
    }

    /// Clock ticks per second of `/proc` CPU times on this machine (`sysconf(_SC_CLK_TCK)`, usually 100).
    public static var systemClockTicksPerSecond: Int {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? ticks : 100
    }
}

/// One process in a "top" list.
public struct ProcessUsage: Codable, Sendable, Equatable {
    /// Process id.
    public var pid: Int32
    /// The command name (`comm`).
    public var name: String
    /// CPU used over the interval as `top` shows it: 100 is one full core, so a busy multi-threaded
    /// process can exceed 100. 0 when there was no earlier snapshot to measure against.
    public var cpuPercent: Double
    /// Resident memory, bytes.
    public var residentBytes: UInt64

    public init(pid: Int32, name: String, cpuPercent: Double, residentBytes: UInt64) {
        self.pid = pid
        self.name = name
        self.cpuPercent = cpuPercent
        self.residentBytes = residentBytes
    }
}

/// Process count and the heaviest processes by CPU and by memory.
public struct ProcessSummary: Codable, Sendable, Equatable {
    /// Processes (not threads) that exist, kernel threads included.
    public var count: Int
    /// Highest `cpuPercent` first; empty when there is no earlier table to measure against.
    public var topByCPU: [ProcessUsage]
    /// Largest resident memory first.
    public var topByMemory: [ProcessUsage]

    public init(count: Int, topByCPU: [ProcessUsage], topByMemory: [ProcessUsage]) {
        self.count = count
        self.topByCPU = topByCPU
        self.topByMemory = topByMemory
    }

    /// Summarises `later`, measuring CPU against `earlier` over `seconds`.
    ///
    /// Processes are matched by pid *and* start time. A process not in `earlier` started during the
    /// interval, so all its CPU time counts; a counter that went backwards counts 0. Ties are broken
    /// by pid so the lists are stable.
    /// - Parameters:
    ///   - earlier: the previous table, or nil for the first sample (then `topByCPU` is empty).
    ///   - clockTicksPerSecond: `ProcessTable.systemClockTicksPerSecond` for a live table.
    ///   - pageSize: `ProcessTable.systemPageSize` for a live table.
    ///   - limit: how many processes each top list holds.
    public static func between(_ earlier: ProcessTable?, _ later: ProcessTable, seconds: Double,
                               clockTicksPerSecond: Int, pageSize: Int, limit: Int) -> ProcessSummary {
        let bytesPerPage = UInt64(max(pageSize, 0))
        let measurable = earlier != nil && seconds > 0 && seconds.isFinite && clockTicksPerSecond > 0
        struct Identity: Hashable { var pid: Int32; var startTicks: UInt64 }
        let before = Dictionary((earlier?.processes ?? []).map { (Identity(pid: $0.pid, startTicks: $0.startTicks), $0.cpuTicks) },
                                uniquingKeysWith: { first, _ in first })
        let all = later.processes.map { process in
            var cpuPercent = 0.0
            if measurable {
                let ticks = process.cpuTicks.delta(since: before[Identity(pid: process.pid, startTicks: process.startTicks)] ?? 0)
                cpuPercent = Double(ticks) * 100 / (Double(clockTicksPerSecond) * seconds)
            }
            return (usage: ProcessUsage(pid: process.pid, name: process.name, cpuPercent: cpuPercent,
                                        residentBytes: process.residentPages &* bytesPerPage),
                    pages: process.residentPages)
        }
        let count = max(limit, 0)
        let byCPU = measurable
            ? all.map(\.usage).sorted { ($0.cpuPercent, -$0.pid) > ($1.cpuPercent, -$1.pid) }.prefix(count).map { $0 }
            : []
        let memory = all.sorted { ($0.pages, -$0.usage.pid) > ($1.pages, -$1.usage.pid) }.prefix(count).map(\.usage)
        return ProcessSummary(count: later.processes.count, topByCPU: byCPU, topByMemory: memory)
    }
}
