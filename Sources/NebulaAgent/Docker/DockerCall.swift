import DockerEngine
import Foundation

/// One Docker Engine operation the control plane asks a node to carry out on its own engine.
/// The same value is handled in-process for the control plane's own machine and sent over the
/// agent's WebSocket for every other node, so both paths run the same code (``NodeDocker``).
public enum DockerCall: Codable, Sendable, Equatable {
    case containers(all: Bool)
    case inspect(container: String)
    case start(container: String)
    case stop(container: String, timeoutSeconds: Int)
    case restart(container: String, timeoutSeconds: Int)
    case kill(container: String, signal: String)
    case remove(container: String, force: Bool, volumes: Bool)
    /// Output so far (never followed: following is a ``DockerStreamCall``).
    case logs(container: String, tail: Int?, since: Date?, timestamps: Bool)
    /// One measurement.
    case stats(container: String)
    case images
    case removeImage(image: String, force: Bool)
    /// Removes unused images Nebula built (label `dev.nebula.managed=true`), never any other.
    case pruneImages
    case volumes
    case removeVolume(name: String, force: Bool)
    case networks

    /// What the audit log and error messages call it (`container.restart`).
    public var name: String {
        switch self {
        case .containers: "containers.list"
        case .inspect: "container.inspect"
        case .start: "container.start"
        case .stop: "container.stop"
        case .restart: "container.restart"
        case .kill: "container.kill"
        case .remove: "container.remove"
        case .logs: "container.logs"
        case .stats: "container.stats"
        case .images: "images.list"
        case .removeImage: "image.remove"
        case .pruneImages: "images.prune"
        case .volumes: "volumes.list"
        case .removeVolume: "volume.remove"
        case .networks: "networks.list"
        }
    }

    /// How long the control plane waits for the node's answer: stopping waits for the grace period.
    public var timeout: Duration {
        switch self {
        case .stop(_, let seconds), .restart(_, let seconds): .seconds(30 + max(0, seconds))
        case .stats: .seconds(20)
        case .pruneImages, .remove, .removeImage: .seconds(120)
        default: .seconds(30)
        }
    }
}

/// What a ``DockerCall`` produced; exactly one field is set, or `error`.
public struct DockerResult: Codable, Sendable, Equatable {
    public var error: DockerError?
    public var containers: [ContainerSummary]?
    public var container: ContainerDetails?
    public var logs: [LogLine]?
    public var stats: ContainerStats?
    public var images: [ImageSummary]?
    public var pruned: ImagePruneReport?
    public var volumes: [VolumeSummary]?
    public var networks: [NetworkSummary]?

    public init(error: DockerError? = nil, containers: [ContainerSummary]? = nil, container: ContainerDetails? = nil, logs: [LogLine]? = nil,
                stats: ContainerStats? = nil, images: [ImageSummary]? = nil, pruned: ImagePruneReport? = nil,
                volumes: [VolumeSummary]? = nil, networks: [NetworkSummary]? = nil) {
        self.error = error
        self.containers = containers
        self.container = container
        self.logs = logs
        self.stats = stats
        self.images = images
        self.pruned = pruned
        self.volumes = volumes
        self.networks = networks
    }

    /// Success with nothing to report (start, stop, remove …).
    public static let done = DockerResult()
}

/// A Docker operation whose answer keeps coming until it is closed.
public enum DockerStreamCall: Codable, Sendable, Equatable {
    /// New output as it is written, after the last `tail` lines (all when nil) since `since`.
    case logs(container: String, tail: Int?, since: Date?, timestamps: Bool)
    /// A measurement about every second.
    case stats(container: String)
    /// A deploy's checkout and image build: output lines as they come, then ``DockerStreamChunk/built(_:)``.
    case build(DeployBuild)

    /// The container (or, for a build, the project) the stream is about, for error messages.
    public var container: String {
        switch self {
        case .logs(let container, _, _, _), .stats(let container): container
        case .build(let build): build.project
        }
    }
}

/// One piece of a streamed answer: a batch of log lines, one measurement, or a build's result.
///
/// Log lines travel as a ``LogBatch`` (one string of stream codes and an array of texts), which
/// costs a fraction of one JSON object per line to encode and decode.
public enum DockerStreamChunk: Codable, Sendable, Equatable {
    case lines([LogLine])
    case stats(ContainerStats)
    /// The last chunk of a ``DockerStreamCall/build(_:)``.
    case built(DeployBuildResult)

    enum CodingKeys: String, CodingKey {
        case lines, stats, built
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let batch = try container.decodeIfPresent(LogBatch.self, forKey: .lines) {
            self = .lines(batch.lines)
        } else if let stats = try container.decodeIfPresent(ContainerStats.self, forKey: .stats) {
            self = .stats(stats)
        } else {
            self = .built(try container.decode(DeployBuildResult.self, forKey: .built))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .lines(let lines): try container.encode(LogBatch(lines), forKey: .lines)
        case .stats(let stats): try container.encode(stats, forKey: .stats)
        case .built(let result): try container.encode(result, forKey: .built)
        }
    }
}

/// Log lines in a compact JSON form: `{"s":"ooe","t":["a","b","c"],"ts":[…]}`: `s` holds one
/// letter per line (`o` stdout, `e` stderr, `c` console), `t` the texts, `ts` (only when the lines
/// carry timestamps) seconds since 1970. The browser reads the same form.
public struct LogBatch: Codable, Sendable, Equatable {
    public var lines: [LogLine]

    public init(_ lines: [LogLine]) {
        self.lines = lines
    }

    enum CodingKeys: String, CodingKey {
        case streams = "s", texts = "t", timestamps = "ts"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var codes = ""
        codes.reserveCapacity(lines.count)
        for line in lines {
            codes.append(line.stream == .stdout ? "o" : line.stream == .stderr ? "e" : "c")
        }
        try container.encode(codes, forKey: .streams)
        try container.encode(lines.map(\.text), forKey: .texts)
        if lines.contains(where: { $0.timestamp != nil }) {
            try container.encode(lines.map { $0.timestamp?.timeIntervalSince1970 ?? 0 }, forKey: .timestamps)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let codes = Array(try container.decode(String.self, forKey: .streams))
        let texts = try container.decode([String].self, forKey: .texts)
        let times = try container.decodeIfPresent([Double].self, forKey: .timestamps)
        guard codes.count == texts.count, times == nil || times?.count == texts.count else {
            throw DecodingError.dataCorruptedError(forKey: .texts, in: container, debugDescription: "a log batch needs one stream letter (and time) per text")
        }
        lines = texts.indices.map { index in
            LogLine(stream: codes[index] == "o" ? .stdout : codes[index] == "e" ? .stderr : .console, text: texts[index],
                    timestamp: times.map { Date(timeIntervalSince1970: $0[index]) })
        }
    }
}

/// One frame of a stream relayed over the agent's WebSocket. The control plane sends `open` (with
/// the call) and `close`; the node answers with `data` frames and finally `end` (with the error
/// when it failed).
public struct StreamFrame: Codable, Sendable, Equatable {
    public enum Op: String, Codable, Sendable {
        case open, data, close, end
    }

    public var stream: String
    public var op: Op
    public var call: DockerStreamCall?
    public var chunk: DockerStreamChunk?
    public var error: DockerError?

    public init(stream: String, op: Op, call: DockerStreamCall? = nil, chunk: DockerStreamChunk? = nil, error: DockerError? = nil) {
        self.stream = stream
        self.op = op
        self.call = call
        self.chunk = chunk
        self.error = error
    }
}
