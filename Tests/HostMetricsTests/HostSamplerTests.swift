import Foundation
import Testing
@testable import HostMetrics

@Suite struct HostSamplerTests {
    @Test func theFirstSampleOfAFixtureHostHasLevelsButNoRatesYet() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        try FileManager.default.createDirectory(atPath: root.path + "/mnt/my disk", withIntermediateDirectories: true)
        let sampler = HostSampler(root: root.path, gpuProbe: nil, clockTicksPerSecond: 100, pageSize: 4096)
        // act
        let sample = try await sampler.sample()
        // verify
        #expect(sample.uptimeSeconds == 356_789.25)
        #expect(sample.intervalSeconds == nil)
        #expect(sample.cpu == nil)
        #expect(sample.logicalCores == 4)
        #expect(sample.load.one == 0.52)
        #expect(sample.memory.usedBytes == 6_426_885 * 1024)
        // only mount points that exist under the fixture root can be stat'ed
        #expect(sample.filesystems.map(\.mountPoint) == ["/", "/mnt/my disk"])
        #expect(sample.filesystems.allSatisfy { $0.totalBytes > 0 })
        #expect(sample.diskIO.isEmpty)
        #expect(sample.network.isEmpty)
        #expect(sample.temperatures.count == 10)
        #expect(sample.gpus.isEmpty)
        #expect(sample.processes.count == 2)
        #expect(sample.processes.topByCPU.isEmpty)
        #expect(sample.processes.topByMemory.map(\.pid) == [4242, 1])
        #expect(sample.issues.isEmpty)
    }

    @Test func theSecondSampleHasRatesOverTheUptimeInterval() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let sampler = HostSampler(root: root.path, gpuProbe: nil, topProcessCount: 1, clockTicksPerSecond: 100, pageSize: 4096)
        _ = try await sampler.sample()
        try root.overlay(Fixture.hostALater())
        // act
        let sample = try await sampler.sample()
        // verify
        #expect(sample.intervalSeconds == 5)
        #expect(sample.cpu == CPUUsage(total: 0.4625, cores: [0.6, 0.25, 0, 1]))
        #expect(sample.diskIO.map(\.name) == ["nvme0n1", "sda", "sdb"])
        #expect(sample.diskIO.first?.readBytesPerSecond == 2_097_152)
        #expect(sample.network.map(\.name) == ["eth0", "wlan0", "docker0"])
        #expect(sample.network.first?.receivedBytesPerSecond == 10_485_760)
        #expect(sample.processes.count == 3)
        #expect(sample.processes.topByCPU == [ProcessUsage(pid: 4242, name: "my (weird) app", cpuPercent: 100,
                                                           residentBytes: 52_224 * 4096)])
    }

    @Test func aRebootStartsOverLikeAFirstSample() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let sampler = HostSampler(root: root.path, gpuProbe: nil)
        _ = try await sampler.sample()
        try root.write("42.00 80.00\n", to: "proc/uptime")
        // act
        let sample = try await sampler.sample()
        // verify
        #expect(sample.intervalSeconds == nil)
        #expect(sample.cpu == nil)
        #expect(sample.diskIO.isEmpty)
    }

    @Test func aBrokenOptionalSourceIsAnIssueAndTheRestIsStillSampled() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        try root.write("   8       0 sda 1 2\n", to: "proc/diskstats")
        try FileManager.default.removeItem(atPath: root.path + "/proc/net/dev")
        let sampler = HostSampler(root: root.path, gpuProbe: nil)
        // act
        let sample = try await sampler.sample()
        // verify
        #expect(sample.issues.map(\.code) == [.malformed, .unreadable])
        #expect(sample.issues.map(\.source) == ["/proc/diskstats", root.path + "/proc/net/dev"])
        #expect(sample.memory.totalBytes > 0)
    }

    @Test func aMissingRequiredSourceThrowsANamedError() async throws {
        // setup
        let empty = try TemporaryDirectory()
        defer { empty.remove() }
        let sampler = HostSampler(root: empty.path, gpuProbe: nil)
        // act
        do {
            _ = try await sampler.sample()
            Issue.record("expected an error")
        } catch {
            // verify
            #expect(error.code == .unreadable)
            #expect(error.source == empty.path + "/proc/uptime")
            #expect(error.description.hasPrefix("cannot read \(empty.path)/proc/uptime: "))
        }
    }

    @Test func aSampleRoundTripsThroughJSON() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let sampler = HostSampler(root: root.path, gpuProbe: nil)
        _ = try await sampler.sample()
        try root.overlay(Fixture.hostALater())
        let sample = try await sampler.sample()
        // act
        let decoded = try JSONDecoder().decode(HostSample.self, from: JSONEncoder().encode(sample))
        // verify
        #expect(decoded == sample)
    }
}
