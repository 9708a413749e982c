import Foundation
import ProxyAdmin

/// A real Caddy 2 (`/usr/bin/caddy`, run as a child process) with its admin API on
/// 127.0.0.1:``adminPort`` and no apps: tests load their own config. Its data (the local CA for
/// `tls internal`) lives in a temp directory. Call ``stop()`` in a `defer`; Caddy also exits when the
/// test process dies, because a small `sh` wrapper watches its stdin and kills Caddy when it closes.
public final class CaddyTestServer {
    /// True when Caddy is installed (`apt-get install caddy`, or: `make test-deps`).
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: executable) }
    /// Why tests that need Caddy are skipped.
    public static let unavailableReason = "Caddy is not installed at /usr/bin/caddy (apt-get install caddy, or: make test-deps)"
    static let executable = "/usr/bin/caddy"

    public let adminPort: Int
    /// Free ports for the tests' proxy listeners (nothing listens on them until a config is loaded).
    public let httpPort: Int
    public let httpsPort: Int
    /// The temp directory that is Caddy's XDG_DATA_HOME.
    public let dataDirectory: URL
    private let directory: URL
    private let process: Process
    private let stdin: Pipe
    private var stopped = false

    /// `http://127.0.0.1:<adminPort>`.
    public var adminURL: URL { URL(string: "http://127.0.0.1:\(adminPort)") ?? URL(fileURLWithPath: "/invalid") }
    /// The admin address in `host:port` form, as Caddy's `admin.listen` takes it.
    public var adminListen: String { "127.0.0.1:\(adminPort)" }

    private init(adminPort: Int, httpPort: Int, httpsPort: Int, directory: URL, process: Process, stdin: Pipe) {
        self.adminPort = adminPort
        self.httpPort = httpPort
        self.httpsPort = httpsPort
        self.directory = directory
        self.dataDirectory = directory.appendingPathComponent("data")
        self.process = process
        self.stdin = stdin
    }

    /// Starts Caddy and waits (up to 30 s) until its admin API answers `GET /config/`.
    public static func start() async throws -> CaddyTestServer {
        guard isAvailable else { throw TestSupportError(unavailableReason) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-caddy-\(UUID().uuidString.prefix(8))")
        var lastLog = ""
        // A port can be taken between picking and Caddy binding it: try a few times.
        for _ in 0..<3 {
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("config"), withIntermediateDirectories: true)
            let adminPort = try LoopbackPorts.freePort()
            let httpPort = try LoopbackPorts.freePort(excluding: [adminPort])
            let httpsPort = try LoopbackPorts.freePort(excluding: [adminPort, httpPort])
            let initial = #"{"admin": {"listen": "127.0.0.1:\#(adminPort)"}}"#
            try initial.write(to: directory.appendingPathComponent("initial.json"), atomically: true, encoding: .utf8)

            let process = Process()
            let stdin = Pipe()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            // sh starts a watcher that reads our stdin (fd 3) and kills Caddy at EOF — when stop() closes the
            // pipe or this process dies — then execs Caddy, so `process` is Caddy itself. (No `wait` in sh:
            // the child inherits this process's blocked SIGCHLD, and dash's `wait` would then never return.)
            process.arguments = ["-c", """
                exec 3<&0
                ( cat <&3 >/dev/null; kill "$$" 2>/dev/null ) &
                exec 3<&-
                exec "$0" run --config "$1/initial.json" </dev/null
                """, executable, directory.path]
            var environment = ProcessInfo.processInfo.environment
            environment["XDG_DATA_HOME"] = directory.appendingPathComponent("data").path
            environment["XDG_CONFIG_HOME"] = directory.appendingPathComponent("config").path
            environment["HOME"] = directory.path
            process.environment = environment
            process.currentDirectoryURL = directory
            process.standardInput = stdin
            let logFile = directory.appendingPathComponent("caddy.log")
            guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else {
                throw TestSupportError("cannot create \(logFile.path)")
            }
            let logHandle = try FileHandle(forWritingTo: logFile)
            process.standardOutput = logHandle
            process.standardError = logHandle
            try process.run()
            try? logHandle.close()
            let server = CaddyTestServer(adminPort: adminPort, httpPort: httpPort, httpsPort: httpsPort,
                                         directory: directory, process: process, stdin: stdin)
            if try await server.waitUntilReady() { return server }
            lastLog = server.log
            server.stop(removeFiles: false)
        }
        try? FileManager.default.removeItem(at: directory)
        throw TestSupportError("Caddy did not start (its admin API never answered); log:\n\(lastLog.suffix(3000))")
    }

    /// True once `GET /config/` answers 200; false if Caddy exited or 30 s passed.
    private func waitUntilReady() async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let answer = LoopbackPorts.httpGet(port: adminPort, path: "/config/"), answer.status == 200 { return true }
            guard process.isRunning else { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// The settings a test passes to the config builder: this Caddy's admin address, its free HTTP and
    /// HTTPS ports, listeners on 127.0.0.1 only, no ACME email.
    public var settings: CaddySettings {
        CaddySettings(adminListen: adminListen, httpPort: httpPort, httpsPort: httpsPort, acmeEmail: nil, listenHost: "127.0.0.1")
    }

    /// Caddy's local root CA (PEM) that signs `tls internal` certificates. It exists only after a config
    /// with an internal-TLS site was loaded, so this waits for it (up to 30 s).
    public func rootCertificatePEM() async throws -> String {
        let file = dataDirectory.appendingPathComponent("caddy/pki/authorities/local/root.crt")
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: file, encoding: .utf8), text.contains("-----END CERTIFICATE-----") { return text }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSupportError("Caddy wrote no local root CA at \(file.path) within 30 s (was a config with a tls internal site loaded?); log:\n\(log.suffix(3000))")
    }

    /// Ends Caddy and removes its files; safe to call twice.
    public func stop() { stop(removeFiles: true) }

    private func stop(removeFiles: Bool) {
        guard !stopped else { return }
        stopped = true
        try? stdin.fileHandleForWriting.close()  // ends the watcher
        if process.isRunning { process.terminate() }  // SIGTERM: Caddy shuts down gracefully
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        if removeFiles { try? FileManager.default.removeItem(at: directory) }
    }

    deinit { stop() }

    /// What Caddy logged so far (for failure messages).
    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("caddy.log"), encoding: .utf8)) ?? ""
    }
}

