import AsyncHTTPClient
import Foundation

/// Who wrote a message of a conversation.
public enum ChatRole: String, Codable, Sendable {
    /// Instructions for the model (Anthropic: sent as the top-level `system` text).
    case system
    /// The person asking.
    case user
    /// The model's earlier answers, with any tool calls it made.
    case assistant
    /// The result of one tool call (``ChatMessage/toolCallID`` says which).
    case tool
}

/// One call of a tool the model asked for, complete (streamed fragments already assembled).
public struct ToolCall: Codable, Sendable, Hashable {
    /// The provider's id for the call (Ollama gives none: `call_<n>` is generated).
    public var id: String
    /// The tool's name, as in ``ToolDefinition/name``.
    public var name: String
    /// The arguments as JSON object text, e.g. `{"host":"nas"}`.
    public var arguments: String

    /// A tool call.
    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One message of a conversation.
public struct ChatMessage: Codable, Sendable, Hashable {
    /// Who wrote it.
    public var role: ChatRole
    /// Its text (a tool's result for `.tool`).
    public var content: String
    /// The tools an assistant message called.
    public var toolCalls: [ToolCall]
    /// For `.tool` messages: the ``ToolCall/id`` this message answers.
    public var toolCallID: String?

    /// A message.
    public init(role: ChatRole, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }
}

/// A tool the model may call.
public struct ToolDefinition: Codable, Sendable, Hashable {
    /// The name the model uses to call it.
    public var name: String
    /// What it does, for the model.
    public var description: String
    /// Its parameters as a JSON Schema object, as text.
    public var parametersJSON: String

    /// A tool definition.
    public init(name: String, description: String, parametersJSON: String) {
        self.name = name
        self.description = description
        self.parametersJSON = parametersJSON
    }
}

/// One question to a model.
public struct ChatRequest: Sendable {
    /// The model's name as the provider knows it.
    public var model: String
    /// The conversation so far.
    public var messages: [ChatMessage]
    /// Tools the model may call.
    public var tools: [ToolDefinition]
    /// Sampling temperature; the provider's default when nil.
    public var temperature: Double?
    /// Most tokens to generate; the provider's default when nil (Anthropic: 1024).
    public var maxTokens: Int?

    /// A request.
    public init(model: String, messages: [ChatMessage], tools: [ToolDefinition] = [], temperature: Double? = nil, maxTokens: Int? = nil) {
        self.model = model
        self.messages = messages
        self.tools = tools
        self.temperature = temperature
        self.maxTokens = maxTokens
    }
}

/// Tokens one answer used.
public struct TokenUsage: Codable, Sendable, Hashable {
    /// Tokens of the prompt (the whole conversation sent).
    public var promptTokens: Int
    /// Tokens of the answer.
    public var completionTokens: Int

    /// A usage report.
    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// What a streaming chat yields, the same for every provider.
public enum ChatStreamEvent: Sendable, Hashable {
    /// A piece of the answer's text.
    case text(String)
    /// A complete tool call, assembled from the provider's fragments.
    case toolCall(ToolCall)
    /// Tokens used, when the provider reports them.
    case usage(TokenUsage)
    /// The last event: the provider's reason (`stop`, `tool_calls`, `length`, `end_turn`, …).
    case finished(reason: String)
}

/// A model a provider offers.
public struct ModelInfo: Codable, Sendable, Hashable {
    /// Its name, as given in ``ChatRequest/model``.
    public var name: String
    /// Size on disk (Ollama).
    public var sizeBytes: Int64?
    /// Model family, e.g. `llama` (Ollama).
    public var family: String?
    /// Parameter count as the provider writes it, e.g. `8.0B` (Ollama).
    public var parameterSize: String?
    /// Quantization, e.g. `Q4_K_M` (Ollama).
    public var quantization: String?

    /// A model description.
    public init(name: String, sizeBytes: Int64? = nil, family: String? = nil, parameterSize: String? = nil, quantization: String? = nil) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.family = family
        self.parameterSize = parameterSize
        self.quantization = quantization
    }
}

/// A chat model API. Implementations: ``OpenAICompatibleClient``, ``OllamaClient``, ``AnthropicClient``.
public protocol ChatProvider: Sendable {
    /// Streams one answer. Errors before the first event are thrown from the stream's first
    /// `next()`; an error after events were yielded is an ``AIProviderError`` — `.streamInterrupted`
    /// when the connection broke, or the provider's own error — never a silent `.finished`.
    /// Cancelling the consuming task cancels the request.
    func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatStreamEvent, any Error>

    /// The models the provider offers.
    func models() async throws(AIProviderError) -> [ModelInfo]
}

/// Why a provider call failed. `message` says what went wrong and what to do; it never contains
/// the API key.
public struct AIProviderError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; the raw values are stable (snake_case) for API responses.
    public enum Code: String, Sendable {
        /// The API could not be reached (connection refused, DNS failure, TLS failure).
        case unreachable
        /// The API key was refused.
        case authenticationFailed = "authentication_failed"
        /// The provider has no model of that name (pull it, or check the spelling).
        case modelNotFound = "model_not_found"
        /// Too many requests, or the provider is overloaded; try again later.
        case rateLimited = "rate_limited"
        /// The answer could not be read (not the provider's documented format).
        case invalidResponse = "invalid_response"
        /// No complete answer within the configured timeout.
        case timedOut = "timed_out"
        /// The connection closed in the middle of a streamed answer.
        case streamInterrupted = "stream_interrupted"
        /// The provider refused the request (its own message is included).
        case rejected
    }

    /// What kind of failure this is.
    public var code: Code
    /// One or two sentences: what failed, the provider's own words when it gave any, and what to do.
    public var message: String
    /// The HTTP status the provider answered with, when the failure was an HTTP error answer.
    public var httpStatus: Int?

    /// An error of kind `code`.
    public init(code: Code, message: String, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
    }

    /// Whether the failure says the provider is unwell (down, overloaded, failing), as opposed to
    /// a problem with this one request (an unknown model, a request it refused with a 4xx).
    /// Circuit breakers count only these.
    public var isProviderFailure: Bool {
        switch code {
        case .modelNotFound: false
        case .rejected: (httpStatus ?? 500) >= 500
        default: true
        }
    }

    public var description: String { message }
}

/// The process-wide HTTP client for model providers: a refused connection fails at once, redirects
/// are not followed (an API key must not travel elsewhere), answers may be compressed, and there is
/// no read timeout (a model may pause for a long time between tokens; each request has its own
/// deadline instead). Never shut down; it lives as long as the process.
public enum AIProviderHTTP {
    /// The shared client.
    public static let client: HTTPClient = {
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60))
        pool.retryConnectionEstablishment = false
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: nil),
            connectionPool: pool,
            proxy: nil,
            ignoreUncleanSSLShutdown: false,
            decompression: .enabled(limit: .ratio(20))
        )
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
