import Foundation

/// The engine's `GET /version` answer.
public struct DockerVersion: Sendable, Hashable {
    /// The engine's version, e.g. `20.10.24+dfsg1`.
    public var version: String
    /// The newest API version the engine speaks.
    public var apiVersion: DockerAPIVersion
    /// The oldest API version the engine accepts.
    public var minAPIVersion: DockerAPIVersion?
    public var os: String
    public var arch: String
    public var kernelVersion: String
    public var goVersion: String
}

/// One image (`GET /images/json`).
public struct ImageSummary: Sendable, Hashable, Identifiable, Codable {
    /// `sha256:…`.
    public var id: ImageID
    /// `repo:tag` references; empty for an untagged image.
    public var repoTags: [String]
    public var created: Date
    /// Bytes on disk.
    public var size: Int64
    public var labels: [String: String]
    /// Containers using it, or nil when Docker did not count (`-1`).
    public var containers: Int?
}

/// A label filter that holds at least one `key=value`: ``DockerEngineClient/pruneImages(labels:)``
/// can only be called with one, so Nebula never prunes images it did not create.
public struct ImageLabelFilter: Sendable, Hashable {
    /// All pairs; an image must carry every one of them.
    public private(set) var labels: [String: String]
    /// Label keys an image must not carry (Docker's `label!=key` filter).
    public private(set) var excludedKeys: [String] = []

    /// Images labelled `key=value` (and each of `more`).
    public init(_ key: String, _ value: String, and more: [String: String] = [:]) {
        labels = more
        labels[key] = value
    }

    /// Images Nebula created: `dev.nebula.managed=true` (reverse-DNS, as Docker recommends for label keys).
    public static let nebulaManaged = ImageLabelFilter("dev.nebula.managed", "true")

    /// The same filter, also leaving out images that carry the label `key`.
    public func excluding(_ key: String) -> ImageLabelFilter {
        var copy = self
        copy.excludedKeys.append(key)
        return copy
    }

    var filterValues: [String] { labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } }
}

/// What an image prune removed.
public struct ImagePruneReport: Sendable, Hashable, Codable {
    /// Removed image ids and untagged references.
    public var deleted: [String]
    /// Bytes freed.
    public var spaceReclaimed: Int64

    public init(deleted: [String], spaceReclaimed: Int64) {
        self.deleted = deleted
        self.spaceReclaimed = spaceReclaimed
    }
}

/// One volume (`GET /volumes`).
public struct VolumeSummary: Sendable, Hashable, Identifiable, Codable {
    public var name: String
    public var driver: String
    public var mountpoint: String
    public var labels: [String: String]
    public var scope: String
    public var createdAt: Date?
    public var id: String { name }
}

/// One network (`GET /networks`).
public struct NetworkSummary: Sendable, Hashable, Identifiable, Codable {
    public var id: String
    public var name: String
    /// `bridge`, `host`, `null`, `overlay`, …
    public var driver: String
    /// `local` or `swarm`.
    public var scope: String
    public var isInternal: Bool
    public var labels: [String: String]
}
