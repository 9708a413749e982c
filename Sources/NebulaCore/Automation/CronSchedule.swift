import Foundation

/// When a scheduled workflow or runbook fires: a cron expression evaluated in an explicit time zone,
/// or a fixed interval.
///
/// Cron expressions have five fields, `minute hour day-of-month month day-of-week`:
/// - each field is `*`, a value, a list `a,b`, a range `a-b`, or a step `*/n`, `a-b/n`, `a/n`
///   (from `a` to the field's end);
/// - months accept `JAN`–`DEC`, days of week `SUN`–`SAT` (any case); day-of-week 0 and 7 are both
///   Sunday, and a range ending in `SUN` (`FRI-SUN`) runs to the end of the week;
/// - as in Vixie cron, when day-of-month and day-of-week are both restricted (neither starts with
///   `*`), a day matches if EITHER matches (`0 9 1 * MON` = the 1st and every Monday); otherwise
///   both must match;
/// - macros: `@yearly`/`@annually` (`0 0 1 1 *`), `@monthly` (`0 0 1 * *`), `@weekly` (`0 0 * * 0`),
///   `@daily`/`@midnight` (`0 0 * * *`), `@hourly` (`0 * * * *`).
///
/// Daylight saving time, in the schedule's `timeZone`: a local time that does not exist (skipped
/// when clocks go forward) does not fire that day. A local time that occurs twice (clocks go back)
/// fires once, at its first occurrence — unless the hour field is `*`, in which case both real
/// hours fire, because "every hour" means every hour of elapsed time.
///
/// `@every <duration>` (`90s`, `5m`, `2h`, `1h30m`; at least 1 s) fires at a fixed interval. Its
/// anchor is the date passed to `nextFire(after:)`: the next fire is that date (with fractional
/// seconds dropped) plus the interval. A scheduler passes the previous fire time — or, for the
/// first fire, the time the schedule was enabled — so fires keep a fixed spacing with no drift.
///
/// Schedules that can never fire, like `0 0 30 2 *`, are rejected when parsed.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    /// Shortest `@every` interval, in seconds.
    public static let minimumIntervalSeconds = 1
    /// Longest accepted `@every` interval, in seconds (one year).
    public static let maximumIntervalSeconds = 366 * 86_400

    enum Kind: Sendable, Equatable {
        case fields(CronFieldSets)
        case every(seconds: Int)
    }

    let kind: Kind
    /// The zone in which the fields are read.
    public let timeZone: TimeZone

    /// Parses a cron expression, macro or `@every` interval; fails with the field and column of the
    /// first problem.
    public init(parsing expression: String, timeZone: TimeZone) throws(CronError) {
        self.timeZone = timeZone
        let words = Self.words(of: expression)
        guard let first = words.first else { throw .empty }
        if first.text.hasPrefix("@") {
            let name = first.text.lowercased()
            if name == "@every" {
                guard words.count == 2 else {
                    if words.count < 2 {
                        throw .invalidDuration("", reason: "a duration must follow @every", column: first.column + first.text.count)
                    }
                    throw .invalidDuration(words[2].text, reason: "@every takes one duration", column: words[2].column)
                }
                kind = .every(seconds: try Self.duration(words[1].text, column: words[1].column))
                return
            }
            let expansions = [
                "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
            ]
            guard let expansion = expansions[name] else { throw .unknownMacro(first.text) }
            guard words.count == 1 else { throw .unknownMacro(words.map(\.text).joined(separator: " ")) }
            kind = .fields(try CronFieldSets(Self.words(of: expansion)))
            return
        }
        guard words.count == 5 else { throw .wrongFieldCount(found: words.count) }
        kind = .fields(try CronFieldSets(words))
    }

    /// The `@every` interval, or nil for a cron expression.
    public var interval: Duration? {
        if case .every(let seconds) = kind { return .seconds(seconds) }
        return nil
    }

    /// The normalized expression: five fields with numbers instead of names, single spaces, steps and
    /// ranges rebuilt from the matched values (`@daily` → `0 0 * * *`, `1-30/2` → `1-29/2`), or
    /// `@every 1h30m` for intervals.
    public var description: String {
        switch kind {
        case .every(let seconds):
            var text = "@every "
            let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60)
            if hours > 0 { text += "\(hours)h" }
            if minutes > 0 { text += "\(minutes)m" }
            if rest > 0 { text += "\(rest)s" }
            return text
        case .fields(let sets):
            return sets.description
        }
    }

    /// The first fire time strictly after `date`, on a whole minute (whole second for `@every`);
    /// nil only if none exists within about thirty years.
    public func nextFire(after date: Date) -> Date? {
        let after = date.timeIntervalSince1970.rounded(.down)
        switch kind {
        case .every(let seconds):
            return Date(timeIntervalSince1970: after + Double(seconds))
        case .fields(let sets):
            guard after.isFinite, abs(after) < 1e13 else { return nil }
            return sets.nextFire(after: Int64(after), strictlyAfter: date.timeIntervalSince1970, in: timeZone)
        }
    }

    /// The next `count` fire times after `date`, in order.
    public func upcoming(count: Int, after date: Date) -> [Date] {
        var dates: [Date] = []
        var cursor = date
        while dates.count < count, let next = nextFire(after: cursor) {
            dates.append(next)
            cursor = next
        }
        return dates
    }

    // MARK: Parsing helpers

    struct Word {
        var text: String
        var column: Int
    }

    static func words(of text: String) -> [Word] {
        var words: [Word] = []
        var current = ""
        var start = 0
        for (offset, character) in text.enumerated() {
            if character.isWhitespace {
                if !current.isEmpty { words.append(Word(text: current, column: start + 1)); current = "" }
            } else {
                if current.isEmpty { start = offset }
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(Word(text: current, column: start + 1)) }
        return words
    }

    /// `90s`, `5m`, `2h`, `1h30m`, `1h0m5s` → seconds.
    static func duration(_ text: String, column: Int) throws(CronError) -> Int {
        var total = 0
        var digits = ""
        var sawUnit = false
        for (offset, character) in text.lowercased().enumerated() {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            let multiplier: Int
            switch character {
            case "h": multiplier = 3600
            case "m": multiplier = 60
            case "s": multiplier = 1
            default:
                throw .invalidDuration(text, reason: "unexpected '\(character)'; units are h, m and s", column: column + offset)
            }
            guard let amount = Int(digits), digits.count <= 9 else {
                throw .invalidDuration(
                    text, reason: digits.isEmpty ? "a number must come before '\(character)'" : "the number is too large",
                    column: column + offset - digits.count)
            }
            total += amount * multiplier
            digits = ""
            sawUnit = true
        }
        guard digits.isEmpty, sawUnit else {
            throw .invalidDuration(text, reason: "every number needs a unit (h, m or s)", column: column + text.count - digits.count)
        }
        guard total >= minimumIntervalSeconds else { throw .durationTooShort(text, column: column) }
        guard total <= maximumIntervalSeconds else {
            throw .invalidDuration(text, reason: "longer than the maximum of 366 days", column: column)
        }
        return total
    }
}

/// The values each field matches, as bit sets.
struct CronFieldSets: Sendable, Equatable, CustomStringConvertible {
    var minutes: UInt64
    var hours: UInt64
    var days: UInt64
    var months: UInt64
    var weekdays: UInt64
    /// Vixie cron's rule: a day field that starts with `*` does not trigger OR matching.
    var dayOfMonthStar: Bool
    var dayOfWeekStar: Bool

    private static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    private static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    private static let monthLengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

    init(_ words: [CronSchedule.Word]) throws(CronError) {
        minutes = try Self.parse(words[0], .minute)
        hours = try Self.parse(words[1], .hour)
        days = try Self.parse(words[2], .dayOfMonth)
        months = try Self.parse(words[3], .month)
        weekdays = try Self.parse(words[4], .dayOfWeek)
        dayOfMonthStar = words[2].text.hasPrefix("*")
        dayOfWeekStar = words[4].text.hasPrefix("*")
        // With AND matching, the restricted days must exist in some chosen month (Feb has 29 days).
        if dayOfMonthStar || dayOfWeekStar {
            let possible = (1...12).contains { month in
                months & (1 << month) != 0 && (1...Self.monthLengths[month - 1]).contains { days & (1 << $0) != 0 }
            }
            if !possible {
                let dayList = Self.render(days, .dayOfMonth, star: false)
                let monthList = Self.values(months).map { Self.monthNames[$0 - 1] }.joined(separator: ",")
                throw .impossible(reason: "day-of-month \(dayList) never occurs in \(monthList)", column: words[2].column)
            }
        }
    }

    private static func parse(_ word: CronSchedule.Word, _ field: CronField) throws(CronError) -> UInt64 {
        var bits: UInt64 = 0
        var offset = 0
        for item in word.text.split(separator: ",", omittingEmptySubsequences: false) {
            let column = word.column + offset
            offset += item.count + 1
            bits |= try parseItem(String(item), field, column: column)
        }
        if field == .dayOfWeek, bits & (1 << 7) != 0 {
            bits = (bits & ~(1 << 7)) | 1
        }
        return bits
    }

    private static func parseItem(_ item: String, _ field: CronField, column: Int) throws(CronError) -> UInt64 {
        let range = field.range
        let parts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let base = String(parts[0])
        var step = 1
        if parts.count == 2 {
            let stepText = String(parts[1])
            guard let parsed = Int(stepText), parsed >= 1, stepText.allSatisfy(\.isNumber) else {
                throw .invalidStep(field: field, text: stepText, column: column + base.count + 1)
            }
            step = parsed
        }
        var low: Int
        var high: Int
        if base == "*" {
            low = range.lowerBound
            high = field == .dayOfWeek ? 6 : range.upperBound
        } else {
            let bounds = base.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            low = try value(String(bounds[0]), field, column: column)
            if bounds.count == 2 {
                let highText = String(bounds[1])
                let highColumn = column + bounds[0].count + 1
                high = try value(highText, field, column: highColumn)
                // `FRI-SUN`: Sunday as the end of a range is day 7.
                if field == .dayOfWeek, high == 0, low > 0 { high = 7 }
                guard low <= high else { throw .backwardsRange(field: field, low: low, high: high, column: column) }
            } else {
                high = parts.count == 2 ? (field == .dayOfWeek ? 7 : range.upperBound) : low
            }
        }
        var bits: UInt64 = 0
        for value in stride(from: low, through: high, by: step) { bits |= 1 << value }
        return bits
    }

    private static func value(_ text: String, _ field: CronField, column: Int) throws(CronError) -> Int {
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard text.count <= 9, let number = Int(text) else {
                throw .outOfRange(field: field, value: Int.max, range: field.range, column: column)
            }
            guard field.range.contains(number) else {
                throw .outOfRange(field: field, value: number, range: field.range, column: column)
            }
            return number
        }
        let upper = text.uppercased()
        if field == .month, let index = monthNames.firstIndex(of: upper) { return index + 1 }
        if field == .dayOfWeek, let index = dayNames.firstIndex(of: upper) { return index }
        throw .invalidValue(field: field, text: text, column: column)
    }

    // MARK: Rendering

    var description: String {
        [
            Self.render(minutes, .minute, star: true),
            Self.render(hours, .hour, star: true),
            Self.render(days, .dayOfMonth, star: dayOfMonthStar),
            Self.render(months, .month, star: true),
            Self.render(weekdays, .dayOfWeek, star: dayOfWeekStar),
        ].joined(separator: " ")
    }

    static func values(_ bits: UInt64) -> [Int] {
        (0..<64).filter { bits & (1 << $0) != 0 }
    }

    /// Rebuilds a field from its values; `*`/`*/n` only where that keeps the Vixie day semantics.
    static func render(_ bits: UInt64, _ field: CronField, star: Bool) -> String {
        let values = values(bits)
        let low = field.range.lowerBound
        let high = field == .dayOfWeek ? 6 : field.range.upperBound
        if star, values.count > 1, values[0] == low {
            let step = values[1] - values[0]
            if values == Array(stride(from: low, through: high, by: step)) {
                return step == 1 ? "*" : "*/\(step)"
            }
        }
        if values.count >= 3 {
            let step = values[1] - values[0]
            if step > 1, values == Array(stride(from: values[0], through: values[values.count - 1], by: step)) {
                return "\(values[0])-\(values[values.count - 1])/\(step)"
            }
        }
        var parts: [String] = []
        var index = 0
        while index < values.count {
            var end = index
            while end + 1 < values.count, values[end + 1] == values[end] + 1 { end += 1 }
            if end - index >= 2 {
                parts.append("\(values[index])-\(values[end])")
            } else {
                parts.append(contentsOf: values[index...end].map(String.init))
            }
            index = end + 1
        }
        return parts.joined(separator: ",")
    }

    // MARK: Evaluation

    /// Walks local calendar days from the day containing `after`, trying each matching local time
    /// and mapping it to real instants in `timeZone`.
    func nextFire(after: Int64, strictlyAfter exact: TimeInterval, in timeZone: TimeZone) -> Date? {
        let afterDate = Date(timeIntervalSince1970: TimeInterval(after))
        let localAfter = after + Int64(timeZone.secondsFromGMT(for: afterDate))
        let hourIsWildcard = hours == (1 << 24) - 1
        let hourValues = Self.values(hours)
        let minuteValues = Self.values(minutes)
        var day = Self.floorDivide(localAfter, 86_400)
        let lastDay = day + 366 * 30
        while day <= lastDay {
            let (year, month, dayOfMonth) = Self.civil(fromDays: day)
            guard months & (1 << month) != 0 else {
                day = Self.days(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1)
                continue
            }
            let weekday = Int(Self.floorModulo(day + 4, 7))
            let domMatch = days & (1 << dayOfMonth) != 0
            let dowMatch = weekdays & (1 << weekday) != 0
            let dayMatches = dayOfMonthStar || dayOfWeekStar ? domMatch && dowMatch : domMatch || dowMatch
            if dayMatches {
                var best: Int64?
                candidates: for hour in hourValues {
                    for minute in minuteValues {
                        let local = day * 86_400 + Int64(hour * 3600 + minute * 60)
                        // Offsets differ by a few hours at most, so earlier local times cannot be later instants.
                        if local < localAfter - 6 * 3600 { continue }
                        let instants = Self.instants(forLocal: local, in: timeZone)
                        let eligible = hourIsWildcard ? instants : Array(instants.prefix(1))
                        guard let instant = eligible.first(where: { TimeInterval($0) > exact }) else { continue }
                        best = min(best ?? instant, instant)
                        // An unambiguous local time after `after` bounds every later candidate.
                        if instants.count == 1 { break candidates }
                    }
                }
                if let best { return Date(timeIntervalSince1970: TimeInterval(best)) }
            }
            day += 1
        }
        return nil
    }

    /// The real instants at which local wall-clock time `local` (seconds since 1970 as if UTC)
    /// occurs: none in a gap, two in a repeated hour.
    static func instants(forLocal local: Int64, in timeZone: TimeZone) -> [Int64] {
        var offsets: [Int] = []
        for probe in [local - 86_400, local, local + 86_400] {
            let offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(probe)))
            if !offsets.contains(offset) { offsets.append(offset) }
        }
        var instants: [Int64] = []
        for offset in offsets {
            let instant = local - Int64(offset)
            if timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))) == offset,
                !instants.contains(instant)
            {
                instants.append(instant)
            }
        }
        return instants.sorted()
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    static func floorModulo(_ a: Int64, _ b: Int64) -> Int64 {
        a - floorDivide(a, b) * b
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        let month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
