import Foundation

/// One marketplace package: an app described by a YAML manifest (see `docs/marketplace.md`).
///
/// Values of this type only come out of ``ManifestParser``, so every field has been checked:
/// the compose file has services with images, every `${VAR}` it uses is declared, defaults fit
/// their types. Nothing here holds a secret: generated values are made at install time.
public struct AppManifest: Codable, Sendable, Equatable {
    /// The package id, a slug (`jellyfin`, `paperless-ngx`).
    public var name: String
    /// The display name.
    public var title: String
    /// The app's own version (`1.23.16`), not a manifest revision.
    public var version: String
    public var description: String
    public var category: AppCategory
    /// An emoji, or an https URL of an image.
    public var icon: String
    /// The project's home page.
    public var website: String?
    /// The Compose file, as YAML text. The installer writes it as `docker-compose.yml` next to an
    /// `.env` file holding the variable values, so `${VAR}` is interpolated by docker compose itself.
    public var composeYAML: String
    /// The compose services, in file order.
    public var services: [String]
    public var variables: [ManifestVariable]
    public var healthChecks: [ManifestHealthCheck]
    /// Commands run in a service's container once the app first came up healthy.
    public var postInstall: [ManifestCommand]
    /// Where a reverse proxy would send a domain's traffic.
    public var domain: ManifestDomain?

    /// The variable called `name`, if declared.
    public func variable(_ name: String) -> ManifestVariable? {
        variables.first { $0.name == name }
    }
}

/// The marketplace's fixed categories; the browsing page filters by them.
public enum AppCategory: String, Codable, Sendable, CaseIterable {
    case media, home, ai, monitoring, storage, security, network, dev, web, productivity

    /// The label shown on pages.
    public var title: String {
        switch self {
        case .media: "Media"
        case .home: "Home automation"
        case .ai: "AI"
        case .monitoring: "Monitoring"
        case .storage: "Storage & sync"
        case .security: "Security"
        case .network: "Network"
        case .dev: "Development"
        case .web: "Web"
        case .productivity: "Productivity"
        }
    }
}

/// A value the user chooses (or the installer generates) when installing an app. It reaches the
/// app through the `.env` file next to the compose file.
public struct ManifestVariable: Codable, Sendable, Equatable {
    /// What kind of value a variable holds; decides how values are checked.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case string, port, password, path, bool, number, `enum`
    }

    /// How the installer makes a value when the user gives none.
    public enum Generator: String, Codable, Sendable, CaseIterable {
        /// 24 letters and digits.
        case password
        /// 32 lower-case hex digits (128 bits).
        case hex
        /// A random (version 4) UUID, lower case.
        case uuid
    }

    /// `UPPER_SNAKE_CASE`, as used in the compose file (`${NAME}`).
    public var name: String
    public var description: String
    public var type: Kind
    /// The value used when the user gives none; always fits `type`.
    public var `default`: String?
    /// Whether a value must exist after defaults and generation.
    public var required: Bool
    /// Whether the value is hidden on pages and never logged (always true for `password`).
    public var secret: Bool
    public var generate: Generator?
    /// The allowed values of an `enum` variable.
    public var options: [String]?
}

/// How the installer decides an app is up.
public struct ManifestHealthCheck: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// An HTTP GET answered with `expectStatus` (or any 2xx/3xx).
        case http
        /// A TCP connection is accepted.
        case tcp
    }

    public var type: Kind
    /// A fixed host port, when the manifest gives a number.
    public var port: Int?
    /// The `port` variable holding the host port, when the manifest gives `${VAR}`.
    public var portVariable: String?
    /// The request path (http only); `/` when not given.
    public var path: String?
    /// The status the check wants (http only); nil accepts any 2xx or 3xx.
    public var expectStatus: Int?
    /// Seconds between attempts.
    public var intervalSeconds: Int
    /// Seconds after which the app counts as not coming up.
    public var timeoutSeconds: Int

    /// The host port to probe with these resolved variable values.
    public func resolvedPort(values: [String: String]) -> Int? {
        if let port { return port }
        return portVariable.flatMap { values[$0] }.flatMap(Int.init)
    }
}

/// A command run inside a service's container, as an argument list (no shell).
public struct ManifestCommand: Codable, Sendable, Equatable {
    public var service: String
    public var command: [String]
}

/// The service and container port a reverse proxy targets for this app.
public struct ManifestDomain: Codable, Sendable, Equatable {
    public var service: String
    public var port: Int
}

/// One thing wrong with a manifest or with install values: where (`variables[2].default`,
/// `compose.services.web.image`) and what, in a sentence.
public struct ManifestProblem: Codable, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found in one manifest (or one set of install values), never just the first,
/// so an author fixes them in one pass.
public struct ManifestProblems: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [ManifestProblem]

    public init(_ problems: [ManifestProblem]) {
        self.problems = problems
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
