@testable import NebulaServer
import Testing

@Suite struct FormattingTests {
    @Test func bytesReadLikeAPersonWouldWriteThem() {
        // act + verify
        #expect(formatBytes(0) == "0 bytes")
        #expect(formatBytes(1) == "1 byte")
        #expect(formatBytes(1023) == "1023 bytes")
        #expect(formatBytes(2048) == "2 KB")
        #expect(formatBytes(1_572_864) == "1.5 MB")
        #expect(formatBytes(20_937_965_568) == "19.5 GB")
        #expect(formatBytes(1_245_540_515) == "1.16 GB")
        #expect(formatBytes(1 << 40) == "1 TB")
    }

    @Test func fixedDecimalsRoundHalfAwayFromZero() {
        // act + verify
        #expect(3.8.fixed(2) == "3.80")
        #expect(0.125.fixed(2) == "0.13")
        #expect((-1.5).fixed(0) == "-2")
        #expect((-0.001).fixed(2) == "0.00")
        #expect(42.0.fixed(0) == "42")
        #expect(Double.nan.fixed(1) == "—")
        #expect(0.426.percent == "43%")
    }
}
