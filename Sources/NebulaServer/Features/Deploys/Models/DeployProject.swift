import Fluent
import Foundation

/// A project deployed from a git repository onto one server: its image is built there from a
/// Dockerfile and run as the Compose project `deploy-<name>`.
final class DeployProject: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "deploy_projects"

    @ID(key: .id) var id: UUID?
    /// A slug (`blog`, `api-2`), unique in this control plane.
    @Field(key: "name") var name: String
    @Field(key: "server_id") var serverID: UUID
    @Field(key: "repo_url") var repoURL: String
    @Field(key: "branch") var branch: String
    /// The vault secret holding an HTTPS access token, or nil for a public repository.
    @OptionalField(key: "token_secret") var tokenSecret: String?
    /// The Dockerfile, relative to the repository's root.
    @Field(key: "dockerfile") var dockerfile: String
    @Field(key: "container_port") var containerPort: Int
    @Field(key: "host_port") var hostPort: Int
    /// An HTTP path checked on the host port; nil checks that the port accepts TCP connections.
    @OptionalField(key: "health_path") var healthPath: String?
    @Field(key: "health_timeout_seconds") var healthTimeoutSeconds: Int
    /// The environment variables' names (JSON array); their values are in the vault as `deploy.<name>.<VAR>`.
    @Field(key: "env_names") var envNames: String
    /// The vault secret holding the webhook's HMAC key (`deploy.<name>.webhook`).
    @Field(key: "webhook_secret") var webhookSecret: String
    /// The number of the live release.
    @OptionalField(key: "current_release") var currentRelease: Int?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}

    /// The Compose project on the node.
    var nodeProject: String { "deploy-\(name)" }

    var environmentNames: [String] {
        (try? JSONDecoder().decode([String].self, from: Data(envNames.utf8))) ?? []
    }
}

/// One build of a project: its commit, image, job (whose log is the build and run log) and fate.
final class DeployRelease: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "deploy_releases"

    @ID(key: .id) var id: UUID?
    @Field(key: "project_id") var projectID: UUID
    /// 1, 2, 3 … per project.
    @Field(key: "number") var number: Int
    @OptionalField(key: "commit_sha") var commitSHA: String?
    @OptionalField(key: "commit_subject") var commitSubject: String?
    /// `nebula-deploy/<name>:r<number>`.
    @Field(key: "image_tag") var imageTag: String
    @OptionalField(key: "image_id") var imageID: String?
    @Field(key: "status") var status: DeployReleaseStatus
    /// The job that built it, or the last one that rolled back to it.
    @OptionalField(key: "job_id") var jobID: UUID?
    @OptionalField(key: "error") var error: String?
    /// What triggered it: a user's name, or `webhook`.
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @OptionalField(key: "finished_at") var finishedAt: Date?

    init() {}
}

/// Where a release is in its life.
enum DeployReleaseStatus: String, Codable, Sendable, CaseIterable {
    /// The deploy job is checking out, building or starting it.
    case building
    /// The build failed, or it never became healthy (the previous release stayed live).
    case failed
    /// Running now.
    case live
    /// Replaced by a newer release; its image is kept for rollbacks.
    case superseded
    /// Replaced by a rollback to an earlier release.
    case rolledBack = "rolled_back"
}
