import Foundation

/// Checks records before they go to a provider, and finds conflicts in a zone's record list.
public enum DNSRecordValidator {
    /// TTLs Nebula accepts, in seconds (one minute to one week).
    public static let ttlRange = 60...604800

    /// Normalises the name and content and validates the content per type. Names (also inside CNAME,
    /// MX and SRV targets) are lowercased and lose their trailing dot; IPv6 addresses take their
    /// canonical RFC 5952 form; CAA tags are lowercased and the value quoted.
    ///
    /// Rules: A dotted IPv4; AAAA IPv6; CNAME a host name (not at the zone apex is checked by
    /// ``conflicts(in:zone:)``); TXT non-empty, at most 4000 bytes, no control characters;
    /// MX `preference host`; SRV `priority weight port host`; CAA `flags tag "value"` with tag
    /// issue, issuewild or iodef; TTL in ``ttlRange``; the name inside `zone`.
    public static func validate(_ record: DNSRecord, zone: String) throws(DNSRecordError) -> DNSRecord {
        let zone = try DNSName.normalise(zone)
        let name = try DNSName.normalise(record.name)
        guard DNSName.isInZone(name, zone: zone) else {
            throw DNSRecordError(code: "outside_zone", message: "\(name) is not inside the zone \(zone). Use a name ending in .\(zone), or \(zone) itself for the apex.")
        }
        guard ttlRange.contains(record.ttl) else {
            throw DNSRecordError(code: "invalid_ttl", message: "TTL \(record.ttl) is out of range: use \(ttlRange.lowerBound)–\(ttlRange.upperBound) seconds (300 is a good default).")
        }
        let content = try normaliseContent(record.type, record.content)
        return DNSRecord(name: name, type: record.type, content: content, ttl: record.ttl)
    }

    /// Whether `text` is one IPv4 or IPv6 address (what an A or AAAA record may hold).
    public static func isIPAddress(_ text: String) -> Bool {
        IPAddressText.ipv4(text) != nil || IPAddressText.ipv6(text.lowercased()) != nil
    }

    /// The normalised content of a record of `type`, or an `invalid_content` error saying how to write it.
    public static func normaliseContent(_ type: DNSRecordType, _ raw: String) throws(DNSRecordError) -> String {
        let text = type == .TXT ? raw : raw.trimmingCharacters(in: .whitespaces)
        switch type {
        case .A:
            guard let address = IPAddressText.ipv4(text) else {
                throw .invalidContent(type, raw, "an A record holds one IPv4 address like 192.0.2.10")
            }
            return address
        case .AAAA:
            guard let address = IPAddressText.ipv6(text.lowercased()) else {
                throw .invalidContent(type, raw, "an AAAA record holds one IPv6 address like 2001:db8::10")
            }
            return address
        case .CNAME:
            return try target(text, type: type, raw: raw, example: "a CNAME holds one host name like target.example.net")
        case .TXT:
            guard !text.isEmpty else { throw .invalidContent(type, raw, "a TXT record cannot be empty") }
            guard text.utf8.count <= 4000 else { throw .invalidContent(type, raw, "it is \(text.utf8.count) bytes; a TXT record holds at most 4000") }
            guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw .invalidContent(type, raw, "it contains a control character (newline, tab, …); put the text on one line")
            }
            return text
        case .MX:
            let parts = words(text)
            guard parts.count == 2, let preference = UInt16(parts[0]) else {
                throw .invalidContent(type, raw, "write MX as \"preference host\", like \"10 mail.example.com\" (preference 0–65535)")
            }
            return "\(preference) \(try target(parts[1], type: type, raw: raw, example: "the mail server must be a host name like mail.example.com"))"
        case .SRV:
            let parts = words(text)
            guard parts.count == 4, let priority = UInt16(parts[0]), let weight = UInt16(parts[1]), let port = UInt16(parts[2]) else {
                throw .invalidContent(type, raw, "write SRV as \"priority weight port host\", like \"10 5 5060 sip.example.com\" (numbers 0–65535)")
            }
            return "\(priority) \(weight) \(port) \(try target(parts[3], type: type, raw: raw, example: "the target must be a host name like sip.example.com"))"
        case .CAA:
            return try caa(text, raw: raw)
        }
    }

    /// Conflicts in a whole zone's record list: a CNAME beside any other type at the same name, two
    /// CNAMEs at one name, a CNAME at the apex, exact duplicates (same name, type and content).
    /// One ``DNSConflict`` per problem, sorted by name.
    public static func conflicts(in records: [DNSRecord], zone: String) -> [DNSConflict] {
        let zone = DNSName.loose(zone)
        var byName: [String: [DNSRecord]] = [:]
        for record in records {
            byName[DNSName.loose(record.name), default: []].append(record)
        }
        var found: [DNSConflict] = []
        for name in byName.keys.sorted() {
            let here = byName[name] ?? []
            let cnames = here.filter { $0.type == .CNAME }
            if !cnames.isEmpty, name == zone {
                found.append(DNSConflict(name: name, message: "\(name) is the zone apex, which cannot have a CNAME (it needs SOA and NS records). Use A/AAAA records there instead."))
            }
            let cnameTargets = Set(cnames.map { DNSName.loose($0.content) })
            if cnameTargets.count > 1 {
                found.append(DNSConflict(name: name, message: "\(name) has \(cnameTargets.count) CNAME records (\(cnameTargets.sorted().joined(separator: ", "))); a name can have only one CNAME. Keep one."))
            }
            let others = Set(here.filter { $0.type != .CNAME }.map(\.type.rawValue))
            if !cnames.isEmpty, !others.isEmpty {
                found.append(DNSConflict(name: name, message: "\(name) has a CNAME beside \(others.sorted().joined(separator: ", ")) records; a name with a CNAME can have no other records. Remove the CNAME or the other records."))
            }
            var seen: [String: Int] = [:]
            for record in here {
                let key = "\(record.type.rawValue) \(comparable(record))"
                seen[key, default: 0] += 1
            }
            for key in seen.keys.sorted() where (seen[key] ?? 0) > 1 {
                found.append(DNSConflict(name: name, message: "\(name) has the \(key) record \(seen[key] ?? 0) times; remove the duplicates."))
            }
        }
        return found
    }

    // MARK: Pieces

    private static func comparable(_ record: DNSRecord) -> String {
        (try? normaliseContent(record.type, record.content)) ?? record.content
    }

    private static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    private static func target(_ text: String, type: DNSRecordType, raw: String, example: String) throws(DNSRecordError) -> String {
        guard !text.hasPrefix("*") else { throw .invalidContent(type, raw, "a target cannot be a wildcard; \(example)") }
        do {
            return try DNSName.normalise(text)
        } catch {
            throw .invalidContent(type, raw, example)
        }
    }

    private static func caa(_ text: String, raw: String) throws(DNSRecordError) -> String {
        let usage = "write CAA as flags tag \"value\", like 0 issue \"letsencrypt.org\" (flags 0–255; tag issue, issuewild or iodef)"
        let head = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard head.count == 3, let flags = UInt8(head[0]) else { throw .invalidContent(.CAA, raw, usage) }
        let tag = head[1].lowercased()
        guard ["issue", "issuewild", "iodef"].contains(tag) else {
            throw .invalidContent(.CAA, raw, "the tag \"\(head[1])\" is not one of issue, issuewild, iodef")
        }
        var value = String(head[2]).trimmingCharacters(in: .whitespaces)
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = String(value.dropFirst().dropLast())
        }
        guard !value.contains("\""), !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalidContent(.CAA, raw, "the value may not contain quotes or control characters; \(usage)")
        }
        if tag == "iodef" {
            guard value.hasPrefix("mailto:") || value.hasPrefix("https://") || value.hasPrefix("http://") else {
                throw .invalidContent(.CAA, raw, "an iodef value is a mailto: or https:// URL, like \"mailto:security@example.com\"")
            }
        }
        return "\(flags) \(tag) \"\(value)\""
    }
}
