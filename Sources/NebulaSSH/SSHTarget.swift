/// Where to log in: a host, its SSH port and the remote user name. Validated when created.
public struct SSHTarget: Sendable, Hashable, CustomStringConvertible {
    /// Host name, IPv4 address or IPv6 address (without brackets).
    public let host: String
    /// TCP port of sshd, 1…65535.
    public let port: Int
    /// Remote user name (POSIX-style: letters, digits, `_`, `.`, `-`; not starting with `-` or `.`).
    public let username: String

    /// Validates and creates a target.
    ///
    /// - Throws: `SSHError` `invalid_target` naming the bad field: an empty host, a host with
    ///   whitespace, control characters or a `user@` prefix, a port outside 1…65535, or a user name
    ///   that is not a POSIX-style user name.
    public init(host: String, port: Int = 22, username: String) throws(SSHError) {
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]"), host.count > 2 {
            host = String(host.dropFirst().dropLast())   // "[::1]" as written in URLs
        }
        if host.isEmpty {
            throw .invalidTarget("the host is empty — enter a host name or IP address")
        }
        if host.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
            throw .invalidTarget("the host \(Self.printable(host)) contains whitespace or control characters")
        }
        if host.contains("@") {
            throw .invalidTarget("the host \(Self.printable(host)) contains '@' — put the user name in the user field, not in the host")
        }
        if host.hasPrefix("-") {
            throw .invalidTarget("the host \(Self.printable(host)) starts with '-'")
        }
        if host.utf8.count > 253 {
            throw .invalidTarget("the host name is longer than 253 characters")
        }
        guard (1...65535).contains(port) else {
            throw .invalidTarget("port \(port) is outside 1…65535 (sshd usually listens on 22)")
        }
        guard Self.isValidUsername(username) else {
            throw .invalidTarget(
                "the user name \(Self.printable(username)) is not a valid user name (letters, digits, '_', '.', '-', at most 32, not starting with '-' or '.')"
            )
        }
        self.host = host
        self.port = port
        self.username = username
    }

    /// `user@host:port` (IPv6 hosts in brackets).
    public var description: String { "\(username)@\(address)" }

    /// `host:port`, with an IPv6 host in brackets: `[::1]:22`.
    public var address: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// POSIX portable user names (`[A-Za-z0-9._-]`, not starting with `-`), also rejecting a leading
    /// `.` and allowing a trailing `$` (Samba machine accounts), at most 32 characters like Linux useradd.
    static func isValidUsername(_ name: String) -> Bool {
        var scalars = Array(name.unicodeScalars)
        if scalars.last == "$" { scalars.removeLast() }
        guard let first = scalars.first, name.unicodeScalars.count <= 32 else { return false }
        func isAllowed(_ s: Unicode.Scalar) -> Bool {
            switch s {
            case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "-": return true
            default: return false
            }
        }
        return first != "-" && first != "." && scalars.allSatisfy(isAllowed)
    }

    /// Quotes user input for an error message, escaping control characters.
    private static func printable(_ s: String) -> String {
        "\"" + s.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined() + "\""
    }
}
