import Foundation

/// A command a runbook may run on a node: one of a short, fixed list of programs and argument
/// shapes, each argument checked against a pattern. It is always run as an argument vector
/// (`/usr/bin/env -- argv…`), never through a shell, so no argument is ever interpreted; over SSH
/// each word is single-quoted. The control plane checks a command when a runbook is saved and when
/// it runs, and the agent checks it again before running it, so a control plane that was tricked
/// into sending something else still cannot make a node run it.
public struct AllowedCommand: Sendable, Equatable, CustomStringConvertible {
    /// The validated argument vector, program first.
    public let argv: [String]
    /// Whether it changes the machine (restart a unit, delete files), so a non-root SSH user needs `sudo -n`.
    public let changesSystem: Bool

    public var description: String { argv.joined(separator: " ") }

    /// Why a command is refused, in words that say what is allowed instead.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// The shapes allowed, as people read them (shown in error messages and the docs).
    public static let allowedShapes: [String] = [
        "systemctl restart|reload|start|stop|status|is-active <unit>",
        "journalctl -u <unit> -n <1-10000> [-p emerg|alert|crit|err|warning|notice|info|debug]",
        "df -h [<absolute path>]",
        "du -sh <absolute path>",
        "find </tmp, /var/tmp, or a dir below them or /var/cache> -type f -mtime +<days> -delete",
        "logrotate -f /etc/logrotate.conf",
        "caddy reload --config <absolute path>",
        "nginx -t | nginx -s reload",
        "uptime | free -m",
    ]

    /// Splits a command line on whitespace (no quoting: no allowed argument contains a space) and checks it.
    public init(line: String) throws(Refusal) {
        try self.init(argv: line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
    }

    /// Checks `argv` against the allow-list.
    public init(argv: [String]) throws(Refusal) {
        guard let program = argv.first else { throw Refusal(description: "the command is empty; allowed: \(Self.allowedShapes.joined(separator: "; "))") }
        if let bad = argv.first(where: { $0.isEmpty || $0.count > 512 || $0.contains(where: { $0.isNewline || $0 == "\0" || !$0.isASCII }) }) {
            throw Refusal(description: "the argument '\(bad.prefix(40))' is empty, too long, or holds a control or non-ASCII character")
        }
        let args = Array(argv.dropFirst())
        func refuse(_ why: String) -> Refusal {
            Refusal(description: "`\(argv.joined(separator: " ").prefix(200))` is not allowed: \(why)")
        }
        var changes = false
        switch program {
        case "systemctl":
            guard args.count == 2, ["restart", "reload", "start", "stop", "status", "is-active"].contains(args[0]) else {
                throw refuse("systemctl takes one of restart, reload, start, stop, status, is-active and one unit")
            }
            guard Self.isUnit(args[1]) else { throw refuse("'\(args[1])' is not a unit name (letters, digits, @ . _ : -)") }
            changes = !["status", "is-active"].contains(args[0])
        case "journalctl":
            guard args.count == 4 || args.count == 6, args[0] == "-u", Self.isUnit(args[1]), args[2] == "-n",
                  let lines = Int(args[3]), (1...10000).contains(lines) else {
                throw refuse("journalctl takes -u <unit> -n <1-10000> [-p <priority>]")
            }
            if args.count == 6 {
                guard args[4] == "-p", ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"].contains(args[5]) else {
                    throw refuse("the priority is -p emerg|alert|crit|err|warning|notice|info|debug")
                }
            }
        case "df":
            guard args.first == "-h", args.count <= 2, args.count == 1 || Self.isAbsolutePath(args[1]) else {
                throw refuse("df takes -h and at most one absolute path")
            }
        case "du":
            guard args.count == 2, args[0] == "-sh", Self.isAbsolutePath(args[1]) else { throw refuse("du takes -sh and one absolute path") }
        case "find":
            guard args.count == 6, args[1] == "-type", args[2] == "f", args[3] == "-mtime", args[5] == "-delete",
                  args[4].hasPrefix("+"), let days = Int(args[4].dropFirst()), (0...3650).contains(days) else {
                throw refuse("find takes <dir> -type f -mtime +<days> -delete")
            }
            guard Self.isAbsolutePath(args[0]), Self.isTemporaryTree(args[0]) else {
                throw refuse("find may only delete below /tmp, /var/tmp or /var/cache (got '\(args[0])')")
            }
            changes = true
        case "logrotate":
            guard args == ["-f", "/etc/logrotate.conf"] else { throw refuse("logrotate runs only as `logrotate -f /etc/logrotate.conf`") }
            changes = true
        case "caddy":
            guard args.count == 3, args[0] == "reload", args[1] == "--config", Self.isAbsolutePath(args[2]) else {
                throw refuse("caddy runs only as `caddy reload --config <absolute path>`")
            }
            changes = true
        case "nginx":
            guard args == ["-t"] || args == ["-s", "reload"] else { throw refuse("nginx runs only as `nginx -t` or `nginx -s reload`") }
            changes = args != ["-t"]
        case "uptime":
            guard args.isEmpty else { throw refuse("uptime takes no arguments") }
        case "free":
            guard args == ["-m"] else { throw refuse("free runs only as `free -m`") }
        default:
            throw refuse("'\(program.prefix(40))' is not on the allow-list; allowed: \(Self.allowedShapes.joined(separator: "; "))")
        }
        self.argv = argv
        changesSystem = changes
    }

    /// A systemd unit name; never an option (no leading `-`).
    static func isUnit(_ text: String) -> Bool {
        guard let first = text.first, first != "-", (1...255).contains(text.count) else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "@._:-\\".contains($0)) }
    }

    /// An absolute path without `..` segments, in plain characters.
    static func isAbsolutePath(_ text: String) -> Bool {
        guard text.hasPrefix("/"), !text.split(separator: "/").contains(".."), text.count <= 4096 else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._+@-".contains($0)) }
    }

    /// `/tmp` or `/var/tmp` themselves, or strictly below them or `/var/cache` (never `/var/cache`
    /// as a whole, never `/`). `find … -type f` deletes files only, never the directory.
    static func isTemporaryTree(_ path: String) -> Bool {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        if trimmed == "/tmp" || trimmed == "/var/tmp" { return true }
        return ["/tmp/", "/var/tmp/", "/var/cache/"].contains { trimmed.hasPrefix($0) && trimmed.count > $0.count }
    }
}

/// `exec` on the agent wire: an allow-listed command and how long it may take.
public struct ExecCall: Codable, Sendable, Equatable {
    public var argv: [String]
    public var timeoutSeconds: Int

    public init(argv: [String], timeoutSeconds: Int) {
        self.argv = argv
        self.timeoutSeconds = timeoutSeconds
    }
}

/// What an allow-listed command did: its exit status and merged output (at most 64 KiB).
public struct ExecResult: Codable, Sendable, Equatable {
    public var status: Int32
    public var output: String

    public init(status: Int32, output: String) {
        self.status = status
        self.output = output
    }
}

extension AllowedCommand {
    /// Runs the command on this machine without a shell, at most `timeout` long.
    public func run(timeout: Duration) async throws -> ExecResult {
        let result = try await CommandRunner.run(argv, timeout: timeout)
        return ExecResult(status: result.status, output: result.output)
    }
}
