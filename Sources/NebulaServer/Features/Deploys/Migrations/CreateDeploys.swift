import Fluent

/// `deploy_projects` and `deploy_releases`.
struct CreateDeploys: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(DeployProject.schema)
            .id()
            .field("name", .string, .required)
            .field("server_id", .uuid, .required, .references("servers", .id, onDelete: .cascade))
            .field("repo_url", .string, .required)
            .field("branch", .string, .required)
            .field("token_secret", .string)
            .field("dockerfile", .string, .required)
            .field("container_port", .int, .required)
            .field("host_port", .int, .required)
            .field("health_path", .string)
            .field("health_timeout_seconds", .int, .required)
            .field("env_names", .string, .required)
            .field("webhook_secret", .string, .required)
            .field("current_release", .int)
            .field("created_by", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "name")
            .create()
        try await database.schema(DeployRelease.schema)
            .id()
            .field("project_id", .uuid, .required, .references(DeployProject.schema, .id, onDelete: .cascade))
            .field("number", .int, .required)
            .field("commit_sha", .string)
            .field("commit_subject", .string)
            .field("image_tag", .string, .required)
            .field("image_id", .string)
            .field("status", .string, .required)
            .field("job_id", .uuid)
            .field("error", .string)
            .field("created_by", .string, .required)
            .field("created_at", .datetime)
            .field("finished_at", .datetime)
            .unique(on: "project_id", "number")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(DeployRelease.schema).delete()
        try await database.schema(DeployProject.schema).delete()
    }
}
