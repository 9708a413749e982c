import Foundation
import Testing
@testable import HostMetrics

@Suite struct GPUTests {
    @Test func parsesTwoGPUsWithAnUnavailablePowerReading() throws {
        // setup
        let text = try Fixture.text("nvidia-smi.csv")
        // act
        let gpus = try GPUInfo.parse(text)
        // verify
        #expect(gpus == [
            GPUInfo(index: 0, name: "NVIDIA GeForce RTX 3090", uuid: "GPU-5f2a9c1e-8b3d-4e6f-a1c2-3d4e5f6a7b8c",
                    utilization: 0.37, memoryUsedBytes: 10_240 * 1_048_576, memoryTotalBytes: 24_576 * 1_048_576,
                    temperatureCelsius: 64, powerWatts: 215.37),
            GPUInfo(index: 1, name: "NVIDIA GeForce GTX 1050 Ti", uuid: "GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
                    utilization: 0, memoryUsedBytes: 512 * 1_048_576, memoryTotalBytes: 4_096 * 1_048_576,
                    temperatureCelsius: 41, powerWatts: nil),
        ])
    }

    @Test func notSupportedValuesAreNilAndANameWithACommaIsKept() throws {
        // setup
        let text = "0, Quadro P400, Rev. 2, GPU-abc, [Not Supported], 100, 2048, [Not Supported], [Unknown Error]\n"
        // act
        let gpus = try GPUInfo.parse(text)
        // verify
        #expect(gpus == [GPUInfo(index: 0, name: "Quadro P400, Rev. 2", uuid: "GPU-abc", utilization: nil,
                                 memoryUsedBytes: 100 * 1_048_576, memoryTotalBytes: 2_048 * 1_048_576,
                                 temperatureCelsius: nil, powerWatts: nil)])
    }

    @Test func driverErrorTextIsMalformedOutput() {
        // setup: what nvidia-smi prints when it cannot reach the driver
        let text = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
        // act / verify
        #expect(throws: HostMetricsError.self) { try GPUInfo.parse(text) }
        #expect(throws: HostMetricsError.self) { try GPUInfo.parse("0, GPU, GPU-1, lots, 1, 2, 3, 4\n") }
    }

    @Test func probeIsEmptyWhenNvidiaSMIIsNotInstalled() async throws {
        // setup: nvidia-smi is not installed on this machine, and an empty folder has none either
        let empty = try TemporaryDirectory()
        defer { empty.remove() }
        // act
        let onThisMachine = try await GPUProbe().probe()
        let inEmptyFolder = try await GPUProbe(searchPath: empty.path).probe()
        // verify
        #expect(GPUProbe(searchPath: empty.path).executablePath() == nil)
        #expect(inEmptyFolder.isEmpty)
        if GPUProbe().executablePath() == nil {
            #expect(onThisMachine.isEmpty)
        }
    }

    @Test func probeRunsTheCommandWithTheQueryArgumentsAndParsesItsOutput() async throws {
        // setup: a stand-in nvidia-smi that checks its arguments and prints the fixture
        let bin = try TemporaryDirectory()
        defer { bin.remove() }
        let csv = try Fixture.directory().appendingPathComponent("nvidia-smi.csv").path
        try bin.script("nvidia-smi", """
            [ "$1" = "\(GPUInfo.nvidiaSMIArguments[0])" ] && [ "$2" = "\(GPUInfo.nvidiaSMIArguments[1])" ] || exit 9
            cat '\(csv)'
            """)
        // act
        let gpus = try await GPUProbe(searchPath: "/nonexistent:\(bin.path)").probe()
        // verify
        #expect(gpus.map(\.name) == ["NVIDIA GeForce RTX 3090", "NVIDIA GeForce GTX 1050 Ti"])
    }

    @Test func aFailingNvidiaSMIIsACommandFailureWithItsMessage() async throws {
        // setup
        let bin = try TemporaryDirectory()
        defer { bin.remove() }
        try bin.script("nvidia-smi", """
            echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
            exit 9
            """)
        // act
        do {
            _ = try await GPUProbe(searchPath: bin.path).probe()
            Issue.record("expected an error")
        } catch {
            // verify
            #expect(error.code == .commandFailed)
            #expect(error.source == "nvidia-smi")
            #expect(error.reason.contains("exit status 9"))
            #expect(error.reason.contains("couldn't communicate with the NVIDIA driver"))
        }
    }

    @Test func aHangingNvidiaSMIIsKilledAfterTheTimeout() async throws {
        // setup
        let bin = try TemporaryDirectory()
        defer { bin.remove() }
        let pidFile = bin.path + "/pid"
        try bin.script("nvidia-smi", "echo $$ > '\(pidFile)'\nexec sleep 30")
        let started = ContinuousClock.now
        // act
        do {
            _ = try await GPUProbe(searchPath: bin.path, timeout: .milliseconds(500)).probe()
            Issue.record("expected a timeout")
        } catch {
            // verify
            #expect(error.code == .timedOut)
            #expect(error.description == "nvidia-smi timed out: no answer within 0.5 s")
            #expect(started.duration(to: .now) < .seconds(10), "the hung nvidia-smi is abandoned, not waited for")
        }
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) == -1, "the hanging nvidia-smi \(pid) is still alive")
    }

    @Test func theDefaultTimeoutIsFiveSeconds() {
        // act / verify
        #expect(GPUProbe().timeout == .seconds(5))
        #expect(GPUProbe().command == "nvidia-smi")
    }
}
