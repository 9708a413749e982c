/// An identifier the Engine API accepts, typed by what it names so a container id cannot be passed
/// where an image is expected. Encoded as a plain string.
public struct EngineID<Kind>: Sendable, Hashable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The id, name or reference.
    public var rawValue: String

    /// Wraps an id, name or reference.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
}

/// What a ``ContainerID`` names.
public enum ContainerKind {}
/// What an ``ImageID`` names.
public enum ImageKind {}

/// A container's id (full or a unique prefix) or name.
public typealias ContainerID = EngineID<ContainerKind>
/// An image's id (`sha256:…`) or reference (`local/busybox:latest`).
public typealias ImageID = EngineID<ImageKind>
