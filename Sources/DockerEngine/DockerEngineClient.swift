import Foundation

/// Talks to a Docker Engine over its HTTP API (unix socket or TCP).
///
/// Every call throws a ``DockerError`` that says what the user can do. The streaming calls
/// (`logs`, `statsStream`) report errors through the stream, also as ``DockerError``; stop them by
/// cancelling the consuming task or dropping the stream.
public protocol DockerEngineClient: Sendable {
    /// Succeeds when the engine answers `GET /_ping`.
    func ping() async throws(DockerError)
    /// The engine's version and API range.
    func version() async throws(DockerError) -> DockerVersion

    /// Containers, running ones only unless `all`.
    func containers(all: Bool) async throws(DockerError) -> [ContainerSummary]
    /// Containers carrying every `key=value` of `labels` (the engine filters), running ones only unless `all`.
    func containers(all: Bool, labels: [String: String]) async throws(DockerError) -> [ContainerSummary]
    /// One container in detail.
    func inspect(_ container: ContainerID) async throws(DockerError) -> ContainerDetails
    /// Creates (does not start) a container; the image must already be on the engine.
    func createContainer(_ spec: ContainerSpec) async throws(DockerError) -> ContainerID
    /// Starts it; already running counts as success.
    func start(_ container: ContainerID) async throws(DockerError)
    /// Stops it (SIGTERM, then SIGKILL after `timeout`); already stopped counts as success.
    func stop(_ container: ContainerID, timeout: Duration) async throws(DockerError)
    /// Stops (as `stop`) and starts it again.
    func restart(_ container: ContainerID, timeout: Duration) async throws(DockerError)
    /// Sends `signal` (e.g. `SIGKILL`, `SIGHUP`); ``DockerError/Code/conflict`` when it is not running.
    func kill(_ container: ContainerID, signal: String) async throws(DockerError)
    /// Removes it; ``DockerError/Code/conflict`` when it runs and `force` is false.
    func remove(_ container: ContainerID, force: Bool, removeVolumes: Bool) async throws(DockerError)

    /// Its output as lines, stdout and stderr apart (one ``LogStream/console`` stream with a TTY).
    /// `tail`: only the last N lines (nil: all); `since`: only newer lines; `follow`: keep the
    /// stream open for new output until the container stops or the consumer cancels.
    func logs(_ container: ContainerID, follow: Bool, tail: Int?, since: Date?, timestamps: Bool) -> AsyncThrowingStream<LogLine, any Error>
    /// One measurement (takes about a second: Docker samples twice to compute CPU use).
    func stats(_ container: ContainerID) async throws(DockerError) -> ContainerStats
    /// A measurement about every second until the container stops or the consumer cancels.
    func statsStream(_ container: ContainerID) -> AsyncThrowingStream<ContainerStats, any Error>

    /// Images on the engine (without intermediate layers).
    func images() async throws(DockerError) -> [ImageSummary]
    /// Removes an image; ``DockerError/Code/conflict`` when a container uses it and `force` is false.
    func removeImage(_ image: ImageID, force: Bool) async throws(DockerError)
    /// Removes unused images carrying every label of `labels`, never any other image.
    func pruneImages(labels: ImageLabelFilter) async throws(DockerError) -> ImagePruneReport

    /// Volumes on the engine.
    func volumes() async throws(DockerError) -> [VolumeSummary]
    /// Creates a named volume (local driver).
    func createVolume(name: String, labels: [String: String]) async throws(DockerError) -> VolumeSummary
    /// Removes a volume; ``DockerError/Code/conflict`` when a container uses it.
    func removeVolume(name: String, force: Bool) async throws(DockerError)
    /// Networks on the engine.
    func networks() async throws(DockerError) -> [NetworkSummary]

    /// Runs `command` inside the running `container` and waits for it (a marketplace app's
    /// post-install hook); ``DockerError/Code/conflict`` when the container is not running.
    func exec(_ container: ContainerID, command: [String], timeout: Duration) async throws(DockerError) -> ExecResult
}

extension DockerEngineClient {
    /// Running containers only.
    public func containers() async throws(DockerError) -> [ContainerSummary] { try await containers(all: false) }
    /// Filters `containers(all:)` here, for clients whose engine cannot filter by label.
    public func containers(all: Bool, labels: [String: String]) async throws(DockerError) -> [ContainerSummary] {
        try await containers(all: all).filter { row in labels.allSatisfy { row.labels[$0.key] == $0.value } }
    }
    /// Stops with Docker's default 10-second grace period.
    public func stop(_ container: ContainerID) async throws(DockerError) { try await stop(container, timeout: .seconds(10)) }
    /// Restarts with Docker's default 10-second grace period.
    public func restart(_ container: ContainerID) async throws(DockerError) { try await restart(container, timeout: .seconds(10)) }
    /// Sends SIGKILL.
    public func kill(_ container: ContainerID) async throws(DockerError) { try await kill(container, signal: "SIGKILL") }
    /// Removes a stopped container and keeps its anonymous volumes.
    public func remove(_ container: ContainerID, force: Bool = false) async throws(DockerError) {
        try await remove(container, force: force, removeVolumes: false)
    }
    /// All output so far, without timestamps.
    public func logs(_ container: ContainerID, follow: Bool = false, tail: Int? = nil) -> AsyncThrowingStream<LogLine, any Error> {
        logs(container, follow: follow, tail: tail, since: nil, timestamps: false)
    }
    /// Creates and starts a container; removes it again if the start fails.
    public func run(_ spec: ContainerSpec) async throws(DockerError) -> ContainerID {
        let id = try await createContainer(spec)
        do {
            try await start(id)
        } catch {
            try? await remove(id, force: true, removeVolumes: true)
            throw error
        }
        return id
    }
}
