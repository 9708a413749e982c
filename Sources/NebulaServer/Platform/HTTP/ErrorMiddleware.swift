import NebulaCore
import Vapor

/// Turns every error into the product's shape: a JSON body `{ "error": { "code", "message" } }`
/// for `/api`, a readable HTML page everywhere else. Internal details stay in the log.
struct NebulaErrorMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            let problem = Self.describe(error)
            if problem.status.code >= 500 {
                request.logger.report(error: error)
            } else {
                request.logger.debug("request refused: \(problem.code)")
            }
            return Self.response(for: problem, request: request)
        }
    }

    struct Problem {
        var status: HTTPResponseStatus
        var code: String
        var message: String
        var headers: HTTPHeaders
        var problems: [FieldProblem] = []
    }

    static func describe(_ error: any Error) -> Problem {
        switch error {
        case let error as NebulaError:
            return Problem(status: error.status, code: error.code, message: error.message, headers: error.headers, problems: error.problems)
        case let error as DecodingError:
            return Problem(status: .badRequest, code: "invalid_request", message: Self.explain(error), headers: [:])
        case let error as any APIErrorConvertible:
            let converted = error.apiError
            return Problem(status: converted.status, code: converted.code, message: converted.message, headers: converted.headers)
        case let error as any AbortError:
            let code: String = switch error.status {
            case .notFound: "not_found"
            case .payloadTooLarge: "payload_too_large"
            case .unsupportedMediaType: "unsupported_media_type"
            case .methodNotAllowed: "method_not_allowed"
            case .unauthorized: "unauthenticated"
            case .forbidden: "forbidden"
            case .badRequest: "invalid_request"
            case .unprocessableEntity: "validation_failed"
            default: error.status.code >= 500 ? "internal_error" : "request_failed"
            }
            let message: String = switch error.status {
            case .payloadTooLarge: "The request body is larger than this server accepts."
            case .notFound where error.reason == "Not Found": "There is nothing at this address."
            default: error.reason
            }
            return Problem(status: error.status, code: code, message: message, headers: error.headers)
        default:
            return Problem(status: .internalServerError, code: "internal_error", message: "Something went wrong on the server; the log has the details.", headers: [:])
        }
    }

    /// A short message naming the field, without echoing the whole payload.
    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "the body" : "'\(joined)'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "Missing field '\(key.stringValue)'" + (parent == "the body" ? "." : " in \(parent).")
        case .typeMismatch(let type, let context):
            return "Field \(path(context)) has the wrong type; expected \(Self.name(of: type))."
        case .valueNotFound(let type, let context):
            return "Field \(path(context)) is null; expected \(Self.name(of: type))."
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "The body is not valid JSON." : "Field \(path(context)) is invalid: \(context.debugDescription)"
        @unknown default:
            return "The body could not be read."
        }
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }

    static func response(for problem: Problem, request: Request) -> Response {
        var headers = problem.headers
        let wantsJSON = request.url.path.hasPrefix("/api/") || request.headers.accept.mediaTypes.first == .json
        let body: Response.Body
        if request.url.path.hasPrefix(OpenAIGatewayController.prefix) {
            // Tools that speak OpenAI read OpenAI's error shape.
            headers.contentType = .json
            body = .init(data: (try? JSONEncoder().encode(OpenAIErrorBody(status: problem.status, code: problem.code, message: problem.message))) ?? Data())
        } else if wantsJSON {
            headers.contentType = .json
            let encoded = problem.problems.isEmpty
                ? (try? JSONEncoder().encode(APIErrorBody(code: problem.code, message: problem.message))) ?? Data()
                : (try? JSONEncoder().encode(ProblemsErrorBody(error: .init(code: problem.code, message: problem.message, problems: problem.problems)))) ?? Data()
            body = .init(data: encoded)
        } else {
            headers.contentType = .html
            body = .init(string: ErrorPage.render(status: problem.status, message: problem.message))
        }
        return Response(status: problem.status, headers: headers, body: body)
    }
}

/// `{ "error": { "code", "message", "problems": [{ "path", "message" }] } }`: the usual error
/// shape with the field-level problems added.
struct ProblemsErrorBody: Codable, Sendable {
    struct Detail: Codable, Sendable {
        var code: String
        var message: String
        var problems: [FieldProblem]
    }
    var error: Detail
}

/// An error from a client library (SSH, a node) that knows how the API should report it, so
/// features need not wrap every call.
protocol APIErrorConvertible: Error {
    var apiError: NebulaError { get }
}
