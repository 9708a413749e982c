import Foundation

/// One temperature sensor reading.
public struct TemperatureReading: Codable, Sendable, Equatable {
    /// A readable sensor name: `coretemp Package id 0`, `nvme Composite`, `acpitz`, `k10temp Tctl`.
    public var label: String
    /// Degrees Celsius.
    public var celsius: Double

    public init(label: String, celsius: Double) {
        self.label = label
        self.celsius = celsius
    }

    /// Parses a sysfs temperature file (`temp`, `tempN_input`): an integer in millidegrees Celsius.
    /// - Throws: `.malformed` when the text is not an integer.
    public static func parseMillidegrees(_ text: String) throws(HostMetricsError) -> Double {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let millidegrees = Int(value) else {
            throw .malformed("temperature file", reason: "expected millidegrees Celsius, got '\(value)'")
        }
        return Double(millidegrees) / 1000
    }
}

/// Reads the temperature sensors the kernel exposes in sysfs.
public enum TemperatureSensors {
    /// Every readable sensor under `root`: first the hwmon chips
    /// (`/sys/class/hwmon/hwmon*/{name,temp*_input,temp*_label}`), labelled "chip label"
    /// (`coretemp Core 0`) — or "chip tempN" when a chip has several unlabelled inputs, or just
    /// "chip" when it has one — then the thermal zones (`/sys/class/thermal/thermal_zone*/{type,temp}`)
    /// labelled by their type, except zones whose type is already a hwmon chip (the kernel mirrors
    /// each thermal zone as a hwmon chip of that name). Repeated labels get " 2", " 3"… appended.
    ///
    /// A machine without sensors (most VMs) gives an empty list; a sensor that cannot be read or
    /// reports no number (a disconnected input answers with an error) is left out.
    public static func read(root: String = "/") -> [TemperatureReading] {
        read(HostRoot(root))
    }

    /// The sensors of `host` (see `read(root:)`).
    static func read(_ host: HostRoot) -> [TemperatureReading] {
        var readings = hwmonReadings(host)
        let chipNames = Set(host.list("sys/class/hwmon").compactMap { chipName(host, "sys/class/hwmon/\($0)") })
        for zone in host.list("sys/class/thermal") where zone.hasPrefix("thermal_zone") {
            let directory = "sys/class/thermal/\(zone)"
            let type = host.readValue("\(directory)/type") ?? zone
            guard !chipNames.contains(type),
                  let text = try? host.read("\(directory)/temp"),
                  let celsius = try? TemperatureReading.parseMillidegrees(text) else { continue }
            readings.append(TemperatureReading(label: type, celsius: celsius))
        }
        return uniquelyLabelled(readings)
    }

    private static func hwmonReadings(_ host: HostRoot) -> [TemperatureReading] {
        var readings: [TemperatureReading] = []
        for chip in host.list("sys/class/hwmon") {
            // Old drivers keep their attributes in the chip's `device` folder.
            let candidates = ["sys/class/hwmon/\(chip)", "sys/class/hwmon/\(chip)/device"]
            guard let directory = candidates.first(where: { !temperatureInputs(host, $0).isEmpty }) else { continue }
            let name = chipName(host, directory) ?? chipName(host, candidates[0]) ?? chip
            let inputs = temperatureInputs(host, directory)
            for input in inputs {
                let sensor = String(input.dropLast("_input".count))
                guard let text = try? host.read("\(directory)/\(input)"),
                      let celsius = try? TemperatureReading.parseMillidegrees(text) else { continue }
                let label: String
                if let sensorLabel = host.readValue("\(directory)/\(sensor)_label") {
                    label = "\(name) \(sensorLabel)"
                } else {
                    label = inputs.count == 1 ? name : "\(name) \(sensor)"
                }
                readings.append(TemperatureReading(label: label, celsius: celsius))
            }
        }
        return readings
    }

    private static func chipName(_ host: HostRoot, _ directory: String) -> String? {
        host.readValue("\(directory)/name")
    }

    private static func temperatureInputs(_ host: HostRoot, _ directory: String) -> [String] {
        host.list(directory).filter { $0.hasPrefix("temp") && $0.hasSuffix("_input") }
    }

    private static func uniquelyLabelled(_ readings: [TemperatureReading]) -> [TemperatureReading] {
        var seen: [String: Int] = [:]
        return readings.map { reading in
            let count = (seen[reading.label] ?? 0) + 1
            seen[reading.label] = count
            guard count > 1 else { return reading }
            return TemperatureReading(label: "\(reading.label) \(count)", celsius: reading.celsius)
        }
    }
}
