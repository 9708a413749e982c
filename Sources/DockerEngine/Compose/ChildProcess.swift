import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one program without a shell and hands its output over line by line while it runs.
///
/// Shared by the compose runner, the image builder and the agent's git checkout, which all drive a
/// CLI (`docker compose`, `docker build`, `git`) for minutes at a time:
/// - every argument is its own argv entry (no shell, nothing is ever interpreted);
/// - the environment is exactly the one given (nothing of the caller's leaks in);
/// - standard output and error go into one pipe that a dedicated thread reads, so a long build
///   never blocks a thread of Swift's cooperative pool;
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
    /// It runs in this process's working directory (posix_spawn's chdir action is not available
    /// from Swift): callers pass absolute paths (`git -C`, `--project-directory`).
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
    /// on the reading thread, in order, as soon as it is complete.
    public func run(output: @escaping @Sendable (String) -> Void = { _ in }) async throws(LaunchFailure) -> Outcome {
        let control = ChildControl()
        let started = ContinuousClock.now
        let result: Result<Outcome, LaunchFailure> = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Outcome, LaunchFailure>, Never>) in
                let pipe: (read: Int32, write: Int32)
                do throws(SpawnError) {
                    pipe = try Self.makePipe()
                } catch {
                    continuation.resume(returning: .failure(LaunchFailure(executable: executable, reason: error.reason)))
                    return
                }
                let pid: pid_t
                do throws(LaunchFailure) {
                    pid = try spawn(outputFD: pipe.write)
                } catch {
                    close(pipe.read)
                    close(pipe.write)
                    continuation.resume(returning: .failure(error))
                    return
                }
                close(pipe.write)
                control.started(pid)
                let job = ReadJob(fd: pipe.read, pid: pid, control: control, deadline: started + timeout, killGrace: killGrace,
                                  tailLimit: tailLimit, started: started, output: output)
                // A thread of its own: it blocks in poll()/read()/waitpid() for the program's whole life.
                Thread.detachNewThread {
                    continuation.resume(returning: .success(job.run()))
                }
            }
        } onCancel: {
            control.cancel()
        }
        return try result.get()
    }

    private static func makePipe() throws(SpawnError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnError(reason: String(cString: strerror(errno))) }
        // Close-on-exec (pipe2 is not visible from Swift): the pipe must not stay open in programs
        // other threads start later, or our reader would wait for their end too. The child gets
        // the write end through dup2, which clears the flag on the copy.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    private func spawn(outputFD: Int32) throws(LaunchFailure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        // Process group = the child's pid, so kill(-pid) reaches everything it starts.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP) | Int16(POSIX_SPAWN_SETSIGDEF) | Int16(POSIX_SPAWN_SETSIGMASK))
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        let argv = [executable] + arguments
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let status = withCStringArray(argv) { argvPointer in
            withCStringArray(envp) { envpPointer in
                posix_spawn(&pid, executable, &actions, &attributes, argvPointer, envpPointer)
            }
        }
        guard status == 0 else { throw LaunchFailure(executable: executable, reason: String(cString: strerror(status))) }
        return pid
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

private struct SpawnError: Error {
    var reason: String
}

/// Whether the program still runs, and the signals sent to its group.
///
/// Safe to share: every field is read and written only while `lock` is held. The pid is the process
/// group's id; it stays ours until the reading thread reaps the child (``reaping()``), and no signal
/// is sent after that, so a recycled pid is never hit.
private final class ChildControl: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?
    private var reaped = false
    private var cancelRequested = false
    private var cancelledAt: ContinuousClock.Instant?

    func started(_ pid: pid_t) {
        lock.lock()
        self.pid = pid
        let cancelNow = cancelRequested
        lock.unlock()
        if cancelNow { signalGroup(SIGTERM) }
    }

    /// The task was cancelled: terminate now (before start: as soon as it starts).
    func cancel() {
        lock.lock()
        cancelRequested = true
        if cancelledAt == nil { cancelledAt = .now }
        lock.unlock()
        signalGroup(SIGTERM)
    }

    var cancellation: ContinuousClock.Instant? {
        lock.lock()
        defer { lock.unlock() }
        return cancelRequested ? cancelledAt : nil
    }

    func signalGroup(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        guard let pid, !reaped else { return }
        _ = kill(-pid, signal)
    }

    /// Called just before `waitpid` frees the pid: no signal may be sent from here on.
    func reaping() {
        lock.lock()
        reaped = true
        lock.unlock()
    }
}

/// The reading thread's work: lines out, deadlines enforced, child reaped.
private struct ReadJob: Sendable {
    let fd: Int32
    let pid: pid_t
    let control: ChildControl
    let deadline: ContinuousClock.Instant
    let killGrace: Duration
    let tailLimit: Int
    let started: ContinuousClock.Instant
    let output: @Sendable (String) -> Void

    func run() -> ChildProcess.Outcome {
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
        var timedOut = false
        var terminatedAt: ContinuousClock.Instant?
        var leaderExitedAt: ContinuousClock.Instant?
        var killed = false
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let now = ContinuousClock.now
            // Deadlines: the timeout, a cancellation, or a leader that exited while something it
            // started still holds the pipe open.
            if !timedOut, now >= deadline {
                timedOut = true
                terminatedAt = now
                control.signalGroup(SIGTERM)
            }
            if terminatedAt == nil, let cancelled = control.cancellation { terminatedAt = cancelled }
            if let leaderExitedAt, now - leaderExitedAt > .seconds(2), !killed {
                killed = true
                control.signalGroup(SIGKILL)
                break
            }
            if let terminatedAt, now - terminatedAt > killGrace, !killed {
                killed = true
                control.signalGroup(SIGKILL)
            }

            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 200)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 {
                if leaderExitedAt == nil, leaderHasExited() { leaderExitedAt = .now }
                continue
            }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                deliver(splitter.feed(buffer[0..<count]))
            } else if count < 0, errno == EINTR || errno == EAGAIN {
                continue
            } else {
                break  // EOF: every holder of the write end is gone
            }
        }
        deliver(splitter.finish())
        close(fd)
        control.reaping()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        let exitCode = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return ChildProcess.Outcome(status: exitCode, signal: signal == 0 ? nil : signal, timedOut: timedOut,
                                    cancelled: control.cancellation != nil, tail: tail, duration: .now - started)
    }

    /// Whether the program itself has ended, without reaping it (so its pid, the group's id, stays ours).
    private func leaderHasExited() -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return false }
        return info.si_signo == SIGCHLD
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

/// A NULL-terminated `char *[]` of `strings` for the duration of `body`.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
