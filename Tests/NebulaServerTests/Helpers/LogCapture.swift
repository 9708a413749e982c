import Foundation
import Logging
@testable import NebulaServer

/// Every log line any test's application writes, so tests can prove a secret never reached the log.
enum LogCapture {
    private static let lines = LockedValue<[String]>([])

    private static let bootstrap: Void = {
        LoggingSystem.bootstrap { label in CapturingHandler(label: label) }
    }()

    static func bootstrapOnce() { _ = bootstrap }

    static var allText: String { lines.withLock { $0.joined(separator: "\n") } }

    fileprivate static func append(_ line: String) {
        lines.withLock { $0.append(line) }
    }

    struct CapturingHandler: LogHandler {
        let label: String
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            LogCapture.append("\(event.level) \(label) \(merged) \(event.message)")
        }
    }
}
