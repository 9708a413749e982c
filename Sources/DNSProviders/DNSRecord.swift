import Foundation

/// The record types Nebula manages. Providers' other types (SOA, NS, PTR, …) are left alone.
public enum DNSRecordType: String, Codable, Sendable, CaseIterable {
    case A, AAAA, CNAME, TXT, MX, SRV, CAA
}

/// One record. `name` is the fully qualified owner name, lowercase, no trailing dot
/// ("www.example.com"; the apex is the zone name itself).
///
/// `content` is the presentation form without trailing dots and, for TXT, without surrounding quotes:
/// A `192.0.2.1`, AAAA `2001:db8::1`, CNAME `target.example.net`, TXT `v=spf1 -all`,
/// MX `10 mail.example.com`, SRV `10 5 5060 sip.example.com` (priority weight port target),
/// CAA `0 issue "letsencrypt.org"`.
public struct DNSRecord: Codable, Sendable, Hashable {
    public var name: String
    public var type: DNSRecordType
    public var content: String
    /// Seconds.
    public var ttl: Int

    /// A record; nothing is checked here (``DNSRecordValidator/validate(_:zone:)`` does that).
    public init(name: String, type: DNSRecordType, content: String, ttl: Int) {
        self.name = name
        self.type = type
        self.content = content
        self.ttl = ttl
    }
}

/// All records of one name and type (what providers replace atomically). Empty `contents` deletes the set.
public struct DNSRRSet: Codable, Sendable, Hashable {
    public var name: String
    public var type: DNSRecordType
    public var ttl: Int
    /// Each record's content in the form described on ``DNSRecord``.
    public var contents: [String]

    /// The set `name`/`type` with these contents (empty: delete the set).
    public init(name: String, type: DNSRecordType, ttl: Int, contents: [String]) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.contents = contents
    }

    /// Groups records into sets by name and type (the first record's TTL wins), in first-seen order.
    public static func grouping(_ records: [DNSRecord]) -> [DNSRRSet] {
        var sets: [DNSRRSet] = []
        var index: [String: Int] = [:]
        for record in records {
            let key = "\(record.name)\u{0}\(record.type.rawValue)"
            if let at = index[key] {
                sets[at].contents.append(record.content)
            } else {
                index[key] = sets.count
                sets.append(DNSRRSet(name: record.name, type: record.type, ttl: record.ttl, contents: [record.content]))
            }
        }
        return sets
    }
}

/// One problem in a zone's record list, found by ``DNSRecordValidator/conflicts(in:zone:)``.
public struct DNSConflict: Sendable, Hashable, Codable {
    /// The owner name concerned.
    public var name: String
    /// What is wrong and how to fix it.
    public var message: String

    /// A conflict at `name`.
    public init(name: String, message: String) {
        self.name = name
        self.message = message
    }
}

/// Why a record (or name) is not acceptable. `message` says what is wrong and how to write it instead.
public struct DNSRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable: `invalid_name`, `invalid_content`, `invalid_ttl`, `outside_zone` or `conflict`.
    public var code: String
    /// One or two sentences: what is wrong, and how to fix it.
    public var message: String
    public var description: String { message }

    /// An error with this code and message.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    static func invalidName(_ name: String, _ why: String) -> Self {
        .init(code: "invalid_name", message: "\"\(name.prefix(300))\" is not a valid DNS name: \(why). Use labels of letters, digits and hyphens (1–63 characters, not starting or ending with a hyphen) separated by dots, like www.example.com.")
    }

    static func invalidContent(_ type: DNSRecordType, _ content: String, _ why: String) -> Self {
        .init(code: "invalid_content", message: "\(type.rawValue) content \"\(content.prefix(120))\" is not valid: \(why).")
    }
}
