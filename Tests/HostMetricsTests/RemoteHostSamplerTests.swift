import Foundation
import Testing
@testable import HostMetrics

/// The sample script run with `NEBULA_HOST_ROOT` on the host-a fixture tree, against `HostSampler` on
/// the same tree: the same files, read by two routes, must give the same sample.
@Suite struct RemoteFixtureTests {
    @Test func theScriptOnTheFixtureTreeGivesTheLocalSamplersSample() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        try FileManager.default.createDirectory(atPath: root.path + "/mnt/my disk", withIntermediateDirectories: true)
        let bin = try ScriptRun.fakeNvidiaSMI()
        defer { bin.remove() }
        let environment = ["NEBULA_HOST_ROOT": root.path, "PATH": ScriptRun.path(with: bin.path)]
        let local = HostSampler(root: root.path, gpuProbe: GPUProbe(searchPath: bin.path), clockTicksPerSecond: 100, pageSize: 4096)
        let remote = RemoteHostSampler(clockTicksPerSecond: 100, pageSize: 4096)
        // act
        let output = try ScriptRun.output(of: RemoteCollection.sampleScript, environment: environment)
        let sample = try await remote.sample(fromOutput: output)
        let expected = try await local.sample()
        // verify
        #expect(sample.uptimeSeconds == 356_789.25)
        #expect(sample.intervalSeconds == nil && sample.cpu == nil)
        #expect(sample.logicalCores == 4)
        #expect(sample.memory.usedBytes == 6_426_885 * 1024)
        #expect(sample.filesystems.map(\.mountPoint) == ["/", "/mnt/my disk"])
        #expect(sample.temperatures.count == 10)
        #expect(sample.gpus == (try GPUInfo.parse(Fixture.text("nvidia-smi.csv"))))
        #expect(sample.processes.topByMemory.map(\.pid) == [4242, 1])
        #expect(sample.issues.isEmpty, "issues: \(sample.issues)")
        // the same sample as the local sampler, apart from the moment and the free space of a live disk
        #expect(sample.filesystems.map(\.totalBytes) == expected.filesystems.map(\.totalBytes))
        #expect(withoutMomentaryFields(sample) == withoutMomentaryFields(expected))
    }

    @Test func twoOutputsFiveSecondsApartGiveTheLocalSamplersRates() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let environment = ["NEBULA_HOST_ROOT": root.path]
        let remote = RemoteHostSampler(topProcessCount: 1, pageSize: 4096)
        _ = try await remote.sample(fromOutput: ScriptRun.output(of: RemoteCollection.sampleScript, environment: environment))
        try root.overlay(Fixture.hostALater())
        let later = try ScriptRun.output(of: RemoteCollection.sampleScript, environment: environment)
        // act
        let sample = try await remote.sample(fromOutput: later)
        // verify: the numbers of HostSamplerTests.theSecondSampleHasRatesOverTheUptimeInterval
        #expect(sample.intervalSeconds == 5)
        #expect(sample.cpu == CPUUsage(total: 0.4625, cores: [0.6, 0.25, 0, 1]))
        #expect(sample.diskIO.map(\.name) == ["nvme0n1", "sda", "sdb"])
        #expect(sample.diskIO.first?.readBytesPerSecond == 2_097_152)
        #expect(sample.network.map(\.name) == ["eth0", "wlan0", "docker0"])
        #expect(sample.network.first?.receivedBytesPerSecond == 10_485_760)
        #expect(sample.processes.count == 3)
        #expect(sample.processes.topByCPU == [ProcessUsage(pid: 4242, name: "my (weird) app", cpuPercent: 100,
                                                           residentBytes: 52_224 * 4096)])
    }

    @Test func aRebootStartsOverLikeAFirstSample() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let environment = ["NEBULA_HOST_ROOT": root.path]
        let remote = RemoteHostSampler()
        _ = try await remote.sample(fromOutput: ScriptRun.output(of: RemoteCollection.sampleScript, environment: environment))
        try root.overlay(Fixture.hostALater())
        try root.write("42.00 80.00\n", to: "proc/uptime")
        let afterReboot = try ScriptRun.output(of: RemoteCollection.sampleScript, environment: environment)
        // act
        let sample = try await remote.sample(fromOutput: afterReboot)
        // verify
        #expect(sample.uptimeSeconds == 42)
        #expect(sample.intervalSeconds == nil)
        #expect(sample.cpu == nil)
        #expect(sample.diskIO.isEmpty && sample.network.isEmpty)
        #expect(sample.processes.topByCPU.isEmpty)
    }

    @Test func aMissingRequiredFileIsAnErrorNamingItAndOptionalOnesAreIssues() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        try FileManager.default.removeItem(atPath: root.path + "/proc/net/dev")
        let withoutNetwork = try ScriptRun.output(of: RemoteCollection.sampleScript, environment: ["NEBULA_HOST_ROOT": root.path])
        try FileManager.default.removeItem(atPath: root.path + "/proc/meminfo")
        let withoutMemory = try ScriptRun.output(of: RemoteCollection.sampleScript, environment: ["NEBULA_HOST_ROOT": root.path])
        let remote = RemoteHostSampler()
        // act
        let sample = try await remote.sample(fromOutput: withoutNetwork)
        let error = await #expect(throws: HostMetricsError.self) { try await remote.sample(fromOutput: withoutMemory) }
        // verify
        #expect(sample.network.isEmpty)
        #expect(sample.issues == [.unreadable("/proc/net/dev", reason: "No such file or directory")])
        #expect(error == .unreadable("/proc/meminfo", reason: "No such file or directory"))
        #expect(error?.description == "cannot read /proc/meminfo: No such file or directory")
    }

    @Test func aFailingNvidiaSMIIsAnIssueAndTheRestIsSampled() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let bin = try ScriptRun.fakeNvidiaSMI("echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\nexit 9")
        defer { bin.remove() }
        let output = try ScriptRun.output(of: RemoteCollection.sampleScript,
                                          environment: ["NEBULA_HOST_ROOT": root.path, "PATH": ScriptRun.path(with: bin.path)])
        // act
        let sample = try await RemoteHostSampler().sample(fromOutput: output)
        // verify
        #expect(sample.gpus.isEmpty)
        #expect(sample.issues == [.commandFailed("nvidia-smi", reason: "exit status 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")])
        #expect(sample.memory.totalBytes > 0)
    }

    @Test func aMountThatDoesNotAnswerStatIsLeftOutAsATimeoutIssue() async throws {
        // setup: a stand-in stat that hangs on one mount point, as on a stale NFS mount
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        try FileManager.default.createDirectory(atPath: root.path + "/mnt/my disk", withIntermediateDirectories: true)
        let realStat = try #require(["/usr/bin/stat", "/bin/stat"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let bin = try TemporaryDirectory()
        defer { bin.remove() }
        try bin.script("stat", "case \"$4\" in *'/mnt/my disk') exec sleep 30 ;; esac\nexec \(realStat) \"$@\"")
        let environment = ["NEBULA_HOST_ROOT": root.path, "PATH": ScriptRun.path(with: bin.path)]
        // act
        let started = ContinuousClock.now
        let output = try ScriptRun.output(of: RemoteCollection.sampleScript, environment: environment)
        let elapsed = started.duration(to: .now)
        let sample = try await RemoteHostSampler().sample(fromOutput: output)
        // verify
        #expect(sample.filesystems.map(\.mountPoint) == ["/"])
        #expect(sample.issues == [.timedOut("statvfs /mnt/my disk", after: 2)])
        #expect(elapsed < .seconds(10))
    }

    @Test func withoutStatTheSampleHasNoFilesystemsAndSaysWhy() async throws {
        // setup: a PATH with cat but no stat
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let bin = try TemporaryDirectory()
        defer { bin.remove() }
        let cat = try #require(["/usr/bin/cat", "/bin/cat"].first { FileManager.default.isExecutableFile(atPath: $0) })
        try FileManager.default.createSymbolicLink(atPath: bin.path + "/cat", withDestinationPath: cat)
        let output = try ScriptRun.output(of: RemoteCollection.sampleScript, environment: ["NEBULA_HOST_ROOT": root.path, "PATH": bin.path])
        // act
        let sample = try await RemoteHostSampler().sample(fromOutput: output)
        // verify
        #expect(sample.filesystems.isEmpty)
        #expect(sample.issues.map(\.source) == ["stat -f"])
        #expect(sample.processes.count == 2)
    }

    @Test func theHardwareScriptOnTheFixtureTreeGivesTheLocalProfile() async throws {
        // setup
        let root = try TemporaryDirectory.copyOfHostA()
        defer { root.remove() }
        let bin = try ScriptRun.fakeNvidiaSMI()
        defer { bin.remove() }
        let output = try ScriptRun.output(of: RemoteCollection.hardwareScript,
                                          environment: ["NEBULA_HOST_ROOT": root.path, "PATH": ScriptRun.path(with: bin.path)])
        // act
        let profile = try RemoteHostSampler.hardwareProfile(fromOutput: output)
        // verify
        let expected = try HardwareProfile.read(root: root.path, gpus: GPUInfo.parse(Fixture.text("nvidia-smi.csv")))
        #expect(profile == expected)
        #expect(profile.hostname == "homelab-a")
        #expect(profile.disks.map(\.name) == ["nvme0n1", "sda", "sdb"])
        #expect(profile.gpus.count == 2)
    }

    /// `sample` with what legitimately differs between two reads of the same machine cleared.
    private func withoutMomentaryFields(_ sample: HostSample) -> HostSample {
        var copy = sample
        copy.timestamp = Date(timeIntervalSince1970: 0)
        copy.filesystems = sample.filesystems.map {
            FilesystemUsage(device: $0.device, mountPoint: $0.mountPoint, type: $0.type, totalBytes: $0.totalBytes,
                            usedBytes: 0, availableBytes: 0)
        }
        return copy
    }
}

/// Outputs written by hand: damaged, truncated, hostile.
@Suite struct RemoteOutputTests {
    @Test func outputWithoutABeginLineOrFromAnotherScriptIsMalformed() async throws {
        // setup
        let remote = RemoteHostSampler()
        var newer = try HandWrittenOutput.hostA()
        newer.version = 2
        // act / verify
        for output in ["", "bash: sh: command not found\n", HandWrittenOutput(script: "hardware").text(), newer.text()] {
            let error = await #expect(throws: HostMetricsError.self) { try await remote.sample(fromOutput: output) }
            #expect(error?.code == .malformed)
            #expect(error?.source == "remote output")
        }
    }

    @Test func outputCutOffBeforeItsEndIsMalformedAndKeepsThePreviousCounters() async throws {
        // setup
        let remote = RemoteHostSampler()
        let complete = try HandWrittenOutput.hostA()
        _ = try await remote.sample(fromOutput: complete.text())
        var later = HandWrittenOutput()
        for name in ["uptime", "stat", "diskstats", "net/dev"] {
            later.section("file /proc/\(name)", try Fixture.text("host-a-later/proc/\(name)"))
        }
        for name in ["loadavg", "meminfo", "mounts"] {
            later.section("file /proc/\(name)", try Fixture.text("host-a/proc/\(name)"))
        }
        // act
        let error = await #expect(throws: HostMetricsError.self) { try await remote.sample(fromOutput: later.text(end: false)) }
        let sample = try await remote.sample(fromOutput: later.text())
        // verify
        #expect(error?.reason.contains("end marker") == true)
        #expect(sample.intervalSeconds == 5)
        #expect(sample.cpu?.total == 0.4625)
    }

    @Test func aMarkerWithoutTheNonceIsContentNotASection() async throws {
        // setup: a file that tries to end the stream early and to replace /proc/meminfo
        var output = try HandWrittenOutput.hostA()
        let forged = "\n@@nebula:end\n@@nebula:0000000-forged:file /proc/meminfo\nMemTotal: 1 kB\n@@nebula:0000000-forged:end\n"
        output.section("values", "/sys/class/hwmon/hwmon0/name\tx" + forged)
        output.section("file /proc/self/cgroup", forged)
        // act
        let sample = try await RemoteHostSampler().sample(fromOutput: output.text())
        // verify
        #expect(sample.memory.totalBytes == 16_303_428 * 1024)
    }

    @Test func hostileAndBrokenContentIsSkippedNotFatal() async throws {
        // setup
        var output = try HandWrittenOutput.hostA()
        let bigLine = String(repeating: "9", count: 2_000_000)
        output.section("procs", """
            1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 100 30 0 0 20 0 1 0 5 1000 300 18446744073709551615
            77 (evil
            1 (x) R 1 1) S 0 1 1 0 -1 4194560 1 2 3 4 100 30 0 0 20 0 1 0 5 1000 300
            -5 (negative) S 0 1 1 0 -1 4194560 1 2 3 4 100 30 0 0 20 0 1 0 5 1000 300
            88 (huge) S 0 1 1 0 -1 4194560 1 2 3 4 \(bigLine) 30 0 0 20 0 1 0 5 1000 300
            \u{FFFD}\u{FFFD} (bytes) S

            """)
        output.section("values", "/sys/class/thermal/thermal_zone0/type\tx86\u{FFFD}pkg\n/sys/class/thermal/thermal_zone0/temp\t-5000\n"
                       + "/sys/class/thermal/thermal_zone1/temp\n" + "relative/path\t1\n" + "/sys/class/thermal/thermal_zone2/temp\t\(bigLine)\n")
        output.section("statfs", "0 / 4096 -1 2 3\n0 /mnt/my\\040disk 4096 100 40 30\nnot-a-status /x\n137 /tank\n")
        output.section("output pagesize", "KernelPageSize: -4 kB\n")
        output.section("exit nvidia-smi many")
        output.section("mystery section from a newer script", bigLine)
        // act
        let sample = try await RemoteHostSampler().sample(fromOutput: output.text())
        // verify
        #expect(sample.processes.count == 1)
        #expect(sample.processes.topByMemory.map(\.name) == ["systemd"])
        #expect(sample.temperatures == [TemperatureReading(label: "x86\u{FFFD}pkg", celsius: -5)])
        #expect(sample.filesystems == [FilesystemUsage(device: "/dev/sdb1", mountPoint: "/mnt/my disk", type: "ext4",
                                                       totalBytes: 409_600, usedBytes: 245_760, availableBytes: 122_880)])
        #expect(sample.issues == [.timedOut("statvfs /tank", after: 2)])
    }

    @Test func invalidUTF8InTheCommandsBytesOnlySpoilsTheNamesItIsIn() async throws {
        // setup: a process named with bytes that are not UTF-8, decoded as an SSH client would
        var output = try HandWrittenOutput.hostA()
        output.section("procs", "PROCS")
        var bytes = Array(output.text().utf8)
        let placeholder = Array("PROCS".utf8)
        let at = try #require(bytes.indices.first { bytes[$0...].starts(with: placeholder) })
        let line: [UInt8] = Array("9 (".utf8) + [0xFF, 0xC3, 0x28] + Array(") S 0 1 1 0 -1 4194560 1 2 3 4 100 30 0 0 20 0 1 0 5 1000 300 0\n".utf8)
        bytes.replaceSubrange(at..<(at + placeholder.count), with: line)
        // act
        let sample = try await RemoteHostSampler().sample(fromOutput: String(decoding: bytes, as: UTF8.self))
        // verify
        #expect(sample.processes.topByMemory.map(\.pid) == [9])
        #expect(sample.processes.topByMemory.first?.name.contains("\u{FFFD}") == true)
    }

    @Test func anOutputLargerThanTheLimitIsRefused() async throws {
        // setup
        var output = try HandWrittenOutput.hostA()
        output.section("output flood", String(repeating: "x", count: RemoteCollection.maximumOutputBytes))
        // act
        let error = await #expect(throws: HostMetricsError.self) { try await RemoteHostSampler().sample(fromOutput: output.text()) }
        // verify
        #expect(error?.code == .malformed)
    }

    @Test func theScriptsAreValidPOSIXShellWithoutBashisms() throws {
        // setup
        let shells = ["/bin/dash", "/bin/sh"].filter { FileManager.default.isExecutableFile(atPath: $0) }
        let bashisms = ["[[", "==", "function ", "local ", "source ", "<<<", "$'", "${!", "pipefail", "echo -e", "&>"]
        for script in [RemoteCollection.sampleScript, RemoteCollection.hardwareScript] {
            // act / verify
            for shell in shells {
                _ = try ScriptRun.output(of: script, shell: [shell, "-n", "-c"])
            }
            for bashism in bashisms {
                #expect(!script.contains(bashism), "uses \(bashism)")
            }
        }
    }
}

/// The scripts run for real on this machine, against `HostSampler` on the same machine.
@Suite struct LiveRemoteTests {
    @Test(arguments: LiveShell.available)
    func theSampleScriptOnThisMachineAgreesWithTheLocalSampler(_ shell: LiveShell) async throws {
        // setup
        let remote = RemoteHostSampler()
        let local = HostSampler(gpuProbe: nil)
        _ = try await remote.sample(fromOutput: shell.run(RemoteCollection.sampleScript))
        _ = try await local.sample()
        try await Task.sleep(for: .seconds(1))
        // act
        let output = try shell.run(RemoteCollection.sampleScript)
        let sample = try await remote.sample(fromOutput: output)
        let expected = try await local.sample()
        // verify
        print("RemoteCollection.sampleScript on this machine with \(shell): \(output.utf8.count) bytes, \(sample.processes.count) processes")
        #expect(output.utf8.count < 1_000_000)
        #expect(sample.memory.totalBytes == expected.memory.totalBytes)
        #expect(sample.logicalCores == expected.logicalCores)
        #expect(sample.filesystems.map(\.mountPoint) == expected.filesystems.map(\.mountPoint))
        #expect(sample.filesystems.map(\.totalBytes) == expected.filesystems.map(\.totalBytes))
        #expect(sample.network.map(\.name) == expected.network.map(\.name))
        #expect(sample.diskIO.map(\.name) == expected.diskIO.map(\.name))
        #expect(sample.temperatures.map(\.label) == expected.temperatures.map(\.label))
        // Other tests start and end many processes meanwhile (sshd sessions, CLI runs): the same
        // order of magnitude, not equal.
        #expect(abs(sample.processes.count - expected.processes.count) < max(20, expected.processes.count / 2))
        // The time between the two samples: at least the second slept, and seconds rather than
        // milliseconds or hours (a starved CI runner has taken over 10 s to start the shells).
        let interval = try #require(sample.intervalSeconds)
        #expect(interval >= 0.9 && interval < 300)
        let cpu = try #require(sample.cpu)
        #expect(cpu.cores.count == sample.logicalCores)
        #expect(sample.issues.isEmpty, "issues: \(sample.issues)")
    }

    @Test func theCommandFormRunsTheScriptFromALoginShell() async throws {
        // setup: an SSH server hands the command to the user's login shell
        let login = FileManager.default.isExecutableFile(atPath: "/bin/bash") ? "/bin/bash" : "/bin/sh"
        // act
        let output = try ScriptRun.output(of: RemoteCollection.sampleCommand, shell: [login, "-c"])
        let hardware = try ScriptRun.output(of: RemoteCollection.hardwareCommand, shell: [login, "-c"])
        // verify
        #expect(try await RemoteHostSampler().sample(fromOutput: output).memory.totalBytes > 0)
        #expect(try RemoteHostSampler.hardwareProfile(fromOutput: hardware).logicalCores >= 1)
    }

    @Test(arguments: LiveShell.available)
    func theHardwareScriptOnThisMachineGivesTheLocalProfile(_ shell: LiveShell) async throws {
        // setup
        let output = try shell.run(RemoteCollection.hardwareScript)
        // act
        let profile = try RemoteHostSampler.hardwareProfile(fromOutput: output)
        // verify
        let expected = try await HostSampler().hardwareProfile()
        #expect(profile.cpuModel == expected.cpuModel)
        #expect(profile.logicalCores == expected.logicalCores)
        #expect(profile.physicalCores == expected.physicalCores)
        #expect(profile.memoryTotalBytes == expected.memoryTotalBytes)
        #expect(profile == expected)
    }
}

/// A shell the live tests run the scripts with: `/bin/sh`, `/bin/dash`, and busybox `ash` with only
/// busybox applets on `PATH` (as on Alpine), when they are installed.
struct LiveShell: Sendable, CustomTestStringConvertible, CustomStringConvertible {
    var name: String
    var command: [String]
    var busybox: Bool

    static var available: [LiveShell] {
        var shells = [LiveShell(name: "sh", command: ["/bin/sh", "-c"], busybox: false)]
        if FileManager.default.isExecutableFile(atPath: "/bin/dash") {
            shells.append(LiveShell(name: "dash", command: ["/bin/dash", "-c"], busybox: false))
        }
        if FileManager.default.isExecutableFile(atPath: "/bin/busybox") {
            shells.append(LiveShell(name: "busybox ash", command: ["/bin/busybox", "ash", "-c"], busybox: true))
        }
        return shells
    }

    var description: String { name }
    var testDescription: String { name }

    func run(_ script: String) throws -> String {
        guard busybox else { return try ScriptRun.output(of: script, shell: command) }
        let bin = try TemporaryDirectory()
        defer { bin.remove() }
        for applet in ["cat", "stat", "timeout", "uname", "sh"] {
            try FileManager.default.createSymbolicLink(atPath: bin.path + "/" + applet, withDestinationPath: "/bin/busybox")
        }
        return try ScriptRun.output(of: script, shell: command, environment: ["PATH": bin.path])
    }
}
