import Foundation

/// Where a Docker Engine listens: a unix socket (the default, `/var/run/docker.sock`) or plain TCP.
public enum DockerEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The engine's unix socket at this path.
    case unix(path: String)
    /// The engine's unencrypted TCP listener (`dockerd -H tcp://…`); use only on a trusted network.
    case tcp(host: String, port: Int)

    /// `unix:///var/run/docker.sock`.
    public static let `default` = DockerEndpoint.unix(path: "/var/run/docker.sock")

    /// Parses `unix:///path/to/docker.sock`, `tcp://host:port` (port 2375 when omitted) or `http://host:port`.
    public init(parsing string: String) throws(DockerError) {
        let trimmed = string.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("unix://") {
            let path = String(trimmed.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw .invalidEndpoint(string, message: "a unix socket needs an absolute path")
            }
            self = .unix(path: path)
            return
        }
        for scheme in ["tcp://", "http://"] where trimmed.hasPrefix(scheme) {
            var rest = Substring(trimmed.dropFirst(scheme.count))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            var host = String(rest)
            var port = 2375
            if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
                guard let parsed = Int(rest[rest.index(after: colon)...]), (1...65535).contains(parsed) else {
                    throw .invalidEndpoint(string, message: "the port is not a number from 1 to 65535")
                }
                host = String(rest[..<colon])
                port = parsed
            }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, !host.contains("/") else {
                throw .invalidEndpoint(string, message: "no host name")
            }
            self = .tcp(host: host, port: port)
            return
        }
        throw .invalidEndpoint(string, message: "only unix:// and tcp:// are supported (no ssh:// or TLS)")
    }

    /// `DOCKER_HOST` from `environment` when set and not empty, else ``default``.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(DockerError) -> DockerEndpoint {
        guard let value = environment["DOCKER_HOST"], !value.isEmpty else { return .default }
        return try DockerEndpoint(parsing: value)
    }

    /// `unix:///path` or `tcp://host:port`.
    public var description: String {
        switch self {
        case .unix(let path): return "unix://\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        }
    }

    /// The URL AsyncHTTPClient needs for `pathAndQuery` (which starts with `/`) on this endpoint.
    func url(_ pathAndQuery: String) throws(DockerError) -> String {
        switch self {
        case .unix(let path):
            guard let url = URL(httpURLWithSocketPath: path, uri: pathAndQuery) else {
                throw .invalidEndpoint(description, message: "the socket path cannot be put in a URL")
            }
            return url.absoluteString
        case .tcp(let host, let port):
            let h = host.contains(":") ? "[\(host)]" : host
            return "http://\(h):\(port)\(pathAndQuery)"
        }
    }
}

/// A Docker Engine API version such as `1.41`, ordered numerically.
public struct DockerAPIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The part before the dot (always 1 so far).
    public var major: Int
    /// The part after the dot.
    public var minor: Int

    /// `major.minor`.
    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `1.41`; nil when it is not two numbers.
    public init?(_ string: String) {
        let parts = string.split(separator: ".")
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        self.init(major, minor)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    /// `1.41`.
    public var description: String { "\(major).\(minor)" }
}
