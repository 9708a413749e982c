import Foundation
import NIOCore
import NIOPosix

/// A minimal DNS client (RFC 1035 wire format over UDP): one question, answers parsed with name
/// compression. Used by the monitoring `dns` check and by ``PropagationChecker``: ask one server one
/// question and read what it answered.
public enum DNSQuery {
    /// The record types a query may ask for.
    public enum RecordType: String, Codable, Sendable, CaseIterable {
        case A, AAAA, CNAME, TXT, MX, NS, SRV, CAA

        /// The RR type number on the wire.
        public var code: UInt16 {
            switch self {
            case .A: 1
            case .NS: 2
            case .CNAME: 5
            case .MX: 15
            case .TXT: 16
            case .AAAA: 28
            case .SRV: 33
            case .CAA: 257
            }
        }

        /// The type with this wire number, or nil for one this client does not know.
        public init?(code: UInt16) {
            guard let type = Self.allCases.first(where: { $0.code == code }) else { return nil }
            self = type
        }
    }

    /// One answer record; `value` is in presentation form without trailing dots: `192.0.2.1`,
    /// `mail.example.org`, `10 mx.example.org`, TXT strings joined, SRV `10 5 5060 sip.example.org`,
    /// CAA `0 issue "letsencrypt.org"`. Unknown types are hex.
    public struct Answer: Sendable, Equatable {
        public var name: String
        public var type: UInt16
        public var ttl: UInt32
        public var value: String

        /// An answer as read from the wire.
        public init(name: String, type: UInt16, ttl: UInt32, value: String) {
            self.name = name
            self.type = type
            self.ttl = ttl
            self.value = value
        }
    }

    /// A parsed response: its id, result code and answer section.
    public struct Response: Sendable, Equatable {
        public var id: UInt16
        /// 0 no error, 2 server failure, 3 no such name, …
        public var rcode: Int
        public var truncated: Bool
        public var answers: [Answer]

        /// A response as read from the wire.
        public init(id: UInt16, rcode: Int, truncated: Bool, answers: [Answer]) {
            self.id = id
            self.rcode = rcode
            self.truncated = truncated
            self.answers = answers
        }

        /// The result code's name (`NOERROR`, `NXDOMAIN`, `REFUSED`, …).
        public var rcodeName: String {
            switch rcode {
            case 0: "NOERROR"
            case 1: "FORMERR"
            case 2: "SERVFAIL"
            case 3: "NXDOMAIN"
            case 4: "NOTIMP"
            case 5: "REFUSED"
            default: "RCODE \(rcode)"
            }
        }
    }

    /// Why a query failed: a name that cannot be asked, an answer that cannot be read, or silence.
    public enum QueryError: Error, Equatable, CustomStringConvertible {
        case invalidName(String)
        case malformed(String)
        case timeout(String)

        public var description: String {
            switch self {
            case .invalidName(let name): "not a valid DNS name: \(name)"
            case .malformed(let why): "malformed DNS answer: \(why)"
            case .timeout(let server): "no answer from \(server)"
            }
        }
    }

    // MARK: Encoding

    /// A standard query with recursion desired for `name` and `type`.
    public static func encode(id: UInt16, name: String, type: RecordType) throws(QueryError) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        bytes += try encodeName(name)
        bytes += [UInt8(type.code >> 8), UInt8(type.code & 0xFF), 0, 1]
        return bytes
    }

    /// `name` as wire labels (a trailing dot is optional).
    public static func encodeName(_ name: String) throws(QueryError) -> [UInt8] {
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard !trimmed.isEmpty, trimmed.utf8.count <= 253 else { throw .invalidName(name) }
        var bytes: [UInt8] = []
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let utf8 = Array(label.utf8)
            guard (1...63).contains(utf8.count), utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidName(name) }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        return bytes + [0]
    }

    // MARK: Decoding

    /// Parses a response message.
    public static func decode(_ bytes: [UInt8]) throws(QueryError) -> Response {
        guard bytes.count >= 12 else { throw .malformed("shorter than a header") }
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let flags = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        guard flags & 0x8000 != 0 else { throw .malformed("not a response") }
        let questions = Int(UInt16(bytes[4]) << 8 | UInt16(bytes[5]))
        let answers = Int(UInt16(bytes[6]) << 8 | UInt16(bytes[7]))
        var offset = 12
        for _ in 0..<questions {
            _ = try readName(bytes, at: &offset)
            offset += 4
        }
        var parsed: [Answer] = []
        for _ in 0..<answers {
            let name = try readName(bytes, at: &offset)
            guard offset + 10 <= bytes.count else { throw .malformed("record header cut short") }
            let type = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
            let ttl = UInt32(bytes[offset + 4]) << 24 | UInt32(bytes[offset + 5]) << 16 | UInt32(bytes[offset + 6]) << 8 | UInt32(bytes[offset + 7])
            let length = Int(UInt16(bytes[offset + 8]) << 8 | UInt16(bytes[offset + 9]))
            offset += 10
            guard offset + length <= bytes.count else { throw .malformed("record data cut short") }
            let value = try readValue(bytes, type: type, at: offset, length: length)
            parsed.append(Answer(name: name, type: type, ttl: ttl, value: value))
            offset += length
        }
        return Response(id: id, rcode: Int(flags & 0x000F), truncated: flags & 0x0200 != 0, answers: parsed)
    }

    /// Reads a possibly compressed name (RFC 1035 §4.1.4); pointers may only point backwards,
    /// which also rules out loops.
    public static func readName(_ bytes: [UInt8], at offset: inout Int) throws(QueryError) -> String {
        var labels: [String] = []
        var cursor = offset
        var jumped = false
        var limit = cursor
        while true {
            guard cursor < bytes.count else { throw .malformed("name runs past the end") }
            let length = Int(bytes[cursor])
            if length & 0xC0 == 0xC0 {
                guard cursor + 1 < bytes.count else { throw .malformed("pointer cut short") }
                let target = (length & 0x3F) << 8 | Int(bytes[cursor + 1])
                guard target < limit else { throw .malformed("name pointer does not point backwards") }
                if !jumped { offset = cursor + 2 }
                jumped = true
                limit = target
                cursor = target
                continue
            }
            guard length & 0xC0 == 0 else { throw .malformed("unknown label type") }
            if length == 0 {
                if !jumped { offset = cursor + 1 }
                break
            }
            guard cursor + 1 + length <= bytes.count else { throw .malformed("label runs past the end") }
            labels.append(String(decoding: bytes[(cursor + 1)...(cursor + length)], as: UTF8.self))
            guard labels.count <= 128 else { throw .malformed("too many labels") }
            cursor += 1 + length
        }
        return labels.joined(separator: ".")
    }

    private static func readValue(_ bytes: [UInt8], type: UInt16, at offset: Int, length: Int) throws(QueryError) -> String {
        let data = Array(bytes[offset..<(offset + length)])
        func uint16(_ index: Int) -> UInt16 { UInt16(data[index]) << 8 | UInt16(data[index + 1]) }
        switch RecordType(code: type) {
        case .A:
            guard length == 4 else { throw .malformed("A record of \(length) bytes") }
            return data.map(String.init).joined(separator: ".")
        case .AAAA:
            guard length == 16 else { throw .malformed("AAAA record of \(length) bytes") }
            return ipv6Text(data)
        case .CNAME, .NS:
            var cursor = offset
            return try readName(bytes, at: &cursor)
        case .MX:
            guard length >= 3 else { throw .malformed("MX record too short") }
            var cursor = offset + 2
            return "\(uint16(0)) \(try readName(bytes, at: &cursor))"
        case .SRV:
            guard length >= 7 else { throw .malformed("SRV record too short") }
            var cursor = offset + 6
            return "\(uint16(0)) \(uint16(2)) \(uint16(4)) \(try readName(bytes, at: &cursor))"
        case .CAA:
            guard length >= 2, 2 + Int(data[1]) <= length else { throw .malformed("CAA record too short") }
            let tagEnd = 2 + Int(data[1])
            let tag = String(decoding: data[2..<tagEnd], as: UTF8.self)
            let value = String(decoding: data[tagEnd...], as: UTF8.self)
            return "\(data[0]) \(tag) \"\(value)\""
        case .TXT:
            var strings: [String] = []
            var index = 0
            while index < data.count {
                let count = Int(data[index])
                guard index + 1 + count <= data.count else { throw .malformed("TXT string cut short") }
                strings.append(String(decoding: data[(index + 1)..<(index + 1 + count)], as: UTF8.self))
                index += 1 + count
            }
            return strings.joined()
        case nil:
            return data.map { String(format: "%02x", $0) }.joined()
        }
    }

    /// RFC 5952 text of an IPv6 address (longest zero run compressed).
    public static func ipv6Text(_ bytes: [UInt8]) -> String {
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var best = (start: -1, length: 0)
        var index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > best.length && end - index > 1 { best = (index, end - index) }
                index = end
            } else {
                index += 1
            }
        }
        let text = groups.map { String($0, radix: 16) }
        guard best.start >= 0 else { return text.joined(separator: ":") }
        let head = text[..<best.start].joined(separator: ":")
        let tail = text[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }

    // MARK: Transport

    /// The first `nameserver` of `/etc/resolv.conf`, port 53 (127.0.0.1 when there is none).
    public static func systemResolver(resolvConf: String = "/etc/resolv.conf") -> DNSServerAddress {
        let text = (try? String(contentsOfFile: resolvConf, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2, words[0] == "nameserver" {
                let address = String(words[1]).split(separator: "%").first.map(String.init) ?? String(words[1])
                return DNSServerAddress(host: address, port: 53)
            }
        }
        return DNSServerAddress(host: "127.0.0.1", port: 53)
    }

    /// Asks `server` over UDP and waits for the answer with the same id (others are ignored).
    /// Throws ``QueryError`` (`.timeout` after `timeout`) or the socket's error.
    public static func resolve(_ name: String, type: RecordType, server: DNSServerAddress, timeout: Duration) async throws -> Response {
        let id = UInt16.random(in: 1...UInt16.max)
        let query = try encode(id: id, name: name, type: type)
        let address = try SocketAddress.makeAddressResolvingHost(server.host, port: server.port)
        let bindHost = address.protocol == .inet6 ? "::" : "0.0.0.0"
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: bindHost, port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
                }
            }
        do {
            return try await withQueryTimeout(timeout) {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: query)))
                    for try await envelope in inbound {
                        let bytes = Array(envelope.data.readableBytesView)
                        guard bytes.count >= 2, UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == id else { continue }
                        return try decode(bytes)
                    }
                    throw QueryError.timeout(server.description)
                }
            }
        } catch is QueryDeadline {
            throw QueryError.timeout(server.description)
        }
    }

    /// Thrown by ``withQueryTimeout`` when the deadline passes first.
    private struct QueryDeadline: Error {}

    /// Runs `body`, or throws ``QueryDeadline`` after `duration` (cancelling `body`).
    private static func withQueryTimeout<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: duration)
                throw QueryDeadline()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw QueryDeadline() }
            return first
        }
    }
}
