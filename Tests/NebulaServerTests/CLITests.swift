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
            #expect(token.status == 0 && token.lastLine.hasPrefix("nbl_"))
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
