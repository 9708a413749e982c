import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on 127.0.0.1:<free port> for the probe, port and git tests: each connection's
/// request head goes to `respond`, whose bytes are sent back before closing (nil: say nothing and
/// keep the connection open until the server stops, to provoke timeouts). Runs on threads of its own.
final class LoopbackServer: @unchecked Sendable {
    // Safe to share: `requests`, `open` and `stopped` are only touched while `lock` is held; `fd`
    // and `port` never change after init.
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var requests: [String] = []
    private var open: [Int32] = []
    private var stopped = false

    init(respond: @escaping @Sendable (String) -> [UInt8]?) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackError("socket failed") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw LoopbackError("bind/listen failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 {
                    // stop() shut the listener down; only this thread closes it, so its number is
                    // never reused by another socket while accept() could still be called on it.
                    close(listener)
                    return
                }
                lock.lock()
                if stopped { lock.unlock(); close(client); return }
                open.append(client)
                lock.unlock()
                Thread.detachNewThread { [self] in serve(client, respond) }
            }
        }
    }

    /// Every request head received so far.
    var received: [String] {
        lock.lock()
        defer { lock.unlock() }
        return requests
    }

    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        shutdown(fd, Int32(SHUT_RDWR))
        // Under the lock: a client closes (in finish) only while holding it, so these are still ours.
        for client in open { shutdown(client, Int32(SHUT_RDWR)) }
    }

    private func serve(_ client: Int32, _ respond: @Sendable (String) -> [UInt8]?) {
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while head.count < 65536 {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            head += buffer[0..<count]
            if head.count >= 4, String(decoding: head, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let text = String(decoding: head, as: UTF8.self)
        lock.lock()
        requests.append(text)
        lock.unlock()
        if let answer = respond(text) {
            _ = answer.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            finish(client)
        } else {
            // Silent: wait until stop() shuts the socket down.
            while buffer.withUnsafeMutableBytes({ recv(client, $0.baseAddress, $0.count, 0) }) > 0 {}
            finish(client)
        }
    }

    private func finish(_ client: Int32) {
        lock.lock()
        open.removeAll { $0 == client }
        close(client)
        lock.unlock()
    }

    /// An HTTP/1.1 answer with `status` and `body`.
    static func http(_ status: Int, _ body: String = "", headers: [String] = []) -> [UInt8] {
        let reason = status == 200 ? "OK" : "Status"
        let extra = headers.map { $0 + "\r\n" }.joined()
        return Array("HTTP/1.1 \(status) \(reason)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\(extra)\r\n\(body)".utf8)
    }
}

struct LoopbackError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
