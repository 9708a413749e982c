import Foundation
import Testing
@testable import HostMetrics

@Suite struct HardwareProfileTests {
    @Test func parsesX86CPUInfoWithHyperThreading() throws {
        // setup
        let text = try Fixture.text("cpuinfo-x86")
        // act
        let cpu = try CPUDescription.parse(text)
        // verify
        #expect(cpu == CPUDescription(model: "Intel(R) Core(TM) i3-7100 CPU @ 3.90GHz", logicalCores: 4, physicalCores: 2))
    }

    @Test func parsesRaspberryPiCPUInfoUsingTheHardwareLine() throws {
        // setup
        let text = try Fixture.text("cpuinfo-arm")
        // act
        let cpu = try CPUDescription.parse(text)
        // verify
        #expect(cpu == CPUDescription(model: "BCM2835", logicalCores: 4, physicalCores: nil))
    }

    @Test func olderARMKernelsNameTheCPUOnAProcessorLine() throws {
        // setup
        let text = "Processor\t: ARMv7 Processor rev 5 (v7l)\nprocessor\t: 0\nBogoMIPS\t: 38.40\n\nprocessor\t: 1\nBogoMIPS\t: 38.40\n"
        // act
        let cpu = try CPUDescription.parse(text)
        // verify
        #expect(cpu == CPUDescription(model: "ARMv7 Processor rev 5 (v7l)", logicalCores: 2))
        #expect(throws: HostMetricsError.self) { try CPUDescription.parse("\n\n") }
    }

    @Test func parsesOSRelease() throws {
        // setup
        let text = try Fixture.text("host-a/etc/os-release")
        // act
        let os = try OSRelease.parse(text)
        // verify
        #expect(os == OSRelease(prettyName: "Ubuntu 24.04.1 LTS", name: "Ubuntu", id: "ubuntu", versionID: "24.04"))
        #expect(os.displayName == "Ubuntu 24.04.1 LTS")
    }

    @Test func osReleaseWithoutPrettyNameFallsBackToNameAndVersion() throws {
        // setup
        let text = "# minimal\nNAME='Alpine Linux'\nID=alpine\nVERSION_ID=3.20.1\nPRETTY_NAME=\"\"\n"
        // act
        let os = try OSRelease.parse(text)
        // verify
        #expect(os.displayName == "Alpine Linux 3.20.1")
        #expect(throws: HostMetricsError.self) { try OSRelease.parse("# nothing here\n") }
    }

    @Test func readsDisksFromSysBlockSkippingLoopEmptyAndMapperDevices() throws {
        // setup
        let root = try Fixture.hostA()
        // act
        let disks = BlockDevice.read(root: root)
        // verify
        #expect(disks == [
            BlockDevice(name: "nvme0n1", sizeBytes: 1_953_525_168 * 512, model: "Samsung SSD 980 PRO 1TB", rotational: false),
            BlockDevice(name: "sda", sizeBytes: 7_814_037_168 * 512, model: "WDC WD40EFRX-68N", rotational: true),
            BlockDevice(name: "sdb", sizeBytes: 976_773_168 * 512, model: nil, rotational: nil),
        ])
    }

    @Test func readsTheWholeProfileOfAFixtureRoot() throws {
        // setup
        let root = try Fixture.hostA()
        let gpus = try GPUInfo.parse(Fixture.text("nvidia-smi.csv"))
        // act
        let profile = try HardwareProfile.read(root: root, gpus: gpus)
        // verify
        #expect(profile.hostname == "homelab-a")
        #expect(profile.cpuModel == "Intel(R) Core(TM) i3-7100 CPU @ 3.90GHz")
        #expect(profile.logicalCores == 4)
        #expect(profile.physicalCores == 2)
        #expect(profile.memoryTotalBytes == 16_303_428 * 1024)
        #expect(profile.swapTotalBytes == 4_194_300 * 1024)
        #expect(profile.disks.map(\.name) == ["nvme0n1", "sda", "sdb"])
        #expect(profile.gpus == [GPUModel(name: "NVIDIA GeForce RTX 3090", memoryTotalBytes: 24_576 * 1_048_576),
                                 GPUModel(name: "NVIDIA GeForce GTX 1050 Ti", memoryTotalBytes: 4_096 * 1_048_576)])
        #expect(profile.operatingSystem == "Ubuntu 24.04.1 LTS")
        #expect(profile.kernel == "6.8.0-45-generic")
        #expect(profile.architecture?.isEmpty == false)
    }

    @Test func aRootWithoutProcCannotBeProfiled() throws {
        // setup
        let empty = try TemporaryDirectory()
        defer { empty.remove() }
        // act / verify
        do {
            _ = try HardwareProfile.read(root: empty.path)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.source == empty.path + "/proc/cpuinfo")
            #expect(error.reason == "No such file or directory")
        }
    }
}
