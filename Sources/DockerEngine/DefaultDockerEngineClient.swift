import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The ``DockerEngineClient`` that speaks the Engine API over HTTP/1.1 on a unix socket or TCP.
///
/// The first call asks the engine for `GET /version` and from then on uses
/// `/v{min(newestAPIVersion, engine's ApiVersion)}/…`; an engine older than ``oldestAPIVersion``
/// fails every call with ``DockerError/Code/apiVersion``. Copies share the negotiated version.
public struct DefaultDockerEngineClient: DockerEngineClient {
    /// The newest API version this client knows (Docker 24).
    public static let newestAPIVersion = DockerAPIVersion(1, 43)
    /// The oldest API version this client accepts (Docker 19.03).
    public static let oldestAPIVersion = DockerAPIVersion(1, 40)

    /// Where the engine listens.
    public let endpoint: DockerEndpoint
    /// Limit for one non-streaming call (stop and restart add their grace period).
    public var requestTimeout: Duration

    private let http: HTTPClient
    private let negotiation = APIVersionNegotiation()
    private let logger: Logger

    /// A client for `endpoint`. `httpClient` defaults to one shared by all Docker clients in the
    /// process, without a read timeout (so followed logs may stay quiet for long); one passed in
    /// stays the caller's to shut down and needs no read timeout for the same reason.
    public init(endpoint: DockerEndpoint = .default, httpClient: HTTPClient? = nil,
                requestTimeout: Duration = .seconds(60), logger: Logger = Logger(label: "nebula.docker")) {
        self.endpoint = endpoint
        self.http = httpClient ?? sharedDockerHTTPClient
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// A client for `DOCKER_HOST` in `environment`, else `unix:///var/run/docker.sock`.
    public init(environment: [String: String], httpClient: HTTPClient? = nil,
                requestTimeout: Duration = .seconds(60), logger: Logger = Logger(label: "nebula.docker")) throws(DockerError) {
        self.init(endpoint: try DockerEndpoint.fromEnvironment(environment), httpClient: httpClient,
                  requestTimeout: requestTimeout, logger: logger)
    }

    /// The API version in use (negotiated on first use).
    public func apiVersion() async throws(DockerError) -> DockerAPIVersion {
        let endpoint = self.endpoint
        let result = await negotiation.version { [self] () async -> Result<DockerAPIVersion, DockerError> in
            do throws(DockerError) {
                let server = try await version()
                guard server.apiVersion >= Self.oldestAPIVersion else {
                    return .failure(.apiVersion(server: server.apiVersion.description, minimum: Self.oldestAPIVersion.description))
                }
                return .success(min(server.apiVersion, Self.newestAPIVersion))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let version):
            logger.trace("docker API version", metadata: ["endpoint": "\(endpoint)", "version": "\(version)"])
            return version
        case .failure(let error):
            throw error
        }
    }

    // MARK: - Engine

    public func ping() async throws(DockerError) {
        _ = try await send(.GET, "/_ping", versioned: false, subject: .engine("ping"))
    }

    public func version() async throws(DockerError) -> DockerVersion {
        let reply = try await send(.GET, "/version", versioned: false, subject: .engine("version"))
        let wire = try decode(WireVersion.self, reply, "version")
        guard let api = DockerAPIVersion(wire.ApiVersion) else {
            throw .badResponse("version", message: "ApiVersion '\(wire.ApiVersion)' is not a version")
        }
        return DockerVersion(version: wire.Version ?? "", apiVersion: api,
                             minAPIVersion: wire.MinAPIVersion.flatMap(DockerAPIVersion.init),
                             os: wire.Os ?? "", arch: wire.Arch ?? "", kernelVersion: wire.KernelVersion ?? "",
                             goVersion: wire.GoVersion ?? "")
    }

    // MARK: - Containers

    public func containers(all: Bool) async throws(DockerError) -> [ContainerSummary] {
        let reply = try await send(.GET, "/containers/json", query: [("all", all ? "1" : "0")], subject: .engine("container list"))
        return try decode([WireContainer].self, reply, "container list").map(\.summary)
    }

    public func containers(all: Bool, labels: [String: String]) async throws(DockerError) -> [ContainerSummary] {
        let values = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let json = String(decoding: try encode(["label": values]).readableBytesView, as: UTF8.self)
        let reply = try await send(.GET, "/containers/json", query: [("all", all ? "1" : "0"), ("filters", json)],
                                   subject: .engine("container list"))
        return try decode([WireContainer].self, reply, "container list").map(\.summary)
    }

    public func inspect(_ container: ContainerID) async throws(DockerError) -> ContainerDetails {
        let reply = try await send(.GET, "/containers/\(segment(container.rawValue))/json", subject: .container(container))
        return try decode(WireInspect.self, reply, container.rawValue).details
    }

    public func createContainer(_ spec: ContainerSpec) async throws(DockerError) -> ContainerID {
        let query = spec.name.map { [("name", $0)] } ?? []
        let reply = try await send(.POST, "/containers/create", query: query, body: try encode(WireCreateContainer(spec)),
                                   subject: .image(spec.image))
        return ContainerID(try decode(WireCreated.self, reply, "container create").Id)
    }

    public func start(_ container: ContainerID) async throws(DockerError) {
        try await sendAllowingNotModified(.POST, "/containers/\(segment(container.rawValue))/start", subject: .container(container))
    }

    public func stop(_ container: ContainerID, timeout: Duration) async throws(DockerError) {
        try await sendAllowingNotModified(.POST, "/containers/\(segment(container.rawValue))/stop",
                                          query: [("t", String(timeout.wholeSeconds))], extraTime: timeout, subject: .container(container))
    }

    public func restart(_ container: ContainerID, timeout: Duration) async throws(DockerError) {
        try await sendAllowingNotModified(.POST, "/containers/\(segment(container.rawValue))/restart",
                                          query: [("t", String(timeout.wholeSeconds))], extraTime: timeout, subject: .container(container))
    }

    public func kill(_ container: ContainerID, signal: String) async throws(DockerError) {
        _ = try await send(.POST, "/containers/\(segment(container.rawValue))/kill", query: [("signal", signal)], subject: .container(container))
    }

    public func remove(_ container: ContainerID, force: Bool, removeVolumes: Bool) async throws(DockerError) {
        _ = try await send(.DELETE, "/containers/\(segment(container.rawValue))",
                           query: [("force", force ? "1" : "0"), ("v", removeVolumes ? "1" : "0")], subject: .container(container))
    }

    // MARK: - Logs and stats

    public func logs(_ container: ContainerID, follow: Bool, tail: Int?, since: Date?, timestamps: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        var query: [(String, String)] = [("stdout", "1"), ("stderr", "1"), ("follow", follow ? "1" : "0"),
                                         ("timestamps", timestamps ? "1" : "0"), ("tail", tail.map { String(max($0, 0)) } ?? "all")]
        if let since { query.append(("since", DockerDate.unixString(since))) }
        let path = "/containers/\(segment(container.rawValue))/logs"
        return stream(path, query: query, subject: .container(container)) { [self] (headers: HTTPHeaders) async throws(DockerError) in
            // API 1.42+ names the framing in Content-Type; older engines need the container's TTY flag.
            let multiplexed: Bool
            if headers.first(name: "content-type") == "application/vnd.docker.multiplexed-stream" {
                multiplexed = true
            } else {
                multiplexed = try await !inspect(container).tty
            }
            var demultiplexer = LogDemultiplexer(multiplexed: multiplexed, timestamps: timestamps)
            return StreamDecoder(feed: { demultiplexer.feed($0) }, finish: { demultiplexer.finish() })
        }
    }

    public func stats(_ container: ContainerID) async throws(DockerError) -> ContainerStats {
        let reply = try await send(.GET, "/containers/\(segment(container.rawValue))/stats", query: [("stream", "0")],
                                   subject: .container(container))
        return try decode(WireStats.self, reply, container.rawValue).stats
    }

    public func statsStream(_ container: ContainerID) -> AsyncThrowingStream<ContainerStats, any Error> {
        let path = "/containers/\(segment(container.rawValue))/stats"
        return stream(path, query: [("stream", "1")], subject: .container(container)) { (_: HTTPHeaders) async throws(DockerError) in
            var lines = JSONLines()
            return StreamDecoder(feed: { (chunk: ByteBuffer) throws(DockerError) -> [ContainerStats] in
                var stats: [ContainerStats] = []
                for line in lines.feed(chunk) { stats.append(try decodeStats(line, container)) }
                return stats
            }, finish: { () throws(DockerError) -> [ContainerStats] in
                var stats: [ContainerStats] = []
                for line in lines.finish() { stats.append(try decodeStats(line, container)) }
                return stats
            })
        }
    }

    // MARK: - Images, volumes, networks

    public func images() async throws(DockerError) -> [ImageSummary] {
        let reply = try await send(.GET, "/images/json", subject: .engine("image list"))
        return try decode([WireImage].self, reply, "image list").map(\.summary)
    }

    public func removeImage(_ image: ImageID, force: Bool) async throws(DockerError) {
        _ = try await send(.DELETE, "/images/\(segment(image.rawValue))", query: [("force", force ? "1" : "0")], subject: .image(image))
    }

    public func pruneImages(labels: ImageLabelFilter) async throws(DockerError) -> ImagePruneReport {
        // dangling=false: every unused image with the labels, not only untagged ones.
        var filters = ["label": labels.filterValues, "dangling": ["false"]]
        if !labels.excludedKeys.isEmpty { filters["label!"] = labels.excludedKeys }
        let json = String(decoding: try encode(filters).readableBytesView, as: UTF8.self)
        // The engine runs one prune at a time and refuses a second with 409; one started by someone
        // else at the same moment is waited for (about 10 s at most) instead of reported as a failure.
        var attempt = 0
        while true {
            do {
                let reply = try await send(.POST, "/images/prune", query: [("filters", json)], subject: .engine("image prune"))
                return try decode(WirePrune.self, reply, "image prune").report
            } catch where error.code == .conflict && attempt < 20 {
                attempt += 1
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    public func volumes() async throws(DockerError) -> [VolumeSummary] {
        let reply = try await send(.GET, "/volumes", subject: .engine("volume list"))
        return try decode(WireVolumeList.self, reply, "volume list").Volumes?.map(\.summary) ?? []
    }

    public func createVolume(name: String, labels: [String: String]) async throws(DockerError) -> VolumeSummary {
        let reply = try await send(.POST, "/volumes/create", body: try encode(WireCreateVolume(Name: name, Labels: labels)),
                                   subject: .other("volume \(name)"))
        return try decode(WireVolume.self, reply, "volume \(name)").summary
    }

    public func removeVolume(name: String, force: Bool) async throws(DockerError) {
        _ = try await send(.DELETE, "/volumes/\(segment(name))", query: [("force", force ? "1" : "0")], subject: .other("volume \(name)"))
    }

    public func networks() async throws(DockerError) -> [NetworkSummary] {
        let reply = try await send(.GET, "/networks", subject: .engine("network list"))
        return try decode([WireNetwork].self, reply, "network list").map(\.summary)
    }
}

// MARK: - Transport

/// What a request is about, so a 404 or 409 becomes the right ``DockerError``.
enum Subject {
    case engine(String)
    case container(ContainerID)
    case image(ImageID)
    case other(String)

    var detail: String {
        switch self {
        case .engine(let what), .other(let what): what
        case .container(let id): id.rawValue
        case .image(let id): id.rawValue
        }
    }
}

/// A complete non-streaming answer.
struct Reply {
    var status: HTTPResponseStatus
    var body: ByteBuffer
}

/// Turns a streamed body's chunks into values (log lines, stats).
struct StreamDecoder<Element> {
    var feed: (ByteBuffer) throws(DockerError) -> [Element]
    var finish: () throws(DockerError) -> [Element]
}

/// Splits a body into newline-separated JSON documents.
struct JSONLines {
    private var buffer: [UInt8] = []

    mutating func feed(_ chunk: ByteBuffer) -> [ArraySlice<UInt8>] {
        buffer.append(contentsOf: chunk.readableBytesView)
        var lines: [ArraySlice<UInt8>] = []
        var start = buffer.startIndex
        while let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if newline > start { lines.append(buffer[start..<newline]) }
            start = newline + 1
        }
        buffer.removeSubrange(..<start)
        return lines
    }

    mutating func finish() -> [ArraySlice<UInt8>] {
        defer { buffer = [] }
        return buffer.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) ? [] : [buffer[...]]
    }
}

private func decodeStats(_ line: ArraySlice<UInt8>, _ container: ContainerID) throws(DockerError) -> ContainerStats {
    do {
        return try JSONDecoder().decode(WireStats.self, from: Data(line)).stats
    } catch {
        throw .badResponse("stats of \(container.rawValue)", message: "\(error)")
    }
}

/// The process-wide HTTP client for Docker engines: no read timeout (followed logs can be quiet
/// for hours), no redirects, no decompression. Never shut down; lives as long as the process.
private let sharedDockerHTTPClient: HTTPClient = {
    var configuration = HTTPClient.Configuration(
        redirectConfiguration: .disallow,
        timeout: .init(connect: .seconds(5), read: nil),
        connectionPool: .init(idleTimeout: .seconds(60)),
        proxy: nil,
        ignoreUncleanSSLShutdown: false,
        decompression: .disabled
    )
    configuration.httpVersion = .http1Only
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
}()

/// Negotiates the API version once per client (and its copies); a failure is not remembered, so
/// an engine that comes up later is found on the next call.
actor APIVersionNegotiation {
    private var negotiated: DockerAPIVersion?
    private var pending: Task<Result<DockerAPIVersion, DockerError>, Never>?

    func version(_ fetch: @escaping @Sendable () async -> Result<DockerAPIVersion, DockerError>) async -> Result<DockerAPIVersion, DockerError> {
        if let negotiated { return .success(negotiated) }
        if let pending { return await pending.value }
        let task = Task { await fetch() }
        pending = task
        let result = await task.value
        pending = nil
        if case .success(let version) = result { negotiated = version }
        return result
    }
}

extension Duration {
    var wholeSeconds: Int64 { max(components.seconds, 0) }

    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension DefaultDockerEngineClient {
    /// One request whose whole body is read; throws the mapped ``DockerError`` for a non-2xx status.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: ByteBuffer? = nil,
              versioned: Bool = true, extraTime: Duration = .zero, subject: Subject) async throws(DockerError) -> Reply {
        let request = try await makeRequest(method, path, query: query, body: body, versioned: versioned)
        let timeout = requestTimeout + extraTime
        let response: HTTPClientResponse
        let bodyBytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout.timeAmount, logger: logger)
        } catch {
            throw transportError(error, timeout: timeout)
        }
        do {
            bodyBytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw transportError(error, timeout: timeout)
        }
        logger.debug("docker \(method) \(path)", metadata: ["status": "\(response.status.code)"])
        let reply = Reply(status: response.status, body: bodyBytes)
        guard (200..<300).contains(response.status.code) else {
            throw failure(reply, subject: subject)
        }
        return reply
    }

    /// `send` for start/stop/restart, where 304 (already in that state) is success.
    func sendAllowingNotModified(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [],
                                 extraTime: Duration = .zero, subject: Subject) async throws(DockerError) {
        do {
            _ = try await send(method, path, query: query, extraTime: extraTime, subject: subject)
        } catch where error.code == .notModified {
            return
        }
    }

    /// A streaming request: the body's chunks go through the decoder `prepare` builds from the
    /// response headers, and each value into the stream. Cancelling the consumer ends the request.
    func stream<Element: Sendable>(
        _ path: String, query: [(String, String)], subject: Subject,
        prepare: @escaping @Sendable (HTTPHeaders) async throws(DockerError) -> StreamDecoder<Element>
    ) -> AsyncThrowingStream<Element, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do throws(DockerError) {
                    let request = try await makeRequest(.GET, path, query: query, body: nil, versioned: true)
                    let response: HTTPClientResponse
                    do {
                        response = try await http.execute(request, deadline: .distantFuture, logger: logger)
                    } catch {
                        throw transportError(error, timeout: nil)
                    }
                    guard (200..<300).contains(response.status.code) else {
                        let body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
                        throw failure(Reply(status: response.status, body: body), subject: subject)
                    }
                    let decoder = try await prepare(response.headers)
                    do {
                        for try await chunk in response.body {
                            for element in try decoder.feed(chunk) { continuation.yield(element) }
                        }
                    } catch let error as DockerError {
                        throw error
                    } catch {
                        if Task.isCancelled { continuation.finish(); return }
                        throw transportError(error, timeout: nil)
                    }
                    for element in try decoder.finish() { continuation.yield(element) }
                    continuation.finish()
                } catch {
                    if Task.isCancelled { continuation.finish() } else { continuation.finish(throwing: error) }
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func makeRequest(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: ByteBuffer?,
                             versioned: Bool) async throws(DockerError) -> HTTPClientRequest {
        var pathAndQuery = versioned ? "/v\(try await apiVersion())\(path)" : path
        if !query.isEmpty {
            pathAndQuery += "?" + query.map { "\(queryEscape($0.0))=\(queryEscape($0.1))" }.joined(separator: "&")
        }
        if case .unix(let socket) = endpoint {
            // Fail fast: HTTPClient would retry a missing socket until its connect timeout.
            guard FileManager.default.fileExists(atPath: socket) else {
                throw .unreachable(endpoint.description, message: "no socket at \(socket)")
            }
            guard FileManager.default.isWritableFile(atPath: socket) else {
                throw .unreachable(endpoint.description, message: "permission denied on \(socket)")
            }
        }
        var request = HTTPClientRequest(url: try endpoint.url(pathAndQuery))
        request.method = method
        if case .unix = endpoint { request.headers.replaceOrAdd(name: "Host", value: "docker") }
        request.headers.add(name: "User-Agent", value: "nebula-command")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        return request
    }

    /// A failure to connect or to read the answer.
    private func transportError(_ error: any Error, timeout: Duration?) -> DockerError {
        if let error = error as? DockerError { return error }
        if let error = error as? HTTPClientError, error == .deadlineExceeded, let timeout {
            return .unreachable(endpoint.description, message: "no answer within \(timeout)")
        }
        return .unreachable(endpoint.description, message: String(describing: error))
    }

    /// Maps Docker's status and `{"message": …}` body to a ``DockerError``.
    func failure(_ reply: Reply, subject: Subject) -> DockerError {
        let text = String(decoding: reply.body.readableBytesView, as: UTF8.self)
        let message = (try? JSONDecoder().decode(WireMessage.self, from: Data(reply.body.readableBytesView)))?.message
            ?? (text.isEmpty ? nil : text.trimmingCharacters(in: .whitespacesAndNewlines))
        switch reply.status.code {
        case 304:
            return DockerError(code: .notModified, detail: subject.detail, message: message)
        case 404:
            switch subject {
            case .container(let id): return .noSuchContainer(id.rawValue, message: message)
            case .image(let id):
                // Creating a container answers 404 for its missing image.
                return .noSuchImage(id.rawValue, message: message)
            case .engine, .other:
                return DockerError(code: .notFound, detail: subject.detail, message: message)
            }
        case 409:
            return .conflict(subject.detail, message: message)
        case 400 where (message ?? "").contains("client version"):
            return DockerError(code: .apiVersion, detail: subject.detail, message: message)
        case 400:
            return DockerError(code: .badRequest, detail: subject.detail, message: message)
        default:
            return .serverError(subject.detail, message: message ?? "HTTP \(reply.status.code)")
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ reply: Reply, _ what: String) throws(DockerError) -> T {
        do {
            return try JSONDecoder().decode(type, from: reply.body)
        } catch {
            throw .badResponse(what, message: "\(error)")
        }
    }

    func encode<T: Encodable>(_ value: T) throws(DockerError) -> ByteBuffer {
        do {
            return ByteBuffer(data: try JSONEncoder().encode(value))
        } catch {
            throw .badResponse("request body", message: "\(error)")
        }
    }

    /// A path segment (container name, image reference) with everything unusual percent-encoded;
    /// `/` stays, as image references contain it and Docker's routes accept it.
    func segment(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:/@")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    private func queryEscape(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
