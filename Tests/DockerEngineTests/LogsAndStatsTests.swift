import DockerEngine
import Foundation
import Testing

@Suite(.enabled(if: TestDocker.enabled, TestDocker.skipMessage))
struct LogsAndStatsTests {
    @Test func logsSeparateStdoutFromStderr() async throws {
        // setup
        let docker = try TestDocker.client()
        try await TestDocker.withContainer(docker, command: ["sh", "-c", "echo out1; echo err1 >&2; echo out2; printf 'no-newline'"]) { id in
            try await TestDocker.waitUntilExited(docker, id)
            // act
            let lines = try await TestDocker.collect(docker.logs(id))
            let stamped = try await TestDocker.collect(docker.logs(id, follow: false, tail: nil, since: nil, timestamps: true))
            // verify
            #expect(lines.filter { $0.stream == .stdout }.map(\.text) == ["out1", "out2", "no-newline"])
            #expect(lines.filter { $0.stream == .stderr }.map(\.text) == ["err1"])
            #expect(stamped.count == 4)
            #expect(stamped.allSatisfy { $0.timestamp != nil })
            #expect(stamped.first { $0.stream == .stderr }?.text == "err1")
            let now = Date()
            #expect(stamped.allSatisfy { abs($0.timestamp?.timeIntervalSince(now) ?? 999) < 120 })
        }
    }

    @Test func tailAndSinceLimitTheLines() async throws {
        // setup
        let docker = try TestDocker.client()
        try await TestDocker.withContainer(docker, command: ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"]) { id in
            try await TestDocker.waitUntilExited(docker, id)
            // act
            let tail = try await TestDocker.collect(docker.logs(id, tail: 2))
            let future = try await TestDocker.collect(docker.logs(id, follow: false, tail: nil, since: Date().addingTimeInterval(60), timestamps: false))
            let past = try await TestDocker.collect(docker.logs(id, follow: false, tail: nil, since: Date().addingTimeInterval(-600), timestamps: false))
            // verify
            #expect(tail.map(\.text) == ["line4", "line5"])
            #expect(future.isEmpty)
            #expect(past.count == 5)
        }
    }

    @Test func followReceivesNewLinesAndStopsOnCancel() async throws {
        // setup
        let docker = try TestDocker.client()
        let script = "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"
        try await TestDocker.withContainer(docker, command: ["sh", "-c", script]) { id in
            try await Task.sleep(for: .milliseconds(500))
            let before = try await TestDocker.collect(docker.logs(id)).count
            // act: only new lines (tail 0), three of them, then stop following
            var received: [LogLine] = []
            for try await line in docker.logs(id, follow: true, tail: 0, since: nil, timestamps: false) {
                received.append(line)
                if received.count == 3 { break }
            }
            // verify
            let numbers = received.compactMap { Int($0.text.dropFirst("tick".count)) }
            #expect(numbers.count == 3)
            #expect(numbers.first.map { $0 >= before - 1 } == true)
            #expect(numbers == numbers.sorted() && Set(numbers).count == 3)
            #expect(received.allSatisfy { $0.stream == .stdout })
        }
    }

    @Test func followEndsWhenTheContainerStops() async throws {
        // setup
        let docker = try TestDocker.client()
        try await TestDocker.withContainer(docker, command: ["sh", "-c", "sleep 1; echo done"]) { id in
            // act
            let lines = try await TestDocker.collect(docker.logs(id, follow: true, tail: nil, since: nil, timestamps: false))
            // verify
            #expect(lines.map(\.text) == ["done"])
        }
    }

    @Test func ttyContainerLogsAreOneConsoleStream() async throws {
        // setup
        let docker = try TestDocker.client()
        try await TestDocker.withContainer(docker, command: ["sh", "-c", "echo hello; echo oops >&2"], tty: true) { id in
            try await TestDocker.waitUntilExited(docker, id)
            // act
            let lines = try await TestDocker.collect(docker.logs(id))
            // verify
            #expect(lines.map(\.text) == ["hello", "oops"])
            #expect(lines.allSatisfy { $0.stream == .console })
            #expect(try await docker.inspect(id).tty)
        }
    }

    @Test func statsReportMemoryAndStream() async throws {
        // setup
        let docker = try TestDocker.client()
        try await TestDocker.withContainer(docker, command: ["sleep", "300"]) { id in
            // act
            let stats = try await docker.stats(id)
            var samples: [ContainerStats] = []
            for try await sample in docker.statsStream(id) {
                samples.append(sample)
                if samples.count == 2 { break }
            }
            // verify
            #expect(stats.memoryUsage > 0)
            #expect(stats.memoryLimit > stats.memoryUsage)
            #expect(stats.memoryPercent > 0 && stats.memoryPercent < 100)
            #expect(stats.cpuPercent >= 0)
            #expect(stats.onlineCPUs >= 1)
            #expect(stats.pids >= 1)
            #expect(stats.networkRx == 0 && stats.networkTx == 0)   // --network none
            #expect(stats.read != nil)
            #expect(samples.count == 2)
            #expect(samples.allSatisfy { $0.memoryLimit > 0 })
        }
    }

    @Test func statsOfUnknownContainerFailsInTheStream() async throws {
        // setup
        let docker = try TestDocker.client()
        // act
        let error = await #expect(throws: DockerError.self) {
            for try await _ in docker.statsStream("nebula-missing-stats") {}
        }
        // verify
        #expect(error?.code == .noSuchContainer)
    }
}
