import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// Where a PowerDNS Authoritative server's HTTP API is and how to authenticate.
public struct PowerDNSSettings: Sendable {
    /// The webserver's base URL, e.g. `http://127.0.0.1:8081` (without `/api/v1`).
    public var apiURL: URL
    /// The server id in API paths; `localhost` for every standard install.
    public var serverID: String
    /// The `api-key` from pdns.conf, sent as `X-API-Key`.
    public var apiKey: String
    /// How long one request may take.
    public var timeout: Duration

    /// Settings for the API at `apiURL`.
    public init(apiURL: URL, serverID: String = "localhost", apiKey: String, timeout: Duration = .seconds(15)) {
        self.apiURL = apiURL
        self.serverID = serverID
        self.apiKey = apiKey
        self.timeout = timeout
    }
}

/// Talks to the PowerDNS Authoritative HTTP API (v1): zones are addressed by canonical names
/// ("example.com."), changes go in one PATCH that PowerDNS applies entirely or not at all.
public struct DefaultPowerDNSClient: DNSProvider {
    public let settings: PowerDNSSettings
    private let http: ProviderHTTP

    /// A client for the API described by `settings`.
    public init(settings: PowerDNSSettings, httpClient: HTTPClient = DNSProviderHTTP.client) {
        self.settings = settings
        self.http = ProviderHTTP(client: httpClient, timeout: settings.timeout, provider: "PowerDNS",
                                 secret: settings.apiKey, headers: [("X-API-Key", settings.apiKey)])
    }

    private var base: String {
        var text = settings.apiURL.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        let server = settings.serverID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? settings.serverID
        return "\(text)/api/v1/servers/\(server)"
    }

    private func zoneURL(_ zone: String) -> String {
        let canonical = DNSName.canonical(zone)
        return "\(base)/zones/\(canonical.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? canonical)"
    }

    public func records(zone: String) async throws(DNSProviderError) -> [DNSRecord] {
        let zone = DNSName.loose(zone)
        let reply = try await send(.GET, zoneURL(zone))
        guard reply.status == 200 else { throw failure(reply, zone: zone, doing: "reading the zone") }
        guard let object = JSONValue.object(reply.body), let rrsets = object["rrsets"] as? [[String: Any]] else {
            throw DNSProviderError(code: .invalidResponse, message: "PowerDNS answered the zone \(zone) without an rrsets list; is the API URL pointing at PowerDNS Authoritative?")
        }
        var records: [DNSRecord] = []
        for rrset in rrsets {
            guard let typeName = rrset["type"] as? String, let type = DNSRecordType(rawValue: typeName),
                  let name = rrset["name"] as? String else { continue }
            let ttl = JSONValue.int(rrset["ttl"]) ?? 3600
            for record in rrset["records"] as? [[String: Any]] ?? [] {
                guard let content = record["content"] as? String, (record["disabled"] as? Bool) != true else { continue }
                records.append(DNSRecord(name: DNSName.loose(name), type: type, content: Self.nebulaContent(type, content), ttl: ttl))
            }
        }
        return records.sorted { ($0.name, $0.type.rawValue, $0.content) < ($1.name, $1.type.rawValue, $1.content) }
    }

    public func replace(_ rrsets: [DNSRRSet], zone: String) async throws(DNSProviderError) {
        let zone = DNSName.loose(zone)
        guard !rrsets.isEmpty else { return }
        let changes: [[String: Any]] = rrsets.map { set in
            if set.contents.isEmpty {
                return ["name": DNSName.canonical(set.name), "type": set.type.rawValue, "changetype": "DELETE"]
            }
            return [
                "name": DNSName.canonical(set.name), "type": set.type.rawValue, "ttl": set.ttl, "changetype": "REPLACE",
                "records": set.contents.map { ["content": Self.wireContent(set.type, $0), "disabled": false] as [String: Any] },
            ]
        }
        let reply = try await send(.PATCH, zoneURL(zone), json: JSONValue.encode(["rrsets": changes]))
        guard reply.status == 204 || reply.status == 200 else { throw failure(reply, zone: zone, doing: "changing records") }
    }

    public func ensureZone(_ zone: String, nameservers: [String]) async throws(DNSProviderError) {
        let zone = DNSName.loose(zone)
        let body: [String: Any] = ["name": DNSName.canonical(zone), "kind": "Native", "nameservers": nameservers.map(DNSName.canonical)]
        let reply = try await send(.POST, "\(base)/zones", json: JSONValue.encode(body))
        switch reply.status {
        case 201, 200, 409: return  // 409 Conflict: the zone exists already
        default: throw failure(reply, zone: zone, doing: "creating the zone")
        }
    }

    /// Sends a request, again after a short pause when PowerDNS answers 5xx: its backends fail
    /// transiently under concurrent API writes (gsqlite3: "database is locked"), and every request
    /// here is atomic and idempotent (a zone PATCH applies all or nothing; creating an existing
    /// zone is a 409), so repeating one is safe. At most 5 attempts, about 1.5 s of pauses.
    private func send(_ method: HTTPMethod, _ url: String, json: Data? = nil) async throws(DNSProviderError) -> ProviderHTTP.Reply {
        var attempt = 0
        while true {
            let reply = try await http.send(method, url, json: json)
            attempt += 1
            guard reply.status >= 500, attempt < 5 else { return reply }
            try? await Task.sleep(for: .milliseconds(100 << attempt))
        }
    }

    // MARK: Errors

    private func failure(_ reply: ProviderHTTP.Reply, zone: String, doing: String) -> DNSProviderError {
        let said = Self.errorText(reply.body)
        let quoted = said.map { ": \($0)" } ?? ""
        let error: DNSProviderError
        switch reply.status {
        case 401, 403:
            error = DNSProviderError(code: .authenticationFailed, message: "PowerDNS refused the API key (HTTP \(reply.status)) while \(doing). Check that the key matches api-key in pdns.conf and that the API is enabled (api=yes).")
        case 404:
            error = DNSProviderError(code: .zoneNotFound, message: "PowerDNS has no zone \(zone) (or no server \"\(settings.serverID)\"). Create the zone first, or check the zone name and server id.")
        case 422 where (said ?? "").lowercased().contains("could not find domain"):
            error = DNSProviderError(code: .zoneNotFound, message: "PowerDNS has no zone \(zone)\(quoted). Create the zone first.")
        case 400, 422:
            error = DNSProviderError(code: .rejected, message: "PowerDNS rejected \(doing) in \(zone)\(quoted). Nothing was changed; fix the records and try again.")
        default:
            error = DNSProviderError(code: .invalidResponse, message: "PowerDNS answered HTTP \(reply.status) while \(doing) in \(zone)\(quoted). Check the PowerDNS log.")
        }
        return http.scrub(error)
    }

    private static func errorText(_ body: Data) -> String? {
        if let object = JSONValue.object(body), let text = object["error"] as? String { return String(text.prefix(500)) }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    // MARK: Content forms

    /// Nebula content → PowerDNS content: targets get a trailing dot, TXT is quoted (in 255-byte strings).
    static func wireContent(_ type: DNSRecordType, _ content: String) -> String {
        switch type {
        case .A, .AAAA, .CAA:
            return content
        case .CNAME:
            return dotted(content)
        case .MX, .SRV:
            var parts = content.split(separator: " ").map(String.init)
            guard let last = parts.popLast() else { return content }
            return (parts + [dotted(last)]).joined(separator: " ")
        case .TXT:
            return TXTText.quoted(content)
        }
    }

    /// PowerDNS content → Nebula content: no trailing dots, lowercase targets, TXT unquoted.
    static func nebulaContent(_ type: DNSRecordType, _ content: String) -> String {
        switch type {
        case .A, .AAAA, .CAA:
            return content
        case .CNAME:
            return DNSName.loose(content)
        case .MX, .SRV:
            var parts = content.split(separator: " ").map(String.init)
            guard let last = parts.popLast() else { return content }
            return (parts + [DNSName.loose(last)]).joined(separator: " ")
        case .TXT:
            return TXTText.unquoted(content)
        }
    }

    private static func dotted(_ name: String) -> String {
        name.hasSuffix(".") ? name : name + "."
    }
}

/// TXT presentation form: one or more quoted character strings of at most 255 bytes each.
enum TXTText {
    /// `text` as quoted strings (`"…" "…"`), `"` and `\` escaped, split every 255 bytes.
    static func quoted(_ text: String) -> String {
        var chunks: [String] = []
        var current = ""
        var size = 0
        for character in text {
            let bytes = String(character).utf8.count
            if size + bytes > 255, !current.isEmpty {
                chunks.append(current)
                current = ""
                size = 0
            }
            current.append(character)
            size += bytes
        }
        if !current.isEmpty || chunks.isEmpty { chunks.append(current) }
        return chunks.map { chunk in
            "\"" + chunk.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }.joined(separator: " ")
    }

    /// Quoted strings joined into one text (escapes undone, `\DDD` decimal escapes included); text
    /// that does not start with a quote is returned as it is.
    static func unquoted(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("\"") else { return text }
        var bytes: [UInt8] = []
        var inside = false
        let scalars = Array(trimmed.utf8)
        var index = 0
        while index < scalars.count {
            let byte = scalars[index]
            if !inside {
                if byte == UInt8(ascii: "\"") { inside = true }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inside = false
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\\"), index + 1 < scalars.count {
                let next = scalars[index + 1]
                if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next), index + 3 < scalars.count,
                   let value = UInt8(String(decoding: scalars[(index + 1)...(index + 3)], as: UTF8.self)) {
                    bytes.append(value)
                    index += 4
                    continue
                }
                bytes.append(next)
                index += 2
                continue
            }
            bytes.append(byte)
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
