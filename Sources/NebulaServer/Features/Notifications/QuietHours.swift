import Foundation

/// A daily window (`22:00`–`07:00` in a time zone) in which non-urgent notifications are held and
/// delivered when it ends. A window may cross midnight; equal start and end mean no window.
struct QuietHours: Sendable, Equatable {
    /// Minutes after local midnight.
    let start: Int
    let end: Int
    let timeZone: TimeZone

    /// Parses `HH:MM` times and an IANA time zone name; `nil` with the reason otherwise.
    init(start: String, end: String, timeZone: String) throws(NebulaError) {
        guard let start = Self.minutes(start) else {
            throw .unprocessable("Quiet hours start '\(start)' is not a time like 22:00.", code: "invalid_quiet_hours")
        }
        guard let end = Self.minutes(end) else {
            throw .unprocessable("Quiet hours end '\(end)' is not a time like 07:00.", code: "invalid_quiet_hours")
        }
        guard let zone = TimeZone(identifier: timeZone) else {
            throw .unprocessable("'\(timeZone)' is not a time zone name such as Europe/Berlin or UTC.", code: "invalid_time_zone")
        }
        guard start != end else {
            throw .unprocessable("Quiet hours start and end are the same time; leave both empty for no quiet hours.", code: "invalid_quiet_hours")
        }
        self.start = start
        self.end = end
        self.timeZone = zone
    }

    var startText: String { Self.text(start) }
    var endText: String { Self.text(end) }

    /// Whether `date` falls inside the window.
    func contains(_ date: Date) -> Bool {
        let minute = minuteOfDay(date)
        return start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }

    /// The first moment after `date` at which the window ends (local time `end`, DST-aware).
    func nextEnd(after date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let matching = DateComponents(hour: end / 60, minute: end % 60, second: 0)
        return calendar.nextDate(after: date, matching: matching, matchingPolicy: .nextTime) ?? date.addingTimeInterval(86_400)
    }

    private func minuteOfDay(_ date: Date) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        return (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
    }

    private static func minutes(_ text: String) -> Int? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ (1...2).contains($0.count) && $0.allSatisfy(\.isASCII) }),
              let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        return hour * 60 + minute
    }

    private static func text(_ minutes: Int) -> String {
        String(format: "%02d:%02d", minutes / 60, minutes % 60)
    }
}
