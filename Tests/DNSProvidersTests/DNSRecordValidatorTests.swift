import DNSProviders
import Testing

/// The record rules: per-type content, names, TTLs, zones and conflicts.
@Suite struct DNSRecordValidatorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var type: DNSRecordType
        var content: String
        /// The normalised content, or nil when the content must be refused.
        var expected: String?
        var testDescription: String { "\(type.rawValue) \(content)" }
    }

    static let cases: [Case] = [
        Case(type: .A, content: "192.0.2.1", expected: "192.0.2.1"),
        Case(type: .A, content: " 203.0.113.255 ", expected: "203.0.113.255"),
        Case(type: .A, content: "192.0.2.256", expected: nil),
        Case(type: .A, content: "192.0.2", expected: nil),
        Case(type: .A, content: "192.0.2.01", expected: nil),
        Case(type: .A, content: "2001:db8::1", expected: nil),
        Case(type: .AAAA, content: "2001:DB8:0:0:0:0:0:1", expected: "2001:db8::1"),
        Case(type: .AAAA, content: "2001:db8:0:0:1:0:0:1", expected: "2001:db8::1:0:0:1"),
        Case(type: .AAAA, content: "fe80::", expected: "fe80::"),
        Case(type: .AAAA, content: "::ffff:192.0.2.1", expected: "::ffff:c000:201"),
        Case(type: .AAAA, content: "2001:db8::1::2", expected: nil),
        Case(type: .AAAA, content: "192.0.2.1", expected: nil),
        Case(type: .AAAA, content: "2001:db8:g::1", expected: nil),
        Case(type: .CNAME, content: "Target.Example.NET.", expected: "target.example.net"),
        Case(type: .CNAME, content: "_dkim.example.net", expected: "_dkim.example.net"),
        Case(type: .CNAME, content: "bad..example.net", expected: nil),
        Case(type: .CNAME, content: "-bad.example.net", expected: nil),
        Case(type: .CNAME, content: "", expected: nil),
        Case(type: .TXT, content: "v=spf1 -all", expected: "v=spf1 -all"),
        Case(type: .TXT, content: "say \"hi\"", expected: "say \"hi\""),
        Case(type: .TXT, content: "", expected: nil),
        Case(type: .TXT, content: "line\nbreak", expected: nil),
        Case(type: .TXT, content: String(repeating: "x", count: 4001), expected: nil),
        Case(type: .MX, content: "10 Mail.Example.com.", expected: "10 mail.example.com"),
        Case(type: .MX, content: "mail.example.com", expected: nil),
        Case(type: .MX, content: "70000 mail.example.com", expected: nil),
        Case(type: .MX, content: "10 mail..example.com", expected: nil),
        Case(type: .SRV, content: "10 5 5060 SIP.example.com.", expected: "10 5 5060 sip.example.com"),
        Case(type: .SRV, content: "10 5 sip.example.com", expected: nil),
        Case(type: .SRV, content: "10 5 99999 sip.example.com", expected: nil),
        Case(type: .CAA, content: "0 issue \"letsencrypt.org\"", expected: "0 issue \"letsencrypt.org\""),
        Case(type: .CAA, content: "0 ISSUEWILD letsencrypt.org", expected: "0 issuewild \"letsencrypt.org\""),
        Case(type: .CAA, content: "128 iodef \"mailto:security@example.com\"", expected: "128 iodef \"mailto:security@example.com\""),
        Case(type: .CAA, content: "0 iodef \"security@example.com\"", expected: nil),
        Case(type: .CAA, content: "0 tbs \"x\"", expected: nil),
        Case(type: .CAA, content: "256 issue \"letsencrypt.org\"", expected: nil),
        Case(type: .CAA, content: "0 issue", expected: nil),
    ]

    @Test(arguments: cases)
    func contentIsNormalisedOrRefusedPerType(_ item: Case) {
        // setup
        let record = DNSRecord(name: "www.example.com", type: item.type, content: item.content, ttl: 300)
        // act
        let result = Result { () throws(DNSRecordError) -> DNSRecord in try DNSRecordValidator.validate(record, zone: "example.com") }
        // verify
        switch (result, item.expected) {
        case (.success(let valid), .some(let expected)):
            #expect(valid.content == expected)
        case (.failure(let error), nil):
            #expect(error.code == "invalid_content")
            #expect(error.message.contains(item.type.rawValue))
        case (.success(let valid), nil):
            Issue.record("accepted \(valid.content)")
        case (.failure(let error), .some):
            Issue.record("refused: \(error.message)")
        }
    }

    @Test func namesAreNormalisedAndCheckedAgainstTheZone() throws {
        // act
        let apex = try DNSRecordValidator.validate(DNSRecord(name: "Example.COM.", type: .A, content: "192.0.2.1", ttl: 60), zone: "example.com.")
        let srv = try DNSRecordValidator.validate(DNSRecord(name: "_sip._tcp.example.com", type: .SRV, content: "1 1 5060 sip.example.com", ttl: 604800), zone: "example.com")
        let wildcard = try DNSName.normalise("*.Apps.example.com")
        // verify
        #expect(apex.name == "example.com")
        #expect(srv.name == "_sip._tcp.example.com")
        #expect(wildcard == "*.apps.example.com")
        #expect(DNSName.isInZone("a.b.example.com", zone: "example.com"))
        #expect(!DNSName.isInZone("badexample.com", zone: "example.com"))
        #expect(DNSName.isInZone("example.com", zone: "example.com"))
        func code(_ name: String, zone: String = "example.com", ttl: Int = 300) -> String? {
            do { _ = try DNSRecordValidator.validate(DNSRecord(name: name, type: .A, content: "192.0.2.1", ttl: ttl), zone: zone); return nil } catch { return error.code }
        }
        #expect(code("www.example.org") == "outside_zone")
        #expect(code("badexample.com") == "outside_zone")
        #expect(code("a..example.com") == "invalid_name")
        #expect(code("-a.example.com") == "invalid_name")
        #expect(code("a-.example.com") == "invalid_name")
        #expect(code("a b.example.com") == "invalid_name")
        #expect(code("www.*.example.com") == "invalid_name")
        #expect(code(String(repeating: "a", count: 64) + ".example.com") == "invalid_name")
        #expect(code(Array(repeating: "abcdefghi", count: 26).joined(separator: ".") + ".example.com") == "invalid_name")
        #expect(code("www.example.com", ttl: 59) == "invalid_ttl")
        #expect(code("www.example.com", ttl: 604801) == "invalid_ttl")
        #expect(code("www.example.com", ttl: 1) == "invalid_ttl")
    }

    @Test func conflictsNameEachProblemOnce() {
        // setup
        let records = [
            DNSRecord(name: "example.com", type: .CNAME, content: "elsewhere.example.net", ttl: 300),
            DNSRecord(name: "www.example.com", type: .CNAME, content: "edge.example.net", ttl: 300),
            DNSRecord(name: "www.example.com", type: .A, content: "192.0.2.1", ttl: 300),
            DNSRecord(name: "two.example.com", type: .CNAME, content: "a.example.net", ttl: 300),
            DNSRecord(name: "two.example.com", type: .CNAME, content: "b.example.net", ttl: 300),
            DNSRecord(name: "dup.example.com", type: .AAAA, content: "2001:db8::1", ttl: 300),
            DNSRecord(name: "dup.example.com", type: .AAAA, content: "2001:DB8:0::1", ttl: 300),
            DNSRecord(name: "fine.example.com", type: .A, content: "192.0.2.1", ttl: 300),
            DNSRecord(name: "fine.example.com", type: .TXT, content: "hello", ttl: 300),
        ]
        // act
        let conflicts = DNSRecordValidator.conflicts(in: records, zone: "example.com")
        // verify
        #expect(conflicts.map(\.name) == ["dup.example.com", "example.com", "two.example.com", "www.example.com"])
        #expect(conflicts.first { $0.name == "example.com" }?.message.contains("apex") == true)
        #expect(conflicts.first { $0.name == "two.example.com" }?.message.contains("2 CNAME") == true)
        #expect(conflicts.first { $0.name == "www.example.com" }?.message.contains("beside A") == true)
        #expect(conflicts.first { $0.name == "dup.example.com" }?.message.contains("2 times") == true)
        #expect(DNSRecordValidator.conflicts(in: Array(records.suffix(2)), zone: "example.com").isEmpty)
    }

    @Test func serverAddressesParseWithAndWithoutPorts() {
        // act + verify
        #expect(DNSServerAddress.parse("192.0.2.53") == DNSServerAddress(host: "192.0.2.53", port: 53))
        #expect(DNSServerAddress.parse("1.2.3.4:5300") == DNSServerAddress(host: "1.2.3.4", port: 5300))
        #expect(DNSServerAddress.parse("[::1]:53") == DNSServerAddress(host: "::1", port: 53))
        #expect(DNSServerAddress.parse("::1") == DNSServerAddress(host: "::1", port: 53))
        #expect(DNSServerAddress.parse("NS1.example.com") == DNSServerAddress(host: "ns1.example.com", port: 53))
        #expect(DNSServerAddress.parse("ns1.example.com:0") == nil)
        #expect(DNSServerAddress.parse("1.2.3.4:99999") == nil)
        #expect(DNSServerAddress.parse("http://ns1") == nil)
        #expect(DNSServerAddress.parse("") == nil)
        #expect(DNSServerAddress(host: "::1", port: 5353).description == "[::1]:5353")
    }
}
