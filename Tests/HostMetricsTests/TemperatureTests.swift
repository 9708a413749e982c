import Foundation
import Testing
@testable import HostMetrics

@Suite struct TemperatureTests {
    @Test func readsHwmonChipsThenThermalZonesWithReadableLabels() throws {
        // setup
        let root = try Fixture.hostA()
        // act
        let readings = TemperatureSensors.read(root: root)
        // verify: the acpitz zone is already the acpitz chip; iwlwifi's zone has no reading;
        // the second NVMe drive's label is numbered
        #expect(readings == [
            TemperatureReading(label: "acpitz", celsius: 27.8),
            TemperatureReading(label: "coretemp Package id 0", celsius: 45),
            TemperatureReading(label: "coretemp Core 0", celsius: 43),
            TemperatureReading(label: "coretemp Core 1", celsius: 44),
            TemperatureReading(label: "nvme Composite", celsius: 38.85),
            TemperatureReading(label: "nvme Sensor 1", celsius: 38.85),
            TemperatureReading(label: "nct6798 temp2", celsius: 35.5),
            TemperatureReading(label: "nct6798 temp10", celsius: 30),
            TemperatureReading(label: "nvme Composite 2", celsius: 41),
            TemperatureReading(label: "x86_pkg_temp", celsius: 46),
        ])
    }

    @Test func aMachineWithoutSensorsHasNoReadings() throws {
        // setup
        let empty = try TemporaryDirectory()
        defer { empty.remove() }
        // act
        let readings = TemperatureSensors.read(root: empty.path)
        // verify
        #expect(readings.isEmpty)
    }

    @Test func parsesMillidegreesIncludingBelowZero() throws {
        // act / verify
        #expect(try TemperatureReading.parseMillidegrees("45250\n") == 45.25)
        #expect(try TemperatureReading.parseMillidegrees("-5000") == -5)
        #expect(throws: HostMetricsError.self) { try TemperatureReading.parseMillidegrees("N/A") }
    }
}
