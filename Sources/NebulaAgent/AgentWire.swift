import Foundation
import HostMetrics

/// What a node agent and the control plane say to each other. Joining is one HTTP exchange; after
/// that the agent keeps one WebSocket open to `/api/v1/agent/connect` and sends JSON messages.
public enum AgentWire {
    /// `POST /api/v1/agent/join`: trade a one-time join token for this node's credential.
    public struct JoinRequest: Codable, Sendable {
        public var token: String
        public var hostname: String
        public init(token: String, hostname: String) {
            self.token = token
            self.hostname = hostname
        }
    }

    /// The node's identity and credential. The agent keeps it in a 0600 file.
    public struct JoinResponse: Codable, Sendable, Equatable {
        public var serverId: UUID
        public var name: String
        public var credential: String
        public init(serverId: UUID, name: String, credential: String) {
            self.serverId = serverId
            self.name = name
            self.credential = credential
        }
    }

    /// One message on the agent's WebSocket.
    public struct Message: Codable, Sendable {
        public enum Kind: String, Codable, Sendable {
            /// Agent → control plane, once per connection: version and hardware.
            case hello
            /// Agent → control plane: a metrics sample.
            case sample
            /// Control plane → agent: settings such as the reporting interval.
            case config
            /// Control plane → agent: do something (``AgentRequest``).
            case request
            /// Agent → control plane: the outcome of a request (``AgentReply``).
            case reply
            /// Both ways: one frame of a web terminal session (``TerminalFrame``).
            case terminal
            /// Both ways: one frame of a streamed answer such as followed logs (``StreamFrame``).
            case stream
        }

        public var type: Kind
        public var version: String?
        public var hardware: HardwareProfile?
        public var sample: HostSample?
        public var intervalSeconds: Int?
        public var request: AgentRequest?
        public var reply: AgentReply?
        public var terminal: TerminalFrame?
        public var stream: StreamFrame?

        public init(type: Kind, version: String? = nil, hardware: HardwareProfile? = nil, sample: HostSample? = nil, intervalSeconds: Int? = nil,
                    request: AgentRequest? = nil, reply: AgentReply? = nil, terminal: TerminalFrame? = nil, stream: StreamFrame? = nil) {
            self.stream = stream
            self.type = type
            self.version = version
            self.hardware = hardware
            self.sample = sample
            self.intervalSeconds = intervalSeconds
            self.request = request
            self.reply = reply
            self.terminal = terminal
        }

        public static let encoder: JSONEncoder = {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            return encoder
        }()

        public static let decoder: JSONDecoder = {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return decoder
        }()
    }
}

/// One frame of a terminal session relayed over the agent's WebSocket.
///
/// The control plane sends `open` (with a size), then `data` (keystrokes), `resize` and `close`;
/// the agent answers with `data` (output) and finally `exit` (with a message when it failed).
public struct TerminalFrame: Codable, Sendable, Equatable {
    public enum Op: String, Codable, Sendable {
        case open, data, resize, close, exit
    }

    public var session: String
    public var op: Op
    /// Base64 bytes, for `data`.
    public var data: String?
    public var columns: Int?
    public var rows: Int?
    /// Why the session ended or could not open, for `exit`.
    public var message: String?

    public init(session: String, op: Op, data: String? = nil, columns: Int? = nil, rows: Int? = nil, message: String? = nil) {
        self.session = session
        self.op = op
        self.data = data
        self.columns = columns
        self.rows = rows
        self.message = message
    }

    /// The bytes of a `data` frame (empty when missing or not base64).
    public var bytes: [UInt8] { data.flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? [] }

    public static func data(_ session: String, _ bytes: [UInt8]) -> TerminalFrame {
        TerminalFrame(session: session, op: .data, data: Data(bytes).base64EncodedString())
    }
}
