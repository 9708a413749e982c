import Fluent
import Foundation

/// One reverse-proxy route: a host (and optional path prefix) served by Caddy and sent to an
/// upstream. `revision` starts at 1 and grows with every change, so an edit made from a stale
/// copy is refused instead of silently overwriting someone else's.
final class ProxyRouteRecord: Model, @unchecked Sendable {
    // @unchecked: Fluent models are reference types with property wrappers; like every Fluent
    // model here, an instance is created, filled and saved within one task and never shared.
    static let schema = "proxy_routes"

    @ID(key: .id) var id: UUID?
    /// Lower-case host name (`photos.lab.example`, `*.lab.example`).
    @Field(key: "host") var host: String
    /// `/api` or empty for the whole host (empty rather than NULL so the unique index holds).
    @Field(key: "path_prefix") var pathPrefix: String
    /// JSON array of ``ProxyUpstream``.
    @Field(key: "upstream") var upstream: String
    /// `auto`, `internal` or `off` (``ProxyTLSMode``).
    @Field(key: "tls") var tls: String
    @Field(key: "websocket") var websocket: Bool
    @OptionalField(key: "basic_auth_user") var basicAuthUser: String?
    /// bcrypt of the basic-auth password; the password itself is never stored.
    @OptionalField(key: "basic_auth_hash") var basicAuthHash: String?
    /// JSON ``ProxyHeaders``.
    @Field(key: "headers") var headers: String
    @Field(key: "redirect_to_https") var redirectToHTTPS: Bool
    @Field(key: "upstream_tls") var upstreamTLS: Bool
    @Field(key: "enabled") var enabled: Bool
    @Field(key: "revision") var revision: Int
    /// JSON array of ``UpstreamProbeResult`` from the last "test upstream", if any.
    @OptionalField(key: "upstream_status") var upstreamStatus: String?
    @OptionalField(key: "upstream_checked_at") var upstreamCheckedAt: Date?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// One configuration Nebula sent to Caddy (or tried to): the exact JSON, its SHA-256, the routes
/// it was rendered from, and what became of it. At most one version is `applied` (the live one).
final class ProxyVersionRecord: Model, @unchecked Sendable {
    // @unchecked: see ProxyRouteRecord.
    static let schema = "proxy_versions"

    @ID(key: .id) var id: UUID?
    /// 1, 2, 3 … unique and increasing.
    @Field(key: "number") var number: Int
    @Field(key: "config") var config: String
    @Field(key: "sha256") var sha256: String
    /// JSON array of ``ProxyRouteSnapshot``: every route (enabled or not) as it was.
    @Field(key: "routes") var routes: String
    /// ``ProxyVersionStatus``.
    @Field(key: "status") var status: String
    @OptionalField(key: "error") var error: String?
    @OptionalField(key: "rollback_of") var rollbackOf: Int?
    @Field(key: "created_by") var createdBy: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}
}

/// How to reach Caddy and which ports it serves; one row with the id ``ProxySettingsRecord/singletonID``.
final class ProxySettingsRecord: Model, @unchecked Sendable {
    // @unchecked: see ProxyRouteRecord.
    static let schema = "proxy_settings"
    static let singletonID = "caddy"

    @ID(custom: "key", generatedBy: .user) var id: String?
    @OptionalField(key: "admin_url") var adminURL: String?
    @OptionalField(key: "http_port") var httpPort: Int?
    @OptionalField(key: "https_port") var httpsPort: Int?
    @OptionalField(key: "acme_email") var acmeEmail: String?
    @OptionalField(key: "acme_ca") var acmeCA: String?
    @OptionalField(key: "listen_host") var listenHost: String?
    /// Days before expiry a certificate counts as expiring (default 14).
    @OptionalField(key: "warn_days") var warnDays: Int?
    @Timestamp(key: "updated_at", on: .update) var updatedAt: Date?

    init() {}
}

/// The last certificate seen for a proxied host or a DNS domain.
final class ProxyCertificateRecord: Model, @unchecked Sendable {
    // @unchecked: see ProxyRouteRecord.
    static let schema = "proxy_certificates"

    @ID(key: .id) var id: UUID?
    @Field(key: "host") var host: String
    /// `route` or `domain`.
    @Field(key: "source") var source: String
    @OptionalField(key: "not_after") var notAfter: Date?
    @OptionalField(key: "issuer") var issuer: String?
    @OptionalField(key: "days_left") var daysLeft: Int?
    @Field(key: "checked_at") var checkedAt: Date
    @OptionalField(key: "error") var error: String?
    /// The day (`yyyy-MM-dd`, UTC) an expiry event was last published, to publish once a day.
    @OptionalField(key: "alerted_on") var alertedOn: String?

    init() {}
}
