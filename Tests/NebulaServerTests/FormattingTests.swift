import Foundation
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

    @Test func aServerCardEscapesEverythingItShows() {
        // setup: names and tags are validated on the way in; the card must not rely on it
        let record = ServerRecord()
        record.id = UUID()
        record.name = #"<img src=x onerror="alert(1)">"#
        record.connection = .agent
        record.tags = #"["<b>bold</b>"]"#
        record.status = .online
        // act
        let html = ServerCard.html(ServerDTO(record))
        // verify
        #expect(!html.contains("<img") && html.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"))
        #expect(!html.contains("<b>") && html.contains("&lt;b&gt;bold&lt;/b&gt;"))
        #expect(html.contains(#"data-server-status="true">online</span>"#) && html.contains(#"data-spark="memory""#))
    }
}
