import Foundation
import NIOCore

/// Turns the bytes of `GET /containers/{id}/logs` into lines.
///
/// Without a TTY Docker multiplexes stdout and stderr into frames: an 8-byte header (stream
/// `1`/`2`, three zero bytes, the payload size as big-endian UInt32) and the payload. With a TTY the
/// body is the raw console output. Frames do not follow line breaks, so partial lines wait per stream
/// until their `\n` arrives (or `finish()`).
struct LogDemultiplexer {
    /// Whether the body is framed (no TTY) or raw (TTY).
    let multiplexed: Bool
    /// Whether each line starts with Docker's RFC 3339 timestamp and a space.
    let timestamps: Bool

    private var pending = ByteBuffer()
    private var partial: [LogStream: [UInt8]] = [:]

    init(multiplexed: Bool, timestamps: Bool) {
        self.multiplexed = multiplexed
        self.timestamps = timestamps
    }

    /// The complete lines in `chunk` (and those completed by it).
    mutating func feed(_ chunk: ByteBuffer) -> [LogLine] {
        var lines: [LogLine] = []
        guard multiplexed else {
            append(chunk.readableBytesView, to: .console, into: &lines)
            return lines
        }
        var chunk = chunk
        pending.writeBuffer(&chunk)
        while pending.readableBytes >= 8 {
            let start = pending.readerIndex
            guard let kind = pending.getInteger(at: start, as: UInt8.self),
                  let size = pending.getInteger(at: start + 4, endianness: .big, as: UInt32.self) else { break }
            guard pending.readableBytes >= 8 + Int(size) else { break }
            pending.moveReaderIndex(forwardBy: 8)
            let payload = pending.readSlice(length: Int(size)) ?? ByteBuffer()
            // 0 is stdin (only when attached); count it with stdout.
            append(payload.readableBytesView, to: kind == 2 ? .stderr : .stdout, into: &lines)
        }
        pending.discardReadBytes()
        return lines
    }

    /// Whatever is left without a final line break, once the body ended.
    mutating func finish() -> [LogLine] {
        var lines: [LogLine] = []
        for stream in [LogStream.stdout, .stderr, .console] {
            if let rest = partial[stream], !rest.isEmpty {
                lines.append(makeLine(rest[...], stream: stream))
            }
        }
        partial = [:]
        return lines
    }

    private mutating func append(_ bytes: ByteBufferView, to stream: LogStream, into lines: inout [LogLine]) {
        var buffer = partial[stream] ?? []
        buffer.append(contentsOf: bytes)
        var lineStart = buffer.startIndex
        while let newline = buffer[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
            var end = newline
            if end > lineStart, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            lines.append(makeLine(buffer[lineStart..<end], stream: stream))
            lineStart = newline + 1
        }
        partial[stream] = Array(buffer[lineStart...])
    }

    private func makeLine(_ bytes: ArraySlice<UInt8>, stream: LogStream) -> LogLine {
        let text = String(decoding: bytes, as: UTF8.self)
        guard timestamps, let space = text.firstIndex(of: " "),
              let date = DockerDate.parse(String(text[..<space])) else {
            return LogLine(stream: stream, text: text)
        }
        return LogLine(stream: stream, text: String(text[text.index(after: space)...]), timestamp: date)
    }
}

/// Docker's RFC 3339 timestamps with up to nanoseconds (`2024-05-01T12:00:00.123456789Z`).
enum DockerDate {
    /// Nil for an unreadable string and for Docker's "never" (`0001-01-01T00:00:00Z`).
    static func parse(_ string: String) -> Date? {
        guard !string.hasPrefix("0001-01-01") else { return nil }
        var base = string
        var fraction = 0.0
        if let dot = string.firstIndex(of: ".") {
            let afterDot = string[string.index(after: dot)...]
            let digits = afterDot.prefix { $0.isNumber }
            fraction = Double("0." + digits) ?? 0
            base = String(string[..<dot]) + String(afterDot.dropFirst(digits.count))
        }
        guard let date = try? Date(base, strategy: Date.ISO8601FormatStyle()) else { return nil }
        return date.addingTimeInterval(fraction)
    }

    /// `seconds.nanoseconds` since 1970, as `since`/`until` query parameters take it.
    static func unixString(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        let seconds = interval.rounded(.down)
        let nanos = Int(((interval - seconds) * 1_000_000_000).rounded())
        let padded = String(nanos)
        return "\(Int64(seconds))." + String(repeating: "0", count: max(0, 9 - padded.count)) + padded
    }
}
