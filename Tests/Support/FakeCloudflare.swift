import Foundation
import NIOHTTP1

/// A Cloudflare API v4 stand-in over loopback HTTP, validating every request like the real one:
/// the Bearer token on every call (401, code 10000 otherwise), `GET /zones?name=`, paginated
/// `GET /zones/{id}/dns_records` (at most 2 per page, whatever the client asks, so paging is
/// exercised), and `POST /zones/{id}/dns_records/batch`, which rejects unknown keys and incomplete
/// records and applies deletes, patches and posts all or nothing.
public actor FakeCloudflare {
    public let zone: String
    public let zoneID = "023e105f4ecef8ad9ca31a8372d0c353"
    public let token: String
    /// Records as Cloudflare stores them (JSON objects), in creation order.
    public private(set) var records: [[String: Any]] = []
    private(set) var batchBodies: [[String: Any]] = []
    public private(set) var listPages: [Int] = []
    /// The next this many requests get HTTP 429 with `Retry-After: 17`.
    var rateLimitNext = 0
    private var nextID = 1

    public init(zone: String, token: String) {
        self.zone = zone
        self.token = token
    }

    public static let maxPerPage = 2

    /// How many records of each change kind one batch request carried.
    public struct BatchSummary: Sendable, Equatable {
        public var deletes: Int
        public var patches: Int
        public var posts: Int

        public init(deletes: Int, patches: Int, posts: Int) {
            self.deletes = deletes
            self.patches = patches
            self.posts = posts
        }
    }

    /// One summary per batch request received, valid or not.
    public var batches: [BatchSummary] {
        batchBodies.map { body in
            BatchSummary(deletes: (body["deletes"] as? [Any])?.count ?? 0, patches: (body["patches"] as? [Any])?.count ?? 0,
                         posts: (body["posts"] as? [Any])?.count ?? 0)
        }
    }

    /// Each stored record as "name type content", sorted.
    public var recordSummaries: [String] {
        records.map { "\($0["name"] ?? "") \($0["type"] ?? "") \($0["content"] ?? "")" }.sorted()
    }

    public var recordCount: Int { records.count }

    public func setRateLimit(_ count: Int) { rateLimitNext = count }

    /// Adds records as they would be stored (fields as in API answers; `id` is assigned).
    public func seed(_ seeds: [[String: Any]]) {
        for seed in seeds {
            var record = seed
            record["id"] = newID()
            record["proxied"] = record["proxied"] ?? false
            records.append(record)
        }
    }

    private func newID() -> String {
        defer { nextID += 1 }
        return String(format: "%032x", nextID)
    }

    // MARK: HTTP

    public func handle(_ request: TestHTTPServer.Request) -> TestHTTPServer.Reply {
        guard request.headers.first(name: "Authorization") == "Bearer \(token)" else {
            return failure(.unauthorized, [(10000, "Authentication error")])
        }
        if rateLimitNext > 0 {
            rateLimitNext -= 1
            var reply = failure(.tooManyRequests, [(971, "Please wait and consider throttling your request speed")])
            reply.headers.append(("Retry-After", "17"))
            return reply
        }
        let path = request.path.hasPrefix("/client/v4") ? String(request.path.dropFirst("/client/v4".count)) : request.path
        let parts = path.split(separator: "/").map(String.init)
        switch (request.method, parts.count) {
        case ("GET", 1) where parts[0] == "zones":
            let result: [[String: Any]] = request.query["name"] == zone ? [["id": zoneID, "name": zone, "status": "active"]] : []
            return success(result, info: ["page": 1, "per_page": 50, "count": result.count, "total_count": result.count, "total_pages": 1])
        case (_, 3...) where parts[0] == "zones" && parts[1] != zoneID:
            return failure(.notFound, [(7003, "Could not route to /zones/\(parts[1]), perhaps your object identifier is invalid?")])
        case ("GET", 3) where parts[2] == "dns_records":
            return list(request)
        case ("POST", 4) where parts[2] == "dns_records" && parts[3] == "batch":
            return batch(request)
        default:
            return failure(.notFound, [(7000, "No route for that URI")])
        }
    }

    private func list(_ request: TestHTTPServer.Request) -> TestHTTPServer.Reply {
        let perPage = min(Int(request.query["per_page"] ?? "") ?? 100, Self.maxPerPage)
        let page = max(Int(request.query["page"] ?? "") ?? 1, 1)
        listPages.append(page)
        let totalPages = max(1, (records.count + perPage - 1) / perPage)
        let slice = Array(records.dropFirst((page - 1) * perPage).prefix(perPage))
        return success(slice, info: ["page": page, "per_page": perPage, "count": slice.count, "total_count": records.count, "total_pages": totalPages])
    }

    private func batch(_ request: TestHTTPServer.Request) -> TestHTTPServer.Reply {
        guard let body = request.json() else { return failure(.badRequest, [(9207, "Request body is invalid JSON")]) }
        batchBodies.append(body)
        var errors: [(Int, String)] = []
        for key in body.keys where !["deletes", "patches", "puts", "posts"].contains(key) {
            errors.append((9005, "unknown field '\(key)'"))
        }
        var next = records
        for delete in body["deletes"] as? [[String: Any]] ?? [] {
            guard Set(delete.keys) == ["id"], let id = delete["id"] as? String, let index = next.firstIndex(where: { $0["id"] as? String == id }) else {
                errors.append((81044, "delete: record not found or extra fields: \(delete.keys.sorted())"))
                continue
            }
            next.remove(at: index)
        }
        for patch in body["patches"] as? [[String: Any]] ?? [] {
            guard let id = patch["id"] as? String, let index = next.firstIndex(where: { $0["id"] as? String == id }) else {
                errors.append((81044, "patch: record not found"))
                continue
            }
            var merged = next[index]
            for (key, value) in patch { merged[key] = value }
            if let problem = check(merged, keys: Set(patch.keys)) { errors.append((9000, "patch \(id): \(problem)")); continue }
            next[index] = withContent(merged)
        }
        for post in body["posts"] as? [[String: Any]] ?? [] {
            var record = post
            if let problem = check(record, keys: Set(post.keys).union(["id"])) { errors.append((9000, "post: \(problem)")); continue }
            record["id"] = newID()
            record["proxied"] = record["proxied"] ?? false
            next.append(withContent(record))
        }
        if (body["puts"] as? [Any])?.isEmpty == false { errors.append((9000, "puts are not supported by this fake")) }
        for name in Set(next.compactMap { $0["name"] as? String }) {
            let here = next.filter { $0["name"] as? String == name }
            if here.contains(where: { $0["type"] as? String == "CNAME" }), here.count > 1 {
                errors.append((81053, "An A, AAAA, or CNAME record with that host already exists."))
            }
        }
        guard errors.isEmpty else { return failure(.badRequest, errors) }
        records = next
        return success(["deletes": [], "patches": [], "posts": []] as [String: Any], info: nil)
    }

    /// Why a record is not acceptable, or nil.
    private func check(_ record: [String: Any], keys: Set<String>) -> String? {
        let allowed: Set<String> = ["id", "type", "name", "content", "ttl", "priority", "data", "proxied", "comment", "tags"]
        if let unknown = keys.subtracting(allowed).sorted().first { return "unknown field '\(unknown)'" }
        guard let type = record["type"] as? String, ["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "NS"].contains(type) else { return "type is missing or unknown" }
        guard let name = record["name"] as? String, name == zone || name.hasSuffix("." + zone) else { return "name is missing or outside the zone" }
        if let ttl = record["ttl"] {
            guard let value = ttl as? Int, value == 1 || (30...86400).contains(value) else { return "ttl must be 1 or 30–86400" }
        }
        switch type {
        case "SRV":
            guard let data = record["data"] as? [String: Any], data["priority"] is Int, data["weight"] is Int, data["port"] is Int, data["target"] is String,
                  Set(data.keys) == ["priority", "weight", "port", "target"] else { return "SRV needs data {priority, weight, port, target}" }
        case "CAA":
            guard let data = record["data"] as? [String: Any], data["flags"] is Int, let tag = data["tag"] as? String, data["value"] is String,
                  Set(data.keys) == ["flags", "tag", "value"], ["issue", "issuewild", "iodef"].contains(tag) else { return "CAA needs data {flags, tag, value}" }
        default:
            guard let content = record["content"] as? String, !content.isEmpty else { return "content is required" }
            if type == "MX", !(record["priority"] is Int) { return "MX needs priority" }
            if type == "A", content.split(separator: ".").count != 4 { return "content for A must be a valid IPv4 address" }
        }
        return nil
    }

    /// Fills `content` from `data` the way Cloudflare shows SRV and CAA records.
    private func withContent(_ record: [String: Any]) -> [String: Any] {
        var record = record
        guard let data = record["data"] as? [String: Any] else { return record }
        switch record["type"] as? String {
        case "SRV": record["content"] = "\(data["weight"] ?? 0) \(data["port"] ?? 0) \(data["target"] ?? "")"
        case "CAA": record["content"] = "\(data["flags"] ?? 0) \(data["tag"] ?? "") \"\(data["value"] ?? "")\""
        default: break
        }
        return record
    }

    private func success(_ result: Any, info: [String: Any]?) -> TestHTTPServer.Reply {
        var envelope: [String: Any] = ["success": true, "errors": [], "messages": [], "result": result]
        if let info { envelope["result_info"] = info }
        return TestHTTPServer.Reply(status: .ok, body: Self.text(envelope))
    }

    private func failure(_ status: HTTPResponseStatus, _ errors: [(Int, String)]) -> TestHTTPServer.Reply {
        let envelope: [String: Any] = ["success": false, "errors": errors.map { ["code": $0.0, "message": $0.1] }, "messages": [], "result": NSNull()]
        return TestHTTPServer.Reply(status: status, body: Self.text(envelope))
    }

    private static func text(_ object: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }
}
