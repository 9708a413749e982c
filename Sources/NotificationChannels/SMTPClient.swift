import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Hands one message to an SMTP server (RFC 5321 submission) over SwiftNIO, with STARTTLS or
/// implicit TLS through NIOSSL.
///
/// The conversation: greeting, `EHLO`, `STARTTLS` and `EHLO` again (`.starttls`), `AUTH PLAIN`
/// (or `AUTH LOGIN` when PLAIN is not offered) when credentials are set, `MAIL FROM`, one `RCPT TO`
/// per recipient, `DATA` with the dot-stuffed message, `QUIT`. No pipelining, one message per
/// connection. Connecting and every reply are each bounded by `timeout`. Credentials are sent only
/// over TLS, or in clear text when the channel's security is `.none` and insecure authentication
/// was explicitly allowed. Certificates are checked against the system's roots plus the channel's
/// extra CA, with host name verification (IP SANs when the host is an IP address).
struct SMTPClient {
    let settings: SMTPSettings
    let timeout: Duration
    let channel: NotificationChannel
    let logger: Logger

    /// Sends `message` (already rendered, CRLF lines) to every recipient.
    func send(_ message: String) async throws(NotificationError) {
        let tls = try makeTLSContext()
        let serverName = Self.isIPAddress(settings.host) ? nil : settings.host
        let connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        let implicitTLS = settings.security == .tls
        do {
            connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(DefaultNotificationSender.timeAmount(timeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: settings.host, port: settings.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if implicitTLS {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        }
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw connectError(error)
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var session = SMTPSession(
                    channel: connection.channel, inbound: inbound.makeAsyncIterator(), outbound: outbound,
                    timeout: timeout, description: channel.description, redact: channel.redact)
                try await converse(&session, message: message, tls: tls, serverName: serverName)
            }
        } catch let error as NotificationError {
            throw error
        } catch {
            // Only closing the connection can end up here; the message has been accepted by then.
            logger.debug("closing the SMTP connection failed", metadata: ["channel": "\(channel)"])
        }
    }

    private func converse(_ session: inout SMTPSession, message: String, tls: NIOSSLContext,
                          serverName: String?) async throws(NotificationError) {
        var secured = settings.security == .tls
        let greeting = try await session.reply(to: nil, step: "greeting")
        guard greeting.code == 220 else { throw session.refused(greeting, step: "greeting") }

        var capabilities = try await ehlo(&session)
        if settings.security == .starttls {
            guard capabilities.contains(where: { $0.keyword == "STARTTLS" }) else {
                throw .tlsFailed(channel.description, detail: "the server does not offer STARTTLS; use security 'tls' for port 465, or check the port (587 is usual)")
            }
            let ready = try await session.reply(to: "STARTTLS", step: "STARTTLS")
            guard ready.code == 220 else {
                throw .tlsFailed(channel.description, detail: "the server refused STARTTLS: \(session.excerpt(ready))")
            }
            try await session.startTLS(context: tls, serverName: serverName)
            secured = true
            // RFC 3207: everything learned before TLS is forgotten; ask again.
            capabilities = try await ehlo(&session)
        }

        if let username = settings.username, let password = settings.password {
            guard secured || (settings.security == .none && settings.allowInsecureAuthentication) else {
                throw .authenticationFailed(channel.description, detail: "credentials are only sent over TLS")
            }
            try await authenticate(&session, capabilities: capabilities, username: username, password: password)
        }

        let mail = try await session.reply(to: "MAIL FROM:<\(settings.from)>", step: "MAIL FROM")
        guard mail.code == 250 else { throw session.refused(mail, step: "MAIL FROM") }
        for recipient in settings.to {
            let rcpt = try await session.reply(to: "RCPT TO:<\(recipient)>", step: "RCPT TO")
            guard rcpt.code == 250 || rcpt.code == 251 else {
                throw session.refused(rcpt, step: "RCPT TO <\(recipient)>")
            }
        }
        let data = try await session.reply(to: "DATA", step: "DATA")
        guard data.code == 354 else { throw session.refused(data, step: "DATA") }
        let accepted = try await session.reply(to: SMTPMessage.dotStuffed(message) + ".", step: "end of data")
        guard accepted.code == 250 else { throw session.refused(accepted, step: "message") }
        logger.debug("email notification accepted", metadata: [
            "channel": "\(channel)", "reply": "\(accepted.code)",
        ])
        // The message is accepted; a server that does not answer QUIT properly changes nothing.
        _ = try? await session.reply(to: "QUIT", step: "QUIT")
    }

    /// `EHLO`; falls back to `HELO` (no extensions) for a server that does not know EHLO.
    private func ehlo(_ session: inout SMTPSession) async throws(NotificationError) -> [SMTPCapability] {
        let reply = try await session.reply(to: "EHLO \(settings.heloName)", step: "EHLO")
        if reply.code == 250 {
            return reply.lines.dropFirst().map(SMTPCapability.init)
        }
        guard reply.code == 500 || reply.code == 502 else { throw session.refused(reply, step: "EHLO") }
        let helo = try await session.reply(to: "HELO \(settings.heloName)", step: "HELO")
        guard helo.code == 250 else { throw session.refused(helo, step: "HELO") }
        return []
    }

    private func authenticate(_ session: inout SMTPSession, capabilities: [SMTPCapability],
                              username: String, password: String) async throws(NotificationError) {
        let mechanisms = Set(capabilities.filter { $0.keyword == "AUTH" || $0.keyword.hasPrefix("AUTH=") }
            .flatMap { capability in
                capability.keyword.hasPrefix("AUTH=") ? [String(capability.keyword.dropFirst(5))] + capability.parameters
                                                      : capability.parameters
            }
            .map { $0.uppercased() })
        let final: SMTPReply
        if mechanisms.contains("PLAIN") {
            let token = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
            final = try await session.reply(to: "AUTH PLAIN \(token)", step: "AUTH PLAIN", sensitive: true)
        } else if mechanisms.contains("LOGIN") {
            let start = try await session.reply(to: "AUTH LOGIN", step: "AUTH LOGIN")
            guard start.code == 334 else { throw authFailure(start, session: session) }
            let user = try await session.reply(to: Data(username.utf8).base64EncodedString(), step: "AUTH LOGIN", sensitive: true)
            guard user.code == 334 else { throw authFailure(user, session: session) }
            final = try await session.reply(to: Data(password.utf8).base64EncodedString(), step: "AUTH LOGIN", sensitive: true)
        } else {
            let offered = mechanisms.isEmpty ? "no AUTH at all" : mechanisms.sorted().joined(separator: " ")
            throw .authenticationFailed(channel.description, detail: "the server offers no login method this client supports (PLAIN or LOGIN); it offers \(offered)")
        }
        guard final.code == 235 else { throw authFailure(final, session: session) }
    }

    private func authFailure(_ reply: SMTPReply, session: SMTPSession) -> NotificationError {
        .authenticationFailed(channel.description, code: reply.code, detail: session.excerpt(reply))
    }

    // MARK: - TLS and connection errors

    private func makeTLSContext() throws(NotificationError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        configuration.trustRoots = .default
        do {
            if let pem = settings.trustedCAPEM {
                configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))]
            }
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw .tlsFailed(channel.description, detail: "the TLS settings could not be loaded (\(error))")
        }
    }

    private func connectError(_ error: any Error) -> NotificationError {
        if let error = error as? ChannelError, case .connectTimeout = error {
            return .timedOut(channel.description, after: timeout)
        }
        if let tls = SMTPSession.tlsError(error, serverName: settings.host) {
            return .tlsFailed(channel.description, detail: tls)
        }
        let reason = String(String(describing: error).prefix(300))
        return .unreachable(channel.description, detail: channel.redact("could not connect to port \(settings.port): \(reason)"))
    }

    static func isIPAddress(_ host: String) -> Bool {
        SMTPValidation.isIPv4(host) || SMTPValidation.isIPv6(host)
    }
}

/// One reply: its three-digit code and the text of each line (without the code and separator).
struct SMTPReply: Sendable, Equatable {
    var code: Int
    var lines: [String]
}

/// One `EHLO` capability line: `AUTH PLAIN LOGIN` is keyword `AUTH` with parameters `PLAIN`, `LOGIN`.
struct SMTPCapability: Sendable, Equatable {
    var keyword: String
    var parameters: [String]

    init(_ line: String) {
        let words = line.split(separator: " ").map(String.init)
        keyword = (words.first ?? "").uppercased()
        parameters = Array(words.dropFirst())
    }
}

/// The command/reply loop over one connection: writes a command, reads the (possibly multi-line)
/// reply within the timeout, and turns every failure into a ``NotificationError``.
struct SMTPSession {
    let channel: any Channel
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let timeout: Duration
    let description: String
    let redact: (String) -> String
    private var pending: [UInt8] = []

    init(channel: any Channel, inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
         outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, timeout: Duration, description: String,
         redact: @escaping (String) -> String) {
        self.channel = channel
        self.inbound = inbound
        self.outbound = outbound
        self.timeout = timeout
        self.description = description
        self.redact = redact
    }

    /// Sends `command` (a line without CRLF; nil sends nothing, for the greeting) and reads the reply.
    /// `step` names the command in errors; a `sensitive` command is never quoted.
    mutating func reply(to command: String?, step: String, sensitive: Bool = false) async throws(NotificationError) -> SMTPReply {
        var writeError: (any Error)?
        if let command {
            do {
                try await outbound.write(ByteBuffer(string: command + "\r\n"))
            } catch {
                // The server may have answered and hung up (e.g. "421 shutting down"), or TLS may
                // have failed: what is left to read says more than the failed write.
                writeError = error
            }
        }
        // The timer closes the connection when the reply is late; the read then fails and the
        // timer's state tells a timeout from a broken connection.
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: DefaultNotificationSender.timeAmount(timeout)) {
            channel.close(promise: nil)
        }
        do {
            let reply = try await readReply()
            timer.cancel()
            return reply
        } catch {
            timer.cancel()
            let fired = (try? await timer.futureResult.get()) != nil
            if let writeError, !fired, Self.tlsError(error, serverName: nil) == nil {
                throw transportError(writeError, step: step, timedOut: false)
            }
            if let error = error as? NotificationError, !fired { throw error }
            throw transportError(error, step: step, timedOut: fired)
        }
    }

    /// Starts TLS on the open connection (after `STARTTLS` was accepted).
    mutating func startTLS(context: NIOSSLContext, serverName: String?) async throws(NotificationError) {
        guard pending.isEmpty else {
            // Bytes sent before the handshake would be read as if they came over TLS (CVE-2011-0411).
            throw .tlsFailed(description, detail: "the server sent data after accepting STARTTLS")
        }
        let channel = self.channel
        let handshake = channel.eventLoop.makePromise(of: Void.self)
        let timer = channel.eventLoop.scheduleTask(in: DefaultNotificationSender.timeAmount(timeout)) {
            channel.close(promise: nil)
        }
        do {
            try await channel.eventLoop.submit {
                let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
                try channel.pipeline.syncOperations.addHandler(TLSHandshakeWaiter(handshake), position: .after(handler))
            }.get()
            // Wait for the handshake here so its failure is reported as such, not as a broken write later.
            try await handshake.futureResult.get()
            timer.cancel()
        } catch {
            timer.cancel()
            handshake.fail(error)
            if (try? await timer.futureResult.get()) != nil { throw .timedOut(description, after: timeout) }
            throw .tlsFailed(description, detail: Self.tlsError(error, serverName: serverName)
                ?? "the connection closed during the TLS handshake (\(String(String(describing: error).prefix(200))))")
        }
    }

    /// `step` was refused with `reply`.
    func refused(_ reply: SMTPReply, step: String) -> NotificationError {
        .smtpRejected(code: reply.code, detail: "\(step) refused: \(excerpt(reply))", channel: description)
    }

    /// At most 300 characters of the reply's text on one line, without the channel's secrets.
    func excerpt(_ reply: SMTPReply) -> String {
        let text = redact("\(reply.code) " + reply.lines.joined(separator: " "))
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    private mutating func readReply() async throws -> SMTPReply {
        var code: Int?
        var lines: [String] = []
        while true {
            let line = try await readLine()
            let bytes = Array(line.utf8)
            guard bytes.count >= 3, bytes.prefix(3).allSatisfy({ (48...57).contains($0) }),
                  let lineCode = Int(String(line.prefix(3))), (200...599).contains(lineCode),
                  bytes.count == 3 || bytes[3] == 32 || bytes[3] == 45 else {
                throw NotificationError.badResponse(description, detail: "the server's answer is not an SMTP reply: \(String(redact(line).prefix(120)))")
            }
            if let code, code != lineCode {
                throw NotificationError.badResponse(description, detail: "the server's multi-line reply mixes codes \(code) and \(lineCode)")
            }
            code = lineCode
            lines.append(bytes.count > 4 ? String(line.dropFirst(4)) : "")
            guard lines.count <= 200 else {
                throw NotificationError.badResponse(description, detail: "the server's reply has more than 200 lines")
            }
            if bytes.count == 3 || bytes[3] == 32 { return SMTPReply(code: lineCode, lines: lines) }
        }
    }

    /// One line without its CRLF (or bare LF).
    private mutating func readLine() async throws -> String {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                var line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard pending.count <= 4096 else {
                throw NotificationError.badResponse(description, detail: "the server sent a line longer than 4096 bytes")
            }
            guard let buffer = try await inbound.next() else {
                throw NotificationError.unreachable(description, detail: "the mail server closed the connection")
            }
            pending.append(contentsOf: buffer.readableBytesView)
        }
    }

    private func transportError(_ error: any Error, step: String, timedOut: Bool) -> NotificationError {
        if timedOut { return .timedOut(description, after: timeout) }
        if let error = error as? NotificationError { return error }
        if let tls = Self.tlsError(error, serverName: nil) { return .tlsFailed(description, detail: tls) }
        return .unreachable(description, detail: redact("the connection broke at \(step): \(String(String(describing: error).prefix(300)))"))
    }

    /// A readable reason when `error` is a TLS failure, else nil.
    static func tlsError(_ error: any Error, serverName: String?) -> String? {
        let text = String(describing: error)
        if let extra = error as? NIOSSLExtraError {
            if extra == .failedToValidateHostname {
                return "the server's certificate is not valid for \(serverName.map { "'\($0)'" } ?? "this host") (\(text))"
            }
            return text
        }
        guard error is NIOSSLError || error is BoringSSLError else { return nil }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the server's certificate is not trusted (self-signed or from an unknown CA): add the CA's certificate to the channel (\(String(text.prefix(300))))"
        }
        return "the TLS handshake failed (\(String(text.prefix(300))))"
    }
}

/// Completes `promise` when the TLS handshake that NIOSSL runs in front of it succeeds, fails, or
/// the connection closes first; passes every event on unchanged.
private final class TLSHandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<Void>

    init(_ promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { promise.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
    }
}
