import Foundation

/// The run-queue load averages and process counts from `/proc/loadavg`.
public struct LoadAverage: Codable, Sendable, Equatable {
    /// Average number of runnable (or uninterruptible) tasks over the last minute.
    public var one: Double
    /// … over the last five minutes.
    public var five: Double
    /// … over the last fifteen minutes.
    public var fifteen: Double
    /// Tasks (threads) runnable right now.
    public var runningTasks: Int
    /// Tasks (threads) that exist right now.
    public var totalTasks: Int

    public init(one: Double, five: Double, fifteen: Double, runningTasks: Int, totalTasks: Int) {
        self.one = one
        self.five = five
        self.fifteen = fifteen
        self.runningTasks = runningTasks
        self.totalTasks = totalTasks
    }

    /// Parses `/proc/loadavg`, e.g. `0.52 0.58 0.59 3/467 12345`.
    /// - Throws: `.malformed` when a field is missing or not a number.
    public static func parse(_ text: String) throws(HostMetricsError) -> LoadAverage {
        let columns = text.fields.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard columns.count >= 4,
              let one = Double(columns[0]), let five = Double(columns[1]), let fifteen = Double(columns[2])
        else { throw .malformed("/proc/loadavg", reason: "expected three load averages and running/total, got '\(text.trimmingCharacters(in: .whitespacesAndNewlines))'") }
        let tasks = columns[3].split(separator: "/")
        guard tasks.count == 2, let running = Int(tasks[0]), let total = Int(tasks[1]) else {
            throw .malformed("/proc/loadavg", reason: "expected running/total tasks, got '\(columns[3])'")
        }
        return LoadAverage(one: one, five: five, fifteen: fifteen, runningTasks: running, totalTasks: total)
    }
}

/// How long the machine has been up, from `/proc/uptime`.
public struct Uptime: Codable, Sendable, Equatable {
    /// Seconds since boot (monotonic: it also serves as the clock for rates between samples).
    public var seconds: Double
    /// Idle seconds summed over all CPUs since boot.
    public var idleSeconds: Double

    public init(seconds: Double, idleSeconds: Double) {
        self.seconds = seconds
        self.idleSeconds = idleSeconds
    }

    /// Parses `/proc/uptime`, e.g. `3991.02 2511.91`.
    /// - Throws: `.malformed` when the first field is missing or not a number.
    public static func parse(_ text: String) throws(HostMetricsError) -> Uptime {
        let columns = text.fields.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let first = columns.first, let seconds = Double(first), seconds >= 0 else {
            throw .malformed("/proc/uptime", reason: "expected seconds since boot, got '\(text.trimmingCharacters(in: .whitespacesAndNewlines))'")
        }
        let idle = columns.count > 1 ? Double(columns[1]) ?? 0 : 0
        return Uptime(seconds: seconds, idleSeconds: idle)
    }
}
