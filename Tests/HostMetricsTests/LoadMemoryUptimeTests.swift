import Foundation
import Testing
@testable import HostMetrics

@Suite struct LoadMemoryUptimeTests {
    @Test func parsesLoadAverageAndTaskCounts() throws {
        // setup
        let text = try Fixture.text("host-a/proc/loadavg")
        // act
        let load = try LoadAverage.parse(text)
        // verify
        #expect(load == LoadAverage(one: 0.52, five: 0.58, fifteen: 0.59, runningTasks: 3, totalTasks: 467))
    }

    @Test func malformedLoadAverageNamesTheFile() {
        // act / verify
        #expect(throws: HostMetricsError.self) { try LoadAverage.parse("0.5 0.4\n") }
        do {
            _ = try LoadAverage.parse("0.5 0.4 0.3 three\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .malformed)
            #expect(error.source == "/proc/loadavg")
        }
    }

    @Test func parsesMeminfoIntoBytesWithUsedAsTotalMinusAvailable() throws {
        // setup
        let text = try Fixture.text("host-a/proc/meminfo")
        // act
        let memory = try MemoryUsage.parse(text)
        // verify
        #expect(memory.totalBytes == 16_303_428 * 1024)
        #expect(memory.availableBytes == 9_876_543 * 1024)
        #expect(memory.usedBytes == 6_426_885 * 1024)
        #expect(memory.freeBytes == 1_234_567 * 1024)
        #expect(memory.buffersBytes == 345_678 * 1024)
        #expect(memory.cachedBytes == 7_654_321 * 1024)
        #expect(memory.swapTotalBytes == 4_194_300 * 1024)
        #expect(memory.swapFreeBytes == 3_145_724 * 1024)
        #expect(memory.swapUsedBytes == 1_073_741_824)
    }

    @Test func kernelsWithoutMemAvailableEstimateItFromFreeBuffersAndCache() throws {
        // setup
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"
        // act
        let memory = try MemoryUsage.parse(text)
        // verify
        #expect(memory.availableBytes == 400 * 1024)
        #expect(memory.usedBytes == 600 * 1024)
        #expect(memory.swapTotalBytes == 0)
        #expect(memory.usedFraction == 0.6)
    }

    @Test func meminfoWithoutMemTotalIsMalformed() {
        // act / verify
        #expect(throws: HostMetricsError.malformed("/proc/meminfo", reason: "no MemTotal line")) {
            try MemoryUsage.parse("MemFree: 100 kB\n")
        }
    }

    @Test func parsesUptime() throws {
        // setup
        let text = try Fixture.text("host-a/proc/uptime")
        // act
        let uptime = try Uptime.parse(text)
        // verify
        #expect(uptime == Uptime(seconds: 356_789.25, idleSeconds: 1_398_765.5))
        #expect(throws: HostMetricsError.self) { try Uptime.parse("\n") }
    }
}
