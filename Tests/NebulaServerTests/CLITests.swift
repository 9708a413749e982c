import Foundation
import NebulaCore
@testable import NebulaServer
import Testing

@Suite struct CLITests {
    struct Me: Decodable { var username: String; var role: Role }

    @Test(arguments: TestDatabase.all)
    func usersAndTokensMadeOnTheCommandLineWorkAgainstTheServer(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // act
            let created = try await CLI.run(["user", "create", "--username", "Root", "--role", "admin"], stdin: "cli-password-123\ncli-password-123\n", config: app.config)
            let mismatch = try await CLI.run(["user", "create", "--username", "other", "--role", "viewer"], stdin: "cli-password-123\ndifferent-123456\n", config: app.config)
            let short = try await CLI.run(["user", "create", "--username", "other", "--role", "viewer"], stdin: "short\nshort\n", config: app.config)
            let list = try await CLI.run(["user", "list"], config: app.config)
            let token = try await CLI.run(["token", "create", "--username", "root", "--name", "cli", "--role", "operator"], config: app.config)
            let reset = try await CLI.run(["user", "reset-password", "--username", "root"], stdin: "new-password-456\nnew-password-456\n", config: app.config)
            // verify
            #expect(created.status == 0 && created.stdout.contains("Created admin 'root'"), "\(created.stderr)")
            #expect(mismatch.status != 0 && mismatch.stderr.contains("differ"))
            #expect(short.status == 1 && short.stderr == "nebula: A password needs at least 12 characters.\n")
            #expect(list.stdout.contains("root") && list.stdout.contains("admin"))
            try #require(token.status == 0 && token.lastLine.hasPrefix("nbl_"), "nebula token create: \(token.status) \(token.stderr)")
            let me = try await app.request(.GET, "/api/v1/me", token: token.lastLine)
            #expect(try me.decode(Me.self).username == "root")
            #expect(try me.decode(Me.self).role == .operator)
            #expect(reset.status == 0)
            let browser = CookieJar()
            let csrf = try #require(try await app.request(.GET, "/login", cookies: browser).csrfField)
            let login = try await app.request(.POST, "/login", form: [("_csrf", csrf), ("username", "root"), ("password", "new-password-456")], cookies: browser)
            #expect(login.status == .seeOther)
            #expect(!LogCapture.allText.contains("cli-password-123"))
        }
    }

    @Test(arguments: TestDatabase.all)
    func rotateKeyReencryptsSecretsUnderANewKeyFile(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            _ = try await app.services.secrets.store(name: "cli-secret", value: "rotate-me-123", description: nil, replace: false, by: .system())
            let keyPath = app.directory.appendingPathComponent("master.key").path
            let before = try MasterKeyStore.readKeyFile(keyPath)
            await app.stop()
            // act
            let rotated = try await CLI.run(["secrets", "rotate-key"], config: app.config)
            let restarted = try await TestApp.start(config: app.config, directory: app.directory)
            // verify
            #expect(rotated.status == 0 && rotated.stdout.contains("Re-encrypted 1 secret"), "\(rotated.stderr)")
            #expect(try MasterKeyStore.readKeyFile(keyPath) != before)
            #expect(try await restarted.services.secrets.value(of: "cli-secret") == "rotate-me-123")
            #expect(try await restarted.auditEntries(action: "secret.rotate_key").count == 1)
            await restarted.stop()
        }
    }

    @Test(arguments: TestDatabase.all)
    func runbookFilesAreValidatedAndImportedFromTheCommandLine(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup: a folder with a good runbook and a workflow, and a file with a mistake on line 4
            let folder = app.directory.appendingPathComponent("runbooks")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let good = "name: say-hello\nsteps:\n  - { name: Say, action: log, params: { message: hi } }\n"
            try good.write(to: folder.appendingPathComponent("hello.yaml"), atomically: true, encoding: .utf8)
            try "kind: workflow\nname: nightly\nsteps:\n  - { name: A, action: log, params: { message: a } }\n"
                .write(to: folder.appendingPathComponent("nightly.yml"), atomically: true, encoding: .utf8)
            let broken = app.directory.appendingPathComponent("broken.yaml")
            try "name: broken\nsteps:\n  - name: Go\n    action: teleport\n".write(to: broken, atomically: true, encoding: .utf8)
            // act
            let valid = try await CLI.run(["runbook", "validate", folder.path], config: app.config)
            let invalid = try await CLI.run(["runbook", "validate", folder.path, broken.path], config: app.config)
            let refused = try await CLI.run(["runbook", "import", folder.path, broken.path], config: app.config)
            let imported = try await CLI.run(["runbook", "import", folder.path], config: app.config)
            let again = try await CLI.run(["runbook", "import", folder.appendingPathComponent("hello.yaml").path], config: app.config)
            // verify
            #expect(valid.status == 0 && valid.lastLine == "2 valid", "\(valid.stdout)\(valid.stderr)")
            #expect(invalid.status != 0 && invalid.stdout.contains("broken.yaml: steps[0].action") && invalid.stdout.contains("line 4"), "\(invalid.stdout)")
            #expect(refused.status != 0)
            #expect(imported.status == 0 && imported.stdout.contains("created say-hello") && imported.stdout.contains("created nightly"),
                    "\(imported.stdout)\(imported.stderr)")
            #expect(again.status == 0 && again.stdout.contains("updated say-hello"), "\(again.stdout)\(again.stderr)")
            let stored = try await app.services.automation.list(kind: nil, by: .system()).map(\.name).sorted()
            #expect(stored == ["nightly", "say-hello"], "the refused import stored nothing")
            #expect(try await app.auditEntries(action: "runbook.update").count == 1)
        }
    }

    @Test func versionHelpAndBadConfiguration() async throws {
        // act
        let version = try await CLI.run(["--version"], environment: [:])
        let help = try await CLI.run(["user", "create", "--help"], environment: [:])
        let badPort = try await CLI.run(["migrate"], environment: ["NEBULA_PORT": "eighty", "NEBULA_DATA_DIR": FileManager.default.temporaryDirectory.path])
        // verify
        #expect(version.stdout == NebulaVersion.current + "\n")
        #expect(help.stdout.contains("--username") && help.stdout.contains("standard input"))
        #expect(badPort.status == 1)
        #expect(badPort.stderr == "nebula: NEBULA_PORT must be a whole number from 0 to 65535, got \"eighty\"\n")
    }
}
