import Foundation
import OpenAPIKit30
import Vapor

/// `/api/v1/marketplace`: browse packages, check a manifest, manage private catalogs.
struct MarketplaceController: RouteCollection {
    struct ValidateRequest: Codable, Sendable {
        /// The manifest's YAML text.
        var manifest: String
    }

    func boot(routes: any RoutesBuilder) throws {
        let marketplace = routes.grouped("marketplace")
        marketplace.endpoint(.GET, "packages", role: .viewer, summary: "Marketplace packages (built-in and private catalogs)", tag: "Marketplace",
                             response: PackageListDoc.doc,
                             query: [QueryDoc(name: "category", description: "Only this category: \(AppCategory.allCases.map(\.rawValue).joined(separator: ", "))"),
                                     QueryDoc(name: "q", description: "Case-insensitive search in name, title and description")],
                             use: list)
        marketplace.endpoint(.GET, "packages", ":name", role: .viewer, summary: "One package with its variables, health checks and compose file",
                             tag: "Marketplace", response: PackageDetailDoc.doc, use: show)
        // Checking a manifest changes nothing, so it records no audit entry.
        marketplace.endpoint(.POST, "validate", role: .viewer,
                             summary: "Check a manifest: 200 with the parsed package, or 422 invalid_manifest with error.problems [{path, message}]",
                             tag: "Marketplace", request: ValidateRequestDoc.doc, response: PackageDetailDoc.doc, use: validate)
        marketplace.endpoint(.GET, "sources", role: .viewer, summary: "Private catalog sources and their status", tag: "Marketplace",
                             response: SourceListDoc.doc, use: sources)
        marketplace.endpoint(.POST, "sources", role: .operator, audit: "marketplace.source.add",
                             summary: "Add a private catalog (a folder on this machine or a git repository) and load it", tag: "Marketplace",
                             request: NewSourceDoc.doc, response: SourceDoc.doc, status: .created, use: addSource)
        marketplace.endpoint(.POST, "sources", ":id", "refresh", role: .operator, audit: "marketplace.source.refresh",
                             summary: "Fetch (git) or re-read (folder) a private catalog now", tag: "Marketplace", response: SourceDoc.doc, use: refresh)
        marketplace.endpoint(.DELETE, "sources", ":id", role: .operator, audit: "marketplace.source.remove",
                             summary: "Remove a private catalog (its git checkout too)", tag: "Marketplace", status: .noContent, use: remove)
    }

    @Sendable func list(req: Request) async throws -> PackageList {
        let category: AppCategory?
        if let raw = req.query[String.self, at: "category"], !raw.isEmpty {
            guard let parsed = AppCategory(rawValue: raw) else {
                throw NebulaError.invalid("Unknown category '\(raw.prefix(40))'; use one of: \(AppCategory.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_category")
            }
            category = parsed
        } else {
            category = nil
        }
        let packages = try await req.nebula.marketplace.packages(category: category, search: req.query[String.self, at: "q"], by: try req.actor)
        return PackageList(items: packages.map(PackageSummary.init))
    }

    @Sendable func show(req: Request) async throws -> PackageDetail {
        let name = req.parameters.get("name") ?? ""
        return PackageDetail(try await req.nebula.marketplace.package(name: name, by: try req.actor))
    }

    @Sendable func validate(req: Request) async throws -> PackageDetail {
        let input = try req.decodeJSON(ValidateRequest.self, allowedKeys: ["manifest"])
        let manifest = try req.nebula.marketplace.validate(yaml: input.manifest)
        return PackageDetail(CatalogPackage(manifest: manifest, source: "validated", sourceID: nil))
    }

    @Sendable func sources(req: Request) async throws -> SourceList {
        SourceList(items: try await req.nebula.marketplace.sources(by: try req.actor))
    }

    @Sendable func addSource(req: Request) async throws -> Response {
        let input = try req.decodeJSON(MarketplaceService.NewSource.self, allowedKeys: ["name", "kind", "location", "branch"])
        return try await req.nebula.marketplace.addSource(input, by: try req.actor).encodeResponse(status: .created, for: req)
    }

    @Sendable func refresh(req: Request) async throws -> CatalogSourceDTO {
        try await req.nebula.marketplace.refreshSource(try req.uuidParameter(), by: try req.actor)
    }

    @Sendable func remove(req: Request) async throws -> HTTPStatus {
        try await req.nebula.marketplace.removeSource(try req.uuidParameter(), by: try req.actor)
        return .noContent
    }
}

// MARK: - Response bodies

/// `{ "items": [...] }` of package summaries.
struct PackageList: Content {
    var items: [PackageSummary]
}

/// A package as the list shows it (no compose file, no variables).
struct PackageSummary: Content {
    var name: String
    var title: String
    var version: String
    var description: String
    var category: AppCategory
    var icon: String
    var website: String?
    var source: String

    init(_ package: CatalogPackage) {
        let manifest = package.manifest
        name = manifest.name
        title = manifest.title
        version = manifest.version
        description = manifest.description
        category = manifest.category
        icon = manifest.icon
        website = manifest.website
        source = package.source
    }
}

/// The whole manifest with `source` and `sourceId` beside its fields. Manifests carry no secret
/// values: passwords have no defaults (the parser refuses them), generated values are made at install.
struct PackageDetail: Content {
    var manifest: AppManifest
    var source: String
    var sourceID: UUID?

    private enum Keys: String, CodingKey { case source, sourceId }

    init(_ package: CatalogPackage) {
        manifest = package.manifest
        source = package.source
        sourceID = package.sourceID
    }

    init(from decoder: any Decoder) throws {
        manifest = try AppManifest(from: decoder)
        let container = try decoder.container(keyedBy: Keys.self)
        source = try container.decode(String.self, forKey: .source)
        sourceID = try container.decodeIfPresent(UUID.self, forKey: .sourceId)
    }

    func encode(to encoder: any Encoder) throws {
        try manifest.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(source, forKey: .source)
        try container.encodeIfPresent(sourceID, forKey: .sourceId)
    }
}

struct SourceList: Content {
    var items: [CatalogSourceDTO]
}

extension CatalogSourceDTO: Content {}

// MARK: - OpenAPI

private let problemSchema = JSONSchema.object(properties: ["path": .string(description: "Where: variables[2].default, compose.services.web.image"), "message": .string])

enum PackageSummaryDoc: Documented {
    static let schemaName = "MarketplacePackageSummary"
    static let schema = JSONSchema.object(properties: [
        "name": .string(description: "The package id (slug)"), "title": .string, "version": .string(description: "The app's version"),
        "description": .string, "category": .string(allowedValues: AppCategory.allCases.map { AnyCodable($0.rawValue) }),
        "icon": .string(description: "An emoji or an https image URL"), "website": .string(required: false, nullable: true),
        "source": .string(description: "built-in, or the private catalog's name"),
    ])
}

enum PackageListDoc: Documented {
    static let schemaName = "MarketplacePackageList"
    static let schema = JSONSchema.object(properties: ["items": .array(items: .reference(.component(named: PackageSummaryDoc.schemaName)))])
    static var related: [SchemaDoc] { [PackageSummaryDoc.doc] }
}

enum PackageDetailDoc: Documented {
    static let schemaName = "MarketplacePackage"
    static let schema = JSONSchema.object(properties: [
        "name": .string, "title": .string, "version": .string, "description": .string,
        "category": .string(allowedValues: AppCategory.allCases.map { AnyCodable($0.rawValue) }),
        "icon": .string, "website": .string(required: false, nullable: true),
        "composeYAML": .string(description: "The Compose file; the installer writes it next to an .env file holding the variable values"),
        "services": .array(items: .string),
        "variables": .array(items: .object(properties: [
            "name": .string, "description": .string,
            "type": .string(allowedValues: ManifestVariable.Kind.allCases.map { AnyCodable($0.rawValue) }),
            "default": .string(required: false, nullable: true), "required": .boolean, "secret": .boolean,
            "generate": .string(required: false, nullable: true, allowedValues: ManifestVariable.Generator.allCases.map { AnyCodable($0.rawValue) }),
            "options": .array(required: false, nullable: true, items: .string),
        ])),
        "healthChecks": .array(items: .object(properties: [
            "type": .string(allowedValues: ["http", "tcp"]), "port": .integer(required: false, nullable: true),
            "portVariable": .string(required: false, nullable: true), "path": .string(required: false, nullable: true),
            "expectStatus": .integer(required: false, nullable: true), "intervalSeconds": .integer, "timeoutSeconds": .integer,
        ])),
        "postInstall": .array(items: .object(properties: ["service": .string, "command": .array(items: .string)])),
        "domain": .object(required: false, nullable: true, properties: ["service": .string, "port": .integer]),
        "source": .string(description: "built-in, the private catalog's name, or 'validated'"),
        "sourceId": .string(format: .other("uuid"), required: false, nullable: true),
    ])
}

enum ValidateRequestDoc: Documented {
    static let schemaName = "ValidateManifest"
    static let schema = JSONSchema.object(properties: ["manifest": .string(description: "The manifest's YAML text")])
    static let example: String? = #"""
    {"manifest":"name: whoami\ntitle: Whoami\nversion: 1.10.3\ndescription: Answers HTTP requests with what it received.\ncategory: dev\nicon: \"🪪\"\nvariables:\n  - name: WEB_PORT\n    description: Host port\n    type: port\n    default: \"8000\"\ncompose:\n  services:\n    whoami:\n      image: traefik/whoami:v1.10.3\n      ports:\n        - \"${WEB_PORT}:80\"\nhealth_checks:\n  - type: http\n    port: ${WEB_PORT}\n"}
    """#
}

enum SourceDoc: Documented {
    static let schemaName = "CatalogSource"
    static let schema = JSONSchema.object(properties: [
        "id": .string(format: .other("uuid")), "name": .string,
        "kind": .string(allowedValues: CatalogSourceKind.allCases.map { AnyCodable($0.rawValue) }),
        "location": .string(description: "Folder path or git URL"), "branch": .string(required: false, nullable: true),
        "lastRefreshedAt": .string(format: .dateTime, required: false, nullable: true),
        "lastError": .string(required: false, nullable: true, description: "Why the last refresh failed, or which manifests were skipped"),
        "packageCount": .integer, "createdAt": .string(format: .dateTime),
        "status": .string(allowedValues: ["ok", "error", "pending"]),
        "failures": .array(items: .object(properties: ["file": .string, "problems": .array(items: problemSchema)])),
    ])
}

enum SourceListDoc: Documented {
    static let schemaName = "CatalogSourceList"
    static let schema = JSONSchema.object(properties: ["items": .array(items: .reference(.component(named: SourceDoc.schemaName)))])
    static var related: [SchemaDoc] { [SourceDoc.doc] }
}

enum NewSourceDoc: Documented {
    static let schemaName = "NewCatalogSource"
    static let schema = JSONSchema.object(properties: [
        "name": .string(description: "2–63 lower-case letters, digits and '-'"),
        "kind": .string(allowedValues: CatalogSourceKind.allCases.map { AnyCodable($0.rawValue) }),
        "location": .string(description: "folder: an absolute path on the control plane's machine; git: an https, ssh, git or file URL (no password in it)"),
        "branch": .string(required: false, description: "git only: the branch or tag (default: the repository's default branch)"),
    ])
    // A folder that does not exist yet is accepted and reported in lastError until it appears.
    static let example: String? = #"{"name":"home-apps","kind":"folder","location":"/srv/nebula-catalog"}"#
}
