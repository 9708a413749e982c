import Fluent
import Foundation
import NebulaAgent

/// An app installed from the marketplace on a server: one Compose project on that node.
final class AppInstall: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "app_installs"

    @ID(key: .id) var id: UUID?
    /// The Compose project name, unique in this control plane (`jellyfin`, `jellyfin-2`).
    @Field(key: "name") var name: String
    @Field(key: "package") var package: String
    @Field(key: "title") var title: String
    @Field(key: "version") var version: String
    /// The catalog it came from (`built-in` or a private source's name).
    @Field(key: "source") var source: String
    @Field(key: "server_id") var serverID: UUID
    @Field(key: "status") var status: AppInstallStatus
    /// The variables' values as JSON, secret ones left out (they are in the vault).
    @Field(key: "values") var values: String
    /// Names of the secret variables, whose values are in the vault as `app.<name>.<VARIABLE>`.
    @Field(key: "secret_names") var secretNames: String
    /// Host ports this install publishes (JSON array), checked against new installs.
    @Field(key: "ports") var ports: String
    /// The Compose file of the installed version, as sent to the node.
    @Field(key: "compose") var compose: String
    /// The health checks of the installed version (JSON array of ``AppProbe``) and how long to wait.
    @Field(key: "probes") var probes: String
    @Field(key: "health_timeout_seconds") var healthTimeoutSeconds: Int
    @Field(key: "health_interval_seconds") var healthIntervalSeconds: Int
    /// The post-install commands of the installed version (JSON array of ``ManifestCommand``).
    @Field(key: "hooks") var hooks: String
    /// Leave a failed install running for inspection instead of removing it.
    @Field(key: "keep_on_failure") var keepOnFailure: Bool
    @OptionalField(key: "job_id") var jobID: UUID?
    @OptionalField(key: "last_error") var lastError: String?
    /// The host name the app was published under (a proxy route and, in a managed domain, a DNS record).
    @OptionalField(key: "domain") var domain: String?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// Where an install is in its life.
enum AppInstallStatus: String, Codable, Sendable, CaseIterable {
    /// The install job is running.
    case installing
    /// Healthy after the last install or upgrade.
    case running
    /// The last install failed (rolled back, or kept for inspection).
    case failed
    case upgrading
    case uninstalling
}

struct CreateAppInstalls: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(AppInstall.schema)
            .id()
            .field("name", .string, .required)
            .field("package", .string, .required)
            .field("title", .string, .required)
            .field("version", .string, .required)
            .field("source", .string, .required)
            .field("server_id", .uuid, .required, .references("servers", .id, onDelete: .cascade))
            .field("status", .string, .required)
            .field("values", .string, .required)
            .field("secret_names", .string, .required)
            .field("ports", .string, .required)
            .field("compose", .string, .required)
            .field("probes", .string, .required)
            .field("health_timeout_seconds", .int, .required)
            .field("health_interval_seconds", .int, .required)
            .field("hooks", .string, .required)
            .field("keep_on_failure", .bool, .required)
            .field("job_id", .uuid)
            .field("last_error", .string)
            .field("created_by", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "name")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AppInstall.schema).delete()
    }
}
