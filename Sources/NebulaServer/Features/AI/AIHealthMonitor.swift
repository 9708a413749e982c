import Foundation
import Logging

/// Refreshes every enabled provider's health, latency and model list in the background, so the
/// badges, the pickers and `auto` routing work from recent facts without calling out per request.
final class AIHealthMonitor: Sendable {
    let ai: AIService
    let interval: Duration
    let logger: Logger
    private let loop = BackgroundTask()

    init(ai: AIService, interval: Duration, logger: Logger) {
        self.ai = ai
        self.interval = interval
        self.logger = logger
    }

    func start() {
        loop.start { [self] in
            while !Task.isCancelled {
                await ai.checkAll()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func stop() async {
        await loop.stop()
    }
}
