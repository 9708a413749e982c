import Foundation
import NebulaCore

/// Dates written as ISO 8601 UTC (`2025-03-30T01:30:00Z`), for cron tests that read like calendars.
enum Instant {
    static func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: text) else {
            preconditionFailure("bad test date \(text)")
        }
        return date
    }

    static func iso(_ date: Date?) -> String {
        guard let date else { return "nil" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func zone(_ identifier: String) -> TimeZone {
        guard let zone = TimeZone(identifier: identifier) else {
            preconditionFailure("unknown test time zone \(identifier)")
        }
        return zone
    }
}

/// A tiny deterministic generator so "random" hostile input is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The context most template and condition tests read from.
enum AutomationSample {
    static let context = TemplateContext([
        "incident": ["severity": "critical", "title": "Disk full", "count": 3, "owner": nil],
        "server": ["name": "web-1", "labels": ["env": "prod", "zone": "eu"], "tags": ["a", "b"]],
        "steps": [
            "check_health": ["failed": true, "output": "false"],
            "restart": ["failed": false, "exit-code": 0],
        ],
        "latency": 1500,
        "ratio": 0.25,
        "empty": "",
        "padded": "  spaced out  ",
        "nothing": nil,
    ])
}
