import Foundation
import Testing
@testable import HostMetrics

/// Runs against this machine's real /proc and /sys. Assumes Linux, nothing about the hardware.
@Suite struct LiveHostTests {
    @Test func aLiveSampleHasCoresMemoryAFilesystemUptimeAndProcesses() async throws {
        // setup
        let sampler = HostSampler()
        // act
        let sample = try await sampler.sample()
        // verify
        #expect(sample.logicalCores >= 1)
        #expect(sample.memory.totalBytes > 0)
        #expect(sample.memory.usedBytes <= sample.memory.totalBytes)
        #expect(sample.filesystems.contains { $0.totalBytes > 0 })
        #expect(sample.uptimeSeconds > 0)
        #expect(sample.processes.count > 1)
        #expect(sample.load.totalTasks >= 1)
        #expect(sample.issues.isEmpty, "issues: \(sample.issues)")
    }

    @Test func aSecondLiveSampleHasCPUUsageWithinRange() async throws {
        // setup
        let sampler = HostSampler()
        _ = try await sampler.sample()
        try await Task.sleep(for: .milliseconds(300))
        // act
        let sample = try await sampler.sample()
        // verify
        let cpu = try #require(sample.cpu)
        #expect(cpu.total >= 0 && cpu.total <= 1)
        #expect(cpu.cores.count == sample.logicalCores)
        #expect(cpu.cores.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect((sample.intervalSeconds ?? 0) > 0)
        #expect(sample.diskIO.allSatisfy { $0.readBytesPerSecond >= 0 && $0.writeBytesPerSecond >= 0 })
        #expect(sample.network.allSatisfy { $0.receivedBytesPerSecond >= 0 && $0.sentBytesPerSecond >= 0 })
        #expect(sample.processes.topByCPU.allSatisfy { $0.cpuPercent >= 0 })
    }

    @Test func theTestProcessIsInTheLiveProcessTable() throws {
        // setup
        let me = getpid()
        // act
        let table = ProcessTable.read()
        // verify
        let mine = try #require(table.processes.first { $0.pid == me })
        #expect(mine.residentPages > 0)
        #expect(mine.threads >= 1)
        #expect(table.processes.count > 1)
    }

    @Test func liveParsersAcceptThisMachinesFiles() throws {
        // act
        let cpu = try CPUTimes.parse(readTextFile(atPath: "/proc/stat"))
        let mounts = try MountEntry.parse(readTextFile(atPath: "/proc/self/mounts"))
        let disks = try DiskCounters.parse(readTextFile(atPath: "/proc/diskstats"))
        let interfaces = try InterfaceCounters.parse(readTextFile(atPath: "/proc/net/dev"))
        let description = try CPUDescription.parse(readTextFile(atPath: "/proc/cpuinfo"))
        // verify
        #expect(cpu.cores.count >= 1)
        #expect(!MountEntry.realFilesystems(mounts).isEmpty)
        #expect(disks.allSatisfy { !$0.name.isEmpty })
        #expect(interfaces.contains { $0.name == "lo" })
        #expect(description.logicalCores >= 1)
    }

    @Test func theLiveHardwareProfileDescribesThisMachine() async throws {
        // setup
        let sampler = HostSampler()
        // act
        let profile = try await sampler.hardwareProfile()
        // verify
        #expect(profile.logicalCores >= 1)
        #expect(profile.memoryTotalBytes > 0)
        #expect(!profile.operatingSystem.isEmpty)
        #expect(profile.kernel?.isEmpty == false)
        #expect(profile.disks.allSatisfy { $0.sizeBytes > 0 })
    }

    @Test func liveTemperaturesAreEmptyOrPlausible() {
        // act
        let readings = TemperatureSensors.read()
        // verify: this machine may have no sensors at all
        #expect(readings.allSatisfy { !$0.label.isEmpty && $0.celsius > -60 && $0.celsius < 200 })
    }
}
