import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An interactive terminal: bytes in, bytes out, a size, an end. A local PTY, a PTY on an agent
/// node, or an SSH shell all look like this to the web terminal.
public protocol TerminalSession: Sendable {
    /// Everything the shell prints, as it comes; finishes when the shell exits or the session closes.
    var output: AsyncStream<[UInt8]> { get }
    /// Sends keystrokes or pasted text.
    func write(_ bytes: [UInt8]) async throws
    func resize(columns: Int, rows: Int) async throws
    /// Hangs up the shell (SIGHUP) and releases the terminal.
    func close() async
    /// Why the session ended, once `output` has finished.
    var endMessage: String { get async }
}

/// Why a terminal could not be opened or used.
public struct TerminalError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A login shell in a new pseudo-terminal on this machine.
///
/// The shell becomes a session leader with the PTY as its controlling terminal (so job control,
/// Ctrl-C and resizing behave as in a real terminal). Output is read on a thread of its own and
/// writes go through a serial queue, so nothing ever blocks Swift's cooperative threads.
public final class PseudoTerminal: TerminalSession {
    public let output: AsyncStream<[UInt8]>
    /// The shell's process id.
    public let pid: pid_t
    private let master: Int32
    private let writes = DispatchQueue(label: "nebula.pty.write")
    private let state = SharedState()

    /// Shared with the reader thread, which records the exit status.
    private final class SharedState: Sendable {
        struct Values {
            var closed = false
            var exitStatus: Int32?
        }
        private let mutex = Mutex(Values())
        func withLock<T>(_ body: (inout Values) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    /// TIOCSPTLCK and TIOCGPTN from <asm-generic/ioctls.h> (x86_64, arm64, arm; function-like
    /// macros Swift cannot import).
    static let setLock: UInt = 0x4004_5431
    static let getNumber: UInt = 0x8004_5430

    /// Sizes a browser can sensibly ask for.
    public static let columnRange = 2...1000
    public static let rowRange = 1...500

    /// - Parameters:
    ///   - shell: the program to run; `$SHELL`, then `/bin/bash`, then `/bin/sh` when nil.
    ///   - environment: extra variables (TERM is always `xterm-256color`).
    public init(columns: Int, rows: Int, shell: String? = nil, environment: [String: String] = [:], directory: String? = nil) throws(TerminalError) {
        // posix_openpt/unlockpt/ptsname are not visible to Swift; this is what they do on Linux.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw TerminalError("cannot open a pseudo-terminal (/dev/ptmx): \(String(cString: strerror(errno)))") }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(master, Self.setLock, &unlock) == 0, ioctl(master, Self.getNumber, &number) == 0 else {
            Glibc.close(master)
            throw TerminalError("cannot prepare the pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        let slavePath = "/dev/pts/\(number)"
        var size = winsize(ws_row: UInt16(clamping: Self.rowRange.clamp(rows)), ws_col: UInt16(clamping: Self.columnRange.clamp(columns)), ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)

        let program = Self.shell(preferred: shell)
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { $1 }
        variables["TERM"] = "xterm-256color"
        if variables["LANG"] == nil { variables["LANG"] = "C.UTF-8" }
        if let directory { variables["PWD"] = directory }

        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        // POSIX_SPAWN_SETSID (glibc 2.26+, value 0x80 in <spawn.h>): the child calls setsid() before
        // the file actions run, so opening the PTY below makes it the controlling terminal.
        let spawnSetSID: Int16 = 0x80
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, spawnSetSID | Int16(POSIX_SPAWN_SETSIGDEF) | Int16(POSIX_SPAWN_SETSIGMASK))
        posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        // A login shell, started in `directory` when given (the directory is an argument, never code).
        let arguments = directory.map { ["/bin/sh", "-c", "cd \"$1\" 2>/dev/null; exec \"$0\" -l", program, $0] } ?? [program, "-l"]
        let environmentLines = variables.map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let status = withCStrings(arguments) { argv in
            withCStrings(environmentLines) { envp in
                posix_spawn(&child, arguments[0], &actions, &attributes, argv, envp)
            }
        }
        guard status == 0 else {
            Glibc.close(master)
            throw TerminalError("cannot start \(program): \(String(cString: strerror(status)))")
        }
        self.master = master
        self.pid = child

        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        self.output = stream
        let state = self.state
        let writes = self.writes
        let shellPID = child
        // Blocking reads on a thread of their own; EIO means every holder of the slave side is gone.
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
                if count > 0 {
                    continuation.yield(Array(buffer[0..<count]))
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            var waitStatus: Int32 = 0
            let reaped = waitpid(shellPID, &waitStatus, 0)
            state.withLock { $0.exitStatus = reaped == shellPID ? (waitStatus >> 8) & 0xFF : -1 }
            continuation.finish()
            // Closed on the write queue, after any write in progress; later writes see the exit status.
            writes.async { Glibc.close(master) }
        }
    }

    /// The shell's exit status once it has ended (nil while it runs).
    public var exitStatus: Int32? { state.withLock { $0.exitStatus } }

    public var endMessage: String {
        exitStatus.map { "the shell exited with status \($0)" } ?? "the terminal was closed"
    }

    public func write(_ bytes: [UInt8]) async throws {
        guard !state.withLock({ $0.closed }) else { throw TerminalError("the terminal is closed") }
        let master = master
        let state = state
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            writes.async {
                guard state.withLock({ $0.exitStatus == nil }) else {
                    continuation.resume(throwing: TerminalError("the shell has exited"))
                    return
                }
                var offset = 0
                while offset < bytes.count {
                    let written = bytes[offset...].withUnsafeBytes { Glibc.write(master, $0.baseAddress, $0.count) }
                    if written < 0 {
                        if errno == EINTR || errno == EAGAIN { continue }
                        continuation.resume(throwing: TerminalError("writing to the terminal failed: \(String(cString: strerror(errno)))"))
                        return
                    }
                    offset += written
                }
                continuation.resume()
            }
        }
    }

    public func resize(columns: Int, rows: Int) async throws {
        let master = master
        let state = state
        let size = winsize(ws_row: UInt16(clamping: Self.rowRange.clamp(rows)), ws_col: UInt16(clamping: Self.columnRange.clamp(columns)), ws_xpixel: 0, ws_ypixel: 0)
        // On the write queue, like writes, so the descriptor is never used after the reader closed it.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            writes.async {
                guard state.withLock({ !$0.closed && $0.exitStatus == nil }) else {
                    continuation.resume(throwing: TerminalError("the terminal is closed"))
                    return
                }
                var requested = size
                if ioctl(master, UInt(TIOCSWINSZ), &requested) == 0 {
                    continuation.resume()
                } else {
                    continuation.resume(throwing: TerminalError("resizing the terminal failed: \(String(cString: strerror(errno)))"))
                }
            }
        }
    }

    public func close() async {
        let first = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed && state.exitStatus == nil
        }
        guard first else { return }
        // The whole session (the shell and what it started) is hung up, as when a terminal closes.
        kill(-pid, SIGHUP)
        kill(pid, SIGHUP)
        let pid = pid
        Task {
            try? await Task.sleep(for: .seconds(3))
            if kill(pid, 0) == 0 { kill(-pid, SIGKILL) }
        }
    }

    static func shell(preferred: String?) -> String {
        let candidates = [preferred, ProcessInfo.processInfo.environment["SHELL"], "/bin/bash", "/bin/sh"].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/bin/sh"
    }
}

extension ClosedRange where Bound == Int {
    /// `value` moved into the range.
    public func clamp(_ value: Int) -> Int { Swift.min(Swift.max(value, lowerBound), upperBound) }
}

/// Calls `body` with a NULL-terminated C array of the strings, valid only during the call.
private func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
    let pointers = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    return body(pointers + [nil])
}
