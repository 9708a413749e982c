import DNSProviders
import Foundation
import NebulaCore

/// A check's settings as the scheduler and the probes use them: a value copied from the row, so a
/// probe in flight never sees a half-applied edit.
struct CheckConfig: Sendable, Equatable {
    var id: UUID
    var name: String
    var kind: CheckKind
    var spec: CheckSpec
    var target: String
    var interval: Int
    var timeout: Int
    var enabled: Bool
    var severity: IncidentSeverity
    var failuresBeforeIncident: Int
    var successesBeforeResolve: Int

    init(_ record: CheckRecord) {
        id = record.id ?? UUID()
        name = record.name
        kind = record.kind
        spec = record.decodedSpec
        target = record.target
        interval = record.intervalSeconds
        timeout = record.timeoutSeconds
        enabled = record.enabled
        severity = record.severity
        failuresBeforeIncident = record.failuresBeforeIncident
        successesBeforeResolve = record.successesBeforeResolve
    }

    /// Facts about the target that incident events carry (`url`, `host`, `serverID`, `container`).
    var targetFacts: [String: String] {
        var facts: [String: String] = [:]
        if let url = spec.url { facts["url"] = url }
        if let host = spec.host { facts["host"] = host }
        if let name = spec.recordName { facts["host"] = name }
        if let server = spec.serverId { facts["serverID"] = server.uuidString }
        if let container = spec.container { facts["container"] = container }
        return facts
    }
}

/// The rules every check must follow. Each failure names the field (`error.problems[0].path`)
/// and says what is accepted; nothing is saved unless all pass.
enum CheckRules {
    static let minimumInterval = 10
    static let maximumInterval = 86_400
    static let metrics = ["cpu", "memory", "disk", "temperature"]
    static let comparisons = [">", ">=", "<", "<="]

    static func fail(_ field: String, _ message: String, code: String) -> NebulaError {
        var error = NebulaError.unprocessable(message, code: code)
        error.problems = [FieldProblem(path: field, message: message)]
        return error
    }

    static func name(_ raw: String?) throws -> String {
        let name = (raw ?? "").trimmingCharacters(in: .whitespaces)
        guard (1...80).contains(name.count), !name.contains(where: { $0.isNewline || $0 == "<" || $0 == ">" }) else {
            throw fail("name", "The name is 1–80 characters, without line breaks or angle brackets.", code: "invalid_name")
        }
        return name
    }

    static func kind(_ raw: String?) throws -> CheckKind {
        guard let raw, let kind = CheckKind(rawValue: raw.lowercased()) else {
            throw fail("kind", "Unknown check kind '\(raw ?? "")'; use one of \(CheckKind.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_kind")
        }
        return kind
    }

    static func timing(interval: Int, timeout: Int) throws {
        guard (minimumInterval...maximumInterval).contains(interval) else {
            throw fail("intervalSeconds", "The interval is \(minimumInterval)–\(maximumInterval) seconds.", code: "invalid_interval")
        }
        guard timeout >= 1, timeout < interval else {
            throw fail("timeoutSeconds", "The timeout is at least 1 second and shorter than the interval (\(interval) s).", code: "invalid_timeout")
        }
    }

    static func thresholds(failures: Int, successes: Int) throws {
        guard (1...100).contains(failures) else {
            throw fail("failuresBeforeIncident", "failuresBeforeIncident is 1–100.", code: "invalid_failures_before_incident")
        }
        guard (1...100).contains(successes) else {
            throw fail("successesBeforeResolve", "successesBeforeResolve is 1–100.", code: "invalid_successes_before_resolve")
        }
    }

    static func severity(_ raw: String?) throws -> IncidentSeverity? {
        guard let raw else { return nil }
        guard let severity = IncidentSeverity(rawValue: raw.lowercased()) else {
            throw fail("severity", "severity is info, warning or critical.", code: "invalid_severity")
        }
        return severity
    }

    /// Checks the kind's fields, fills defaults, drops the other kinds' fields, and returns the
    /// stored spec and the one-line target. Servers and containers are looked up by the caller.
    static func normalise(_ spec: CheckSpec, kind: CheckKind) throws -> (spec: CheckSpec, target: String) {
        func trimmed(_ value: String?) -> String? {
            value.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        func port(_ value: Int?, field: String = "port") throws -> Int {
            guard let value, (1...65535).contains(value) else { throw fail(field, "The port is 1–65535.", code: "invalid_port") }
            return value
        }
        func host(_ value: String?) throws -> String {
            guard let value = trimmed(value), HostPort.isValidHost(value) else {
                throw fail("host", "The host is a DNS name or an IP address (no scheme, no path).", code: "invalid_host")
            }
            return value
        }
        func server(_ value: UUID?) throws -> UUID {
            guard let value else { throw fail("serverId", "Choose the server (serverId).", code: "invalid_server") }
            return value
        }
        var out = CheckSpec()
        switch kind {
        case .http:
            guard let raw = trimmed(spec.url), let url = HTTPProbe.validURL(raw) else {
                throw fail("url", "The URL must be an absolute http:// or https:// URL with a host.", code: "invalid_url")
            }
            let method = (trimmed(spec.method) ?? "GET").uppercased()
            guard HTTPProbe.Method(rawValue: method) != nil else { throw fail("method", "The method is GET or HEAD.", code: "invalid_method") }
            let status = trimmed(spec.expectedStatus) ?? "200-299"
            guard let ranges = StatusRanges(parsing: status) else {
                throw fail("expectedStatus", "The expected status is a code or range from 100 to 599, like 200-299 or 200,301-302.", code: "invalid_status_range")
            }
            if let latency = spec.maxLatencyMs, !(1...600_000).contains(latency) {
                throw fail("maxLatencyMs", "maxLatencyMs is 1–600000.", code: "invalid_max_latency")
            }
            if let keyword = spec.keyword, keyword.count > 200 { throw fail("keyword", "The keyword is at most 200 characters.", code: "invalid_keyword") }
            if trimmed(spec.keyword) != nil, method == "HEAD" {
                throw fail("keyword", "A HEAD request has no body to look for a keyword in; use GET.", code: "invalid_keyword")
            }
            out.url = url.absoluteString
            out.method = method
            out.expectedStatus = ranges.description
            out.keyword = trimmed(spec.keyword)
            out.keywordAbsent = out.keyword == nil ? nil : (spec.keywordAbsent ?? false)
            out.maxLatencyMs = spec.maxLatencyMs
            out.followRedirects = spec.followRedirects ?? true
            out.ignoreTLSErrors = spec.ignoreTLSErrors ?? false
            return (out, url.absoluteString)
        case .tcp:
            out.host = try host(spec.host)
            out.port = try port(spec.port)
            return (out, HostPort(host: out.host ?? "", port: out.port ?? 0).description)
        case .tls:
            out.host = try host(spec.host)
            out.port = try port(spec.port ?? 443)
            let days = spec.warnDays ?? 14
            guard (0...3650).contains(days) else { throw fail("warnDays", "warnDays is 0–3650.", code: "invalid_warn_days") }
            out.warnDays = days
            return (out, "tls://" + HostPort(host: out.host ?? "", port: out.port ?? 0).description)
        case .dns:
            guard let name = trimmed(spec.recordName), (try? DNSQuery.encodeName(name)) != nil else {
                throw fail("recordName", "recordName must be a DNS name like nas.example.org.", code: "invalid_record_name")
            }
            let type = (trimmed(spec.recordType) ?? "A").uppercased()
            guard let known = DNSQuery.RecordType(rawValue: type), DNSProbe.checkableTypes.contains(known) else {
                throw fail("recordType", "recordType is A, AAAA, CNAME, TXT or MX.", code: "invalid_record_type")
            }
            if let resolver = trimmed(spec.resolver) {
                guard HostPort(parsing: resolver, defaultPort: 53) != nil else {
                    throw fail("resolver", "The resolver is host:port (port 1–65535), e.g. 192.0.2.53:53.", code: "invalid_resolver")
                }
                out.resolver = resolver
            }
            let expected = (spec.expected ?? []).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard expected.count <= 20, expected.allSatisfy({ $0.count <= 255 }) else {
                throw fail("expected", "At most 20 expected values of up to 255 characters.", code: "invalid_expected")
            }
            out.recordName = name
            out.recordType = type
            out.expected = expected.isEmpty ? nil : expected
            return (out, "\(name) \(type)")
        case .container:
            out.serverId = try server(spec.serverId)
            guard let container = trimmed(spec.container), (try? ContainersService.containerReference(container)) != nil else {
                throw fail("container", "The container is its name or id.", code: "invalid_container")
            }
            out.container = container
            return (out, container)
        case .metric:
            out.serverId = try server(spec.serverId)
            guard let metric = trimmed(spec.metric)?.lowercased(), metrics.contains(metric) else {
                throw fail("metric", "The metric is cpu, memory, disk or temperature.", code: "invalid_metric")
            }
            let comparison = trimmed(spec.comparison) ?? ">"
            guard comparisons.contains(comparison) else { throw fail("comparison", "The comparison is >, >=, < or <=.", code: "invalid_comparison") }
            guard let threshold = spec.threshold, threshold.isFinite, threshold >= -100, threshold <= 1000 else {
                throw fail("threshold", "The threshold is a number (percent for cpu, memory and disk; °C for temperature).", code: "invalid_threshold")
            }
            let sustained = spec.sustainedMinutes ?? 0
            guard (0...1440).contains(sustained) else { throw fail("sustainedMinutes", "sustainedMinutes is 0–1440.", code: "invalid_sustained") }
            if metric == "disk", let mount = trimmed(spec.mount) {
                guard mount.hasPrefix("/"), mount.count <= 255 else { throw fail("mount", "The mount point is an absolute path such as /srv.", code: "invalid_mount") }
                out.mount = mount
            }
            out.metric = metric
            out.comparison = comparison
            out.threshold = threshold
            out.sustainedMinutes = sustained
            let unit = metric == "temperature" ? " °C" : "%"
            return (out, "\(metric)\(out.mount.map { " \($0)" } ?? "") \(comparison) \(Self.format(threshold))\(unit)" + (sustained > 0 ? " for \(sustained) min" : ""))
        case .heartbeat:
            out.serverId = try server(spec.serverId)
            let silence = spec.maxSilenceSeconds ?? 60
            guard (5...86_400).contains(silence) else {
                throw fail("maxSilenceSeconds", "maxSilenceSeconds is 5–86400.", code: "invalid_max_silence")
            }
            out.maxSilenceSeconds = silence
            return (out, "agent seen within \(silence) s")
        }
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(format: "%.1f", value)
    }
}
