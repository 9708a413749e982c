import Foundation

/// Collects what a shell session prints, so a test can wait for a piece of text to appear.
actor TerminalTranscript {
    private var bytes: [UInt8] = []
    private(set) var finished = false
    private var reader: Task<Void, Never>?

    /// Starts reading `stream` in the background.
    static func reading(_ stream: AsyncStream<[UInt8]>) async -> TerminalTranscript {
        let transcript = TerminalTranscript()
        await transcript.start(stream)
        return transcript
    }

    private func start(_ stream: AsyncStream<[UInt8]>) {
        reader = Task {
            for await chunk in stream { self.append(chunk) }
            self.markFinished()
        }
    }

    private func append(_ chunk: [UInt8]) { bytes += chunk }
    private func markFinished() { finished = true }

    /// Everything printed so far, decoded as UTF-8.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Number of bytes printed so far (an offset for `waitFor(_:after:)`).
    var count: Int { bytes.count }

    /// Waits until `needle` appears after byte `offset`; returns the text after `offset`.
    func waitFor(_ needle: String, after offset: Int = 0, timeout: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let tail = String(decoding: bytes[min(offset, bytes.count)...], as: UTF8.self)
            if tail.contains(needle) { return tail }
            if finished || ContinuousClock.now >= deadline {
                throw TranscriptError.notFound(needle: needle, transcript: tail, finished: finished)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the stream finishes.
    func waitForEnd(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !finished {
            if ContinuousClock.now >= deadline { throw TranscriptError.notFinished(transcript: text) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    enum TranscriptError: Error, CustomStringConvertible {
        case notFound(needle: String, transcript: String, finished: Bool)
        case notFinished(transcript: String)

        var description: String {
            switch self {
            case .notFound(let needle, let transcript, let finished):
                "\(needle.debugDescription) did not appear\(finished ? " before the stream finished" : " in time"); got: \(transcript.debugDescription)"
            case .notFinished(let transcript):
                "the output stream did not finish; got: \(transcript.debugDescription)"
            }
        }
    }
}
