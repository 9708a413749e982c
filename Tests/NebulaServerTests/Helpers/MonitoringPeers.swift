import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A DNS server on 127.0.0.1 (UDP) answering from a table per RFC 1035: the answer's owner name
/// is a compression pointer to the question, and CNAME/MX targets ending in the question's name
/// are compressed against it too, so the client's pointer handling is exercised.
final class LoopbackDNSServer: Sendable {
    struct Record: Sendable {
        var type: UInt16
        var value: String
    }

    let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    /// `records[name.lowercased()]` answers that name; anything else gets NXDOMAIN.
    static func start(records: [String: [Record]]) async throws -> LoopbackDNSServer {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Responder(records: records)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else { throw ChannelError.unknownLocalAddress }
        return LoopbackDNSServer(port: port, channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    final class Responder: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let records: [String: [Record]]

        init(records: [String: [Record]]) { self.records = records }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            let query = Array(envelope.data.readableBytesView)
            guard let answer = Self.answer(query, records: records) else { return }
            context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: ByteBuffer(bytes: answer))), promise: nil)
        }

        /// The response to one query, or nil for garbage.
        static func answer(_ query: [UInt8], records: [String: [Record]]) -> [UInt8]? {
            guard query.count > 12 else { return nil }
            var offset = 12
            var labels: [String] = []
            while offset < query.count, query[offset] != 0 {
                let length = Int(query[offset])
                guard offset + 1 + length < query.count else { return nil }
                labels.append(String(decoding: query[(offset + 1)...(offset + length)], as: UTF8.self))
                offset += 1 + length
            }
            let questionEnd = offset + 5
            guard questionEnd <= query.count else { return nil }
            let type = UInt16(query[offset + 1]) << 8 | UInt16(query[offset + 2])
            let name = labels.joined(separator: ".").lowercased()
            let matching = (records[name] ?? []).filter { $0.type == type || $0.type == 5 }
            var out = Array(query[0..<2])
            out += [0x81, records[name] == nil ? 0x83 : 0x80]  // response, RD, RA; NXDOMAIN when unknown
            out += [0, 1, 0, UInt8(matching.count), 0, 0, 0, 0]
            out += query[12..<questionEnd]
            for record in matching {
                out += [0xC0, 0x0C, UInt8(record.type >> 8), UInt8(record.type & 0xFF), 0, 1, 0, 0, 0x0E, 0x10]
                let data = rdata(record, question: name)
                out += [UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
            }
            return out
        }

        static func rdata(_ record: Record, question: String) -> [UInt8] {
            switch record.type {
            case 1: return record.value.split(separator: ".").compactMap { UInt8($0) }
            case 28:
                var address = in6_addr()
                _ = inet_pton(AF_INET6, record.value, &address)
                return withUnsafeBytes(of: &address) { Array($0) }
            case 5: return name(record.value, question: question)
            case 15:
                let parts = record.value.split(separator: " ")
                let preference = UInt16(parts.first ?? "10") ?? 10
                return [UInt8(preference >> 8), UInt8(preference & 0xFF)] + name(String(parts.last ?? ""), question: question)
            case 16:
                var bytes: [UInt8] = []
                var rest = Array(record.value.utf8)
                while !rest.isEmpty {
                    let chunk = rest.prefix(255)
                    bytes += [UInt8(chunk.count)] + chunk
                    rest.removeFirst(chunk.count)
                }
                return bytes
            default: return Array(record.value.utf8)
            }
        }

        /// A name in wire form, ending in a pointer to the question when it ends in the question's name.
        static func name(_ text: String, question: String) -> [UInt8] {
            var bytes: [UInt8] = []
            var labels = text.split(separator: ".").map(String.init)
            if text.lowercased().hasSuffix("." + question) {
                labels.removeLast(question.split(separator: ".").count)
                for label in labels { bytes += [UInt8(label.utf8.count)] + Array(label.utf8) }
                return bytes + [0xC0, 0x0C]
            }
            for label in labels { bytes += [UInt8(label.utf8.count)] + Array(label.utf8) }
            return bytes + [0]
        }
    }
}

/// A TCP server on 127.0.0.1 that accepts connections and closes them.
final class LoopbackTCPServer: Sendable {
    let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    static func start(tls: NIOSSLContext? = nil) async throws -> LoopbackTCPServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    if let tls {
                        try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    } else {
                        child.eventLoop.execute { child.close(promise: nil) }
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else { throw ChannelError.unknownLocalAddress }
        return LoopbackTCPServer(port: port, channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// A test CA and a server certificate it signed for `localhost`, made with the openssl CLI.
struct TestCertificates {
    var directory: URL
    var caPEM: URL
    var certificatePEM: URL
    var keyPEM: URL

    /// The server certificate is valid for `days` days from now.
    static func make(days: Int) throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path("ca.key"),
                     "-out", path("ca.pem"), "-days", "365", "-subj", "/CN=Nebula Test CA"])
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path("leaf.key"),
                     "-out", path("leaf.csr"), "-subj", "/CN=localhost"])
        try openssl(["x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                     "-out", path("leaf.pem"), "-days", String(days)])
        return TestCertificates(directory: directory, caPEM: URL(fileURLWithPath: path("ca.pem")),
                                certificatePEM: URL(fileURLWithPath: path("leaf.pem")), keyPEM: URL(fileURLWithPath: path("leaf.key")))
    }

    func serverContext() throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePEM.path) + NIOSSLCertificate.fromPEMFile(caPEM.path)
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPEM.path, format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestCertificateError.openssl(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
    }
}

enum TestCertificateError: Error {
    case openssl(String)
}
