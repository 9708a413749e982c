import Synchronization

/// Lines collected from any thread (a probe's progress callback, a test server's handler).
final class LinesBox: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    var append: @Sendable (String) -> Void {
        { [self] line in lines.withLock { $0.append(line) } }
    }
}
