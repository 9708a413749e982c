import Foundation
import Testing
@testable import HostMetrics

@Suite struct ProcessTests {
    @Test func parsesStatWithANameContainingSpacesAndParentheses() throws {
        // setup
        let text = try Fixture.text("host-a/proc/4242/stat")
        // act
        let process = try ProcessSnapshot.parse(text)
        // verify
        #expect(process == ProcessSnapshot(pid: 4242, name: "my (weird) app", state: "R", parentPID: 1, cpuTicks: 23_000,
                                           startTicks: 340_000, residentPages: 51_200, threads: 12))
    }

    @Test func truncatedStatIsMalformed() {
        // act / verify
        #expect(throws: HostMetricsError.self) { try ProcessSnapshot.parse("17 (bash) S 1 17 17\n") }
        #expect(throws: HostMetricsError.self) { try ProcessSnapshot.parse("garbage\n") }
    }

    @Test func readsTheProcessTableOfAFixtureRoot() throws {
        // setup
        let root = try Fixture.hostA()
        // act
        let table = ProcessTable.read(root: root)
        // verify: numeric folders only; stat, meminfo, net, sys … are not processes
        #expect(table.processes.map(\.pid) == [1, 4242])
        #expect(table.processes[0].name == "systemd")
        #expect(table.processes[0].cpuTicks == 2_300)
    }

    @Test func summaryRanksByCPUBetweenSnapshotsAndByMemory() throws {
        // setup
        let earlier = ProcessTable.read(root: try Fixture.hostA())
        let laterRoot = try TemporaryDirectory.copyOfHostA()
        defer { laterRoot.remove() }
        try laterRoot.overlay(Fixture.hostALater())
        let later = ProcessTable.read(root: laterRoot.path)
        // act
        let summary = ProcessSummary.between(earlier, later, seconds: 5, clockTicksPerSecond: 100, pageSize: 4096, limit: 2)
        // verify: 4242 used 500 ticks (one core), pid 5000 started in the interval and used 50, systemd 7
        #expect(summary.count == 3)
        #expect(summary.topByCPU == [
            ProcessUsage(pid: 4242, name: "my (weird) app", cpuPercent: 100, residentBytes: 52_224 * 4096),
            ProcessUsage(pid: 5000, name: "sh", cpuPercent: 10, residentBytes: 256 * 4096),
        ])
        #expect(summary.topByMemory == [
            ProcessUsage(pid: 4242, name: "my (weird) app", cpuPercent: 100, residentBytes: 52_224 * 4096),
            ProcessUsage(pid: 1, name: "systemd", cpuPercent: 1.4, residentBytes: 3_276 * 4096),
        ])
    }

    @Test func aRecycledPidIsMeasuredFromZeroNotFromTheOldProcess() {
        // setup: pid 300 exited and was reused by a new process with fewer ticks
        let earlier = ProcessTable(processes: [ProcessSnapshot(pid: 300, name: "old", cpuTicks: 9_000, startTicks: 100)])
        let later = ProcessTable(processes: [ProcessSnapshot(pid: 300, name: "new", cpuTicks: 40, startTicks: 5_000)])
        // act
        let summary = ProcessSummary.between(earlier, later, seconds: 2, clockTicksPerSecond: 100, pageSize: 4096, limit: 5)
        // verify
        #expect(summary.topByCPU.map(\.cpuPercent) == [20])
    }

    @Test func theFirstSampleHasNoCPUListAndACounterResetIsZero() {
        // setup
        let earlier = ProcessTable(processes: [ProcessSnapshot(pid: 7, name: "a", cpuTicks: 500, startTicks: 1)])
        let later = ProcessTable(processes: [ProcessSnapshot(pid: 7, name: "a", cpuTicks: 400, startTicks: 1, residentPages: 2)])
        // act
        let first = ProcessSummary.between(nil, later, seconds: 0, clockTicksPerSecond: 100, pageSize: 4096, limit: 5)
        let reset = ProcessSummary.between(earlier, later, seconds: 1, clockTicksPerSecond: 100, pageSize: 4096, limit: 5)
        // verify
        #expect(first.topByCPU.isEmpty)
        #expect(first.topByMemory == [ProcessUsage(pid: 7, name: "a", cpuPercent: 0, residentBytes: 8192)])
        #expect(reset.topByCPU.map(\.cpuPercent) == [0])
    }
}
