import Foundation
import Testing
@testable import HostMetrics

@Suite struct FilesystemTests {
    @Test func parsesEveryMountLineAndUnescapesOctalSpaces() throws {
        // setup
        let text = try Fixture.text("host-a/proc/mounts")
        // act
        let mounts = try MountEntry.parse(text)
        // verify
        #expect(mounts.count == 34)
        let disk = try #require(mounts.first { $0.device == "/dev/sdb1" })
        #expect(disk.mountPoint == "/mnt/my disk")
        #expect(disk.type == "ext4")
        #expect(disk.options == ["rw", "relatime"])
    }

    @Test func keepsOnlyRealFilesystemsOncePerDevice() throws {
        // setup
        let mounts = try MountEntry.parse(Fixture.text("host-a/proc/mounts"))
        // act
        let real = MountEntry.realFilesystems(mounts)
        // verify: pseudo types gone, the second btrfs subvolume and the docker bind of / gone
        #expect(real.map(\.mountPoint) == ["/", "/boot/efi", "/srv/data", "/tank", "/tank/media", "/mnt/backup", "/mnt/my disk"])
        #expect(real.map(\.type) == ["ext4", "vfat", "btrfs", "zfs", "zfs", "nfs4", "ext4"])
        #expect(real[0].device == "/dev/nvme0n1p2")
        #expect(real[5].device == "nas.lan:/volume1/backup")
    }

    @Test func unescapesTabsBackslashesAndLeavesOtherBackslashesAlone() {
        // act / verify
        #expect(MountEntry.unescape(#"/a\011b\134c"#) == "/a\tb\\c")
        #expect(MountEntry.unescape(#"/odd\09x"#) == #"/odd\09x"#)
        #expect(MountEntry.unescape(#"/end\04"#) == #"/end\04"#)
    }

    @Test func aLineWithTooFewFieldsIsMalformed() {
        // act / verify
        #expect(throws: HostMetricsError.self) { try MountEntry.parse("/dev/sda1 /data\n") }
    }

    @Test func measuresAMountUnderTheRootAndSkipsOneThatCannotBeStated() throws {
        // setup
        let root = try Fixture.hostA()
        let rootMount = MountEntry(device: "/dev/nvme0n1p2", mountPoint: "/", type: "ext4")
        let missing = MountEntry(device: "tank", mountPoint: "/tank", type: "zfs")
        // act
        let usage = FilesystemUsage.measure(rootMount, root: root)
        let skipped = FilesystemUsage.measure(missing, root: root)
        // verify
        let measured = try #require(usage)
        #expect(measured.device == "/dev/nvme0n1p2")
        #expect(measured.totalBytes > 0)
        #expect(measured.usedBytes <= measured.totalBytes)
        #expect(measured.availableBytes <= measured.totalBytes)
        #expect(measured.usedFraction >= 0 && measured.usedFraction <= 1)
        #expect(skipped == nil)
    }

    @Test func usedFractionIsUsedOverUsedPlusAvailable() {
        // setup
        let usage = FilesystemUsage(device: "/dev/sda1", mountPoint: "/", type: "ext4", totalBytes: 1000, usedBytes: 300, availableBytes: 650)
        // act / verify: 50 bytes reserved for root are not part of the percentage, as in df
        #expect(isClose(usage.usedFraction, 300.0 / 950.0))
    }
}

@Suite struct MountTableSourceTests {
    @Test func aHostReadsItsOwnMountsAndAContainerRootAsksTheHostsInit() {
        // act
        let onHost = HostSampler().mountTableCandidates
        let inContainer = HostSampler(root: "/host/").mountTableCandidates
        // verify
        #expect(onHost == ["proc/self/mounts", "proc/mounts"])
        #expect(inContainer == ["proc/1/mounts", "proc/self/mounts", "proc/mounts"])
    }
}
