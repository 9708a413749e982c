import Foundation

/// The checks behind ``CaddyConfigBuilder/validate(_:settings:)``. Each returns a fix-it message or nil.
enum ProxyValidation {
    static func settingsProblems(_ settings: CaddySettings) -> [ProxyConfigError] {
        var problems: [String] = []
        if let message = upstreamProblem(settings.adminListen) {
            problems.append("adminListen \"\(settings.adminListen)\": \(message)")
        }
        for (name, port) in [("httpPort", settings.httpPort), ("httpsPort", settings.httpsPort)] where !(1...65_535).contains(port) {
            problems.append("\(name) \(port) is not a TCP port; use 1–65535 (80 and 443 normally)")
        }
        if settings.httpPort == settings.httpsPort {
            problems.append("httpPort and httpsPort are both \(settings.httpPort); give HTTP and HTTPS different ports")
        }
        if let email = settings.acmeEmail {
            let parts = email.split(separator: "@", omittingEmptySubsequences: false)
            if parts.count != 2 || parts[0].isEmpty || hostProblem(String(parts[1]).lowercased()) != nil
                || email.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
                problems.append("acmeEmail is not an email address like admin@example.com; fix it or leave it empty")
            }
        }
        if let ca = settings.acmeCA, !CaddySettings.isACMEDirectory(ca) {
            problems.append("acmeCA \"\(printable(ca))\" is not an http(s) URL; use the ACME directory URL, e.g. https://ca.lan/acme/acme/directory, or leave it empty for Let's Encrypt")
        }
        if let host = settings.listenHost, !isIPv4(host), !isIPv6(host), hostProblem(host.lowercased()) != nil {
            problems.append("listenHost \"\(host)\" is not an IP address or host name; use e.g. 0.0.0.0, 127.0.0.1 or ::, or leave it empty for all interfaces")
        }
        return problems.map { ProxyConfigError(code: "invalid_settings", routeID: nil, message: $0) }
    }

    static func idProblem(_ id: String) -> String? {
        if id.isEmpty { return "the route id is empty; give every route a stable id" }
        if id.count > 100 { return "the route id is longer than 100 characters" }
        if !id.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || $0 == "-" || $0 == "_" }) {
            return "route id \"\(printable(id))\" may contain only letters, digits, '-' and '_'"
        }
        return nil
    }

    /// A route's host: lowercase DNS name or IPv4 address.
    static func hostProblem(_ host: String) -> String? {
        let shown = printable(host)
        if host.isEmpty { return "the host is empty; enter a name such as photos.example.com" }
        if host != host.lowercased() { return "host \"\(shown)\" has upper-case letters; use \"\(host.lowercased())\"" }
        if host.contains("*") { return "host \"\(shown)\": wildcard hosts are not supported; add one route per name" }
        if host.contains(":") { return "host \"\(shown)\" contains ':'; enter the name without scheme or port (IPv6 literals are not supported)" }
        if host.count > 253 { return "host \"\(shown)\" is longer than 253 characters" }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty { return "host \"\(shown)\" has an empty label (a leading, trailing or double dot)" }
            if label.count > 63 { return "host \"\(shown)\" has a label longer than 63 characters" }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                return "host \"\(shown)\": a label may not start or end with '-'"
            }
            if !label.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || $0 == "-" }) {
                return "host \"\(shown)\" may contain only a–z, 0–9, '-' and dots (use the xn-- form for international names)"
            }
        }
        return nil
    }

    /// `host:port` for an upstream (or the admin address); the host may be any case.
    static func upstreamProblem(_ upstream: String) -> String? {
        let shown = printable(upstream)
        if upstream.contains("://") {
            return "\"\(shown)\" has a scheme; enter host:port only (set upstreamTLS for an HTTPS upstream)"
        }
        let host: Substring
        let port: Substring
        if upstream.hasPrefix("[") {
            guard let close = upstream.firstIndex(of: "]") else { return "\"\(shown)\" opens '[' without closing it; write IPv6 as [fd00::1]:80" }
            host = upstream[upstream.index(after: upstream.startIndex)..<close]
            let rest = upstream[upstream.index(after: close)...]
            guard rest.hasPrefix(":") else { return "\"\(shown)\" has no port; write host:port, e.g. [fd00::1]:80" }
            port = rest.dropFirst()
            guard isIPv6(String(host)) else { return "\"\(shown)\": \(host) is not an IPv6 address" }
        } else {
            guard let colon = upstream.lastIndex(of: ":") else { return "\"\(shown)\" has no port; write host:port, e.g. 10.0.0.5:8080" }
            host = upstream[..<colon]
            port = upstream[upstream.index(after: colon)...]
            if host.contains(":") { return "\"\(shown)\": put an IPv6 address in brackets, e.g. [fd00::1]:80" }
            if host.isEmpty { return "\"\(shown)\" has no host; write host:port, e.g. 10.0.0.5:8080" }
            if !isIPv4(String(host)), hostProblem(host.lowercased()) != nil {
                return "\"\(shown)\": \(printable(String(host))) is not a valid host name or IP address"
            }
        }
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port),
              (1...65_535).contains(number) else {
            return "\"\(shown)\": port \"\(printable(String(port)))\" is not a number from 1 to 65535"
        }
        return nil
    }

    /// The normalized prefix ("/api"), nil for the whole host, or a problem.
    static func normalizedPath(_ path: String?) -> Result<String?, PathProblem> {
        guard var path else { return .success(nil) }
        let shown = printable(path)
        guard path.hasPrefix("/") else { return .failure(PathProblem(message: "path prefix \"\(shown)\" must start with '/', e.g. /api")) }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()+,;=:@/".unicodeScalars)
        if let bad = path.unicodeScalars.first(where: { !allowed.contains($0) }) {
            let what = bad.value < 0x21 || bad.value == 0x7F ? "a space or control character" : "'\(bad)'"
            return .failure(PathProblem(message: "path prefix \"\(shown)\" contains \(what); use a plain path such as /api (no wildcards, query or percent-escapes)"))
        }
        if path.contains("//") { return .failure(PathProblem(message: "path prefix \"\(shown)\" contains '//'")) }
        if path.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) {
            return .failure(PathProblem(message: "path prefix \"\(shown)\" contains '.' or '..' segments"))
        }
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return .success(path == "/" ? nil : path)
    }

    struct PathProblem: Error { var message: String }

    static func headerProblem(name: String, value: String, direction: String) -> String? {
        let tokenExtras = Set("!#$%&'*+-.^_`|~".unicodeScalars)
        if name.isEmpty { return "a \(direction) header has an empty name" }
        if !name.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || tokenExtras.contains($0) }) {
            return "\(direction) header name \"\(printable(name))\" may contain only letters, digits and !#$%&'*+-.^_`|~ (no spaces or colons)"
        }
        if value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) {
            return "\(direction) header \(name) has a line break or control character in its value; put the value on one line"
        }
        return nil
    }

    static func basicAuthProblem(_ auth: ProxyBasicAuth) -> String? {
        if auth.username.isEmpty { return "basic auth needs a user name" }
        if auth.username.contains(":") || auth.username.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "basic auth user name may not contain ':' or control characters"
        }
        if !isBcrypt(auth.passwordHash) {
            return "the basic auth password must be stored as a bcrypt hash ($2a$/$2b$/$2y$, 60 characters); set the password again so it is hashed"
        }
        return nil
    }

    static func isBcrypt(_ hash: String) -> Bool {
        let scalars = Array(hash.unicodeScalars)
        guard scalars.count == 60, scalars[0] == "$", scalars[1] == "2", ["a", "b", "y"].contains(scalars[2]), scalars[3] == "$",
              scalars[4].properties.numericType != nil, scalars[5].properties.numericType != nil, scalars[6] == "$" else { return false }
        return scalars[7...].allSatisfy { isASCIIAlphanumeric($0) || $0 == "." || $0 == "/" }
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy({ $0.isASCII && $0.isNumber }) && (Int(part) ?? 256) <= 255
        }
    }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return text.withCString { inet_pton(AF_INET6, $0, &address) } == 1
    }

    static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    /// Text safe to quote in a message: control characters shown as escapes, long input cut.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(120) {
            switch scalar {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += String(format: "\\u{%02X}", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return text.unicodeScalars.count > 120 ? out + "…" : out
    }
}
