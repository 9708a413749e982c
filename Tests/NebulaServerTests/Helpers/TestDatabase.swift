import Foundation
import Logging
@testable import NebulaServer
import FluentPostgresDriver
import PostgresNIO
import Testing

/// The databases every database suite runs against. PostgreSQL is the throw-away cluster that
/// `make test` starts (`NEBULA_TEST_POSTGRES_URL`); under CI its absence is a failure, not a skip.
enum TestDatabase: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var all: [TestDatabase] {
        if postgresURL != nil || ProcessInfo.processInfo.environment["CI"] != nil { return [.sqlite, .postgres] }
        return [.sqlite]
    }

    static let onlyPostgres: [TestDatabase] = [.postgres]

    var testDescription: String { rawValue }

    static var postgresURL: String? { ProcessInfo.processInfo.environment["NEBULA_TEST_POSTGRES_URL"] }

    /// A fresh, empty database of this kind for one test; `cleanup` drops it.
    func provision(in directory: URL) async throws -> (Config.Database, cleanup: @Sendable () async -> Void) {
        switch self {
        case .sqlite:
            return (.sqlite(path: directory.appendingPathComponent("nebula.sqlite").path), {})
        case .postgres:
            guard let base = Self.postgresURL, var components = URLComponents(string: base) else {
                Issue.record("NEBULA_TEST_POSTGRES_URL is not set: run the suite with `make test`, which starts PostgreSQL")
                throw TestSetupError.noPostgres
            }
            let name = "nebula_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
            try await Self.admin(base) { try await $0.query("CREATE DATABASE \(unescaped: name)", logger: Self.logger) }
            components.path = "/" + name
            let url = components.string ?? base
            return (.postgres(url: url), {
                try? await Self.admin(base) { try await $0.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: Self.logger) }
            })
        }
    }

    static let logger = Logger(label: "test.postgres")

    private static func admin(_ url: String, _ body: (PostgresConnection) async throws -> Void) async throws {
        let configuration = try SQLPostgresConfiguration(url: url).coreConfiguration
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

enum TestSetupError: Error {
    case noPostgres
    case noPort
}
