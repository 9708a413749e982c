import Foundation
import NIOCore
import NIOSSH

/// An SFTP version 3 session (what OpenSSH's `sftp-server` speaks) on its own SSH connection, opened
/// with ``SSHClient/openSFTP(on:identity:hostKey:timeout:)``.
///
/// Paths are remote paths as the server sees them: absolute, or relative to the login directory.
/// Every call waits at most the session's timeout for each reply; a server that does not answer in
/// time ends the session (`connection`, with a `timed_out` ``SFTPError/connectionError``). Calls may
/// run concurrently. Close the session with ``close()`` when done; dropping the last reference closes
/// it too.
///
/// All stored properties are immutable and `Sendable` (NIO channels are thread-safe; the protocol
/// handler is reached only through `NIOLoopBound` on its event loop).
public final class SFTPSession: Sendable {
    /// The most bytes one ``read(_:offset:length:)`` returns: 1 MiB.
    public static let maxReadLength = 1 << 20
    /// Bytes per `SSH_FXP_READ` / `SSH_FXP_WRITE` request: 32 KiB (every server accepts this).
    public static let chunkLength = 32 << 10
    /// Requests in flight at once while reading or writing.
    static let window = 32

    /// Where the session runs.
    public let target: SSHTarget
    /// The server's host key in OpenSSH format, to pin after a first use.
    public let hostKey: String

    private let connection: any Channel
    private let handler: NIOLoopBound<SFTPChannelHandler>

    init(target: SSHTarget, hostKey: String, connection: any Channel, handler: NIOLoopBound<SFTPChannelHandler>) {
        self.target = target
        self.hostKey = hostKey
        self.connection = connection
        self.handler = handler
    }

    deinit {
        // A session nobody holds any more must not keep a login open on the server.
        connection.close(promise: nil)
    }

    /// Closes the session and its connection. Calls still waiting fail with `session_closed`.
    public func close() async {
        let handler = self.handler
        try? await connection.eventLoop.submit { handler.value.markClosedLocally() }.get()
        try? await connection.close().get()
    }

    // MARK: Paths and attributes

    /// The canonical absolute form of `path` (`SSH_FXP_REALPATH`): symbolic links resolved, `.` and
    /// `..` removed. OpenSSH also answers when only the last name does not exist.
    public func realpath(_ path: String) async throws(SFTPError) -> String {
        try await singleName(.realpath(path), "realpath", path)
    }

    /// Attributes of `path`, following a final symbolic link.
    public func stat(_ path: String) async throws(SFTPError) -> SFTPAttributes {
        try await attributes(.stat(path), "stat", path)
    }

    /// Attributes of `path` itself: a final symbolic link is described, not followed.
    public func lstat(_ path: String) async throws(SFTPError) -> SFTPAttributes {
        try await attributes(.lstat(path), "lstat", path)
    }

    /// The target text of the symbolic link `path`, as stored (not resolved).
    public func readlink(_ path: String) async throws(SFTPError) -> String {
        try await singleName(.readlink(path), "readlink", path)
    }

    /// Sets the permission bits (`0o7777`) of `path` (`SSH_FXP_SETSTAT`; follows a final link).
    public func setPermissions(_ path: String, _ mode: UInt32) async throws(SFTPError) {
        try expectOK(try await one(.setstat(path, SFTPAttributes(permissions: mode & 0o7777)), "setstat", path), "setstat", path)
    }

    // MARK: Directories

    /// The entries of the directory `path` (without `.` and `..`) with their attributes, in the
    /// server's order, at most `limit` of them (``SFTPDirectoryListing/complete`` is `false` when there
    /// were more). Follows `path` if it is a link; entries themselves are not followed.
    public func listDirectory(_ path: String, limit: Int = 100_000) async throws(SFTPError) -> SFTPDirectoryListing {
        guard limit >= 0 else { throw .invalidArgument("the listing limit must not be negative", path: path) }
        let handle = try await handle(.opendir(path), "opendir", path)
        var entries: [SFTPDirectoryEntry] = []
        var complete = true
        do throws(SFTPError) {
            reading: while true {
                switch try await one(.readdir(handle), "readdir", path) {
                case .names(let names):
                    guard !names.isEmpty else { throw SFTPError.protocolViolation("an empty READDIR reply") }
                    for name in names where name.filename != "." && name.filename != ".." {
                        guard entries.count < limit else {
                            complete = false
                            break reading
                        }
                        entries.append(SFTPDirectoryEntry(name: name.filename, attributes: name.attributes))
                    }
                case .status(SFTPStatusCode.eof, _):
                    break reading
                case let reply:
                    throw failure(reply, "readdir", path)
                }
            }
        } catch {
            await closeQuietly(handle)
            throw error
        }
        await closeQuietly(handle)
        return SFTPDirectoryListing(entries: entries, complete: complete)
    }

    /// Creates the directory `path` (its parent must exist) with `permissions` (subject to the server's umask).
    public func mkdir(_ path: String, permissions: UInt32? = 0o755) async throws(SFTPError) {
        try expectOK(try await one(.mkdir(path, SFTPAttributes(permissions: permissions)), "mkdir", path), "mkdir", path)
    }

    /// Removes the empty directory `path`.
    public func rmdir(_ path: String) async throws(SFTPError) {
        try expectOK(try await one(.rmdir(path), "rmdir", path), "rmdir", path)
    }

    // MARK: Files

    /// Up to `length` bytes (at most ``maxReadLength``) of the file `path` from `offset`: fewer at the
    /// end of the file, none past it. Opens, reads in ``chunkLength`` requests (several in flight) and closes.
    public func read(_ path: String, offset: UInt64 = 0, length: Int) async throws(SFTPError) -> Data {
        guard length >= 0, length <= Self.maxReadLength else {
            throw .invalidArgument("a read returns 0…\(Self.maxReadLength) bytes; asked for \(length)", path: path)
        }
        guard offset <= UInt64.max - UInt64(length) else { throw .invalidArgument("the read would end past the largest file offset", path: path) }
        let handle = try await handle(.open(path, flags: SFTPRequest.openRead, attributes: SFTPAttributes()), "open", path)
        let data: Data
        do {
            data = try await read(handle, from: offset, length: length, path)
        } catch {
            await closeQuietly(handle)
            throw error
        }
        await closeQuietly(handle)
        return data
    }

    private func read(_ handle: SFTPHandle, from offset: UInt64, length: Int, _ path: String) async throws(SFTPError) -> Data {
        var result = Data()
        result.reserveCapacity(length)
        var position = offset
        var remaining = length
        while remaining > 0 {
            var requests: [SFTPRequest] = []
            var asked: [Int] = []
            var at = position, left = remaining
            while left > 0, requests.count < Self.window {
                let count = min(left, Self.chunkLength)
                requests.append(.read(handle, offset: at, length: UInt32(count)))
                asked.append(count)
                at += UInt64(count)
                left -= count
            }
            let replies = try await perform(requests, "read", path)
            replies: for (reply, wanted) in zip(replies, asked) {
                switch reply {
                case .data(let bytes):
                    guard bytes.readableBytes <= wanted else { throw .protocolViolation("the server returned more bytes than requested") }
                    guard bytes.readableBytes > 0 else { return result }
                    result.append(contentsOf: bytes.readableBytesView)
                    position += UInt64(bytes.readableBytes)
                    remaining -= bytes.readableBytes
                    // A short read: later replies start at the wrong offset; ask again from here.
                    if bytes.readableBytes < wanted { break replies }
                case .status(SFTPStatusCode.eof, _):
                    return result
                default:
                    throw failure(reply, "read", path)
                }
            }
        }
        return result
    }

    /// Writes `data` into the file `path` at `offset`, opening it with `options` (``SFTPWriteOptions``;
    /// default: create or truncate) and, for a new file, `permissions` (subject to the server's umask).
    /// Sends ``chunkLength`` requests, several in flight, and closes the file, reporting a failed close.
    public func write(_ path: String, data: Data, offset: UInt64 = 0, options: SFTPWriteOptions = [.create, .truncate],
                      permissions: UInt32? = nil) async throws(SFTPError) {
        guard offset <= UInt64.max - UInt64(data.count) else { throw .invalidArgument("the write would end past the largest file offset", path: path) }
        let flags = SFTPRequest.openWrite | options.rawValue
        let handle = try await handle(.open(path, flags: flags, attributes: SFTPAttributes(permissions: permissions)), "open", path)
        do {
            var position = 0
            while position < data.count {
                var requests: [SFTPRequest] = []
                while position < data.count, requests.count < Self.window {
                    let count = min(Self.chunkLength, data.count - position)
                    let start = data.startIndex + position
                    requests.append(.write(handle, offset: offset + UInt64(position), data: ByteBuffer(bytes: data[start..<start + count])))
                    position += count
                }
                for reply in try await perform(requests, "write", path) {
                    try expectOK(reply, "write", path)
                }
            }
        } catch {
            await closeQuietly(handle)
            throw error
        }
        try expectOK(try await one(.close(handle), "close", path), "close", path)
    }

    /// Renames `from` to `to` (`SSH_FXP_RENAME`). OpenSSH refuses to replace an existing `to`
    /// (`failure`); for regular files it does so atomically (`link` + `unlink`), for other entries it
    /// checks first and then renames. Links are renamed, not followed.
    public func rename(_ from: String, to: String) async throws(SFTPError) {
        try expectOK(try await one(.rename(from, to), "rename", from), "rename", from)
    }

    /// Removes the file or symbolic link `path` (never what a link points to); not a directory.
    public func remove(_ path: String) async throws(SFTPError) {
        try expectOK(try await one(.remove(path), "remove", path), "remove", path)
    }

    // MARK: Plumbing

    private func perform(_ requests: [SFTPRequest], _ operation: String, _ path: String?) async throws(SFTPError) -> [SFTPReply] {
        guard !Task.isCancelled else { throw .cancelled(operation + (path.map { " " + SFTPError.printable($0) } ?? "")) }
        let handler = self.handler
        let loop = connection.eventLoop
        let future = loop.flatSubmit {
            EventLoopFuture.whenAllSucceed(handler.value.send(requests, eventLoop: loop), on: loop)
        }
        do {
            return try await future.get()
        } catch {
            throw (error as? SFTPError) ?? .closed
        }
    }

    private func one(_ request: SFTPRequest, _ operation: String, _ path: String?) async throws(SFTPError) -> SFTPReply {
        let replies = try await perform([request], operation, path)
        guard let reply = replies.first else { throw .protocolViolation("no reply") }
        return reply
    }

    private func handle(_ request: SFTPRequest, _ operation: String, _ path: String) async throws(SFTPError) -> SFTPHandle {
        let reply = try await one(request, operation, path)
        guard case .handle(let handle) = reply else { throw failure(reply, operation, path) }
        return handle
    }

    private func attributes(_ request: SFTPRequest, _ operation: String, _ path: String) async throws(SFTPError) -> SFTPAttributes {
        let reply = try await one(request, operation, path)
        guard case .attributes(let attributes) = reply else { throw failure(reply, operation, path) }
        return attributes
    }

    private func singleName(_ request: SFTPRequest, _ operation: String, _ path: String) async throws(SFTPError) -> String {
        let reply = try await one(request, operation, path)
        guard case .names(let names) = reply else { throw failure(reply, operation, path) }
        guard names.count == 1 else { throw .protocolViolation("\(operation) answered with \(names.count) names instead of one") }
        return names[0].filename
    }

    private func closeQuietly(_ handle: SFTPHandle) async {
        _ = try? await perform([.close(handle)], "close", nil)
    }

    private func expectOK(_ reply: SFTPReply, _ operation: String, _ path: String) throws(SFTPError) {
        if case .status(SFTPStatusCode.ok, _) = reply { return }
        throw failure(reply, operation, path)
    }

    /// The error for a reply that is not the expected one: a status, or a protocol violation.
    private func failure(_ reply: SFTPReply, _ operation: String, _ path: String) -> SFTPError {
        switch reply {
        case .status(let code, let message) where code != SFTPStatusCode.ok:
            return .status(code, message: message, operation: operation, path: path)
        default:
            return .protocolViolation("an unexpected reply to \(operation)")
        }
    }
}

extension SSHConnection {
    /// Opens a session channel, starts the `sftp` subsystem and exchanges versions. On success the
    /// connection's deadline is disarmed and each request gets `requestTimeout` instead.
    func openSFTP(requestTimeout: Duration) async throws(SSHError) -> SFTPSession {
        let channel = self.channel
        let target = self.target
        let future: EventLoopFuture<NIOLoopBound<SFTPChannelHandler>> = channel.eventLoop.flatSubmit {
            let connection: ConnectionHandler
            do {
                connection = try channel.pipeline.syncOperations.handler(type: ConnectionHandler.self)
            } catch {
                return channel.eventLoop.makeFailedFuture(SSHError.connectionLost(target.address, reason: "the connection closed right after login"))
            }
            connection.activity = "opening an SFTP session on \(target)"
            let ready = channel.eventLoop.makePromise(of: Void.self)
            let created = channel.eventLoop.makePromise(of: (any Channel).self)
            let sftp = SFTPChannelHandler(ready: ready, connection: connection, requestTimeout: requestTimeout)
            created.futureResult.assumeIsolated().whenFailure { error in
                ready.fail(connection.failure ?? (error as? SSHError) ?? .channelFailed("the server refused to open a session channel: \(error)"))
                channel.close(promise: nil)
            }
            do {
                let ssh = try channel.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
                ssh.createChannel(created, channelType: .session) { child, _ in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.addHandler(sftp)
                    }
                }
            } catch {
                created.fail(SSHError.connectionLost(target.address, reason: "the connection closed right after login"))
            }
            let bound = NIOLoopBound(sftp, eventLoop: channel.eventLoop)
            return ready.futureResult.assumeIsolated().map { _ in
                connection.disarmDeadline()
                connection.activity = "using SFTP on \(target)"
                return bound
            }.nonisolated()
        }
        let result: Result<NIOLoopBound<SFTPChannelHandler>, SSHError> = await withTaskCancellationHandler {
            do {
                return .success(try await future.get())
            } catch {
                return .failure(SSHErrorMapping.sessionError(error, target: target))
            }
        } onCancel: {
            channel.eventLoop.execute {
                (try? channel.pipeline.syncOperations.handler(type: ConnectionHandler.self))?.cancel()
            }
        }
        return SFTPSession(target: target, hostKey: String(openSSHPublicKey: hostKey), connection: channel, handler: try result.get())
    }
}
