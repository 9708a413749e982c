/// A container's id (full or a unique prefix) or name, as the Engine API accepts it.
public struct ContainerID: Sendable, Hashable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The id or name.
    public var rawValue: String

    /// Wraps an id or name.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The id or name.
    public var description: String { rawValue }
}

/// An image's id (`sha256:…`) or reference (`local/busybox:latest`), as the Engine API accepts it.
public struct ImageID: Sendable, Hashable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The id or reference.
    public var rawValue: String

    /// Wraps an id or reference.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The id or reference.
    public var description: String { rawValue }
}
