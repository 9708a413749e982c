import DockerEngine
import Foundation

/// A deploy's build step as the control plane asks a node for it: check the repository out into
/// `<apps root>/<project>/source` and build its Dockerfile into `tag`. Sent as the
/// ``DockerStreamCall/build(_:)`` stream, so git's and docker's output reach the job log as they
/// are written; the stream ends with a ``DockerStreamChunk/built(_:)`` chunk, or with an error.
public struct DeployBuild: Codable, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The Compose project on the node (`deploy-<name>`); the checkout lives in its folder.
    public var project: String
    /// `https://…`, `ssh://…`, `git@host:path`, `git://…` or `file://…`, without credentials.
    public var url: String
    public var branch: String
    /// An HTTPS access token (never written to disk, never in any output).
    public var token: String?
    /// The Dockerfile, relative to the repository's root.
    public var dockerfile: String
    /// `nebula-deploy/<name>:r<N>`.
    public var tag: String
    /// Image labels (`dev.nebula.managed=true` is always added by the builder).
    public var labels: [String: String]
    /// The limit for the clone or fetch, and again for the build.
    public var timeoutSeconds: Int

    public init(project: String, url: String, branch: String, token: String? = nil, dockerfile: String = "Dockerfile", tag: String,
                labels: [String: String] = [:], timeoutSeconds: Int = 1800) {
        self.project = project
        self.url = url
        self.branch = branch
        self.token = token
        self.dockerfile = dockerfile
        self.tag = tag
        self.labels = labels
        self.timeoutSeconds = timeoutSeconds
    }

    /// What logs and error messages may show: never the token.
    public var description: String {
        "build \(tag) of \(project) from \(url)#\(branch)\(token == nil ? "" : " (with a token)")"
    }

    public var debugDescription: String { description }
}

/// What a finished deploy build produced.
public struct DeployBuildResult: Codable, Sendable, Equatable {
    /// The commit built (full sha) and the first line of its message.
    public var commitSHA: String
    public var commitSubject: String
    /// `sha256:…`.
    public var imageID: String
    public var tag: String
    /// How long the checkout and the build took.
    public var checkoutSeconds: Double
    public var buildSeconds: Double

    public init(commitSHA: String, commitSubject: String, imageID: String, tag: String, checkoutSeconds: Double, buildSeconds: Double) {
        self.commitSHA = commitSHA
        self.commitSubject = commitSubject
        self.imageID = imageID
        self.tag = tag
        self.checkoutSeconds = checkoutSeconds
        self.buildSeconds = buildSeconds
    }
}

/// Runs ``DeployBuild``s on this node: ``GitCheckout`` into the project's `source` folder, then
/// ``ImageBuilder``. Used by ``NodeDocker/stream(_:)`` for the agent and the control plane alike.
public struct NodeDeploys: Sendable {
    /// The apps directory (`NEBULA_APPS_DIR`); deploys live beside the apps, one folder per project.
    public let appsRoot: String
    public let builder: any ImageBuilder
    public let git: GitCheckout

    public init(appsRoot: String, builder: any ImageBuilder, git: GitCheckout = GitCheckout()) {
        self.appsRoot = appsRoot
        self.builder = builder
        self.git = git
    }

    /// The checkout directory of `project`.
    public func sourceDirectory(for project: String) throws(DockerError) -> String {
        guard ComposeProject.isValidName(project) else {
            throw DockerError(code: .badRequest, detail: "deploy build", message: "'\(project.prefix(64))' is not a valid project name")
        }
        guard appsRoot.hasPrefix("/") else {
            throw DockerError(code: .badRequest, detail: "deploy build", message: "the apps directory '\(appsRoot)' is not an absolute path")
        }
        return appsRoot + "/" + project + "/source"
    }

    /// Output lines as `.lines` chunks while the checkout and build run, then `.built`; a failed
    /// step finishes the stream with a ``DockerError`` whose message names the cause.
    public func build(_ request: DeployBuild) -> AsyncThrowingStream<DockerStreamChunk, any Error> {
        let (stream, continuation) = AsyncThrowingStream<DockerStreamChunk, any Error>.makeStream()
        let task = Task {
            do {
                let result = try await run(request) { line in continuation.yield(.lines([LogLine(stream: .stdout, text: line)])) }
                continuation.yield(.built(result))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func run(_ request: DeployBuild, output: @escaping @Sendable (String) -> Void) async throws(DockerError) -> DeployBuildResult {
        let directory = try sourceDirectory(for: request.project)
        let detail = "deploy build \(request.tag)"
        do {
            try FileManager.default.createDirectory(atPath: appsRoot + "/" + request.project, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw DockerError(code: .serverError, detail: detail, message: "cannot create \(appsRoot)/\(request.project): \(error.localizedDescription)")
        }
        let clock = ContinuousClock()
        let started = clock.now
        output("$ git checkout \(request.branch) of \(GitCheckout.redacted(request.url))")
        var checkout = git
        checkout.timeout = .seconds(max(30, request.timeoutSeconds))
        let commit: GitCommit
        do {
            commit = try await checkout.checkout(GitSource(url: request.url, branch: request.branch, token: request.token), into: directory, output: output)
        } catch {
            // The description is already scrubbed of the token.
            throw DockerError(code: .badRequest, detail: "git checkout", message: error.description)
        }
        let checkedOut = clock.now
        output("commit \(commit.sha.prefix(12)) \(commit.subject)")
        output("$ docker build --file=\(request.dockerfile) --tag=\(request.tag)")
        let built: ImageBuildResult
        do {
            built = try await builder.build(ImageBuildRequest(context: directory, dockerfile: request.dockerfile, tag: request.tag, labels: request.labels,
                                                              timeout: .seconds(max(30, request.timeoutSeconds))), output: output)
        } catch {
            // The output was streamed already; the message keeps the last lines, which name the failing step.
            // Of those, the failing step and docker's verdict say it all.
            let meaningful = error.output.filter { !$0.hasPrefix(" ---> ") && !$0.hasPrefix("Removing intermediate container") }
            var short = error
            short.output = [meaningful.last { $0.hasPrefix("Step ") }, meaningful.last].compactMap { $0 }.reduce(into: []) { lines, line in
                if !lines.contains(line) { lines.append(line) }
            }
            throw DockerError(code: error.code == .invalidRequest ? .badRequest : .serverError, detail: detail, message: short.description)
        }
        let finished = clock.now
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        return DeployBuildResult(commitSHA: commit.sha, commitSubject: commit.subject, imageID: built.imageID, tag: built.tag,
                                 checkoutSeconds: seconds(checkedOut - started), buildSeconds: seconds(finished - checkedOut))
    }
}

extension GitCheckout {
    /// `url` with any user information removed, for output.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }
}
