import Foundation
import NebulaCore
import Testing

@Suite struct AutomationCronTests {
    static let utc = Instant.zone("UTC")
    static let berlin = Instant.zone("Europe/Berlin")
    static let newYork = Instant.zone("America/New_York")

    @Test(arguments: [
        ("*/5 * * * *", "2025-01-01T10:03:20Z", "2025-01-01T10:05:00Z"),
        ("*/5 * * * *", "2025-01-01T10:05:00Z", "2025-01-01T10:10:00Z"),
        ("* * * * *", "2025-01-01T10:04:59Z", "2025-01-01T10:05:00Z"),
        ("0 * * * *", "2025-01-01T10:00:00Z", "2025-01-01T11:00:00Z"),
        ("1-30/2 * * * *", "2025-01-01T10:29:00Z", "2025-01-01T11:01:00Z"),
        ("5/20 * * * *", "2025-01-01T10:26:00Z", "2025-01-01T10:45:00Z"),
        ("0,30 8-9 * * *", "2025-01-01T09:30:00Z", "2025-01-02T08:00:00Z"),
        ("0 9 * * MON-FRI", "2025-01-04T12:00:00Z", "2025-01-06T09:00:00Z"),
        ("0 9 * * mon-fri", "2025-01-06T09:00:00Z", "2025-01-07T09:00:00Z"),
        ("0 12 * * 7", "2025-01-01T00:00:00Z", "2025-01-05T12:00:00Z"),
        ("0 12 * * 0", "2025-01-01T00:00:00Z", "2025-01-05T12:00:00Z"),
        ("0 12 * * FRI-SUN", "2025-01-06T00:00:00Z", "2025-01-10T12:00:00Z"),
        ("0 0 1 jan,Jul *", "2025-01-01T00:00:00Z", "2025-07-01T00:00:00Z"),
        ("15 3 31 * *", "2025-01-31T04:00:00Z", "2025-03-31T03:15:00Z"),
        ("@hourly", "2025-01-01T10:59:59Z", "2025-01-01T11:00:00Z"),
        ("@daily", "2025-01-01T10:00:00Z", "2025-01-02T00:00:00Z"),
        ("@midnight", "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"),
        ("@weekly", "2025-01-01T00:00:00Z", "2025-01-05T00:00:00Z"),
        ("@monthly", "2025-01-15T00:00:00Z", "2025-02-01T00:00:00Z"),
        ("@yearly", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("@ANNUALLY", "2025-06-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("0 0 29 2 *", "2025-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 12 29 2 *", "2024-02-29T12:00:00Z", "2028-02-29T12:00:00Z"),
        ("0 0 29 2 *", "2097-01-01T00:00:00Z", "2104-02-29T00:00:00Z"),
    ] as [(String, String, String)])
    func nextFireInUTC(expression: String, after: String, expected: String) throws {
        // setup
        let schedule = try CronSchedule(parsing: expression, timeZone: Self.utc)
        // act
        let next = schedule.nextFire(after: Instant.utc(after))
        // verify
        #expect(Instant.iso(next) == expected, "\(expression) after \(after)")
    }

    @Test func nextFireIsStrictlyAfterAndDropsSeconds() throws {
        // setup
        let schedule = try CronSchedule(parsing: "*/5 * * * *", timeZone: Self.utc)
        let base = Instant.utc("2025-01-01T10:05:00Z")
        // act
        let fromFraction = schedule.nextFire(after: base.addingTimeInterval(-0.1))
        let fromExact = schedule.nextFire(after: base)
        let fromJustAfter = schedule.nextFire(after: base.addingTimeInterval(0.5))
        // verify
        #expect(fromFraction == base)
        #expect(Instant.iso(fromExact) == "2025-01-01T10:10:00Z")
        #expect(Instant.iso(fromJustAfter) == "2025-01-01T10:10:00Z")
    }

    @Test func dayOfMonthAndDayOfWeekBothRestrictedMatchEither() throws {
        // setup: 2025-01-01 is a Wednesday; "the 1st, and every Monday"
        let schedule = try CronSchedule(parsing: "0 0 1 * MON", timeZone: Self.utc)
        // act
        let fires = schedule.upcoming(count: 6, after: Instant.utc("2025-01-01T00:00:00Z")).map(Instant.iso)
        // verify
        #expect(fires == [
            "2025-01-06T00:00:00Z", "2025-01-13T00:00:00Z", "2025-01-20T00:00:00Z", "2025-01-27T00:00:00Z",
            "2025-02-01T00:00:00Z", "2025-02-03T00:00:00Z",
        ])
    }

    @Test func aStarredDayFieldMeansBothMustMatch() throws {
        // setup: odd days of the month that are Mondays (Vixie: `*/2` starts with `*`, so AND)
        let schedule = try CronSchedule(parsing: "0 0 */2 * MON", timeZone: Self.utc)
        // act
        let fires = schedule.upcoming(count: 3, after: Instant.utc("2025-01-01T00:00:00Z")).map(Instant.iso)
        // verify
        #expect(fires == ["2025-01-13T00:00:00Z", "2025-01-27T00:00:00Z", "2025-02-03T00:00:00Z"])
    }

    @Test func leapDayOrMondayFiresOnMondaysAndFebruary29th() throws {
        // setup
        let schedule = try CronSchedule(parsing: "0 0 29 2 1", timeZone: Self.utc)
        // act
        let fromFebruary2028 = schedule.upcoming(count: 2, after: Instant.utc("2028-02-27T00:00:00Z")).map(Instant.iso)
        // verify: 2028-02-28 is a Monday, 2028-02-29 the leap day
        #expect(fromFebruary2028 == ["2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z"])
    }

    // MARK: Daylight saving time

    @Test func berlinSpringForwardSkipsTheMissingLocalTime() throws {
        // setup: 2025-03-30 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day
        let schedule = try CronSchedule(parsing: "30 2 * * *", timeZone: Self.berlin)
        // act
        let fires = schedule.upcoming(count: 3, after: Instant.utc("2025-03-28T12:00:00Z")).map(Instant.iso)
        // verify
        #expect(fires == ["2025-03-29T01:30:00Z", "2025-03-31T00:30:00Z", "2025-04-01T00:30:00Z"])
    }

    @Test func berlinFallBackFiresARepeatedTimeOnce() throws {
        // setup: 2025-10-26 03:00 CEST goes back to 02:00 CET, so 02:30 happens at 00:30Z and 01:30Z
        let schedule = try CronSchedule(parsing: "30 2 * * *", timeZone: Self.berlin)
        // act
        let fires = schedule.upcoming(count: 2, after: Instant.utc("2025-10-25T12:00:00Z")).map(Instant.iso)
        let betweenTheTwo = schedule.nextFire(after: Instant.utc("2025-10-26T00:45:00Z"))
        // verify
        #expect(fires == ["2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"])
        #expect(Instant.iso(betweenTheTwo) == "2025-10-27T01:30:00Z")
    }

    @Test func berlinHourlyKeepsOneHourSpacingAcrossBothTransitions() throws {
        // setup
        let schedule = try CronSchedule(parsing: "0 * * * *", timeZone: Self.berlin)
        // act
        let autumn = schedule.upcoming(count: 4, after: Instant.utc("2025-10-25T23:30:00Z")).map(Instant.iso)
        let spring = schedule.upcoming(count: 3, after: Instant.utc("2025-03-29T23:30:00Z")).map(Instant.iso)
        // verify: autumn 02:00 CEST, 02:00 CET, 03:00, 04:00; spring 01:00 CET, (02:00 skipped) 03:00 CEST, 04:00
        #expect(autumn == ["2025-10-26T00:00:00Z", "2025-10-26T01:00:00Z", "2025-10-26T02:00:00Z", "2025-10-26T03:00:00Z"])
        #expect(spring == ["2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z"])
    }

    @Test func newYorkSpringForwardSkipsAndLaterTimesStillFire() throws {
        // setup: 2025-03-09 02:00 EST jumps to 03:00 EDT
        let skipped = try CronSchedule(parsing: "30 2 * * *", timeZone: Self.newYork)
        let afterGap = try CronSchedule(parsing: "0 3 * * *", timeZone: Self.newYork)
        let from = Instant.utc("2025-03-08T12:00:00Z")
        // act
        let skippedNext = skipped.nextFire(after: from)
        let afterGapNext = afterGap.nextFire(after: from)
        // verify
        #expect(Instant.iso(skippedNext) == "2025-03-10T06:30:00Z")
        #expect(Instant.iso(afterGapNext) == "2025-03-09T07:00:00Z")
    }

    @Test func newYorkFallBackFixedTimeOnceAndWildcardHourEveryRealQuarter() throws {
        // setup: 2025-11-02 02:00 EDT goes back to 01:00 EST; 01:xx happens twice
        let fixed = try CronSchedule(parsing: "30 1 * * *", timeZone: Self.newYork)
        let quarterly = try CronSchedule(parsing: "*/15 * * * *", timeZone: Self.newYork)
        // act
        let fixedFires = fixed.upcoming(count: 2, after: Instant.utc("2025-11-01T12:00:00Z")).map(Instant.iso)
        let quarterFires = quarterly.upcoming(count: 5, after: Instant.utc("2025-11-02T05:20:00Z")).map(Instant.iso)
        // verify
        #expect(fixedFires == ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"])
        #expect(quarterFires == [
            "2025-11-02T05:30:00Z", "2025-11-02T05:45:00Z", "2025-11-02T06:00:00Z", "2025-11-02T06:15:00Z", "2025-11-02T06:30:00Z",
        ])
    }

    @Test func evaluatesInTheGivenZoneIncludingHalfHourOffsets() throws {
        // setup
        let kolkata = try CronSchedule(parsing: "0 9 * * *", timeZone: Instant.zone("Asia/Kolkata"))
        // act
        let next = kolkata.nextFire(after: Instant.utc("2025-01-01T00:00:00Z"))
        // verify
        #expect(Instant.iso(next) == "2025-01-01T03:30:00Z")
    }

    // MARK: @every

    @Test(arguments: [("90s", 90), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("1H0M5S", 3605), ("1s", 1)] as [(String, Int)])
    func everyFiresAtFixedIntervalsAfterTheAnchor(duration: String, seconds: Int) throws {
        // setup
        let schedule = try CronSchedule(parsing: "@every \(duration)", timeZone: Self.utc)
        let anchor = Instant.utc("2025-01-01T10:00:00Z").addingTimeInterval(0.75)
        // act
        let fires = schedule.upcoming(count: 3, after: anchor)
        // verify
        #expect(schedule.interval == .seconds(seconds))
        #expect(fires.map { $0.timeIntervalSince1970 } == (1...3).map {
            Instant.utc("2025-01-01T10:00:00Z").timeIntervalSince1970 + Double($0 * seconds)
        })
    }

    // MARK: Normalization

    @Test(arguments: [
        ("@daily", "0 0 * * *"), ("@hourly", "0 * * * *"), ("@weekly", "0 0 * * 0"), ("@yearly", "0 0 1 1 *"),
        ("*/15   0-23 * * *", "*/15 * * * *"), ("1-30/2 * * * *", "1-29/2 * * * *"), ("0,1,2,5 * * * *", "0-2,5 * * * *"),
        ("0 9 * jan-mar mon-fri", "0 9 * 1-3 1-5"), ("0 0 * * 7", "0 0 * * 0"), ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("0 0 1-31 * MON", "0 0 1-31 * 1"), ("0 0 */2 * MON", "0 0 */2 * 1"), ("0 0 1,15 * *", "0 0 1,15 * *"),
        ("@every 90m", "@every 1h30m"), ("@every 90s", "@every 1m30s"), ("@every 3600s", "@every 1h"),
    ] as [(String, String)])
    func descriptionIsTheNormalizedExpressionAndReparsesToTheSameSchedule(expression: String, normalized: String) throws {
        // setup
        let schedule = try CronSchedule(parsing: expression, timeZone: Self.berlin)
        // act
        let reparsed = try CronSchedule(parsing: schedule.description, timeZone: Self.berlin)
        // verify
        #expect(schedule.description == normalized)
        #expect(reparsed == schedule)
    }

    @Test func equalityComparesMeaningAndZone() throws {
        // act / verify
        #expect(try CronSchedule(parsing: "@daily", timeZone: Self.utc) == CronSchedule(parsing: "0 0 * * *", timeZone: Self.utc))
        #expect(try CronSchedule(parsing: "@daily", timeZone: Self.utc) != CronSchedule(parsing: "@daily", timeZone: Self.berlin))
        #expect(try CronSchedule(parsing: "0 0 1 * *", timeZone: Self.utc) != CronSchedule(parsing: "0 0 1 * 1", timeZone: Self.utc))
    }

    // MARK: Errors

    @Test(arguments: [
        ("", CronError.empty, "the schedule is empty; write five fields (minute hour day-of-month month day-of-week) or a macro like @daily"),
        ("61 * * * *", .outOfRange(field: .minute, value: 61, range: 0...59, column: 1), "minute 61 is out of range 0-59"),
        ("* 24 * * *", .outOfRange(field: .hour, value: 24, range: 0...23, column: 3), "hour 24 is out of range 0-23"),
        ("* * 0 * *", .outOfRange(field: .dayOfMonth, value: 0, range: 1...31, column: 5), "day-of-month 0 is out of range 1-31"),
        ("* * * 13 *", .outOfRange(field: .month, value: 13, range: 1...12, column: 7), "month 13 is out of range 1-12"),
        ("* * * * 8", .outOfRange(field: .dayOfWeek, value: 8, range: 0...7, column: 9), "day-of-week 8 is out of range 0-7"),
        ("0 1,2,99 * * *", .outOfRange(field: .hour, value: 99, range: 0...23, column: 7), "hour 99 is out of range 0-23"),
        ("1-70 * * * *", .outOfRange(field: .minute, value: 70, range: 0...59, column: 3), "minute 70 is out of range 0-59"),
        ("* * * * * *", .wrongFieldCount(found: 6), "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        ("* * * *", .wrongFieldCount(found: 4), "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        ("*/0 * * * *", .invalidStep(field: .minute, text: "0", column: 3), "minute step '0' must be a whole number of at least 1"),
        ("* */x * * *", .invalidStep(field: .hour, text: "x", column: 5), "hour step 'x' must be a whole number of at least 1"),
        ("30-10 * * * *", .backwardsRange(field: .minute, low: 30, high: 10, column: 1), "minute range 30-10 runs backwards; write the smaller value first"),
        ("* * * FOO *", .invalidValue(field: .month, text: "FOO", column: 7), "month 'FOO' is not valid; use a number or a name JAN-DEC, '*', a list a,b, a range a-b or a step */n"),
        ("* * * * MON-FUNDAY", .invalidValue(field: .dayOfWeek, text: "FUNDAY", column: 13), "day-of-week 'FUNDAY' is not valid; use a number or a name SUN-SAT, '*', a list a,b, a range a-b or a step */n"),
        ("5,,10 * * * *", .invalidValue(field: .minute, text: "", column: 3), "minute '' is not valid; use a number, '*', a list a,b, a range a-b or a step */n"),
        ("0 0 30 2 *", .impossible(reason: "day-of-month 30 never occurs in FEB", column: 5), "the schedule never fires: day-of-month 30 never occurs in FEB"),
        ("0 0 31 4,6,9,11 *", .impossible(reason: "day-of-month 31 never occurs in APR,JUN,SEP,NOV", column: 5), "the schedule never fires: day-of-month 31 never occurs in APR,JUN,SEP,NOV"),
        ("@reboot", .unknownMacro("@reboot"), "unknown macro '@reboot'; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"),
        ("@daily 5", .unknownMacro("@daily 5"), "unknown macro '@daily 5'; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"),
        ("@every 0s", .durationTooShort("0s", column: 8), "'0s' is shorter than the minimum interval of 1s"),
        ("@every 5x", .invalidDuration("5x", reason: "unexpected 'x'; units are h, m and s", column: 9), "'5x' is not a duration (unexpected 'x'; units are h, m and s); write e.g. 90s, 5m, 2h or 1h30m"),
        ("@every 90", .invalidDuration("90", reason: "every number needs a unit (h, m or s)", column: 8), "'90' is not a duration (every number needs a unit (h, m or s)); write e.g. 90s, 5m, 2h or 1h30m"),
        ("@every", .invalidDuration("", reason: "a duration must follow @every", column: 7), "'' is not a duration (a duration must follow @every); write e.g. 90s, 5m, 2h or 1h30m"),
        ("@every 1h m", .invalidDuration("m", reason: "@every takes one duration", column: 11), "'m' is not a duration (@every takes one duration); write e.g. 90s, 5m, 2h or 1h30m"),
        ("@every 9999h", .invalidDuration("9999h", reason: "longer than the maximum of 366 days", column: 8), "'9999h' is not a duration (longer than the maximum of 366 days); write e.g. 90s, 5m, 2h or 1h30m"),
    ] as [(String, CronError, String)])
    func rejectsBadExpressionsNamingFieldValueAndColumn(expression: String, expected: CronError, message: String) {
        // act
        let error = #expect(throws: CronError.self) { try CronSchedule(parsing: expression, timeZone: Self.utc) }
        // verify
        #expect(error == expected)
        #expect(error?.message == message)
    }

    @Test func errorsPointAtTheField() {
        // setup
        let expression = "0 9 * * MON-FUNDAY"
        // act
        let error = #expect(throws: CronError.self) { try CronSchedule(parsing: expression, timeZone: Self.utc) }
        // verify
        #expect(error?.description.hasPrefix("column 13: day-of-week 'FUNDAY' is not valid") == true)
        #expect(error?.annotated(expression).hasPrefix("0 9 * * MON-FUNDAY\n            ^ day-of-week") == true)
    }

    @Test func hostileExpressionsAreRejectedOrHandledQuickly() throws {
        // setup
        let longList = Array(repeating: "1", count: 50_000).joined(separator: ",") + " * * * *"
        let hugeNumber = String(repeating: "9", count: 5000) + " * * * *"
        // act
        let schedule = try CronSchedule(parsing: longList, timeZone: Self.utc)
        // verify
        #expect(schedule.description == "1 * * * *")
        #expect(throws: CronError.outOfRange(field: .minute, value: Int.max, range: 0...59, column: 1)) {
            try CronSchedule(parsing: hugeNumber, timeZone: Self.utc)
        }
    }

    @Test func randomExpressionsNeverCrashAndAcceptedOnesFireAtIncreasingWholeMinutes() {
        // setup
        var generator = SeededGenerator(state: 7)
        func number() -> Int { Int.random(in: 0...32, using: &generator) }
        var parsed = 0
        // act
        for _ in 0..<3000 {
            let fields = (0..<5).map { _ -> String in
                switch Int.random(in: 0...6, using: &generator) {
                case 0: return "*"
                case 1: return "*/\(number())"
                case 2: return "\(number())"
                case 3: return "\(number())-\(number())"
                case 4: return "\(number())-\(number())/\(number() % 7)"
                case 5: return "\(number()),\(number())"
                default: return "\(number())/\(number())"
                }
            }
            let expression = fields.joined(separator: " ")
            do {
                let schedule = try CronSchedule(parsing: expression, timeZone: Self.berlin)
                parsed += 1
                let start = Instant.utc("2025-10-25T22:17:31Z")
                let fires = schedule.upcoming(count: 3, after: start)
                // verify: a schedule that parses fires; fires are strictly increasing whole minutes
                #expect(fires.count == 3, "\(expression)")
                #expect(zip([start] + fires, fires).allSatisfy { $0 < $1 }, "\(expression)")
                #expect(fires.allSatisfy { $0.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0 }, "\(expression)")
            } catch {
                #expect(error.column >= 1 && error.column <= expression.count + 1, "\(expression): \(error)")
            }
        }
        #expect(parsed > 10)
    }

    @Test func manyUpcomingFiresOfARareScheduleStayFast() throws {
        // setup: leap-day-only schedules walk years of calendar days per fire
        let schedule = try CronSchedule(parsing: "59 23 29 2 *", timeZone: Self.newYork)
        // act
        let fires = schedule.upcoming(count: 10, after: Instant.utc("2025-01-01T00:00:00Z")).map(Instant.iso)
        // verify
        #expect(fires.count == 10)
        #expect(fires.first == "2028-03-01T04:59:00Z")
        #expect(fires.last == "2064-03-01T04:59:00Z")
    }
}
