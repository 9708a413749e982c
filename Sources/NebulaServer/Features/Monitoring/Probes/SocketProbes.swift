import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// A TCP port probe: the port accepts a connection within the timeout.
struct TCPProbe: Sendable {
    var target: HostPort
    var timeout: Duration

    func run() async -> ProbeOutcome {
        let start = ContinuousClock.now
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(timeout.milliseconds))
                .connect(host: target.host, port: target.port).get()
            let latency = elapsedMs(since: start)
            try? await channel.close()
            return .up("\(target) accepts connections (\(Int(latency.rounded())) ms)", latencyMs: latency)
        } catch {
            return .down("\(target): \(Self.describe(error))", latencyMs: elapsedMs(since: start))
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? ChannelError, case .connectTimeout = error { return "connection timed out" }
        if let error = error as? NIOConnectionError {
            if error.dnsAAAAError != nil && error.dnsAError != nil { return "the name does not resolve" }
            if let first = error.connectionErrors.first {
                if let io = first.error as? IOError, io.errnoCode == ECONNREFUSED { return "connection refused" }
                if let channel = first.error as? ChannelError, case .connectTimeout = channel { return "connection timed out" }
                return "\(first.error)"
            }
            return "cannot connect"
        }
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED { return "connection refused" }
        return HTTPProbe.describe(error)
    }
}

/// A TLS certificate probe: connects, completes the handshake far enough to see the server's
/// certificate, and measures the days until it expires. Whether the chain is trusted is not its
/// question (lab services often use a private CA); how long the certificate lives is.
struct TLSProbe: Sendable {
    var target: HostPort
    /// Fail when fewer days than this are left.
    var warnDays: Int
    var timeout: Duration

    /// The name sent as SNI when it is not the target's host (asking a proxy for one site's certificate).
    var serverName: String? = nil

    /// The leaf certificate's expiry.
    func expiry() async throws -> Date {
        Date(timeIntervalSince1970: TimeInterval(try await leaf().notValidAfter))
    }

    /// The server's leaf certificate, from the verification callback.
    func leaf() async throws -> NIOSSLCertificate {
        let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: NIOSSLCertificate.self)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let name = serverName ?? target.host
        let sni = name.first?.isNumber == true || name.contains(":") ? nil : name
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(timeout.milliseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: sni) { certificates, verification in
                        if let leaf = certificates.first { promise.succeed(leaf) }
                        // The handshake may go on; the answer is already known.
                        verification.succeed(.certificateVerified)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: target.host, port: target.port).get()
        } catch {
            // Every promise must be completed, also when the connection never came up.
            promise.fail(error)
            throw error
        }
        channel.closeFuture.whenComplete { _ in promise.fail(TLSProbeError.noCertificate) }
        let scheduled = channel.eventLoop.scheduleTask(in: .milliseconds(timeout.milliseconds)) { promise.fail(ProbeTimeout(duration: timeout)) }
        defer {
            scheduled.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    func run(now: Date = Date()) async -> ProbeOutcome {
        let start = ContinuousClock.now
        do {
            let notAfter = try await expiry()
            let latency = elapsedMs(since: start)
            let days = Int((notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
            let date = notAfter.formatted(.iso8601.year().month().day())
            if notAfter <= now { return .down("the certificate of \(target) expired on \(date)", latencyMs: latency) }
            if days < warnDays { return .down("the certificate of \(target) expires in \(days) days (\(date)), under \(warnDays)", latencyMs: latency) }
            return .up("\(days) days left (until \(date))", latencyMs: latency)
        } catch let error as TLSProbeError {
            return .down("\(target): \(error.description)", latencyMs: elapsedMs(since: start))
        } catch let timeout as ProbeTimeout {
            return .down("\(target): \(timeout.description)", latencyMs: elapsedMs(since: start))
        } catch {
            return .down("\(target): \(TCPProbe.describe(error))", latencyMs: elapsedMs(since: start))
        }
    }
}

enum TLSProbeError: Error, CustomStringConvertible {
    case noCertificate
    var description: String { "the connection closed before the server showed a certificate (is it TLS?)" }
}
