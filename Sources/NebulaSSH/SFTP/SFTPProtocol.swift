import NIOCore

/// `SSH_FX_*` status codes of SFTP version 3 (draft-ietf-secsh-filexfer-02, section 7).
enum SFTPStatusCode {
    static let ok: UInt32 = 0
    static let eof: UInt32 = 1
    static let noSuchFile: UInt32 = 2
    static let permissionDenied: UInt32 = 3
    static let failure: UInt32 = 4
    static let badMessage: UInt32 = 5
    static let noConnection: UInt32 = 6
    static let connectionLost: UInt32 = 7
    static let opUnsupported: UInt32 = 8
}

/// `SSH_FXP_*` packet types.
enum SFTPPacketType {
    static let initialize: UInt8 = 1, version: UInt8 = 2
    static let open: UInt8 = 3, close: UInt8 = 4, read: UInt8 = 5, write: UInt8 = 6
    static let lstat: UInt8 = 7, setstat: UInt8 = 9, opendir: UInt8 = 11, readdir: UInt8 = 12
    static let remove: UInt8 = 13, mkdir: UInt8 = 14, rmdir: UInt8 = 15, realpath: UInt8 = 16
    static let stat: UInt8 = 17, rename: UInt8 = 18, readlink: UInt8 = 19
    static let status: UInt8 = 101, handle: UInt8 = 102, data: UInt8 = 103, name: UInt8 = 104, attrs: UInt8 = 105
}

/// `SSH_FILEXFER_ATTR_*` flags.
enum SFTPAttributeFlag {
    static let size: UInt32 = 0x1, userGroup: UInt32 = 0x2, permissions: UInt32 = 0x4, times: UInt32 = 0x8
    static let extended: UInt32 = 0x8000_0000
}

/// An opaque file or directory handle the server gave us (at most 256 bytes).
struct SFTPHandle: Sendable, Hashable {
    let bytes: [UInt8]
}

/// One request; the channel handler adds the request id and the framing.
enum SFTPRequest: Sendable {
    static let openRead: UInt32 = 0x01
    static let openWrite: UInt32 = 0x02

    case open(String, flags: UInt32, attributes: SFTPAttributes)
    case close(SFTPHandle)
    case read(SFTPHandle, offset: UInt64, length: UInt32)
    case write(SFTPHandle, offset: UInt64, data: ByteBuffer)
    case lstat(String)
    case stat(String)
    case setstat(String, SFTPAttributes)
    case opendir(String)
    case readdir(SFTPHandle)
    case remove(String)
    case mkdir(String, SFTPAttributes)
    case rmdir(String)
    case realpath(String)
    case rename(String, String)
    case readlink(String)

    /// Appends `uint32 length, byte type, uint32 id, …` to `buffer`.
    func encode(id: UInt32, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        switch self {
        case .open(let path, let flags, let attributes):
            header(SFTPPacketType.open, id, &buffer)
            buffer.writeSFTPString(path)
            buffer.writeInteger(flags)
            buffer.writeSFTPAttributes(attributes)
        case .close(let handle):
            header(SFTPPacketType.close, id, &buffer)
            buffer.writeSFTPString(handle.bytes)
        case .read(let handle, let offset, let length):
            header(SFTPPacketType.read, id, &buffer)
            buffer.writeSFTPString(handle.bytes)
            buffer.writeInteger(offset)
            buffer.writeInteger(length)
        case .write(let handle, let offset, var data):
            header(SFTPPacketType.write, id, &buffer)
            buffer.writeSFTPString(handle.bytes)
            buffer.writeInteger(offset)
            buffer.writeInteger(UInt32(data.readableBytes))
            buffer.writeBuffer(&data)
        case .lstat(let path): pathRequest(SFTPPacketType.lstat, id, path, &buffer)
        case .stat(let path): pathRequest(SFTPPacketType.stat, id, path, &buffer)
        case .setstat(let path, let attributes):
            pathRequest(SFTPPacketType.setstat, id, path, &buffer)
            buffer.writeSFTPAttributes(attributes)
        case .opendir(let path): pathRequest(SFTPPacketType.opendir, id, path, &buffer)
        case .readdir(let handle):
            header(SFTPPacketType.readdir, id, &buffer)
            buffer.writeSFTPString(handle.bytes)
        case .remove(let path): pathRequest(SFTPPacketType.remove, id, path, &buffer)
        case .mkdir(let path, let attributes):
            pathRequest(SFTPPacketType.mkdir, id, path, &buffer)
            buffer.writeSFTPAttributes(attributes)
        case .rmdir(let path): pathRequest(SFTPPacketType.rmdir, id, path, &buffer)
        case .realpath(let path): pathRequest(SFTPPacketType.realpath, id, path, &buffer)
        case .rename(let from, let to):
            pathRequest(SFTPPacketType.rename, id, from, &buffer)
            buffer.writeSFTPString(to)
        case .readlink(let path): pathRequest(SFTPPacketType.readlink, id, path, &buffer)
        }
        buffer.setInteger(UInt32(buffer.writerIndex - start - 4), at: start)
    }

    private func header(_ type: UInt8, _ id: UInt32, _ buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        buffer.writeInteger(id)
    }

    private func pathRequest(_ type: UInt8, _ id: UInt32, _ path: String, _ buffer: inout ByteBuffer) {
        header(type, id, &buffer)
        buffer.writeSFTPString(path)
    }

    /// Bytes of the request's payload beyond the fixed fields, for the size check before sending.
    var approximateSize: Int {
        switch self {
        case .open(let path, _, _), .lstat(let path), .stat(let path), .setstat(let path, _), .opendir(let path),
             .remove(let path), .mkdir(let path, _), .rmdir(let path), .realpath(let path), .readlink(let path):
            path.utf8.count + 64
        case .rename(let from, let to): from.utf8.count + to.utf8.count + 64
        case .write(_, _, let data): data.readableBytes + 300
        case .close, .read, .readdir: 300
        }
    }

    /// The paths in the request, for refusing NUL before sending.
    var paths: [String] {
        switch self {
        case .open(let path, _, _), .lstat(let path), .stat(let path), .setstat(let path, _), .opendir(let path),
             .remove(let path), .mkdir(let path, _), .rmdir(let path), .realpath(let path), .readlink(let path):
            [path]
        case .rename(let from, let to): [from, to]
        case .close, .read, .write, .readdir: []
        }
    }
}

/// One name from an `SSH_FXP_NAME` reply.
struct SFTPName: Sendable {
    var filename: String
    var attributes: SFTPAttributes
}

/// A server reply, after its request id.
enum SFTPReply: Sendable {
    case status(code: UInt32, message: String)
    case handle(SFTPHandle)
    case data(ByteBuffer)
    case names([SFTPName])
    case attributes(SFTPAttributes)

    /// Decodes the body of a reply packet of `type` (the id already read). `nil` when malformed.
    static func decode(type: UInt8, body: inout ByteBuffer) -> SFTPReply? {
        switch type {
        case SFTPPacketType.status:
            guard let code = body.readInteger(as: UInt32.self) else { return nil }
            // Very old servers omit the message and language tag.
            let message = body.readableBytes > 0 ? body.readSFTPString() : ""
            guard let message else { return nil }
            return .status(code: code, message: message)
        case SFTPPacketType.handle:
            guard let bytes = body.readSFTPBytes(), bytes.count <= 256 else { return nil }
            return .handle(SFTPHandle(bytes: bytes))
        case SFTPPacketType.data:
            guard let length = body.readInteger(as: UInt32.self), let data = body.readSlice(length: Int(length)) else { return nil }
            return .data(data)
        case SFTPPacketType.name:
            guard let count = body.readInteger(as: UInt32.self), Int(count) <= body.readableBytes / 12 else { return nil }
            var names: [SFTPName] = []
            names.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let filename = body.readSFTPString(), body.readSFTPBytes() != nil, let attributes = body.readSFTPAttributes() else { return nil }
                names.append(SFTPName(filename: filename, attributes: attributes))
            }
            return .names(names)
        case SFTPPacketType.attrs:
            return body.readSFTPAttributes().map { .attributes($0) }
        default:
            return nil
        }
    }
}

extension ByteBuffer {
    mutating func writeSFTPString(_ text: String) {
        writeInteger(UInt32(text.utf8.count))
        writeString(text)
    }

    mutating func writeSFTPString(_ bytes: [UInt8]) {
        writeInteger(UInt32(bytes.count))
        writeBytes(bytes)
    }

    mutating func writeSFTPAttributes(_ attributes: SFTPAttributes) {
        var flags: UInt32 = 0
        if attributes.size != nil { flags |= SFTPAttributeFlag.size }
        if attributes.userID != nil && attributes.groupID != nil { flags |= SFTPAttributeFlag.userGroup }
        if attributes.permissions != nil { flags |= SFTPAttributeFlag.permissions }
        if attributes.accessTime != nil && attributes.modificationTime != nil { flags |= SFTPAttributeFlag.times }
        writeInteger(flags)
        if let size = attributes.size { writeInteger(size) }
        if let user = attributes.userID, let group = attributes.groupID {
            writeInteger(user)
            writeInteger(group)
        }
        if let permissions = attributes.permissions { writeInteger(permissions) }
        if let access = attributes.accessTime, let modification = attributes.modificationTime {
            writeInteger(access)
            writeInteger(modification)
        }
    }

    mutating func readSFTPBytes() -> [UInt8]? {
        guard let length = getInteger(at: readerIndex, as: UInt32.self), Int(length) <= readableBytes - 4 else { return nil }
        moveReaderIndex(forwardBy: 4)
        return readBytes(length: Int(length))
    }

    /// A string field; bytes that are not UTF-8 become U+FFFD.
    mutating func readSFTPString() -> String? {
        readSFTPBytes().map { String(decoding: $0, as: UTF8.self) }
    }

    mutating func readSFTPAttributes() -> SFTPAttributes? {
        guard let flags = readInteger(as: UInt32.self) else { return nil }
        var attributes = SFTPAttributes()
        if flags & SFTPAttributeFlag.size != 0 {
            guard let size = readInteger(as: UInt64.self) else { return nil }
            attributes.size = size
        }
        if flags & SFTPAttributeFlag.userGroup != 0 {
            guard let user = readInteger(as: UInt32.self), let group = readInteger(as: UInt32.self) else { return nil }
            attributes.userID = user
            attributes.groupID = group
        }
        if flags & SFTPAttributeFlag.permissions != 0 {
            guard let permissions = readInteger(as: UInt32.self) else { return nil }
            attributes.permissions = permissions
        }
        if flags & SFTPAttributeFlag.times != 0 {
            guard let access = readInteger(as: UInt32.self), let modification = readInteger(as: UInt32.self) else { return nil }
            attributes.accessTime = access
            attributes.modificationTime = modification
        }
        if flags & SFTPAttributeFlag.extended != 0 {
            guard let count = readInteger(as: UInt32.self), Int(count) <= readableBytes / 8 else { return nil }
            for _ in 0..<count {
                guard readSFTPBytes() != nil, readSFTPBytes() != nil else { return nil }
            }
        }
        return attributes
    }
}
