import Synchronization
import AsyncHTTPClient
import Foundation
import HostMetrics
import NebulaAgent
import NIOCore
import NIOHTTP1
import NIOPosix
import WebSocketKit

// nebula-fleet-load: simulates many agent nodes against a running control plane.
//
//   nebula-fleet-load --server http://127.0.0.1:8080 --token ADMIN_TOKEN [--agents 200] [--interval 5] [--duration 60]
//                     [--ready-file PATH]
//
// Creates the servers (fleet-load-N) through the API, joins each with a one-time token, opens one
// WebSocket per node and sends this machine's real sample every interval (start times spread over
// the interval). Prints how many samples were sent; the control plane's own ingest latency is read
// from its /metrics (nebula_agent_ingest_seconds) by scripts/bench/fleet.sh.

struct Options {
    var server = "http://127.0.0.1:8080"
    var token = ""
    var agents = 200
    var interval = 5
    var duration = 60
    /// Written once every node has joined, so a benchmark can start measuring then.
    var readyFile: String?

    static func parse(_ arguments: [String]) -> Options? {
        var options = Options()
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { return nil }
            switch flag {
            case "--server": options.server = value
            case "--token": options.token = value
            case "--agents": options.agents = Int(value) ?? options.agents
            case "--interval": options.interval = Int(value) ?? options.interval
            case "--duration": options.duration = Int(value) ?? options.duration
            case "--ready-file": options.readyFile = value
            default: return nil
            }
        }
        return options.token.isEmpty ? nil : options
    }
}

struct Created: Decodable { var id: UUID }
struct Issued: Decodable { var token: String }

func call(_ method: HTTPMethod, _ url: String, token: String?, body: String?) async throws -> Data {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let data = Data(buffer: try await response.body.collect(upTo: 1 << 20))
    guard (200..<300).contains(response.status.code) else {
        throw NSError(domain: "fleet-load", code: Int(response.status.code), userInfo: [NSLocalizedDescriptionKey: "\(method) \(url): \(response.status) \(String(decoding: data, as: UTF8.self))"])
    }
    return data
}

guard let options = Options.parse(CommandLine.arguments) else {
    FileHandle.standardError.write(Data("usage: nebula-fleet-load --server URL --token ADMIN_TOKEN [--agents N] [--interval S] [--duration S]\n".utf8))
    exit(2)
}

let sampler = HostSampler(gpuProbe: nil)
_ = try await sampler.sample()
try await Task.sleep(for: .seconds(1))
let sample = try await sampler.sample()
let message = String(decoding: try AgentWire.Message.encoder.encode(AgentWire.Message(type: .sample, sample: sample)), as: UTF8.self)
let run = UUID().uuidString.prefix(6).lowercased()

// Join every node first, so the measured window is reporting only.
var credentials: [String] = []
for index in 0..<options.agents {
    let created = try JSONDecoder().decode(Created.self, from: try await call(.POST, options.server + "/api/v1/servers", token: options.token,
                                                                         body: #"{"name":"fleet-load-\#(run)-\#(index)","connection":"agent"}"#))
    let issued = try JSONDecoder().decode(Issued.self, from: try await call(.POST, options.server + "/api/v1/servers/\(created.id)/join-token", token: options.token, body: nil))
    let joined = try AgentWire.Message.decoder.decode(AgentWire.JoinResponse.self, from: try await call(.POST, options.server + "/api/v1/agent/join", token: nil,
                                                                                                       body: #"{"token":"\#(issued.token)","hostname":"load-\#(index)"}"#))
    credentials.append(joined.credential)
}
print("joined \(options.agents) agents")
if let readyFile = options.readyFile {
    _ = FileManager.default.createFile(atPath: readyFile, contents: Data("ready\n".utf8))
}

let sent = ManagedAtomicCounter()
let wsURL = options.server.replacingOccurrences(of: "http://", with: "ws://") + "/api/v1/agent/connect"
let deadline = ContinuousClock.now + .seconds(options.duration)
await withTaskGroup(of: Void.self) { group in
    for (index, credential) in credentials.enumerated() {
        group.addTask {
            // Spread the nodes over the interval, as real agents started at different times are.
            try? await Task.sleep(for: .milliseconds(index * options.interval * 1000 / max(options.agents, 1)))
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(credential)")
            // connect returns once upgraded; the socket is handed over from its callback.
            let (sockets, handOver) = AsyncStream<WebSocket>.makeStream()
            do {
                try await WebSocket.connect(to: wsURL, headers: headers, on: MultiThreadedEventLoopGroup.singleton) { socket in
                    handOver.yield(socket)
                    handOver.finish()
                }.get()
            } catch {
                return
            }
            var iterator = sockets.makeAsyncIterator()
            guard let socket = await iterator.next() else { return }
            while ContinuousClock.now < deadline {
                if (try? await socket.send(message)) != nil { sent.increment() }
                try? await Task.sleep(for: .seconds(options.interval))
            }
            try? await socket.close()
        }
    }
}
print("sent \(sent.value) samples from \(options.agents) agents in \(options.duration) s")

/// A lock-protected counter shared by the simulated agents.
final class ManagedAtomicCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
