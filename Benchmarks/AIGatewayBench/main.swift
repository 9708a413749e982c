import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

// nebula-ai-bench: what the AI gateway adds on top of calling a model server directly.
//
//   nebula-ai-bench upstream --port P [--ready-file PATH]
//       A loopback model server speaking OpenAI's API as fast as it can: GET /v1/models lists
//       `bench-model`; POST /v1/chat/completions answers `max_tokens` one-token chunks (default
//       1000), each as its own SSE frame and its own flush (as a token-by-token server writes
//       them), then the finish frame, usage (when `stream_options.include_usage`) and [DONE];
//       `stream: false` answers one chat.completion object with the same text.
//
//   nebula-ai-bench client --direct http://127.0.0.1:P/v1 --gateway http://127.0.0.1:G/api/v1/ai/openai/v1
//                          --token T [--model bench-model] [--requests 200] [--warmup 20] [--chunks 1000]
//                          [--short 20] [--server-pid PID] [--label TEXT]
//       Sends the same requests to the upstream directly and through the gateway, interleaved
//       (the order alternates each round), one persistent keep-alive connection per target, one
//       request at a time. Streaming: time to first token (request written → first content delta
//       read) and chunk rate (content chunks / time from the first to the last one). Non-streaming:
//       a short answer (`--short` tokens), request written → whole response read. With --server-pid,
//       the gateway's CPU time (utime + stime from /proc) over its streaming requests, per chunk.
//       The client parses bytes on its event loop (no per-frame allocation), so it can read well
//       over 100,000 chunks/s on one core.

let benchModel = "bench-model"

// MARK: - Upstream

/// One SSE frame per token, built once.
struct UpstreamFrames: Sendable {
    static let prefix = #"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","system_fingerprint":null,"choices":"#
    let role = ByteBuffer(string: prefix + #"[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"# + "\n\n")
    let tokens: [ByteBuffer]
    let finish = ByteBuffer(string: prefix + #"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"# + "\n\n")
    let done = ByteBuffer(string: "data: [DONE]\n\n")

    static func token(_ index: Int) -> String { "tok\(index) " }

    init(count: Int) {
        tokens = (0..<count).map { index in
            ByteBuffer(string: Self.prefix + #"[{"index":0,"delta":{"content":"\#(Self.token(index))"},"logprobs":null,"finish_reason":null}]}"# + "\n\n")
        }
    }

    func usage(prompt: Int, completion: Int) -> ByteBuffer {
        ByteBuffer(string: Self.prefix + #"[],"usage":{"prompt_tokens":\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion)}}"# + "\n\n")
    }
}

final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let frames: UpstreamFrames
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(frames: UpstreamFrames) { self.frames = frames }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            respond(context: context, head: head)
            self.head = nil
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        switch (head.method, path) {
        case (.GET, "/v1/models"):
            send(context, head: head, status: .ok, json: #"{"object":"list","data":[{"id":"\#(benchModel)","object":"model","created":0,"owned_by":"bench"}]}"#)
        case (.POST, "/v1/chat/completions"):
            guard let request = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
                  let messages = request["messages"] as? [[String: Any]], !messages.isEmpty else {
                send(context, head: head, status: .badRequest, json: #"{"error":{"message":"bench upstream: messages required","type":"invalid_request_error","code":null}}"#)
                return
            }
            guard request["model"] as? String == benchModel else {
                send(context, head: head, status: .notFound, json: #"{"error":{"message":"The model does not exist","type":"invalid_request_error","code":"model_not_found"}}"#)
                return
            }
            let count = min((request["max_tokens"] as? Int) ?? frames.tokens.count, frames.tokens.count)
            let prompt = messages.reduce(0) { $0 + (($1["content"] as? String)?.split(separator: " ").count ?? 0) }
            if request["stream"] as? Bool == true {
                let includeUsage = (request["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true
                stream(context, head: head, count: count, usage: includeUsage ? frames.usage(prompt: prompt, completion: count) : nil)
            } else {
                let text = (0..<count).map(UpstreamFrames.token).joined()
                let object: [String: Any] = [
                    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": benchModel,
                    "choices": [["index": 0, "message": ["role": "assistant", "content": text], "finish_reason": "stop"]],
                    "usage": ["prompt_tokens": prompt, "completion_tokens": count, "total_tokens": prompt + count],
                ]
                let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
                send(context, head: head, status: .ok, json: String(decoding: data, as: UTF8.self))
            }
        default:
            send(context, head: head, status: .notFound, json: #"{"error":{"message":"bench upstream: no such endpoint","type":"invalid_request_error","code":null}}"#)
        }
    }

    private func send(_ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, json: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(json.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: json)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Every frame is flushed on its own: one write per token, as fast as the loop goes.
    private func stream(_ context: ChannelHandlerContext, head: HTTPRequestHead, count: Int, usage: ByteBuffer?) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(frames.role))), promise: nil)
        for index in 0..<count {
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(frames.tokens[index]))), promise: nil)
        }
        context.write(wrapOutboundOut(.body(.byteBuffer(frames.finish))), promise: nil)
        if let usage { context.write(wrapOutboundOut(.body(.byteBuffer(usage))), promise: nil) }
        context.write(wrapOutboundOut(.body(.byteBuffer(frames.done))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

func runUpstream(port: Int, readyFile: String?, maxTokens: Int) throws -> Never {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let frames = UpstreamFrames(count: maxTokens)
    let bootstrap = ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 64)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(UpstreamHandler(frames: frames))
            }
        }
    let channel = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
    if let readyFile { FileManager.default.createFile(atPath: readyFile, contents: Data("\(channel.localAddress?.port ?? port)\n".utf8)) }
    try channel.closeFuture.wait()
    exit(0)
}

// MARK: - Client

/// Finds `"delta":{"content":"X` with X not `"` (a content chunk that is not empty) and
/// `data: [DONE]` in a byte stream, across buffer boundaries (KMP over each marker).
struct FrameCounter {
    struct Matcher {
        let pattern: [UInt8]
        let failure: [Int]
        var state = 0

        init(_ text: String) {
            pattern = Array(text.utf8)
            var failure = [Int](repeating: 0, count: pattern.count)
            var k = 0
            for i in 1..<pattern.count {
                while k > 0, pattern[i] != pattern[k] { k = failure[k - 1] }
                if pattern[i] == pattern[k] { k += 1 }
                failure[i] = k
            }
            self.failure = failure
        }

        /// True when `byte` completes the pattern.
        @inline(__always) mutating func feed(_ byte: UInt8) -> Bool {
            while state > 0, pattern[state] != byte { state = failure[state - 1] }
            if pattern[state] == byte { state += 1 }
            if state == pattern.count {
                state = failure[state - 1]
                return true
            }
            return false
        }
    }

    var content = Matcher(#""delta":{"content":""#)
    var done = Matcher("data: [DONE]")
    /// The byte after a content marker decides whether the chunk has text.
    var afterMarker = false
    var contentChunks = 0
    var sawDone = false

    /// Feeds bytes; returns how many non-empty content chunks began in them.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Int {
        var found = 0
        for byte in bytes {
            if afterMarker {
                afterMarker = false
                if byte != UInt8(ascii: "\"") { found += 1 }
            }
            if content.feed(byte) { afterMarker = true }
            if done.feed(byte) { sawDone = true }
        }
        contentChunks += found
        return found
    }
}

/// What one request measured (nanoseconds from `DispatchTime`).
struct Sample: Sendable {
    var status: UInt
    var sent: UInt64
    var firstContent: UInt64?
    var lastContent: UInt64?
    var end: UInt64
    var chunks: Int
    var sawDone: Bool
    var bytes: Int

    var ttft: Double? { firstContent.map { Double($0 - sent) / 1e6 } }   // ms
    var total: Double { Double(end - sent) / 1e6 }   // ms
    var chunksPerSecond: Double? {
        guard let first = firstContent, let last = lastContent, chunks > 1, last > first else { return nil }
        return Double(chunks - 1) / (Double(last - first) / 1e9)
    }
}

/// Touched on its channel's event loop only (`Target.send` submits there).
final class MeasuringHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private var counter = FrameCounter()
    private var sample = Sample(status: 0, sent: 0, end: 0, chunks: 0, sawDone: false, bytes: 0)
    private var promise: EventLoopPromise<Sample>?

    /// Called on the event loop right before the request is written.
    func begin(_ promise: EventLoopPromise<Sample>) {
        counter = FrameCounter()
        sample = Sample(status: 0, sent: DispatchTime.now().uptimeNanoseconds, end: 0, chunks: 0, sawDone: false, bytes: 0)
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            sample.status = head.status.code
        case .body(let buffer):
            sample.bytes += buffer.readableBytes
            let found = buffer.withUnsafeReadableBytes { counter.feed($0) }
            if found > 0 {
                let now = DispatchTime.now().uptimeNanoseconds
                if sample.firstContent == nil { sample.firstContent = now }
                sample.lastContent = now
            }
        case .end:
            sample.end = DispatchTime.now().uptimeNanoseconds
            sample.chunks = counter.contentChunks
            sample.sawDone = counter.sawDone
            promise?.succeed(sample)
            promise = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        promise = nil
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.inputClosed)
        promise = nil
    }
}

/// One keep-alive connection to one target; one request at a time.
final class Target: @unchecked Sendable {   // used from the one client thread only
    let name: String
    let host: String
    let port: Int
    let pathPrefix: String
    let token: String?
    let channel: any Channel
    let handler: MeasuringHandler

    init(name: String, url: String, token: String?, group: any EventLoopGroup) throws {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw BenchError("cannot read the URL \(url) (http://HOST:PORT/path)")
        }
        self.name = name
        self.host = host
        self.port = port
        self.pathPrefix = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        self.token = token
        let handler = MeasuringHandler()
        self.handler = handler
        channel = try ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port).wait()
    }

    func send(path: String, json: String) throws -> Sample {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(json.utf8.count))
        headers.add(name: "Accept", value: "text/event-stream, application/json")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: pathPrefix + path, headers: headers)
        let body = ByteBuffer(string: json)
        let channel = channel
        let handler = handler
        let sample = channel.eventLoop.flatSubmit { () -> EventLoopFuture<Sample> in
            let promise = channel.eventLoop.makePromise(of: Sample.self)
            handler.begin(promise)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            return promise.futureResult
        }
        return try sample.wait()
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct ClientOptions {
    var direct = ""
    var gateway = ""
    var token = ""
    var model = benchModel
    var requests = 200
    var warmup = 20
    var chunks = 1000
    var short = 20
    var serverPID: Int?
    /// Put before each figure's name (`--label "2-chunk stream: "`), to tell runs apart in one table.
    var label = ""
}

func chatBody(model: String, stream: Bool, tokens: Int) -> String {
    #"{"model":"\#(model)","messages":[{"role":"user","content":"Write a long story about a homelab."}],"stream":\#(stream),"max_tokens":\#(tokens)\#(stream ? #","stream_options":{"include_usage":true}"# : "")}"#
}

/// utime + stime of a process, in seconds.
func cpuSeconds(_ pid: Int) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14, stime 15 (1-based) → indexes 11 and 12 here.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[max(0, min(sorted.count - 1, rank))]
}

func runClient(_ options: ClientOptions) throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { try? group.syncShutdownGracefully() }
    let direct = try Target(name: "direct", url: options.direct, token: nil, group: group)
    let gateway = try Target(name: "gateway", url: options.gateway, token: options.token, group: group)
    let streamBody = { (model: String) in chatBody(model: model, stream: true, tokens: options.chunks) }
    let shortBody = { (model: String) in chatBody(model: model, stream: false, tokens: options.short) }

    func check(_ sample: Sample, _ target: Target, streaming: Bool) throws {
        guard sample.status == 200 else { throw BenchError("\(target.name) answered HTTP \(sample.status)") }
        if streaming {
            guard sample.chunks == options.chunks, sample.sawDone else {
                throw BenchError("\(target.name) streamed \(sample.chunks) of \(options.chunks) content chunks (done: \(sample.sawDone))")
            }
        }
    }

    // Warm-up: connections, caches, the gateway's upstream pool.
    for _ in 0..<options.warmup {
        try check(try direct.send(path: "/chat/completions", json: streamBody(benchModel)), direct, streaming: true)
        try check(try gateway.send(path: "/chat/completions", json: streamBody(options.model)), gateway, streaming: true)
        _ = try direct.send(path: "/chat/completions", json: shortBody(benchModel))
        _ = try gateway.send(path: "/chat/completions", json: shortBody(options.model))
    }

    var streamed: [String: [Sample]] = ["direct": [], "gateway": []]
    var short: [String: [Sample]] = ["direct": [], "gateway": []]
    var gatewayCPU = 0.0
    let started = DispatchTime.now().uptimeNanoseconds
    for round in 0..<options.requests {
        let order = round % 2 == 0 ? [direct, gateway] : [gateway, direct]
        for target in order {
            let model = target === direct ? benchModel : options.model
            let before = target === gateway ? options.serverPID.flatMap(cpuSeconds) : nil
            let sample = try target.send(path: "/chat/completions", json: streamBody(model))
            if let before, let pid = options.serverPID, let after = cpuSeconds(pid) { gatewayCPU += after - before }
            try check(sample, target, streaming: true)
            streamed[target.name, default: []].append(sample)
        }
        for target in order {
            let model = target === direct ? benchModel : options.model
            let sample = try target.send(path: "/chat/completions", json: shortBody(model))
            try check(sample, target, streaming: false)
            short[target.name, default: []].append(sample)
        }
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

    func line(_ label: String, _ value: String, _ note: String = "") {
        let name = options.label + label
        print((name.count >= 50 ? name : name.padding(toLength: 50, withPad: " ", startingAt: 0)) + " " + value + (note.isEmpty ? "" : "  " + note))
    }
    func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }
    func rate(_ value: Double) -> String { String(format: "%.0f chunks/s", value) }

    let n = options.requests
    for (label, samples) in [("direct", streamed["direct"]!), ("gateway", streamed["gateway"]!)] {
        let ttft = samples.compactMap(\.ttft)
        line("TTFT \(label) p50 / p90 / p99", "\(ms(percentile(ttft, 50))) / \(ms(percentile(ttft, 90))) / \(ms(percentile(ttft, 99)))", "n=\(n)")
    }
    let directTTFT = streamed["direct"]!.compactMap(\.ttft)
    let gatewayTTFT = streamed["gateway"]!.compactMap(\.ttft)
    line("TTFT added by the gateway p50 / p90 / p99",
         "\(ms(percentile(gatewayTTFT, 50) - percentile(directTTFT, 50))) / \(ms(percentile(gatewayTTFT, 90) - percentile(directTTFT, 90))) / \(ms(percentile(gatewayTTFT, 99) - percentile(directTTFT, 99)))",
         "goal: < 2 ms at p50")
    let pairedDelta = zip(gatewayTTFT, directTTFT).map { $0 - $1 }
    line("TTFT added, median of paired differences", ms(percentile(pairedDelta, 50)))
    for (label, samples) in [("direct", streamed["direct"]!), ("gateway", streamed["gateway"]!)] {
        let rates = samples.compactMap(\.chunksPerSecond)
        let whole = samples.map { Double($0.chunks) / ($0.total / 1000) }
        line("chunks/s \(label) p50 (p10 / p90)", "\(rate(percentile(rates, 50))) (\(rate(percentile(rates, 10))) / \(rate(percentile(rates, 90))))",
             "first→last chunk; whole request: \(rate(percentile(whole, 50)))")
    }
    line("chunk rate goal through the gateway", "> 20000 chunks/s")
    for (label, samples) in [("direct", short["direct"]!), ("gateway", short["gateway"]!)] {
        let totals = samples.map(\.total)
        line("non-streaming (\(options.short) tokens) \(label) p50 / p90 / p99",
             "\(ms(percentile(totals, 50))) / \(ms(percentile(totals, 90))) / \(ms(percentile(totals, 99)))")
    }
    let directShort = short["direct"]!.map(\.total)
    let gatewayShort = short["gateway"]!.map(\.total)
    line("non-streaming added p50 / p99", "\(ms(percentile(gatewayShort, 50) - percentile(directShort, 50))) / \(ms(percentile(gatewayShort, 99) - percentile(directShort, 99)))")
    if options.serverPID != nil {
        let chunks = Double(n * options.chunks)
        line("gateway CPU per streamed chunk", String(format: "%.1f µs", gatewayCPU / chunks * 1e6),
             String(format: "nebula serve utime+stime over its %d streaming requests: %.2f s", n, gatewayCPU))
    }
    line("measured", String(format: "%.1f s", elapsed), "\(n) rounds after \(options.warmup) warm-up rounds; \(options.chunks) chunks per stream")
}

// MARK: - Main

func usage() -> Never {
    FileHandle.standardError.write(Data("""
    usage: nebula-ai-bench upstream --port P [--ready-file PATH] [--max-tokens 10000]
           nebula-ai-bench client --direct URL --gateway URL --token T [--model M] [--requests 200] [--warmup 20]
                                  [--chunks 1000] [--short 20] [--server-pid PID] [--label TEXT]

    """.utf8))
    exit(64)
}

func parse(_ arguments: ArraySlice<String>) -> [String: String] {
    var values: [String: String] = [:]
    var iterator = arguments.makeIterator()
    while let flag = iterator.next() {
        guard flag.hasPrefix("--"), let value = iterator.next() else { usage() }
        values[String(flag.dropFirst(2))] = value
    }
    return values
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { usage() }
let flags = parse(arguments.dropFirst(2))
do {
    switch arguments[1] {
    case "upstream":
        guard let port = flags["port"].flatMap(Int.init) else { usage() }
        try runUpstream(port: port, readyFile: flags["ready-file"], maxTokens: flags["max-tokens"].flatMap(Int.init) ?? 10_000)
    case "client":
        var options = ClientOptions()
        guard let direct = flags["direct"], let gateway = flags["gateway"], let token = flags["token"] else { usage() }
        options.direct = direct
        options.gateway = gateway
        options.token = token
        options.model = flags["model"] ?? options.model
        options.requests = flags["requests"].flatMap(Int.init) ?? options.requests
        options.warmup = flags["warmup"].flatMap(Int.init) ?? options.warmup
        options.chunks = flags["chunks"].flatMap(Int.init) ?? options.chunks
        options.short = flags["short"].flatMap(Int.init) ?? options.short
        options.serverPID = flags["server-pid"].flatMap(Int.init)
        options.label = flags["label"] ?? ""
        try runClient(options)
    default:
        usage()
    }
} catch {
    FileHandle.standardError.write(Data("nebula-ai-bench: \(error)\n".utf8))
    exit(1)
}
