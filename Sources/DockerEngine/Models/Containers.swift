import Foundation

/// A container's lifecycle state as Docker reports it (`State`).
public enum ContainerState: Sendable, Hashable, Codable, CustomStringConvertible {
    case created, running, paused, restarting, removing, exited, dead
    /// A state this client does not know.
    case other(String)

    /// Maps Docker's lower-case state name.
    public init(_ raw: String) {
        switch raw.lowercased() {
        case "created": self = .created
        case "running": self = .running
        case "paused": self = .paused
        case "restarting": self = .restarting
        case "removing": self = .removing
        case "exited": self = .exited
        case "dead": self = .dead
        default: self = .other(raw)
        }
    }

    /// Docker's name for the state.
    /// Encoded as Docker spells it (`"running"`), so the JSON reads like the Engine API.
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String {
        switch self {
        case .created: "created"
        case .running: "running"
        case .paused: "paused"
        case .restarting: "restarting"
        case .removing: "removing"
        case .exited: "exited"
        case .dead: "dead"
        case .other(let raw): raw
        }
    }
}

/// The result of a container's health check (only containers with a `HEALTHCHECK` have one).
public enum ContainerHealth: String, Sendable, Hashable, Codable {
    case starting, healthy, unhealthy

    /// Reads the health from a list `Status` such as `Up 3 minutes (healthy)` or `Up 2 seconds (health: starting)`.
    public init?(status: String) {
        if status.contains("(health: starting)") { self = .starting }
        else if status.contains("(unhealthy)") { self = .unhealthy }
        else if status.contains("(healthy)") { self = .healthy }
        else { return nil }
    }
}

/// A published or exposed port of a container.
public struct ContainerPort: Sendable, Hashable, Codable {
    /// The port inside the container.
    public var privatePort: Int
    /// The port on the host, when published.
    public var publicPort: Int?
    /// `tcp`, `udp` or `sctp`.
    public var type: String
    /// The host address it is published on, when published.
    public var ip: String?

    public init(privatePort: Int, publicPort: Int? = nil, type: String = "tcp", ip: String? = nil) {
        self.privatePort = privatePort
        self.publicPort = publicPort
        self.type = type
        self.ip = ip
    }
}

/// One row of the container list (`GET /containers/json`).
public struct ContainerSummary: Sendable, Hashable, Identifiable, Codable {
    /// The full id.
    public var id: ContainerID
    /// Names without Docker's leading `/`.
    public var names: [String]
    /// The image as it was given (`local/busybox`).
    public var image: String
    /// The image id (`sha256:…`).
    public var imageID: String
    /// The command line.
    public var command: String
    public var state: ContainerState
    /// Docker's human text, e.g. `Up 3 minutes (healthy)` or `Exited (0) 2 hours ago`.
    public var status: String
    /// From `status`; nil when the container has no health check.
    public var health: ContainerHealth?
    public var labels: [String: String]
    public var ports: [ContainerPort]
    public var created: Date

    /// The first name, or the short id when it has none.
    public var name: String { names.first ?? String(id.rawValue.prefix(12)) }
}

/// What `inspect` tells about one container (`GET /containers/{id}/json`), the parts Nebula uses.
public struct ContainerDetails: Sendable, Hashable, Identifiable, Codable {
    public var id: ContainerID
    /// The name without Docker's leading `/`.
    public var name: String
    /// The image as it was given (`Config.Image`).
    public var image: String
    /// The image id (`sha256:…`).
    public var imageID: String
    public var created: Date
    public var state: ContainerState
    public var running: Bool
    public var paused: Bool
    public var restarting: Bool
    /// The main process's id on the host (0 when not running).
    public var pid: Int
    public var exitCode: Int
    /// Docker's error text for the last start, when it failed.
    public var error: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Nil when the container has no health check.
    public var health: ContainerHealth?
    public var restartCount: Int
    public var labels: [String: String]
    /// Entrypoint followed by the command.
    public var command: [String]
    /// Whether it runs with a TTY (its logs are then one raw stream).
    public var tty: Bool
    /// `none`, `host`, `default`, a network name, or `container:…`.
    public var networkMode: String
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    public var restartPolicy: String
    /// Mount destinations inside the container with their source (volume name or host path).
    public var mounts: [Mount]

    /// A volume or bind mount of a container.
    public struct Mount: Sendable, Hashable, Codable {
        /// `volume`, `bind`, `tmpfs`, …
        public var type: String
        /// The volume's name (volumes only).
        public var name: String?
        /// The host path.
        public var source: String
        /// The path inside the container.
        public var destination: String
        public var readWrite: Bool
    }
}

/// How a new container is networked. The test engine has no bridge, so tests use `.none` or `.host`.
public enum NetworkMode: Sendable, Hashable {
    /// No network at all.
    case none
    /// The host's network stack.
    case host
    /// The engine's default (`bridge` on a normal install).
    case `default`
    /// A named network.
    case named(String)

    var apiValue: String {
        switch self {
        case .none: "none"
        case .host: "host"
        case .default: "default"
        case .named(let name): name
        }
    }
}

/// What `createContainer` needs: the minimal subset of Docker's create body Nebula uses directly.
public struct ContainerSpec: Sendable, Hashable {
    public var image: ImageID
    /// Overrides the image's command when not empty.
    public var command: [String]
    /// A container name; Docker picks one when nil.
    public var name: String?
    public var labels: [String: String]
    /// `KEY=value` entries for the process environment.
    public var environment: [String: String]
    public var networkMode: NetworkMode
    /// Run with a TTY (logs are then not split into stdout and stderr).
    public var tty: Bool

    public init(image: ImageID, command: [String] = [], name: String? = nil, labels: [String: String] = [:],
                environment: [String: String] = [:], networkMode: NetworkMode = .none, tty: Bool = false) {
        self.image = image
        self.command = command
        self.name = name
        self.labels = labels
        self.environment = environment
        self.networkMode = networkMode
        self.tty = tty
    }
}
