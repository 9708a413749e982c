import Foundation
import NebulaCore
@testable import NebulaServer
import Testing

@Suite struct SecretsTests {
    @Test(arguments: TestDatabase.all)
    func revealIsAdminOnlyAuditedAndValuesNeverLeak(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let value = "hunter2-\(UUID().uuidString)"
            let operatorToken = try await app.token(role: .operator)
            let adminToken = try await app.token(role: .admin)
            let created = try await app.request(.POST, "/api/v1/secrets", token: operatorToken, json: #"{"name":"db.password","value":"\#(value)","description":"main db"}"#)
            #expect(created.status == .created)
            // act
            let list = try await app.request(.GET, "/api/v1/secrets", token: operatorToken)
            let denied = try await app.request(.POST, "/api/v1/secrets/db.password/reveal", token: operatorToken)
            let revealed = try await app.request(.POST, "/api/v1/secrets/db.password/reveal", token: adminToken)
            // verify
            #expect(list.status == .ok && list.body.contains("db.password") && !list.body.contains(value))
            #expect(denied.status == .forbidden)
            #expect(try revealed.decode(RevealedSecret.self).value == value)
            #expect(revealed.headers.first(name: "Cache-Control") == "no-store")
            let reveals = try await app.auditEntries(action: "secret.reveal")
            #expect(reveals.map(\.outcome).sorted { $0.rawValue < $1.rawValue } == [.denied, .success])
            let stored = try #require(try await StoredSecret.query(on: app.services.secrets.db).first())
            #expect(!stored.sealed.contains(value))
            let events = try await app.request(.GET, "/api/v1/events?limit=500", token: adminToken)
            let audit = try await app.request(.GET, "/api/v1/audit?limit=500", token: adminToken)
            for text in [events.body, audit.body, LogCapture.allText] {
                #expect(!text.contains(value))
            }
        }
    }

    @Test(arguments: TestDatabase.all)
    func replaceAndDeleteAreAudited(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .admin)
            _ = try await app.request(.POST, "/api/v1/secrets", token: token, json: #"{"name":"api_key","value":"first-value"}"#)
            // act
            let duplicate = try await app.request(.POST, "/api/v1/secrets", token: token, json: #"{"name":"api_key","value":"other"}"#)
            let replaced = try await app.request(.PUT, "/api/v1/secrets/api_key", token: token, json: #"{"value":"second-value"}"#)
            let value = try await app.services.secrets.value(of: "api_key")
            let deleted = try await app.request(.DELETE, "/api/v1/secrets/api_key", token: token)
            let gone = try await app.request(.POST, "/api/v1/secrets/api_key/reveal", token: token)
            // verify
            #expect(duplicate.status == .conflict && duplicate.errorCode == "secret_exists")
            #expect(replaced.status == .ok)
            #expect(value == "second-value")
            #expect(deleted.status == .noContent)
            #expect(gone.status == .notFound)
            #expect(try await app.auditEntries(action: "secret.*").map(\.action).sorted() == ["secret.create", "secret.create", "secret.delete", "secret.update"])
        }
    }

    @Test(arguments: TestDatabase.all)
    func badNamesAndValuesAreRefused(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            // act
            let badName = try await app.request(.POST, "/api/v1/secrets", token: token, json: #"{"name":"../etc/passwd","value":"x"}"#)
            let empty = try await app.request(.POST, "/api/v1/secrets", token: token, json: #"{"name":"ok","value":""}"#)
            let huge = try await app.request(.POST, "/api/v1/secrets", token: token, json: #"{"name":"ok","value":"\#(String(repeating: "a", count: 70_000))"}"#)
            // verify
            #expect(badName.status == .unprocessableEntity && badName.errorCode == "invalid_secret_name")
            #expect(empty.status == .unprocessableEntity)
            #expect(huge.status == .unprocessableEntity)
            #expect(try await app.services.secrets.list(by: .system()).total == 0)
        }
    }
}

@Suite struct MasterKeyTests {
    @Test(arguments: TestDatabase.all)
    func keyFileIsPrivateAndAWrongKeyRefusesToStart(_ database: TestDatabase) async throws {
        var config: Config?
        try await withApp(database) { app in
            // setup
            _ = try await app.services.secrets.store(name: "k", value: "v-123", description: nil, replace: false, by: .system())
            config = app.config
            let path = app.directory.appendingPathComponent("master.key").path
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            await app.stop()
            // act
            var wrong = app.config
            wrong.masterKey = .environment(Vault.generateKeyData())
            let error = await #expect(throws: StartupError.self) { _ = try await TestApp.start(config: wrong, directory: app.directory) }
            // verify
            #expect(error?.description.contains("does not match the key this database was encrypted with") == true)
            try Data("not a key".utf8).write(to: URL(fileURLWithPath: path))
            let corrupt = await #expect(throws: StartupError.self) { _ = try await TestApp.start(config: app.config, directory: app.directory) }
            #expect(corrupt?.description.contains("unusable") == true)
            try FileManager.default.removeItem(atPath: path)
            let missing = await #expect(throws: StartupError.self) { _ = try await TestApp.start(config: app.config, directory: app.directory) }
            #expect(missing?.description.contains("missing") == true)
        }
        #expect(config != nil)
    }

    @Test(arguments: TestDatabase.all)
    func rotationReencryptsEverythingAndSurvivesInterruption(_ database: TestDatabase) async throws {
        try await withApp(database) { app in
            // setup
            let services = try app.services
            for index in 0..<5 {
                _ = try await services.secrets.store(name: "s\(index)", value: "value-\(index)", description: nil, replace: false, by: .system())
            }
            let keyPath = app.directory.appendingPathComponent("master.key").path
            let store = MasterKeyStore(source: app.config.masterKey)
            let originalKey = try MasterKeyStore.readKeyFile(keyPath)
            // act 1: a failure half-way through rolls everything back
            await #expect(throws: VaultError.self) {
                try await store.rotate(on: services.secrets.db, from: services.vault, to: Vault.generateKeyData(), interruption: .failAfter(secrets: 3))
            }
            // verify 1
            #expect(try MasterKeyStore.readKeyFile(keyPath) == originalKey)
            #expect(!FileManager.default.fileExists(atPath: keyPath + ".next"))
            for index in 0..<5 { #expect(try await services.secrets.value(of: "s\(index)") == "value-\(index)") }
            // act 2: a crash after the commit but before the key file is replaced
            let newKey = Vault.generateKeyData()
            try await store.rotate(on: services.secrets.db, from: services.vault, to: newKey, interruption: .stopBeforeKeyFileSwap)
            await app.stop()
            let restarted = try await TestApp.start(config: app.config, directory: app.directory)
            // verify 2: the next start finishes the rotation
            #expect(try MasterKeyStore.readKeyFile(keyPath) == newKey)
            for index in 0..<5 { #expect(try await restarted.services.secrets.value(of: "s\(index)") == "value-\(index)") }
            // act 3: a clean rotation
            let count = try await store.rotate(on: restarted.services.secrets.db, from: restarted.services.vault, to: Vault.generateKeyData())
            await restarted.stop()
            let again = try await TestApp.start(config: app.config, directory: app.directory)
            // verify 3
            #expect(count == 5)
            #expect(try MasterKeyStore.readKeyFile(keyPath) != newKey)
            for index in 0..<5 { #expect(try await again.services.secrets.value(of: "s\(index)") == "value-\(index)") }
            await again.stop()
        }
    }
}
