/// Why a Docker Engine call failed. Each case says what went wrong and what the user can do.
///
/// `code` is stable (snake_case raw values suit API responses and audit records); `detail` names
/// the endpoint, container or image concerned; `message` is Docker's own message when it sent one.
public struct DockerError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, Codable, CaseIterable {
        /// The socket is missing, refused the connection, or the connection broke.
        case unreachable
        /// `DOCKER_HOST` (or the endpoint given) is not `unix://PATH` or `tcp://HOST:PORT`.
        case invalidEndpoint = "invalid_endpoint"
        /// No container with that id or name on this engine (HTTP 404).
        case noSuchContainer = "no_such_container"
        /// No image with that id or reference on this engine (HTTP 404).
        case noSuchImage = "no_such_image"
        /// Any other missing object (volume, network, exec) (HTTP 404).
        case notFound = "not_found"
        /// The engine refused because of the object's state, e.g. removing a running container (HTTP 409).
        case conflict
        /// Nothing to do: the container is already started or stopped (HTTP 304).
        /// `start`, `stop` and `restart` treat this as success and never throw it.
        case notModified = "not_modified"
        /// The engine's API version is older than this client supports.
        case apiVersion = "api_version"
        /// The engine rejected the request's parameters (HTTP 400).
        case badRequest = "bad_request"
        /// The engine failed (HTTP 500 and other unexpected statuses), with Docker's message.
        case serverError = "server_error"
        /// The engine answered with something this client cannot read.
        case badResponse = "bad_response"
    }

    /// What kind of failure this is.
    public var code: Code
    /// The endpoint, container, image or operation concerned.
    public var detail: String
    /// Docker's own message (`{"message": …}`) or the underlying error, when there is one.
    public var message: String?

    /// A failure of kind `code` about `detail`.
    public init(code: Code, detail: String, message: String? = nil) {
        self.code = code
        self.detail = detail
        self.message = message
    }

    /// The socket is missing or refused: is Docker running, and may this user read the socket?
    public static func unreachable(_ endpoint: String, message: String? = nil) -> Self {
        .init(code: .unreachable, detail: endpoint, message: message)
    }
    /// The endpoint string cannot be used.
    public static func invalidEndpoint(_ endpoint: String, message: String? = nil) -> Self {
        .init(code: .invalidEndpoint, detail: endpoint, message: message)
    }
    /// No container with this id or name on that engine.
    public static func noSuchContainer(_ id: String, message: String? = nil) -> Self {
        .init(code: .noSuchContainer, detail: id, message: message)
    }
    /// No image with this id or reference on that engine.
    public static func noSuchImage(_ image: String, message: String? = nil) -> Self {
        .init(code: .noSuchImage, detail: image, message: message)
    }
    /// The object's state does not allow the operation.
    public static func conflict(_ detail: String, message: String? = nil) -> Self {
        .init(code: .conflict, detail: detail, message: message)
    }
    /// The engine's API is older than `minimum`.
    public static func apiVersion(server: String, minimum: String) -> Self {
        .init(code: .apiVersion, detail: server, message: "this client needs at least API \(minimum)")
    }
    /// The engine failed with this message.
    public static func serverError(_ detail: String, message: String?) -> Self {
        .init(code: .serverError, detail: detail, message: message)
    }
    /// The engine's answer could not be read.
    public static func badResponse(_ detail: String, message: String? = nil) -> Self {
        .init(code: .badResponse, detail: detail, message: message)
    }

    /// One sentence: what failed, Docker's message, and what to do about it.
    public var description: String {
        let why = message.map { ": \($0)" } ?? ""
        switch code {
        case .unreachable:
            return "Docker Engine at \(detail) is unreachable\(why). Is Docker running, and may this user read the socket (group 'docker' or root)?"
        case .invalidEndpoint:
            return "Docker endpoint '\(detail)' is not usable\(why). Use unix:///path/to/docker.sock or tcp://host:port (DOCKER_HOST)."
        case .noSuchContainer:
            return "No such container '\(detail)'\(why). It may have been removed; refresh the container list."
        case .noSuchImage:
            return "No such image '\(detail)'\(why). Pull or build it on this node first."
        case .notFound:
            return "Not found: \(detail)\(why). Refresh the list; it may have been removed."
        case .conflict:
            return "Docker refused \(detail)\(why). Stop the container first (or force it), then retry."
        case .notModified:
            return "Nothing to do for \(detail): it is already in that state."
        case .apiVersion:
            return "Docker Engine API \(detail) is too old\(why). Upgrade Docker on this node."
        case .badRequest:
            return "Docker rejected the request for \(detail)\(why). Check the values given."
        case .serverError:
            return "Docker failed on \(detail)\(why). Check the engine's log (journalctl -u docker) and retry."
        case .badResponse:
            return "Docker's answer for \(detail) could not be read\(why). Is the endpoint really a Docker Engine?"
        }
    }
}
