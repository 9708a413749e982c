import Foundation
import Logging

/// Builds container images from a directory with a Dockerfile on this node's engine.
///
/// Every image carries `dev.nebula.managed=true` (so Nebula's prune finds it) besides the labels
/// asked for. The build's output goes to `output` line by line as it comes; a failed build throws an
/// ``ImageBuildError`` holding the last 50 lines. A cancelled task stops the build.
public protocol ImageBuilder: Sendable {
    func build(_ request: ImageBuildRequest, output: @escaping @Sendable (String) -> Void) async throws(ImageBuildError) -> ImageBuildResult
}

/// What to build.
public struct ImageBuildRequest: Sendable, Hashable, Codable {
    /// The build context: an absolute directory path.
    public var context: String
    /// The Dockerfile, relative to `context` (`Dockerfile`, `docker/web.Dockerfile`); it must stay inside it.
    public var dockerfile: String
    /// The reference to tag the image with, e.g. `nebula/blog:3f2a1c9`.
    public var tag: String
    /// Labels for the image (`dev.nebula.managed=true` is always added).
    public var labels: [String: String]
    /// `ARG` values.
    public var buildArgs: [String: String]
    /// Ignore the engine's layer cache.
    public var noCache: Bool
    /// Try to pull a newer base image first (needs a registry).
    public var pullBase: Bool
    /// How long the build may take.
    public var timeout: Duration

    public init(context: String, dockerfile: String = "Dockerfile", tag: String, labels: [String: String] = [:],
                buildArgs: [String: String] = [:], noCache: Bool = false, pullBase: Bool = false, timeout: Duration = .seconds(1800)) {
        self.context = context
        self.dockerfile = dockerfile
        self.tag = tag
        self.labels = labels
        self.buildArgs = buildArgs
        self.noCache = noCache
        self.pullBase = pullBase
        self.timeout = timeout
    }
}

/// A finished build.
public struct ImageBuildResult: Sendable, Hashable, Codable {
    /// The image id (`sha256:…`).
    public var imageID: String
    /// The tag it got.
    public var tag: String
    /// The labels it was built with (including `dev.nebula.managed`).
    public var labels: [String: String]
    /// How long it took.
    public var duration: Duration
}

/// Why an image build failed. Each case says what went wrong and what the user can do.
public struct ImageBuildError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, Codable, CaseIterable {
        /// The `docker` CLI is not installed on this node.
        case dockerMissing = "docker_missing"
        /// The request cannot be built: the context or Dockerfile is missing or outside the context, a bad tag or label.
        case invalidRequest = "invalid_request"
        /// The `docker` CLI could not be started.
        case launchFailed = "launch_failed"
        /// The build ran and failed (a failing `RUN`, a missing base image); `output` says why.
        case failed
        /// The build took longer than its timeout and was stopped.
        case timedOut = "timed_out"
        /// The job was cancelled and the build stopped.
        case cancelled
    }

    public var code: Code
    /// The tag being built.
    public var detail: String
    /// A short reason beyond the output.
    public var message: String?
    /// The CLI's exit status, for ``Code/failed``.
    public var exitStatus: Int32?
    /// The build's last output lines (oldest first).
    public var output: [String]

    public init(code: Code, detail: String, message: String? = nil, exitStatus: Int32? = nil, output: [String] = []) {
        self.code = code
        self.detail = detail
        self.message = message
        self.exitStatus = exitStatus
        self.output = output
    }

    /// One paragraph: what failed, why, what to do, then the last output lines.
    public var description: String {
        let why = message.map { ": \($0)" } ?? ""
        let sentence: String
        switch code {
        case .dockerMissing:
            sentence = "The docker CLI is not installed on this node\(why). Install docker.io (or docker-ce-cli)."
        case .invalidRequest:
            sentence = "Cannot build \(detail)\(why). Fix the repository's build settings (context directory, Dockerfile path, tag)."
        case .launchFailed:
            sentence = "docker build could not be started for \(detail)\(why). Check the docker CLI installation."
        case .failed:
            let status = exitStatus.map { " (status \($0))" } ?? ""
            sentence = "Building \(detail) failed\(status)\(why). The build output below says which step failed; fix the Dockerfile and redeploy."
        case .timedOut:
            sentence = "Building \(detail) did not finish in time\(why) and was stopped. Make the build faster or raise the timeout."
        case .cancelled:
            sentence = "Building \(detail) was cancelled and stopped."
        }
        guard !output.isEmpty else { return sentence }
        return sentence + "\n" + output.joined(separator: "\n")
    }
}

/// The ``ImageBuilder`` that runs `docker build` with the legacy builder (`DOCKER_BUILDKIT=0`).
///
/// The legacy builder works with any engine and needs no buildx plugin and no registry (BuildKit's
/// frontend image would have to be pulled); it streams plain `Step n/m` lines.
public struct DefaultImageBuilder: ImageBuilder {
    /// The engine the image is built on.
    public let endpoint: DockerEndpoint
    private let environment: [String: String]
    private let logger: Logger

    /// A builder for the engine at `endpoint`; `environment` supplies `PATH` and `HOME` for the docker CLI.
    public init(endpoint: DockerEndpoint = .default, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger = Logger(label: "nebula.build")) {
        self.endpoint = endpoint
        self.environment = environment
        self.logger = logger
    }

    /// The label every image Nebula builds carries.
    public static let managedLabel = (key: "dev.nebula.managed", value: "true")

    public func build(_ request: ImageBuildRequest, output: @escaping @Sendable (String) -> Void) async throws(ImageBuildError) -> ImageBuildResult {
        let started = ContinuousClock.now
        let tag = request.tag
        let dockerfile = try validate(request)
        var labels = request.labels
        labels[Self.managedLabel.key] = Self.managedLabel.value

        var childEnvironment = ChildProcess.baseEnvironment(from: environment)
        childEnvironment["DOCKER_HOST"] = endpoint.description
        childEnvironment["DOCKER_BUILDKIT"] = "0"
        guard let docker = ChildProcess.find("docker", path: childEnvironment["PATH"]) else {
            throw ImageBuildError(code: .dockerMissing, detail: tag, message: "no `docker` on PATH")
        }
        // `--opt=value` forms: a value starting with '-' can never be read as another option.
        var arguments = ["build", "--file=\(dockerfile)", "--tag=\(tag)", "--force-rm", "--rm"]
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) { arguments.append("--label=\(key)=\(value)") }
        for (key, value) in request.buildArgs.sorted(by: { $0.key < $1.key }) { arguments.append("--build-arg=\(key)=\(value)") }
        if request.noCache { arguments.append("--no-cache") }
        if request.pullBase { arguments.append("--pull") }
        arguments += ["--", request.context]

        let child = ChildProcess(executable: docker, arguments: arguments, environment: childEnvironment, timeout: request.timeout)
        logger.debug("docker build", metadata: ["tag": "\(tag)", "context": "\(request.context)"])
        let outcome: ChildProcess.Outcome
        do {
            // The legacy builder's deprecation banner says nothing about this build.
            outcome = try await child.run { line in
                if !Self.isDeprecationBanner(line) { output(line) }
            }
        } catch {
            throw ImageBuildError(code: .launchFailed, detail: tag, message: error.reason)
        }
        let tail = outcome.tail.filter { !Self.isDeprecationBanner($0) }
        if outcome.cancelled { throw ImageBuildError(code: .cancelled, detail: tag, output: tail) }
        if outcome.timedOut { throw ImageBuildError(code: .timedOut, detail: tag, message: "limit \(request.timeout)", output: tail) }
        guard outcome.succeeded else { throw ImageBuildError(code: .failed, detail: tag, exitStatus: outcome.status, output: tail) }

        let inspect = ChildProcess(executable: docker, arguments: ["image", "inspect", "--format={{.Id}}", "--", tag],
                                   environment: childEnvironment, timeout: .seconds(30))
        let id: String?
        do {
            let result = try await inspect.run()
            id = result.succeeded ? result.tail.last(where: { $0.hasPrefix("sha256:") }) : nil
        } catch {
            id = nil
        }
        guard let id else {
            throw ImageBuildError(code: .failed, detail: tag, message: "the build succeeded but the engine has no image tagged \(tag)", output: tail)
        }
        return ImageBuildResult(imageID: id, tag: tag, labels: labels, duration: .now - started)
    }

    /// The Dockerfile path, checked to be inside the context; throws for anything unbuildable.
    private func validate(_ request: ImageBuildRequest) throws(ImageBuildError) -> String {
        let tag = request.tag
        func invalid(_ message: String) -> ImageBuildError { ImageBuildError(code: .invalidRequest, detail: tag, message: message) }
        guard Self.isPlausibleReference(tag) else { throw invalid("'\(tag)' is not an image reference (lower-case name[:tag])") }
        for key in request.labels.keys where key.isEmpty || key.contains("=") || key.contains(where: \.isNewline) {
            throw invalid("label key '\(key)' must be non-empty, without '=' or line breaks")
        }
        for key in request.buildArgs.keys where key.isEmpty || key.contains("=") {
            throw invalid("build argument '\(key)' must be non-empty, without '='")
        }
        guard request.context.hasPrefix("/") else { throw invalid("the context '\(request.context)' is not an absolute path") }
        guard let context = realPath(request.context) else { throw invalid("the context directory \(request.context) does not exist") }
        guard !request.dockerfile.hasPrefix("/"), !request.dockerfile.isEmpty else {
            throw invalid("the Dockerfile path '\(request.dockerfile)' must be relative to the context")
        }
        guard let dockerfile = realPath(context + "/" + request.dockerfile) else {
            throw invalid("no Dockerfile at \(request.dockerfile) in the context")
        }
        // Resolved, so neither '..' nor a symlink can point the build at a file outside the repository.
        guard dockerfile.hasPrefix(context == "/" ? "/" : context + "/") else {
            throw invalid("the Dockerfile '\(request.dockerfile)' is outside the context")
        }
        return dockerfile
    }

    private func realPath(_ path: String) -> String? {
        guard let resolved = Foundation.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `name[:tag]` with Docker's characters, not starting with '-'.
    static func isPlausibleReference(_ reference: String) -> Bool {
        guard let first = reference.unicodeScalars.first, reference.utf8.count <= 255 else { return false }
        guard CharacterSet.lowercaseLetters.contains(first) || CharacterSet.decimalDigits.contains(first) else { return false }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@")
        return reference.unicodeScalars.allSatisfy { allowed.contains($0) }
    }

    private static func isDeprecationBanner(_ line: String) -> Bool {
        line.hasPrefix("DEPRECATED: The legacy builder") || line.contains("BuildKit is currently disabled")
            || line.contains("environment-variable.") && line.hasPrefix("   ")
    }
}
