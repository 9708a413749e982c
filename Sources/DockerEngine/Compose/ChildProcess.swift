import Subprocess
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one program without a shell and hands its output over line by line while it runs.
///
/// Shared by the compose runner, the image builder and the agent's git checkout, which all drive a
/// CLI (`docker compose`, `docker build`, `git`) for minutes at a time. Spawning, the pipe and the
/// reaping are swift-subprocess's; this type adds the policy those callers share:
/// - every argument is its own argv entry (no shell, nothing is ever interpreted);
/// - the environment is exactly the one given (nothing of the caller's leaks in);
/// - standard output and error are one stream (`2>&1`), read without blocking a thread of Swift's
///   cooperative pool, cut into lines by ``LineSplitter``;
/// - the program leads a new process group, so a timeout or a cancelled task ends it *and* the
///   programs it started (SIGTERM, then SIGKILL after ``killGrace``).
public struct ChildProcess: Sendable {
    /// The absolute path of the program.
    public var executable: String
    /// The arguments after the program's name.
    public var arguments: [String]
    /// The complete environment of the program.
    public var environment: [String: String]
    /// How long it may run before its process group is terminated.
    public var timeout: Duration
    /// How long it has between SIGTERM and SIGKILL.
    public var killGrace: Duration = .seconds(3)
    /// How many of the last output lines the result keeps.
    public var tailLimit = 50

    /// A program at `executable` (absolute) with `arguments`, exactly `environment`, at most `timeout`.
    ///
    /// It runs in this process's working directory: callers pass absolute paths (`git -C`,
    /// `--project-directory`), so no caller depends on where the agent was started.
    public init(executable: String, arguments: [String], environment: [String: String], timeout: Duration) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.timeout = timeout
    }

    /// How a run ended.
    public struct Outcome: Sendable, Equatable {
        /// The exit status; 128 + the signal's number when a signal ended it.
        public var status: Int32
        /// The signal that ended it, if one did.
        public var signal: Int32?
        /// It ran longer than its timeout and was terminated.
        public var timedOut: Bool
        /// The calling task was cancelled and the program was terminated.
        public var cancelled: Bool
        /// The last output lines (at most ``ChildProcess/tailLimit``).
        public var tail: [String]
        /// How long it ran.
        public var duration: Duration

        /// It exited with status 0 on its own.
        public var succeeded: Bool { status == 0 && !timedOut && !cancelled && signal == nil }
    }

    /// Why a program could not be started at all (once started, every ending is an ``Outcome``).
    public struct LaunchFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The program concerned.
        public var executable: String
        /// The system's reason (`No such file or directory`, `Permission denied`).
        public var reason: String

        public var description: String { "cannot start \(executable): \(reason)" }
    }

    /// Runs the program; `output` receives each line (without its line break, ANSI colours removed)
    /// on the reading task, in order, as soon as it is complete.
    public func run(output: @escaping @Sendable (String) -> Void = { _ in }) async throws(LaunchFailure) -> Outcome {
        let started = ContinuousClock.now
        var options = PlatformOptions()
        // Group id 0 = the child's own pid, so a signal to the group reaches everything it starts.
        options.processGroupID = 0
        // Used for a cancelled task (by swift-subprocess) and for the timeout (by `watch`): SIGTERM
        // to the group, then SIGKILL to the group after the grace (the last step's target carries
        // over to the final kill).
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: killGrace)]
        var variables: [Environment.Key: String] = [:]
        for (name, value) in environment {
            // Accepts every name; an invalid one (`=` in it, a leading digit) fails the launch.
            // Not the raw-bytes `.custom([[UInt8]])`: 1.0.2 strdup()s those entries, so each would
            // have to carry its own NUL terminator.
            if let key = Environment.Key(rawValue: name) { variables[key] = value }
        }

        let result: ExecutionResult<Watched, SequenceOutput, CombinedErrorOutput>
        do {
            // `.init(executable)` is `FilePath(executable)`, spelt so that this file needs no
            // import of swift-system, which the package does not depend on directly.
            result = try await Subprocess.run(
                .path(.init(executable)), arguments: Arguments(arguments), environment: .custom(variables),
                platformOptions: options, input: .none, output: .sequence, error: .combinedWithOutput
            ) { execution in
                await Self.watch(execution, deadline: started + timeout, teardown: options.teardownSequence,
                                 tailLimit: tailLimit, output: output)
            }
        } catch {
            throw LaunchFailure(executable: executable, reason: Self.reason(error))
        }
        let (status, signal): (Int32, Int32?) = switch result.terminationStatus {
        case .exited(let code): (code, nil)
        case .signaled(let signal): (128 + signal, signal)
        }
        let watched = result.closureResult
        return Outcome(status: status, signal: signal, timedOut: watched.timedOut, cancelled: Task.isCancelled,
                       tail: watched.tail, duration: .now - started)
    }

    /// What `watch` saw while the program ran.
    private struct Watched: Sendable {
        var tail: [String]
        var timedOut: Bool
    }

    /// Delivers the output's lines and enforces the deadline until the output ends.
    ///
    /// Runs while the program runs; swift-subprocess reaps it only after this returns, so its pid
    /// (the group's id) cannot be reused while signals are sent from here.
    private static func watch(
        _ execution: Execution<NoInput, SequenceOutput, CombinedErrorOutput>, deadline: ContinuousClock.Instant,
        teardown: [TeardownStep], tailLimit: Int, output: @escaping @Sendable (String) -> Void
    ) async -> Watched {
        // Unstructured on purpose: a cancelled task would end the read at once, and the lines a
        // program prints while it shuts down (compose's "Stopping …") would be lost. It is awaited
        // below, so it never outlives `execution`.
        let reader = Task {
            var splitter = LineSplitter()
            var tail: [String] = []
            tail.reserveCapacity(tailLimit)
            func deliver(_ lines: [String]) {
                for line in lines {
                    output(line)
                    if tail.count == tailLimit { tail.removeFirst() }
                    tail.append(line)
                }
            }
            do {
                for try await buffer in execution.standardOutput {
                    deliver(buffer.withUnsafeBytes { splitter.feed($0) })
                }
            } catch {
                // A failed read ends the output like its end does; the exit status still tells how it went.
            }
            deliver(splitter.finish())
            return tail
        }
        let timer = Task {
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return false }
            await execution.teardown(using: teardown)
            return true
        }
        let tail = await reader.value
        timer.cancel()
        let timedOut = await timer.value
        // Not expressible with swift-subprocess: it stops reading as soon as the program exits (so a
        // descendant holding the pipe cannot hang the read) and its teardown stops escalating once
        // the program itself is gone, so whatever the program left in its group (a grandchild that
        // ignores SIGTERM, a helper still writing to the pipe) would outlive the run. End it here,
        // while the unreaped program still pins the group's id so no other process can be hit.
        if programHasExited(execution.processIdentifier.value) {
            try? execution.send(signal: .kill, toProcessGroup: true)
        }
        return Watched(tail: tail, timedOut: timedOut)
    }

    /// Whether the program has ended, without reaping it (swift-subprocess reaps it later; its
    /// `Execution` offers no way to ask). Not exited yet means its output ended while it runs on
    /// (it closed both streams), and nothing may be killed.
    private static func programHasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return false }
        return info.si_signo == SIGCHLD
    }

    /// The system's words for why the program could not be started.
    private static func reason(_ error: any Error) -> String {
        guard let error = error as? SubprocessError else { return "\(error)" }
        if let underlying = error.underlyingError { return String(cString: strerror(underlying.rawValue)) }
        return error.description
    }

    /// The absolute path of `name` on `path` (a `PATH` value), or nil; names with a `/` are taken as they are.
    public static func find(_ name: String, path: String?) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let directories = (path ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":")
        for directory in directories where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The variables of `environment` a CLI legitimately needs (search path, home for its config,
    /// locale, temp dir); everything else of the agent's own environment (secrets, `COMPOSE_*`,
    /// `DOCKER_CONTEXT`) stays out.
    public static func baseEnvironment(from environment: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for name in ["PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "LANG", "LC_ALL", "DOCKER_CONFIG"] {
            if let value = environment[name], !value.isEmpty { result[name] = value }
        }
        if result["PATH"] == nil { result["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
        if result["HOME"] == nil { result["HOME"] = "/root" }
        return result
    }
}

/// Cuts a byte stream into lines at `\n`, `\r\n` or a lone `\r` (progress redraws), as UTF-8
/// text without ANSI escape sequences; a line longer than 16 KiB is cut there.
struct LineSplitter {
    private var pending: [UInt8] = []
    private var lastWasCR = false
    static let maxLine = 16 * 1024

    mutating func feed<C: Collection>(_ bytes: C) -> [String] where C.Element == UInt8 {
        var lines: [String] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                if lastWasCR { lastWasCR = false; continue }
                lines.append(Self.text(pending))
                pending.removeAll(keepingCapacity: true)
            case UInt8(ascii: "\r"):
                lastWasCR = true
                lines.append(Self.text(pending))
                pending.removeAll(keepingCapacity: true)
                continue
            default:
                pending.append(byte)
                if pending.count >= Self.maxLine {
                    lines.append(Self.text(pending))
                    pending.removeAll(keepingCapacity: true)
                }
            }
            lastWasCR = false
        }
        return lines
    }

    mutating func finish() -> [String] {
        defer { pending = [] }
        return pending.isEmpty ? [] : [Self.text(pending)]
    }

    /// UTF-8 (invalid bytes replaced) without CSI escape sequences such as colours.
    static func text(_ bytes: [UInt8]) -> String {
        guard bytes.contains(0x1B) else { return String(decoding: bytes, as: UTF8.self) }
        var kept: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x1B, index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "[") {
                index += 2
                while index < bytes.count, !(0x40...0x7E).contains(bytes[index]) { index += 1 }
                index += 1
                continue
            }
            kept.append(bytes[index])
            index += 1
        }
        return String(decoding: kept, as: UTF8.self)
    }
}
