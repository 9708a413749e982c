import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// How to reach the Cloudflare API (v4) and authenticate.
public struct CloudflareSettings: Sendable {
    /// `https://api.cloudflare.com/client/v4`.
    public static let defaultBaseURL: URL = {
        // The literal is a valid URL; the fallback only keeps this free of a force unwrap.
        URL(string: "https://api.cloudflare.com/client/v4") ?? URL(fileURLWithPath: "/client/v4")
    }()

    /// The API base URL (tests point it at a loopback server).
    public var baseURL: URL
    /// An API token with Zone:Read and DNS:Edit permission, sent as `Authorization: Bearer`.
    public var apiToken: String
    /// How long one request may take.
    public var timeout: Duration

    /// Settings for the API at `baseURL`.
    public init(baseURL: URL = CloudflareSettings.defaultBaseURL, apiToken: String, timeout: Duration = .seconds(15)) {
        self.baseURL = baseURL
        self.apiToken = apiToken
        self.timeout = timeout
    }
}

/// Talks to the Cloudflare API v4: finds the zone id by name, lists records page by page, and
/// applies changes with one `POST /zones/{id}/dns_records/batch`, which Cloudflare applies entirely
/// or not at all. Cloudflare's "auto" TTL (1) reads as 300; proxied flags are kept on changed records.
public struct DefaultCloudflareClient: DNSProvider {
    public let settings: CloudflareSettings
    private let http: ProviderHTTP

    /// A client for the API described by `settings`.
    public init(settings: CloudflareSettings, httpClient: HTTPClient = DNSProviderHTTP.client) {
        self.settings = settings
        self.http = ProviderHTTP(client: httpClient, timeout: settings.timeout, provider: "Cloudflare",
                                 secret: settings.apiToken, headers: [("Authorization", "Bearer \(settings.apiToken)")])
    }

    /// Records per page asked for when listing.
    static let pageSize = 100

    private var base: String {
        var text = settings.baseURL.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    public func records(zone: String) async throws(DNSProviderError) -> [DNSRecord] {
        let zone = DNSName.loose(zone)
        let id = try await zoneID(zone)
        return try await stored(zone: zone, id: id).map(\.record)
    }

    public func replace(_ rrsets: [DNSRRSet], zone: String) async throws(DNSProviderError) {
        let zone = DNSName.loose(zone)
        guard !rrsets.isEmpty else { return }
        let id = try await zoneID(zone)
        let current = try await stored(zone: zone, id: id)
        let plan = Self.plan(rrsets, current: current)
        guard !plan.isEmpty else { return }
        var body: [String: Any] = [:]
        if !plan.deletes.isEmpty { body["deletes"] = plan.deletes.map { ["id": $0] } }
        if !plan.patches.isEmpty { body["patches"] = plan.patches }
        if !plan.posts.isEmpty { body["posts"] = plan.posts }
        let reply = try await http.send(.POST, "\(base)/zones/\(id)/dns_records/batch", json: JSONValue.encode(body))
        _ = try envelope(reply, zone: zone, doing: "changing records")
    }

    public func ensureZone(_ zone: String, nameservers: [String]) async throws(DNSProviderError) {
        _ = try await zoneID(DNSName.loose(zone))
    }

    // MARK: Zone and records

    private func zoneID(_ zone: String) async throws(DNSProviderError) -> String {
        let query = zone.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? zone
        let reply = try await http.send(.GET, "\(base)/zones?name=\(query)&per_page=50")
        let object = try envelope(reply, zone: zone, doing: "looking up the zone")
        let zones = object["result"] as? [[String: Any]] ?? []
        guard let match = zones.first(where: { ($0["name"] as? String).map(DNSName.loose) == zone }),
              let id = match["id"] as? String, !id.isEmpty else {
            throw DNSProviderError(code: .zoneNotFound, message: "Cloudflare has no zone \(zone) that this token can see. Add the zone to the Cloudflare account, or give the token Zone:Read access to it.")
        }
        return id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id
    }

    /// A record as Cloudflare stores it: its id, its Nebula form and its raw TTL.
    struct Stored: Sendable {
        var id: String
        var record: DNSRecord
    }

    private func stored(zone: String, id: String) async throws(DNSProviderError) -> [Stored] {
        var all: [Stored] = []
        var page = 1
        while page <= 1000 {
            let reply = try await http.send(.GET, "\(base)/zones/\(id)/dns_records?per_page=\(Self.pageSize)&page=\(page)")
            let object = try envelope(reply, zone: zone, doing: "listing records")
            guard let result = object["result"] as? [[String: Any]] else {
                throw DNSProviderError(code: .invalidResponse, message: "Cloudflare listed the records of \(zone) without a result list; check the API base URL.")
            }
            all += result.compactMap(Self.parse)
            let info = object["result_info"] as? [String: Any]
            if let totalPages = JSONValue.int(info?["total_pages"]) {
                if page >= totalPages { break }
            } else if result.count < Self.pageSize {
                break
            }
            if result.isEmpty { break }
            page += 1
        }
        return all
    }

    /// A Cloudflare record object in Nebula form, or nil for a type Nebula does not manage.
    static func parse(_ object: [String: Any]) -> Stored? {
        guard let id = object["id"] as? String, let typeName = object["type"] as? String,
              let type = DNSRecordType(rawValue: typeName), let rawName = object["name"] as? String else { return nil }
        let content = object["content"] as? String ?? ""
        let data = object["data"] as? [String: Any] ?? [:]
        var ttl = JSONValue.int(object["ttl"]) ?? 300
        if ttl == 1 { ttl = 300 }
        let value: String
        switch type {
        case .A:
            value = content
        case .AAAA:
            value = IPAddressText.ipv6(content.lowercased()) ?? content
        case .CNAME:
            value = DNSName.loose(content)
        case .TXT:
            value = TXTText.unquoted(content)
        case .MX:
            value = "\(JSONValue.int(object["priority"]) ?? JSONValue.int(data["priority"]) ?? 0) \(DNSName.loose(content))"
        case .SRV:
            if let priority = JSONValue.int(data["priority"]), let weight = JSONValue.int(data["weight"]),
               let port = JSONValue.int(data["port"]), let target = data["target"] as? String {
                value = "\(priority) \(weight) \(port) \(DNSName.loose(target))"
            } else {
                // content is "weight port target", the priority is separate.
                let priority = JSONValue.int(object["priority"]) ?? 0
                let parts = content.split(separator: " ").map(String.init)
                value = parts.count == 3 ? "\(priority) \(parts[0]) \(parts[1]) \(DNSName.loose(parts[2]))" : content
            }
        case .CAA:
            if let flags = JSONValue.int(data["flags"]), let tag = data["tag"] as? String, let caaValue = data["value"] as? String {
                value = "\(flags) \(tag) \"\(caaValue)\""
            } else {
                value = content
            }
        }
        return Stored(id: id, record: DNSRecord(name: DNSName.loose(rawName), type: type, content: value, ttl: ttl))
    }

    // MARK: Planning the batch

    /// The batch that turns `current` into `rrsets`: unchanged records are kept, changed ones patched
    /// in place, the rest deleted or created.
    struct Plan {
        var deletes: [String] = []
        var patches: [[String: Any]] = []
        var posts: [[String: Any]] = []
        var isEmpty: Bool { deletes.isEmpty && patches.isEmpty && posts.isEmpty }
    }

    static func plan(_ rrsets: [DNSRRSet], current: [Stored]) -> Plan {
        var plan = Plan()
        for set in rrsets {
            let name = DNSName.loose(set.name)
            var existing = current.filter { $0.record.name == name && $0.record.type == set.type }
            var missing: [String] = []
            var seen = Set<String>()
            for content in set.contents {
                let key = comparable(set.type, content)
                guard seen.insert(key).inserted else { continue }
                if let index = existing.firstIndex(where: { comparable(set.type, $0.record.content) == key }) {
                    let match = existing.remove(at: index)
                    if match.record.ttl != set.ttl {
                        plan.patches.append(["id": match.id].merging(fields(set.type, name: name, content: content, ttl: set.ttl)) { $1 })
                    }
                } else {
                    missing.append(content)
                }
            }
            for content in missing {
                let record = fields(set.type, name: name, content: content, ttl: set.ttl)
                if existing.isEmpty {
                    plan.posts.append(record)
                } else {
                    let reused = existing.removeFirst()
                    plan.patches.append(["id": reused.id].merging(record) { $1 })
                }
            }
            plan.deletes += existing.map(\.id)
        }
        return plan
    }

    private static func comparable(_ type: DNSRecordType, _ content: String) -> String {
        let normal = (try? DNSRecordValidator.normaliseContent(type, content)) ?? content
        return type == .TXT ? normal : normal.lowercased()
    }

    /// The JSON fields of one record (without id) as Cloudflare wants them per type.
    static func fields(_ type: DNSRecordType, name: String, content: String, ttl: Int) -> [String: Any] {
        var out: [String: Any] = ["type": type.rawValue, "name": name, "ttl": ttl]
        let parts = content.split(separator: " ").map(String.init)
        switch type {
        case .A, .AAAA, .CNAME:
            out["content"] = content
        case .TXT:
            out["content"] = TXTText.quoted(content)
        case .MX:
            if parts.count == 2, let priority = Int(parts[0]) {
                out["priority"] = priority
                out["content"] = parts[1]
            } else {
                out["content"] = content
            }
        case .SRV:
            if parts.count == 4, let priority = Int(parts[0]), let weight = Int(parts[1]), let port = Int(parts[2]) {
                out["data"] = ["priority": priority, "weight": weight, "port": port, "target": parts[3]] as [String: Any]
            } else {
                out["content"] = content
            }
        case .CAA:
            let head = content.split(separator: " ", maxSplits: 2).map(String.init)
            if head.count == 3, let flags = Int(head[0]) {
                var value = head[2]
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                out["data"] = ["flags": flags, "tag": head[1], "value": value] as [String: Any]
            } else {
                out["content"] = content
            }
        }
        return out
    }

    // MARK: Envelopes and errors

    /// The envelope of a successful answer, or the error it describes.
    private func envelope(_ reply: ProviderHTTP.Reply, zone: String, doing: String) throws(DNSProviderError) -> [String: Any] {
        let object = JSONValue.object(reply.body)
        let errors = (object?["errors"] as? [[String: Any]] ?? []).map { (code: JSONValue.int($0["code"]) ?? 0, message: $0["message"] as? String ?? "") }
        let said = errors.isEmpty ? "" : " (" + errors.map { "code \($0.code): \($0.message.prefix(300))" }.joined(separator: "; ") + ")"
        let codes = Set(errors.map(\.code))
        if reply.status == 429 || codes.contains(971) || codes.contains(10429) {
            let retry = reply.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let when = retry.map { "retry after \($0) seconds" } ?? "try again in a minute"
            throw http.scrub(DNSProviderError(code: .rateLimited, message: "Cloudflare is rate-limiting this token (HTTP \(reply.status)) while \(doing) in \(zone); \(when)."))
        }
        if reply.status == 401 || reply.status == 403 || !codes.isDisjoint(with: [9109, 10000, 10001, 9103, 6003]) {
            throw http.scrub(DNSProviderError(code: .authenticationFailed, message: "Cloudflare refused the API token while \(doing) in \(zone)\(said). Check that the token is valid and has Zone:Read and DNS:Edit permission for \(zone)."))
        }
        guard let object else {
            throw DNSProviderError(code: .invalidResponse, message: "Cloudflare answered HTTP \(reply.status) without a JSON envelope while \(doing) in \(zone); check the API base URL.")
        }
        if (object["success"] as? Bool) == true, (200..<300).contains(reply.status) { return object }
        if reply.status == 404 || !codes.isDisjoint(with: [7003, 7000, 1001, 1049]) {
            throw http.scrub(DNSProviderError(code: .zoneNotFound, message: "Cloudflare does not know the zone \(zone)\(said). Check the zone exists in this account and the token may access it."))
        }
        if reply.status >= 500 {
            throw http.scrub(DNSProviderError(code: .invalidResponse, message: "Cloudflare failed (HTTP \(reply.status)) while \(doing) in \(zone)\(said); try again later."))
        }
        throw http.scrub(DNSProviderError(code: .rejected, message: "Cloudflare rejected \(doing) in \(zone)\(said). Nothing was changed; fix the records and try again."))
    }
}
