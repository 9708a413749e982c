import Foundation

/// Checks and normalises DNS names (RFC 1035/1123 host names, plus `_` labels for SRV/TXT owners
/// like `_sip._tcp.example.com` and a leading `*.` wildcard).
public enum DNSName {
    /// Lowercases, strips one trailing dot and checks the rules: labels 1–63 characters of letters,
    /// digits, hyphens and underscores, not starting or ending with a hyphen; at most 253 characters
    /// in all; `*` allowed only as the whole first label. Returns the normalised name.
    public static func normalise(_ name: String) throws(DNSRecordError) -> String {
        var text = name.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        guard !text.isEmpty else { throw .invalidName(name, "it is empty") }
        guard text.utf8.count <= 253 else { throw .invalidName(name, "it is longer than 253 characters") }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if label == "*" {
                guard index == 0 else { throw .invalidName(name, "a * wildcard may only be the first label") }
                guard labels.count > 1 else { throw .invalidName(name, "a wildcard needs a name after it (*.example.com)") }
                continue
            }
            guard !label.isEmpty else { throw .invalidName(name, "it has an empty label (two dots in a row, or a leading dot)") }
            guard label.utf8.count <= 63 else { throw .invalidName(name, "the label \"\(label.prefix(20))…\" is longer than 63 characters") }
            guard label.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }) else {
                throw .invalidName(name, "the label \"\(label)\" has a character other than a–z, 0–9, - and _ (write internationalised names in punycode, xn--…)")
            }
            guard !label.hasPrefix("-"), !label.hasSuffix("-") else {
                throw .invalidName(name, "the label \"\(label)\" starts or ends with a hyphen")
            }
        }
        return text
    }

    /// True when `name` equals `zone` or ends with "." + zone (case and a trailing dot do not matter).
    public static func isInZone(_ name: String, zone: String) -> Bool {
        let name = loose(name)
        let zone = loose(zone)
        guard !zone.isEmpty else { return false }
        return name == zone || name.hasSuffix("." + zone)
    }

    /// Lowercased, without surrounding spaces and one trailing dot; no checks.
    static func loose(_ name: String) -> String {
        var text = name.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// `name` with a trailing dot (PowerDNS's canonical form).
    static func canonical(_ name: String) -> String {
        let text = loose(name)
        return text + "."
    }
}

/// IP address parsing without the C library (no platform differences).
enum IPAddressText {
    /// The dotted-quad form of an IPv4 address (no leading zeros, each part 0–255), or nil.
    static func ipv4(_ text: String) -> String? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [String] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(part.count > 1 && part.hasPrefix("0")), let value = Int(part), value <= 255 else { return nil }
            out.append(String(value))
        }
        return out.joined(separator: ".")
    }

    /// The 16 bytes of an IPv6 address (with `::` and an optional trailing dotted quad), or nil.
    static func ipv6Bytes(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.count <= 45, text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4: Bool) -> [UInt16]? {
            guard !part.isEmpty else { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if piece.contains(".") {
                    guard allowIPv4, index == pieces.count - 1, let v4 = ipv4(String(piece)) else { return nil }
                    let bytes = v4.split(separator: ".").compactMap { UInt16($0) }
                    result.append(bytes[0] << 8 | bytes[1])
                    result.append(bytes[2] << 8 | bytes[3])
                } else {
                    guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                    result.append(value)
                }
            }
            return result
        }
        var all: [UInt16]
        if halves.count == 2 {
            guard let head = groups(halves[0], allowIPv4: false), let tail = groups(halves[1], allowIPv4: true),
                  head.count + tail.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let only = groups(halves[0], allowIPv4: true), only.count == 8 else { return nil }
            all = only
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// The RFC 5952 canonical text of an IPv6 address, or nil.
    static func ipv6(_ text: String) -> String? {
        ipv6Bytes(text).map(DNSQuery.ipv6Text)
    }
}
