import Foundation

/// One message as the loopback SMTP server received and parsed it (see scripts/test-peers/smtp_server.py).
public struct ReceivedMail: Decodable, Sendable {
    /// Which listener took it: `starttls`, `login`, `tls` or `plain`.
    public var listener: String
    public var mail_from: String
    public var rcpt_tos: [String]
    /// The DATA bytes, base64, after the server removed dot-stuffing.
    public var raw: String
    /// The subject as Python's email package decodes it (RFC 2047 undone).
    public var subject: String
    /// Every header as sent (folded lines kept), in order.
    public var headers: [[String]]
    /// The body as Python's email package decodes it (quoted-printable and charset undone).
    public var body: String
    public var authenticated: Bool
    /// The AUTH mechanism the client used, when it logged in.
    public var mechanism: String?

    public var rawText: String { String(decoding: Data(base64Encoded: raw) ?? Data(), as: UTF8.self) }

    /// The raw value of the first header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.first?.lowercased() == name.lowercased() }.flatMap { $0.count > 1 ? $0[1] : nil }
    }

    public func headerCount(_ name: String) -> Int {
        headers.filter { $0.first?.lowercased() == name.lowercased() }.count
    }
}

/// A real SMTP server (aiosmtpd, run as a child process) on 127.0.0.1 with a certificate for
/// `localhost` issued by a test CA made with the openssl CLI. Listeners: `starttls` (STARTTLS and
/// AUTH required), `login` (the same without AUTH PLAIN), `tls` (implicit TLS, AUTH required) and
/// `plain` (no TLS, no AUTH). Call ``stop()`` in a `defer`; the server also exits when the test
/// process dies, because it watches its stdin.
public final class SMTPTestServer {
    public let user = "nebula-alerts"
    public let password = "Corr3ct-Horse-SECRET"
    public let ports: [String: Int]
    /// The test CA's certificate (PEM), to trust the server.
    public let caPEM: String
    private let directory: URL
    private let process: Process
    private let stdin: Pipe
    private var stopped = false

    private init(ports: [String: Int], caPEM: String, directory: URL, process: Process, stdin: Pipe) {
        self.ports = ports
        self.caPEM = caPEM
        self.directory = directory
        self.process = process
        self.stdin = stdin
    }

    /// The port of listener `name`.
    public func port(_ name: String) throws -> Int {
        guard let port = ports[name] else { throw TestSupportError("no SMTP listener '\(name)' in \(ports)") }
        return port
    }

    public static func start() async throws -> SMTPTestServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-smtp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let caPEM: String
        do {
            caPEM = try makeCertificates(in: directory)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        let process = Process()
        let stdin = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", scriptPath,
            "--cert", directory.appendingPathComponent("server.pem").path,
            "--key", directory.appendingPathComponent("server.key").path,
            "--user", "nebula-alerts", "--password", "Corr3ct-Horse-SECRET",
            "--ports", directory.appendingPathComponent("ports.json").path,
            "--out", directory.appendingPathComponent("mail.jsonl").path,
        ]
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: touch(directory.appendingPathComponent("stderr.log")))
        try process.run()
        // From here on, any failure must end the child process.
        do {
            let ports = try await waitForPorts(directory: directory, process: process)
            return SMTPTestServer(ports: ports, caPEM: caPEM, directory: directory, process: process, stdin: stdin)
        } catch {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Ends the server process and removes its files; safe to call twice.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        if process.isRunning { process.terminate() }
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }

    /// Every message received so far, in order.
    public func messages() throws -> [ReceivedMail] {
        let file = directory.appendingPathComponent("mail.jsonl")
        guard let data = FileManager.default.contents(atPath: file.path) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(ReceivedMail.self, from: Data($0.utf8))
        }
    }

    /// The messages once there are at least `count` (within a generous deadline).
    public func waitForMessages(_ count: Int = 1) async throws -> [ReceivedMail] {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let received = try messages()
            if received.count >= count { return received }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("the SMTP server received \(try messages().count) messages, expected \(count)")
    }

    /// What the server wrote to stderr (for failure messages).
    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("stderr.log"), encoding: .utf8)) ?? ""
    }

    // MARK: - Setup

    /// scripts/test-peers/smtp_server.py of the package this file belongs to.
    private static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // Support
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .appendingPathComponent("scripts/test-peers/smtp_server.py").path
    }

    private static func waitForPorts(directory: URL, process: Process) async throws -> [String: Int] {
        let file = directory.appendingPathComponent("ports.json")
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: file.path),
               let ports = try? JSONDecoder().decode([String: Int].self, from: data) {
                return ports
            }
            guard process.isRunning else {
                let log = (try? String(contentsOf: directory.appendingPathComponent("stderr.log"), encoding: .utf8)) ?? ""
                throw TestSupportError("the SMTP test server exited (is aiosmtpd installed? `make test-deps`): \(log.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("the SMTP test server did not start within 60 s")
    }

    /// A test CA and a server certificate for DNS:localhost (no IP address) signed by it; returns the CA's PEM.
    private static func makeCertificates(in directory: URL) throws -> String {
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let extensions = """
            subjectAltName=DNS:localhost
            basicConstraints=critical,CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth
            """
        try extensions.write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        let ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try runTool("openssl", ["req", "-x509"] + ecKey + [
            "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=Nebula SMTP Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        try runTool("openssl", ["req"] + ecKey + [
            "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost",
        ])
        try runTool("openssl", [
            "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
            "-CAcreateserial", "-out", path("server.pem"), "-days", "2", "-extfile", path("server.ext"),
        ])
        return try String(contentsOfFile: path("ca.pem"), encoding: .utf8)
    }

    private static func runTool(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        let errors = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSupportError("\(tool) \(arguments.prefix(2).joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }

    private static func touch(_ url: URL) throws -> URL {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw TestSupportError("cannot create \(url.path)")
        }
        return url
    }
}

/// A test's environment is not what it needs (a tool missing, a peer that did not start).
public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
