import ArgumentParser
import Foundation
import NebulaAgent
import NebulaCore
import NebulaServer

/// `nebula`: the control plane, its administration commands, and (later) the node agent.
@main
struct Nebula: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nebula",
        abstract: "Nebula Command — a self-hosted control plane for your homelab.",
        discussion: """
        Settings come from environment variables (NEBULA_*, DATABASE_URL) and an optional .env file \
        in the working directory; see the README for the full table. Without DATABASE_URL everything \
        is stored in SQLite under NEBULA_DATA_DIR (default ./nebula-data).
        """,
        version: NebulaVersion.current,
        subcommands: [Serve.self, AgentCommand.self, Migrate.self, UserCommand.self, TokenCommand.self, SecretsCommand.self, MarketplaceCommand.self, RunbookCommand.self]
    )
}

/// Options every command that touches the data shares.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Data directory (overrides NEBULA_DATA_DIR).")
    var dataDirectory: String?

    func config(host: String? = nil, port: Int? = nil) throws -> Config {
        try ControlPlane.loadConfig(host: host, port: port, dataDirectory: dataDirectory)
    }
}

extension DataOptions {
    /// Boots the services on this data directory (quietly), runs `body`, and shuts down.
    func withConsole<T: Sendable>(_ body: @Sendable (AdminConsole) async throws -> T) async throws -> T {
        let config = try config()
        ControlPlane.bootstrapLogging(level: "warning")
        return try await ControlPlane.withConsole(config: config, body)
    }
}

/// Runs `body`, printing a failure as one line on standard error with exit code 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        FileHandle.standardError.write(Data("nebula: \(describeForCommandLine(error))\n".utf8))
        throw ExitCode.failure
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the dashboard and API (runs migrations first).")

    @Option(help: "Address to listen on (overrides NEBULA_HOST; default 127.0.0.1).")
    var host: String?
    @Option(help: "Port to listen on (overrides NEBULA_PORT; default 8080).")
    var port: Int?
    @OptionGroup var data: DataOptions

    func run() async throws {
        try await runReportingErrors {
            let config = try data.config(host: host, port: port)
            ControlPlane.bootstrapLogging(level: config.logLevel)
            try await ControlPlane.serve(config: config)
        }
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: join once with a token, then report this machine's metrics.",
        discussion: """
        The agent dials the control plane (no inbound port needed) and reconnects with backoff when the \
        connection drops. Create a join token on the server's page (or POST /api/v1/servers/ID/join-token); \
        the first run trades it for this node's credential, kept with mode 0600 in --credential-file. \
        Reboot and shutdown from the dashboard run `systemctl reboot` / `systemctl poweroff`; set \
        NEBULA_REBOOT_COMMAND / NEBULA_SHUTDOWN_COMMAND to use other commands.
        """)

    @Option(help: "The dashboard's URL, such as http://192.168.1.10:8080.") var server: String
    @Option(help: "A one-time join token (needed only the first time).") var token: String?
    @Option(name: .customLong("credential-file"), help: "Where this node's credential is kept.") var credentialFile = "./nebula-agent/credential.json"
    @Option(help: "Seconds between reports.") var interval = 5

    func run() async throws {
        try await runReportingErrors {
            guard (1...3600).contains(interval) else { throw ValidationError("--interval is 1 to 3600 seconds.") }
            ControlPlane.bootstrapLogging(level: "info")
            let options = AgentOptions(serverURL: server, joinToken: token, credentialFile: credentialFile, interval: .seconds(interval))
            let actions = NodeActions(power: PowerCommands.from(environment: ProcessInfo.processInfo.environment))
            try await NodeAgent(options: options, actions: actions).run()
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations and exit.")
    @OptionGroup var data: DataOptions

    func run() async throws {
        try await runReportingErrors {
            try await data.withConsole { _ in }
            print("Database is up to date.")
        }
    }
}

/// Reads a password: from standard input when it is not a terminal (one line, then the
/// confirmation on the next), otherwise by prompting twice without echo.
func readNewPassword() throws -> String {
    func readLineFromInput(prompt: String) -> String? {
        if isatty(STDIN_FILENO) != 0 {
            return getpass(prompt).map { String(cString: $0) }
        }
        return readLine(strippingNewline: true)
    }
    guard let first = readLineFromInput(prompt: "Password: "), let second = readLineFromInput(prompt: "Repeat password: ") else {
        throw ValidationError("Give the password and its confirmation (two lines on standard input).")
    }
    guard first == second else { throw ValidationError("The two passwords differ.") }
    return first
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage dashboard users.",
        subcommands: [Create.self, List.self, ResetPassword.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user. The password is read twice from standard input (or prompted for).")
        @Option(help: "The new user's name (2–40 letters, digits, '.', '_' or '-').") var username: String
        @Option(help: "admin, operator or viewer.") var role: Role = .viewer
        @OptionGroup var data: DataOptions

        func run() async throws {
            try await runReportingErrors {
                let password = try readNewPassword()
                let name = try await data.withConsole { console in
                    try await console.createUser(username: username, password: password, role: role)
                }
                print("Created \(role.rawValue) '\(name)'.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var data: DataOptions

        func run() async throws {
            try await runReportingErrors {
                let users = try await data.withConsole { try await $0.listUsers() }
                if users.isEmpty { print("No users yet. Open the dashboard's /setup page or run: nebula user create --username NAME --role admin") }
                for user in users {
                    print("\(user.username.padding(toLength: 24, withPad: " ", startingAt: 0)) \(user.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(user.disabled ? "disabled" : "active")")
                }
            }
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Set a user's password (read twice from standard input or prompted) and sign them out everywhere.")
        @Option(help: "Whose password to set.") var username: String
        @OptionGroup var data: DataOptions

        func run() async throws {
            try await runReportingErrors {
                let password = try readNewPassword()
                try await data.withConsole { try await $0.resetPassword(username: username, password: password) }
                print("Password for '\(username)' changed.")
            }
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage API tokens.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API token for a user. The token is printed on the last line, once.")
        @Option(help: "The user the token acts as.") var username: String
        @Option(help: "A name to recognise the token by.") var name: String
        @Option(help: "admin, operator or viewer; at most the user's role (default: the user's role).") var role: Role?
        @Option(name: .customLong("expires-in-days"), help: "Days until the token expires (default: never).") var expiresInDays: Int?
        @OptionGroup var data: DataOptions

        func run() async throws {
            try await runReportingErrors {
                let created = try await data.withConsole { console in
                    try await console.createToken(username: username, name: name, role: role, expiresInDays: expiresInDays)
                }
                print("Token '\(name)' for \(username) with role \(created.role.rawValue). Store it now; it is not shown again:")
                print(created.token)
            }
        }
    }
}

struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "secrets", abstract: "Manage the secrets vault.", subcommands: [RotateKey.self])

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-encrypt every secret under a new master key, in one transaction.",
            discussion: """
            With a key file (the default) the new key replaces it when the transaction commits; an \
            interrupted rotation is finished or undone at the next start. With NEBULA_MASTER_KEY the new \
            key is printed first: put it in NEBULA_MASTER_KEY before the next start. Stop other \
            `nebula serve` processes first.
            """)
        @OptionGroup var data: DataOptions

        func run() async throws {
            try await runReportingErrors {
                let count = try await data.withConsole { console in
                    try await console.rotateMasterKey { newKey in
                        print("New master key (set NEBULA_MASTER_KEY to this before the next start):")
                        print(newKey)
                    }
                }
                print("Re-encrypted \(count) secret\(count == 1 ? "" : "s") under the new key.")
            }
        }
    }
}

extension Role: ExpressibleByArgument {}

struct MarketplaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "marketplace", abstract: "Work with marketplace manifests.", subcommands: [Validate.self])

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every *.yaml / *.yml manifest in a folder (or one file).",
            discussion: "Prints each problem as `file: path: message`; exits 0 only when every manifest is valid. Needs no data directory or database.")

        @Argument(help: "A catalog folder or one manifest file.") var path: String

        func run() async throws {
            let reports: [ManifestFileReport]
            do {
                reports = try CatalogLoader.check(path: path)
            } catch {
                FileHandle.standardError.write(Data("nebula: \(path): \(error)\n".utf8))
                throw ExitCode.failure
            }
            guard !reports.isEmpty else {
                FileHandle.standardError.write(Data("nebula: no *.yaml or *.yml manifests in \(path)\n".utf8))
                throw ExitCode.failure
            }
            var names: [String: String] = [:]
            var invalid = 0
            for report in reports {
                var problems = report.problems
                if let name = report.packageName {
                    if let first = names[name] {
                        problems.append(ManifestProblem(path: "name", message: "\(name) is already defined by \(first)"))
                    } else {
                        names[name] = report.file
                    }
                }
                if !problems.isEmpty { invalid += 1 }
                for problem in problems {
                    print("\(report.file): \(problem.path.isEmpty ? "" : problem.path + ": ")\(problem.message)")
                }
            }
            let valid = reports.count - invalid
            print("\(valid) package\(valid == 1 ? "" : "s") valid" + (invalid > 0 ? ", \(invalid) invalid" : ""))
            if invalid > 0 { throw ExitCode.failure }
        }
    }
}

struct RunbookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runbook", abstract: "Check runbook and workflow files, and import them.", subcommands: [Validate.self, Import.self])

    /// The YAML files named, a folder standing for its *.yaml / *.yml files, sorted.
    static func files(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw ValidationError("\(path): no such file or folder") }
            if isFolder.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                files += names.map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        guard !files.isEmpty else { throw ValidationError("no *.yaml or *.yml files in \(paths.joined(separator: ", "))") }
        return files
    }

    /// Reads and checks every file; prints each problem as `file: path (line, column): message`.
    /// Answers the valid documents' YAML, or nil when any file is invalid.
    static func check(_ files: [String]) -> [(file: String, yaml: String)]? {
        var valid: [(file: String, yaml: String)] = []
        var invalid = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("\(file): cannot be read")
                invalid += 1
                continue
            }
            let yaml = String(decoding: data, as: UTF8.self)
            switch validateRunbook(yaml: yaml) {
            case .success:
                valid.append((file, yaml))
            case .failure(let problems):
                invalid += 1
                for line in problems.lines { print("\(file): \(line)") }
            }
        }
        print("\(valid.count) valid" + (invalid > 0 ? ", \(invalid) invalid" : ""))
        return invalid == 0 ? valid : nil
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check runbook and workflow files (or folders of them) without storing anything.",
            discussion: "Prints each problem with its location; exits 0 only when every file is valid. Needs no data directory or database.")
        @Argument(help: "Files or folders.") var paths: [String]

        func run() async throws {
            guard RunbookCommand.check(try RunbookCommand.files(paths)) != nil else { throw ExitCode.failure }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store runbooks and workflows from files: new ones are created, existing names get a new version.",
            discussion: "Every file is checked first; when one is invalid nothing is imported.")
        @Argument(help: "Files or folders.") var paths: [String]
        @OptionGroup var data: DataOptions

        func run() async throws {
            guard let documents = RunbookCommand.check(try RunbookCommand.files(paths)) else { throw ExitCode.failure }
            try await runReportingErrors {
                let outcomes = try await data.withConsole { console in
                    var outcomes: [String] = []
                    for document in documents {
                        let stored = try await console.importRunbook(yaml: document.yaml)
                        outcomes.append("\(document.file): \(stored.created ? "created" : "updated") \(stored.name)")
                    }
                    return outcomes
                }
                for line in outcomes { print(line) }
            }
        }
    }
}
