import Foundation
import NIOSSL

/// How an email channel protects its connection to the mail server.
public enum SMTPSecurity: String, Sendable, Equatable, Codable, CaseIterable {
    /// Connect in plain text, then upgrade with `STARTTLS` before anything else (submission, port 587).
    /// The upgrade is required: a server that does not offer it is refused, never used in plain text.
    case starttls
    /// TLS from the first byte ("implicit TLS", submissions, port 465).
    case tls
    /// No encryption at all: for a relay on a trusted LAN only. Anyone on the path can read the
    /// mail, and a password would travel in clear text, so credentials are refused in this mode
    /// unless ``SMTPSettings/allowInsecureAuthentication`` says otherwise.
    case none

    /// The port this mode usually uses: 587, 465 or 25.
    public var defaultPort: Int {
        switch self {
        case .starttls: 587
        case .tls: 465
        case .none: 25
        }
    }
}

/// Everything an email channel needs to hand a notification to a mail server (SMTP submission).
///
/// Build it through ``NotificationChannel/email(host:port:security:username:password:from:to:heloName:trustedCAPEM:subjectPrefix:allowInsecureAuthentication:)``,
/// which checks every value: a value of this type never holds CR, LF or NUL in anything that goes
/// on the wire, so no header or command can be injected through it.
public struct SMTPSettings: Sendable, Equatable {
    /// The mail server's host name or IP address (without brackets).
    public let host: String
    /// The mail server's TCP port.
    public let port: Int
    /// How the connection is protected.
    public let security: SMTPSecurity
    /// The account to authenticate as; nil sends without authentication.
    public let username: String?
    /// The account's password; set exactly when `username` is. Never shown.
    public let password: String?
    /// The sender address (`MAIL FROM` and the `From` header).
    public let from: String
    /// The recipients (one `RCPT TO` each and the `To` header); at least one.
    public let to: [String]
    /// The name this host gives in `EHLO`.
    public let heloName: String
    /// One or more extra CA certificates (PEM) trusted in addition to the system's, for a mail
    /// server whose certificate a private CA issued.
    public let trustedCAPEM: String?
    /// Text put before every subject, e.g. `[nebula]`, for mail filters; may be empty.
    public let subjectPrefix: String
    /// Whether credentials may be sent without TLS (only meaningful with ``SMTPSecurity/none``).
    public let allowInsecureAuthentication: Bool
}

extension SMTPSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The settings with the password shown as `…` when there is one (also for `debugDescription`
    /// and the mirror `dump` uses), so interpolating them never leaks it.
    public var description: String {
        "SMTPSettings(host: \(host), port: \(port), security: \(security.rawValue), username: \(username ?? "none"), "
            + "password: \(password == nil ? "none" : "…"), from: \(from), to: \(to.joined(separator: ", ")), "
            + "heloName: \(heloName), trustedCA: \(trustedCAPEM == nil ? "no" : "yes"), subjectPrefix: \(subjectPrefix), "
            + "allowInsecureAuthentication: \(allowInsecureAuthentication))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "host": host, "port": port, "security": security, "username": username as Any,
            "password": password == nil ? "none" : "…", "from": from, "to": to, "heloName": heloName,
            "subjectPrefix": subjectPrefix, "allowInsecureAuthentication": allowInsecureAuthentication,
        ], displayStyle: .struct)
    }
}

extension NotificationChannel {
    /// An email channel delivering through the SMTP server at `host`.
    ///
    /// - `port` defaults to the mode's usual port (587 for `.starttls`, 465 for `.tls`, 25 for `.none`).
    /// - `username` and `password` go together; leave both out for a relay that needs no login.
    ///   With `.none` they are refused unless `allowInsecureAuthentication` is true, because the
    ///   password would cross the network in clear text.
    /// - `from` and every address of `to` (1–100 of them) must look like `local@domain` in plain
    ///   ASCII, without spaces, quotes, angle brackets, commas, CR or LF.
    /// - `heloName` defaults to this machine's host name when it is a valid one, else `localhost`.
    /// - `trustedCAPEM` adds PEM CA certificates to the system's trusted roots; host names are always verified.
    ///
    /// Throws ``NotificationError/Code/invalidChannel`` naming the bad setting (never repeating the password).
    public static func email(
        host: String, port: Int? = nil, security: SMTPSecurity = .starttls,
        username: String? = nil, password: String? = nil,
        from: String, to: [String], heloName: String? = nil, trustedCAPEM: String? = nil,
        subjectPrefix: String = "", allowInsecureAuthentication: Bool = false
    ) throws(NotificationError) -> NotificationChannel {
        let host = try SMTPValidation.host(host)
        let port = port ?? security.defaultPort
        guard (1...65535).contains(port) else {
            throw .invalidChannel("the SMTP port must be between 1 and 65535 (587 for STARTTLS, 465 for TLS, 25 for a plain relay)")
        }
        let username = username.flatMap { $0.isEmpty ? nil : $0 }
        let password = password.flatMap { $0.isEmpty ? nil : $0 }
        switch (username, password) {
        case (nil, nil):
            break
        case (.some(let user), .some(let secret)):
            guard !user.contains(where: SMTPValidation.isLineBreakOrNUL), user.count <= 256 else {
                throw .invalidChannel("the SMTP username contains a line break or NUL, or is longer than 256 characters")
            }
            guard !secret.unicodeScalars.contains(where: { $0 == "\0" || $0 == "\r" || $0 == "\n" }), secret.count <= 1024 else {
                throw .invalidChannel("the SMTP password contains a line break or NUL, or is longer than 1024 characters")
            }
            if security == .none, !allowInsecureAuthentication {
                throw .invalidChannel("a username and password are set but security is 'none': the password would be sent unencrypted; use STARTTLS or TLS, or explicitly allow insecure authentication for a trusted LAN relay")
            }
        case (.some, nil):
            throw .invalidChannel("an SMTP username is set without a password; set both or neither")
        case (nil, .some):
            throw .invalidChannel("an SMTP password is set without a username; set both or neither")
        }
        let from = try SMTPValidation.address(from, role: "sender (from) address")
        guard (1...100).contains(to.count) else {
            throw .invalidChannel(to.isEmpty ? "an email channel needs at least one recipient (to) address"
                                             : "an email channel takes at most 100 recipient addresses")
        }
        var recipients: [String] = []
        for (index, address) in to.enumerated() {
            let checked = try SMTPValidation.address(address, role: "recipient address #\(index + 1)")
            if !recipients.contains(where: { $0.lowercased() == checked.lowercased() }) { recipients.append(checked) }
        }
        let helo: String
        if let heloName {
            helo = try SMTPValidation.heloName(heloName)
        } else {
            helo = SMTPValidation.defaultHeloName()
        }
        var trusted: String?
        if let pem = trustedCAPEM?.trimmingCharacters(in: .whitespacesAndNewlines), !pem.isEmpty {
            do {
                let certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
                guard !certificates.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
            } catch {
                throw .invalidChannel("the trusted CA certificate is not a PEM certificate (-----BEGIN CERTIFICATE----- …)")
            }
            trusted = pem
        }
        guard !subjectPrefix.contains(where: SMTPValidation.isLineBreakOrNUL), subjectPrefix.count <= 64 else {
            throw .invalidChannel("the subject prefix must be one line of at most 64 characters")
        }
        return .init(kind: .email(SMTPSettings(
            host: host, port: port, security: security, username: username, password: password,
            from: from, to: recipients, heloName: helo, trustedCAPEM: trusted,
            subjectPrefix: subjectPrefix.trimmingCharacters(in: .whitespaces),
            allowInsecureAuthentication: allowInsecureAuthentication)))
    }
}

/// Checks for the values an email channel puts on the wire. Errors never repeat the input.
enum SMTPValidation {
    static func isLineBreakOrNUL(_ character: Character) -> Bool {
        character.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" } || character.isNewline
    }

    /// The characters RFC 5321 allows in an unquoted local part besides letters and digits.
    private static let localSpecials = Set("!#$%&'*+-/=?^_`{|}~.")

    /// `local@domain` in ASCII: a dot-atom local part (1–64) and a host-name domain; trimmed.
    static func address(_ raw: String, role: String) throws(NotificationError) -> String {
        let address = raw.trimmingCharacters(in: .whitespaces)
        guard !address.contains(where: isLineBreakOrNUL) else {
            throw .invalidChannel("the \(role) contains a line break; an address is one line like name@example.com")
        }
        guard address.allSatisfy({ $0.isASCII }) else {
            throw .invalidChannel("the \(role) has non-ASCII characters; international addresses are not supported, use an ASCII address like name@example.com")
        }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, address.count <= 254 else {
            throw .invalidChannel("the \(role) must look like name@example.com (exactly one @, at most 254 characters)")
        }
        let local = parts[0]
        guard (1...64).contains(local.count), local.first != ".", local.last != ".", !local.contains(".."),
              local.allSatisfy({ ($0.isLetter || $0.isNumber) || localSpecials.contains($0) }) else {
            throw .invalidChannel("the \(role) has an invalid name before the @: use letters, digits and . _ % + - (no spaces, quotes, commas or angle brackets)")
        }
        guard isHostName(String(parts[1])) else {
            throw .invalidChannel("the \(role) has an invalid domain after the @: use a host name like example.com")
        }
        return address
    }

    /// A DNS host name (letters, digits, hyphens; labels of 1–63; at most 253), an IPv4 address or
    /// an IPv6 address (brackets removed).
    static func host(_ raw: String) throws(NotificationError) -> String {
        var host = raw.trimmingCharacters(in: .whitespaces)
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if isHostName(host) || isIPv6(host) { return host }
        throw .invalidChannel("the SMTP host must be a host name like smtp.example.com or an IP address, without scheme, port or path")
    }

    /// A host name, or an address literal such as `[192.0.2.1]`.
    static func heloName(_ raw: String) throws(NotificationError) -> String {
        let name = raw.trimmingCharacters(in: .whitespaces)
        if isHostName(name) { return name }
        if name.hasPrefix("["), name.hasSuffix("]") {
            let inner = String(name.dropFirst().dropLast())
            if isIPv4(inner) { return name }
            if inner.lowercased().hasPrefix("ipv6:"), isIPv6(String(inner.dropFirst(5))) { return name }
        }
        throw .invalidChannel("the HELO name must be a host name like nebula.example.com or an address literal like [192.0.2.1]")
    }

    /// This machine's host name when it is a valid host name, else `localhost`.
    static func defaultHeloName() -> String {
        let name = ProcessInfo.processInfo.hostName
        return isHostName(name) ? name : "localhost"
    }

    static func isHostName(_ name: String) -> Bool {
        var name = Substring(name)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard (1...253).contains(name.count) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            (1...3).contains(part.count) && part.allSatisfy { $0.isASCII && $0.isNumber } && (Int(part) ?? 256) <= 255
        }
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.contains(":"), (2...45).contains(text.count) else { return false }
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }
}
