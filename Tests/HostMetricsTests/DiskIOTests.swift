import Foundation
import Testing
@testable import HostMetrics

@Suite struct DiskIOTests {
    @Test func parsesDiskstatsCounters() throws {
        // setup
        let text = try Fixture.text("host-a/proc/diskstats")
        // act
        let disks = try DiskCounters.parse(text)
        // verify
        #expect(disks.count == 9)
        #expect(disks[0] == DiskCounters(name: "nvme0n1", readsCompleted: 482_016, sectorsRead: 30_219_734,
                                         writesCompleted: 1_204_567, sectorsWritten: 98_765_432, ioMilliseconds: 1_456_789))
        #expect(disks[0].bytesRead == 30_219_734 * 512)
        #expect(disks[0].bytesWritten == 98_765_432 * 512)
    }

    @Test func keepsWholeDisksOnly() throws {
        // setup
        let disks = try DiskCounters.parse(Fixture.text("host-a/proc/diskstats"))
        // act
        let whole = DiskCounters.wholeDisks(disks)
        // verify: partitions of listed disks, loop0 and dm-0 are gone
        #expect(whole.map(\.name) == ["nvme0n1", "sda", "sdb"])
    }

    @Test func aPartitionWhoseDiskIsNotListedIsKept() {
        // setup
        let disks = [DiskCounters(name: "xvda1"), DiskCounters(name: "mmcblk0"), DiskCounters(name: "mmcblk0p1"),
                     DiskCounters(name: "zram0"), DiskCounters(name: "ram0"), DiskCounters(name: "md0")]
        // act
        let whole = DiskCounters.wholeDisks(disks)
        // verify
        #expect(whole.map(\.name) == ["xvda1", "mmcblk0", "md0"])
        #expect(DiskCounters.parentDisk(ofPartition: "nvme0n1p12") == "nvme0n1")
        #expect(DiskCounters.parentDisk(ofPartition: "sda") == nil)
    }

    @Test func ratesAreBytesPerSecondFromSectorDeltas() throws {
        // setup
        let earlier = DiskCounters.wholeDisks(try DiskCounters.parse(Fixture.text("host-a/proc/diskstats")))
        let later = DiskCounters.wholeDisks(try DiskCounters.parse(Fixture.text("host-a-later/proc/diskstats")))
        // act
        let rates = DiskIORates.between(earlier, later, seconds: 5)
        // verify
        #expect(rates == [
            DiskIORate(name: "nvme0n1", readBytesPerSecond: 2_097_152, writeBytesPerSecond: 4_194_304,
                       readsPerSecond: 20, writesPerSecond: 100, busyFraction: 0.25),
            DiskIORate(name: "sda", readBytesPerSecond: 0, writeBytesPerSecond: 209_715.2,
                       readsPerSecond: 0, writesPerSecond: 1.6, busyFraction: 0.01),
            DiskIORate(name: "sdb", readBytesPerSecond: 0, writeBytesPerSecond: 0),
        ])
    }

    @Test func aWrappedCounterGivesZeroNotNegative() {
        // setup: a 32-bit sector counter wrapped; reads kept going
        let earlier = [DiskCounters(name: "sda", readsCompleted: 100, sectorsRead: 4_294_967_000, sectorsWritten: 10)]
        let later = [DiskCounters(name: "sda", readsCompleted: 110, sectorsRead: 200, sectorsWritten: 30)]
        // act
        let rates = DiskIORates.between(earlier, later, seconds: 2)
        // verify
        #expect(rates == [DiskIORate(name: "sda", readBytesPerSecond: 0, writeBytesPerSecond: 5120, readsPerSecond: 5)])
    }

    @Test func aNewDiskOrAZeroIntervalGivesZeroRates() {
        // setup
        let earlier = [DiskCounters(name: "sda", sectorsRead: 10)]
        let later = [DiskCounters(name: "sda", sectorsRead: 20), DiskCounters(name: "sdb", sectorsRead: 999)]
        // act
        let zeroInterval = DiskIORates.between(earlier, later, seconds: 0)
        let newDisk = DiskIORates.between(earlier, later, seconds: 1)
        // verify
        #expect(zeroInterval.allSatisfy { $0.readBytesPerSecond == 0 && $0.writeBytesPerSecond == 0 })
        #expect(newDisk.map(\.readBytesPerSecond) == [5120, 0])
    }

    @Test func aShortLineIsMalformed() {
        // act / verify
        #expect(throws: HostMetricsError.self) { try DiskCounters.parse("   8       0 sda 1 2 3\n") }
    }
}
