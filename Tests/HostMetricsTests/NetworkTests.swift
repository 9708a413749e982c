import Foundation
import Testing
@testable import HostMetrics

@Suite struct NetworkTests {
    @Test func parsesEveryInterfaceOfNetDev() throws {
        // setup
        let text = try Fixture.text("host-a/proc/net/dev")
        // act
        let interfaces = try InterfaceCounters.parse(text)
        // verify
        #expect(interfaces.map(\.name) == ["lo", "eth0", "wlan0", "docker0", "vethab12cd3", "br-5f3e2a1b9c0d"])
        #expect(interfaces[1] == InterfaceCounters(name: "eth0", receivedBytes: 9_876_543_210, receivedPackets: 7_654_321,
                                                   receiveErrors: 2, receiveDropped: 5, sentBytes: 1_234_567_890,
                                                   sentPackets: 2_345_678, sendErrors: 0, sendDropped: 0))
    }

    @Test func reportsPhysicalInterfacesAndDocker0ButNotLoopbackVethOrComposeBridges() throws {
        // setup
        let interfaces = try InterfaceCounters.parse(Fixture.text("host-a/proc/net/dev"))
        // act
        let reported = InterfaceCounters.reported(interfaces)
        // verify
        #expect(reported.map(\.name) == ["eth0", "wlan0", "docker0"])
        #expect(InterfaceCounters.isReported("tailscale0"))
        #expect(InterfaceCounters.isReported("wg0"))
        #expect(InterfaceCounters.isReported("enp3s0"))
        #expect(!InterfaceCounters.isReported("virbr0"))
        #expect(!InterfaceCounters.isReported("ifb0"))
    }

    @Test func readsLinesWithoutASpaceAfterTheColon() throws {
        // setup: old kernels glue large counters to the name
        let text = "eth1:12345678901 10 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n"
        // act
        let interfaces = try InterfaceCounters.parse(text)
        // verify
        #expect(interfaces == [InterfaceCounters(name: "eth1", receivedBytes: 12_345_678_901, receivedPackets: 10,
                                                 sentBytes: 200, sentPackets: 2)])
    }

    @Test func ratesAreBytesPerSecondAndAWrappedCounterGivesZero() throws {
        // setup
        let earlier = InterfaceCounters.reported(try InterfaceCounters.parse(Fixture.text("host-a/proc/net/dev")))
        let later = InterfaceCounters.reported(try InterfaceCounters.parse(Fixture.text("host-a-later/proc/net/dev")))
        // act
        let rates = NetworkRates.between(earlier, later, seconds: 5)
        // verify: wlan0's receive counter wrapped at 2^32
        #expect(rates == [
            InterfaceRate(name: "eth0", receivedBytesPerSecond: 10_485_760, sentBytesPerSecond: 1_048_576,
                          receivedPacketsPerSecond: 8000, sentPacketsPerSecond: 1000, errorsPerSecond: 1,
                          receivedBytesTotal: 9_876_543_210 + 52_428_800, sentBytesTotal: 1_234_567_890 + 5_242_880),
            InterfaceRate(name: "wlan0", receivedBytesPerSecond: 0, sentBytesPerSecond: 102.4,
                          receivedPacketsPerSecond: 6.8, sentPacketsPerSecond: 1.4,
                          receivedBytesTotal: 1000, sentBytesTotal: 4_444_956),
            InterfaceRate(name: "docker0", receivedBytesPerSecond: 0, sentBytesPerSecond: 0,
                          receivedBytesTotal: 1_048_576, sentBytesTotal: 2_097_152),
        ])
    }

    @Test func aNegativeIntervalGivesZeroRates() {
        // setup
        let earlier = [InterfaceCounters(name: "eth0", receivedBytes: 10)]
        let later = [InterfaceCounters(name: "eth0", receivedBytes: 1010)]
        // act
        let rates = NetworkRates.between(earlier, later, seconds: -1)
        // verify
        #expect(rates.map(\.receivedBytesPerSecond) == [0])
    }

    @Test func aTruncatedLineIsMalformed() {
        // act / verify
        #expect(throws: HostMetricsError.self) { try InterfaceCounters.parse("  eth0: 1 2 3\n") }
    }
}
