import Foundation

/// Renders a notification as an RFC 5322 / MIME message: plain UTF-8 text, quoted-printable, every
/// header on one line (or folded by this type), CRLF line endings. Nothing in the notification can
/// add or end a header: the subject is collapsed to one line and encoded as RFC 2047 words when it is
/// not short plain ASCII, and addresses were validated when the channel was built.
struct SMTPMessage {
    var settings: SMTPSettings
    var notification: NotificationMessage
    var date: Date
    var messageID: String

    init(settings: SMTPSettings, notification: NotificationMessage, date: Date, messageID: UUID = UUID()) {
        self.settings = settings
        self.notification = notification
        self.date = date
        let domain = settings.from.split(separator: "@").last.map(String.init) ?? "localhost"
        self.messageID = "<\(messageID.uuidString.lowercased())@\(domain)>"
    }

    /// The subject: the prefix (when set) and the title, on one line.
    var subject: String {
        let title = Self.oneLine(notification.title)
        return settings.subjectPrefix.isEmpty ? title : settings.subjectPrefix + " " + title
    }

    /// The text: the message, the fields as `name: value` lines, and the link.
    var text: String {
        var text = DefaultNotificationSender.plainText(notification)
        if let url = notification.url { text += "\n\n" + url.absoluteString }
        return text
    }

    /// The whole message with CRLF line endings, ready for DATA (before dot-stuffing).
    func rendered() -> String {
        let headers: [(String, String)] = [
            ("Date", Self.rfc5322Date(date)),
            ("From", "Nebula Command <\(settings.from)>"),
            ("To", settings.to.joined(separator: ", ")),
            ("Subject", Self.encodedHeaderValue(subject, nameLength: 7)),
            ("Message-ID", messageID),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "quoted-printable"),
            ("Auto-Submitted", "auto-generated"),
            ("X-Nebula-Category", Self.encodedHeaderValue(Self.oneLine(notification.category.rawValue), nameLength: 17)),
            ("X-Nebula-Severity", notification.severity.rawValue),
        ]
        let head = headers.map { Self.folded(name: $0.0, value: $0.1) }.joined(separator: "\r\n")
        return head + "\r\n\r\n" + Self.quotedPrintable(text) + "\r\n"
    }

    // MARK: - Encoding

    /// `text` with every line break (CRLF, CR, LF, and Unicode line separators) replaced by a space.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 }).replacingOccurrences(of: "\0", with: "")
    }

    /// `value` as is when it is printable ASCII that fits a header line, else RFC 2047 encoded words
    /// (`=?UTF-8?B?…?=`, at most 75 characters each, split only between Unicode scalars), sized so
    /// that every line, the first one with the header's name (`nameLength` characters), fits 78 characters.
    static func encodedHeaderValue(_ value: String, nameLength: Int) -> String {
        let printable = value.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) }
        if printable, value.utf8.count <= 900, !value.contains("=?") { return value }
        var words: [String] = []
        var chunk: [UInt8] = []
        // A word is 12 characters plus 4 per 3 bytes: 45 bytes make 72 characters, which with the
        // folding space fit 78; the first line also holds "Name: ".
        let firstLimit = max(6, (78 - nameLength - 2 - 12) / 4 * 3)
        for scalar in value.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > (words.isEmpty ? firstLimit : 45) {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        // Encoded words separated by folding white space; the space between two words is ignored by readers.
        return words.joined(separator: "\r\n ")
    }

    /// `Name: value`, folded before spaces so no line exceeds 78 characters when that is possible.
    static func folded(name: String, value: String) -> String {
        let line = "\(name): \(value)"
        guard !line.contains("\r\n"), line.count > 78 else { return line }
        var lines: [String] = []
        var current = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            if current.isEmpty {
                current = String(word)
            } else if current.count + 1 + word.count > 78 {
                lines.append(current)
                current = String(word)
            } else {
                current += " " + word
            }
        }
        lines.append(current)
        return lines.joined(separator: "\r\n ")
    }

    /// Quoted-printable (RFC 2045 §6.7) of `text` as UTF-8: line breaks become CRLF, lines are
    /// softly broken to at most 76 characters, and `=`, control characters, non-ASCII bytes and
    /// white space before a line break are escaped.
    static func quotedPrintable(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var output: [String] = []
        for line in normalizedLines(text) {
            var encoded = ""
            var length = 0
            let bytes = Array(line.utf8)
            for (index, byte) in bytes.enumerated() {
                let isLast = index == bytes.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != 61) || ((byte == 32 || byte == 9) && !isLast)
                let piece = literal ? String(UnicodeScalar(byte)) : "=" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
                // Room for a trailing "=" soft break keeps every line at most 76 characters.
                if length + piece.count > 75 {
                    encoded += "=\r\n"
                    length = 0
                }
                encoded += piece
                length += piece.count
            }
            output.append(encoded)
        }
        return output.joined(separator: "\r\n")
    }

    /// The lines of `text`, split at CRLF, CR and LF.
    static func normalizedLines(_ text: String) -> [String] {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// `text` (CRLF lines) prepared for DATA: every line starting with "." gets another "."
    /// (RFC 5321 §4.5.2), lone CR or LF become CRLF, and the message ends with CRLF.
    static func dotStuffed(_ text: String) -> String {
        var lines = normalizedLines(text)
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n") + "\r\n"
    }

    /// RFC 5322 date-time in UTC, e.g. `Sun, 01 Mar 2026 12:00:00 +0000`.
    static func rfc5322Date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(days[((parts.weekday ?? 1) - 1) % 7]), \(two(parts.day)) \(months[((parts.month ?? 1) - 1) % 12]) "
            + "\(parts.year ?? 1970) \(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) +0000"
    }
}
