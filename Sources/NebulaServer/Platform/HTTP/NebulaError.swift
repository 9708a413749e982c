import NebulaCore
import Vapor

/// An error a feature service raises on purpose. It carries the HTTP status, a stable `code` for
/// API clients and a message for people; the error middleware turns it into
/// `{ "error": { "code", "message" } }` for the API or a readable page.
public struct NebulaError: AbortError, Equatable, CustomStringConvertible {
    public var status: HTTPResponseStatus
    public var code: String
    public var message: String
    public var headers: HTTPHeaders
    /// Field-level problems (a manifest's), rendered as `error.problems: [{ path, message }]`.
    public var problems: [FieldProblem] = []

    public init(_ status: HTTPResponseStatus, code: String, _ message: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var reason: String { message }
    public var description: String { "\(code): \(message)" }

    /// The request body or a parameter is malformed.
    public static func invalid(_ message: String, code: String = "invalid_request") -> Self { .init(.badRequest, code: code, message) }
    /// The input is well-formed but breaks a rule (too short, out of range, …).
    public static func unprocessable(_ message: String, code: String = "validation_failed") -> Self { .init(.unprocessableEntity, code: code, message) }
    /// No credentials, or credentials that do not work.
    public static func unauthenticated(_ message: String = "Sign in or send an API token (Authorization: Bearer …).", code: String = "unauthenticated") -> Self {
        .init(.unauthorized, code: code, message)
    }
    /// Signed in, but the role is too low.
    public static func forbidden(needs role: Role) -> Self {
        .init(.forbidden, code: "forbidden", "This needs the \(role.rawValue) role or higher.")
    }
    public static func notFound(_ what: String) -> Self { .init(.notFound, code: "not_found", "\(what) was not found.") }
    public static func conflict(_ message: String, code: String = "conflict") -> Self { .init(.conflict, code: code, message) }
    /// A peer the request depends on (a node, an SSH server) did not answer or failed.
    public static func badGateway(_ message: String, code: String) -> Self { .init(.badGateway, code: code, message) }
    /// The control plane is set up in a way that cannot serve this (a bug or an unsupported database).
    public static func misconfigured(_ message: String) -> Self { .init(.internalServerError, code: "misconfigured", message) }
}

/// One thing wrong with one field of the input: where (`variables[2].default`) and what.
public struct FieldProblem: Codable, Sendable, Equatable {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}
