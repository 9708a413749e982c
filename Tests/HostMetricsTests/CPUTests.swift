import Foundation
import Testing
@testable import HostMetrics

@Suite struct CPUTests {
    @Test func parsesAggregateAndEachCoreOfProcStat() throws {
        // setup
        let text = try Fixture.text("host-a/proc/stat")
        // act
        let times = try CPUTimes.parse(text)
        // verify
        #expect(times.aggregate == CPUCounters(user: 42000, nice: 170, system: 10300, idle: 319000, iowait: 1800,
                                               irq: 0, softirq: 430, steal: 0))
        #expect(times.cores.map(\.id) == [0, 1, 2, 3])
        #expect(times.cores[1].counters == CPUCounters(user: 12000, nice: 50, system: 2500, idle: 78000, iowait: 400,
                                                       irq: 0, softirq: 100, steal: 0))
        #expect(times.aggregate.busyTicks == 52900)
        #expect(times.aggregate.idleTicks == 320800)
    }

    @Test func usageBetweenTwoSnapshotsIsTheBusyShareOfElapsedTicks() throws {
        // setup
        let earlier = try CPUTimes.parse(Fixture.text("host-a/proc/stat"))
        let later = try CPUTimes.parse(Fixture.text("host-a-later/proc/stat"))
        // act
        let usage = CPUUsage.between(earlier, later)
        // verify: per core 500 ticks elapsed; busy 300, 125, 0 (iowait counts idle) and 500
        #expect(usage.cores == [0.6, 0.25, 0, 1])
        #expect(usage.total == 0.4625)
    }

    @Test func olderKernelsWithFourColumnsGetZerosForTheRest() throws {
        // setup
        let text = "cpu  100 0 50 850\ncpu0 100 0 50 850\n"
        // act
        let times = try CPUTimes.parse(text)
        // verify
        #expect(times.aggregate == CPUCounters(user: 100, system: 50, idle: 850))
        #expect(times.cores.count == 1)
    }

    @Test func counterResetNeverGivesANegativeOrAboveOneFraction() throws {
        // setup: the later snapshot comes from a rebooted machine, all counters smaller
        let earlier = try CPUTimes.parse("cpu  9000 0 1000 90000 0 0 0 0\ncpu0 9000 0 1000 90000 0 0 0 0\n")
        let later = try CPUTimes.parse("cpu  30 0 10 160 0 0 0 0\ncpu0 30 0 10 160 0 0 0 0\n")
        // act
        let usage = CPUUsage.between(earlier, later)
        // verify: measured from zero, i.e. the average since the reset
        #expect(usage.total == 0.2)
        #expect(usage.cores == [0.2])
    }

    @Test func aSingleCounterSteppingBackCountsZeroNotNegative() throws {
        // setup: iowait drops by 100 (some kernels do this) while the total still grows
        let earlier = try CPUTimes.parse("cpu  1000 0 0 5000 400 0 0 0\n")
        let later = try CPUTimes.parse("cpu  1100 0 0 5400 300 0 0 0\n")
        // act
        let usage = CPUUsage.between(earlier, later)
        // verify: busy 100 of (100 busy + 300 idle)
        #expect(usage.total == 0.25)
        #expect(usage.total >= 0 && usage.total <= 1)
    }

    @Test func identicalSnapshotsAndHotPluggedCoresStayInRange() throws {
        // setup
        let earlier = try CPUTimes.parse("cpu  100 0 0 100 0 0 0 0\ncpu0 100 0 0 100 0 0 0 0\n")
        let later = try CPUTimes.parse("cpu  100 0 0 100 0 0 0 0\ncpu0 100 0 0 100 0 0 0 0\ncpu1 10 0 0 30 0 0 0 0\n")
        // act
        let usage = CPUUsage.between(earlier, later)
        // verify: no ticks elapsed → 0; the new core is measured from zero
        #expect(usage.total == 0)
        #expect(usage.cores == [0, 0.25])
    }

    @Test func textWithoutTheAggregateLineIsMalformed() {
        // setup
        let text = "intr 1 2 3\nctxt 42\n"
        // act / verify
        #expect(throws: HostMetricsError.malformed("/proc/stat", reason: "no aggregate 'cpu' line")) {
            try CPUTimes.parse(text)
        }
        #expect(throws: HostMetricsError.self) { try CPUTimes.parse("cpu  1 2 x 4\n") }
    }
}
