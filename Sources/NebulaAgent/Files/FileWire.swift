import Foundation

/// One file-browser request, as the control plane sends it to an agent (or hands it to its own
/// ``FileAccess``). Answered by a ``FileResponse`` with the same ``id``. Binary data travels as
/// base64, at most ``maxChunkBytes`` per message: larger files are read in several `read`s and
/// written with `upload.begin` / `upload.append` / `upload.finish`.
public struct FileRequest: Codable, Sendable, Equatable {
    /// The largest chunk of file data in one message: 1 MiB.
    public static let maxChunkBytes = 1024 * 1024

    /// What to do. A string on the wire, so an operation this build does not know still decodes and
    /// is answered with `invalid_request` instead of breaking the connection.
    public struct Operation: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        /// The wire name, such as `"upload.begin"`.
        public let rawValue: String
        /// Wraps a wire name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The wire name.
        public var description: String { rawValue }

        /// ``FileAccess/list(_:)``: `path` → `entries`, `truncated`.
        public static let list = Self(rawValue: "list")
        /// ``FileAccess/stat(_:)``: `path` → `entry`.
        public static let stat = Self(rawValue: "stat")
        /// ``FileAccess/read(_:offset:length:)``: `path`, `offset`, `length` (≤ 1 MiB) → `data`, `eof`.
        public static let read = Self(rawValue: "read")
        /// ``FileAccess/write(_:data:overwrite:)``: `path`, `data` (≤ 1 MiB), `overwrite` → `entry`.
        public static let write = Self(rawValue: "write")
        /// ``FileAccess/rename(_:to:)``: `path`, `destination` → `entry`.
        public static let rename = Self(rawValue: "rename")
        /// ``FileAccess/delete(_:recursive:)``: `path`, `recursive`.
        public static let delete = Self(rawValue: "delete")
        /// ``FileAccess/makeDirectory(_:)``: `path` → `entry`.
        public static let mkdir = Self(rawValue: "mkdir")
        /// ``FileAccess/beginUpload(_:overwrite:expectedSize:)``: `path`, `overwrite`, `size` → `uploadId`.
        public static let uploadBegin = Self(rawValue: "upload.begin")
        /// ``FileAccess/appendUpload(_:offset:data:)``: `uploadId`, `offset`, `data` (≤ 1 MiB) → `received`.
        public static let uploadAppend = Self(rawValue: "upload.append")
        /// ``FileAccess/finishUpload(_:)``: `uploadId` → `entry`.
        public static let uploadFinish = Self(rawValue: "upload.finish")
        /// ``FileAccess/abortUpload(_:)``: `uploadId`.
        public static let uploadAbort = Self(rawValue: "upload.abort")

        /// Every operation this build understands.
        public static let all: [Self] = [.list, .stat, .read, .write, .rename, .delete, .mkdir, .uploadBegin, .uploadAppend, .uploadFinish, .uploadAbort]

        /// Decodes from a plain string.
        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        /// Encodes as a plain string.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    /// Correlates the response.
    public var id: String
    /// What to do.
    public var op: Operation
    /// The entry operated on (all operations except the upload ones after `upload.begin`).
    public var path: ClientPath?
    /// `rename`: the new path, in the same root.
    public var destination: ClientPath?
    /// `write`, `upload.append`: the bytes, base64.
    public var data: String?
    /// `read`: where to start; `upload.append`: where this chunk starts (bytes sent so far).
    public var offset: Int64?
    /// `read`: how many bytes (default and most: 1 MiB).
    public var length: Int?
    /// `write`, `upload.begin`: replace an existing file.
    public var overwrite: Bool?
    /// `delete`: also delete a directory's contents.
    public var recursive: Bool?
    /// `upload.append`, `upload.finish`, `upload.abort`.
    public var uploadId: UploadID?
    /// `upload.begin`: the announced total size, if known.
    public var size: Int64?

    /// A request; the named constructors below are easier.
    public init(id: String = UUID().uuidString, op: Operation, path: ClientPath? = nil, destination: ClientPath? = nil, data: String? = nil,
                offset: Int64? = nil, length: Int? = nil, overwrite: Bool? = nil, recursive: Bool? = nil, uploadId: UploadID? = nil, size: Int64? = nil) {
        self.id = id
        self.op = op
        self.path = path
        self.destination = destination
        self.data = data
        self.offset = offset
        self.length = length
        self.overwrite = overwrite
        self.recursive = recursive
        self.uploadId = uploadId
        self.size = size
    }

    /// List a directory.
    public static func list(_ path: ClientPath) -> Self { Self(op: .list, path: path) }
    /// Describe one entry.
    public static func stat(_ path: ClientPath) -> Self { Self(op: .stat, path: path) }
    /// Read one chunk of a file.
    public static func read(_ path: ClientPath, offset: Int64, length: Int = maxChunkBytes) -> Self {
        Self(op: .read, path: path, offset: offset, length: length)
    }
    /// Write a small file (≤ 1 MiB) in one message.
    public static func write(_ path: ClientPath, data: Data, overwrite: Bool = false) -> Self {
        Self(op: .write, path: path, data: data.base64EncodedString(), overwrite: overwrite)
    }
    /// Rename or move within one root.
    public static func rename(_ path: ClientPath, to destination: ClientPath) -> Self { Self(op: .rename, path: path, destination: destination) }
    /// Delete an entry.
    public static func delete(_ path: ClientPath, recursive: Bool = false) -> Self { Self(op: .delete, path: path, recursive: recursive) }
    /// Make a directory.
    public static func makeDirectory(_ path: ClientPath) -> Self { Self(op: .mkdir, path: path) }
    /// Start a chunked upload.
    public static func beginUpload(_ path: ClientPath, overwrite: Bool = false, size: Int64? = nil) -> Self {
        Self(op: .uploadBegin, path: path, overwrite: overwrite, size: size)
    }
    /// Send one chunk (≤ 1 MiB) of a chunked upload.
    public static func appendUpload(_ id: UploadID, offset: Int64, data: Data) -> Self {
        Self(op: .uploadAppend, data: data.base64EncodedString(), offset: offset, uploadId: id)
    }
    /// Finish a chunked upload.
    public static func finishUpload(_ id: UploadID) -> Self { Self(op: .uploadFinish, uploadId: id) }
    /// Abandon a chunked upload.
    public static func abortUpload(_ id: UploadID) -> Self { Self(op: .uploadAbort, uploadId: id) }
}

/// The answer to a ``FileRequest``: `ok` with the fields its operation fills, or `error`.
public struct FileResponse: Codable, Sendable, Equatable {
    /// Why the request failed: a stable ``FileAccessError/Code`` raw value and a sentence for people.
    public struct Failure: Codable, Sendable, Equatable {
        /// Such as `outside_root`; see ``FileAccessError/Code``.
        public var code: String
        /// What went wrong with which path (as the user sees it) and what to do.
        public var message: String

        /// Creates a failure.
        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    /// The request's id.
    public var id: String
    /// Whether the operation succeeded.
    public var ok: Bool
    /// `list`: the entries.
    public var entries: [FileEntry]?
    /// `list`: there were more entries than returned.
    public var truncated: Bool?
    /// `stat`, `write`, `rename`, `mkdir`, `upload.finish`: the entry afterwards.
    public var entry: FileEntry?
    /// `read`: the bytes, base64.
    public var data: String?
    /// `read`: the chunk ended at the end of the file.
    public var eof: Bool?
    /// `upload.begin`: the new upload's id.
    public var uploadId: UploadID?
    /// `upload.append`: bytes received so far (the next chunk's offset).
    public var received: Int64?
    /// Set when `ok` is `false`.
    public var error: Failure?

    /// A successful response; the handler fills in the operation's fields.
    public init(id: String) {
        self.id = id
        self.ok = true
    }

    /// A failed response.
    public init(id: String, error: FileAccessError) {
        self.id = id
        self.ok = false
        self.error = Failure(code: error.code.rawValue, message: error.description)
    }

    /// `data` decoded from base64, if present and valid.
    public var decodedData: Data? { data.flatMap { Data(base64Encoded: $0) } }

    /// The failure as a ``FileAccessError`` (with an empty ``FileAccessError/path``); an unknown code
    /// becomes `io_error`.
    public var accessError: FileAccessError? {
        error.map { FileAccessError(code: FileAccessError.Code(rawValue: $0.code) ?? .ioError, path: "", description: $0.message) }
    }
}

/// The file browser's operations, whoever carries them out: ``FileAccess`` on this machine, or the
/// control plane's SFTP implementation for servers reached over SSH. ``handle(_:)`` turns a wire
/// request into calls of these, the same way for every implementation.
public protocol FileOperations: Sendable {
    /// The most bytes one `read` returns.
    var maxReadBytes: Int { get }
    /// The path as the user sees it (root + relative path), for error messages.
    func display(_ path: ClientPath) -> String
    func list(_ path: ClientPath) async throws(FileAccessError) -> Listing
    func stat(_ path: ClientPath) async throws(FileAccessError) -> FileEntry
    func read(_ path: ClientPath, offset: Int64, length: Int) async throws(FileAccessError) -> Data
    func write(_ path: ClientPath, data: Data, overwrite: Bool) async throws(FileAccessError) -> FileEntry
    func beginUpload(_ path: ClientPath, overwrite: Bool, expectedSize: Int64?) async throws(FileAccessError) -> UploadID
    func appendUpload(_ id: UploadID, offset: Int64, data: Data) async throws(FileAccessError) -> Int64
    func finishUpload(_ id: UploadID) async throws(FileAccessError) -> FileEntry
    func abortUpload(_ id: UploadID) async throws(FileAccessError)
    func rename(_ source: ClientPath, to destination: ClientPath) async throws(FileAccessError) -> FileEntry
    func delete(_ path: ClientPath, recursive: Bool) async throws(FileAccessError)
    func makeDirectory(_ path: ClientPath) async throws(FileAccessError) -> FileEntry
}

extension FileAccess: FileOperations {}

extension FileOperations {
    /// Carries out one wire request: the single entry point for the agent's WebSocket handler, the
    /// control plane's in-process file browser and its SFTP one. Never throws; every failure becomes
    /// a response with an error code and message.
    public func handle(_ request: FileRequest) async -> FileResponse {
        do {
            return try await perform(request)
        } catch {
            return FileResponse(id: request.id, error: error)
        }
    }

    private func perform(_ request: FileRequest) async throws(FileAccessError) -> FileResponse {
        var response = FileResponse(id: request.id)
        func path() throws(FileAccessError) -> ClientPath {
            guard let path = request.path else { throw .invalidRequest("\(request.op) needs `path`") }
            return path
        }
        func uploadID() throws(FileAccessError) -> UploadID {
            guard let id = request.uploadId else { throw .invalidRequest("\(request.op) needs `uploadId`") }
            return id
        }
        func chunk() throws(FileAccessError) -> Data {
            guard let text = request.data else { throw .invalidRequest("\(request.op) needs `data` (base64)") }
            guard text.utf8.count <= (FileRequest.maxChunkBytes + 2) / 3 * 4 else {
                throw .tooLarge(request.path.map(display) ?? "", limit: Int64(FileRequest.maxChunkBytes))
            }
            guard let data = Data(base64Encoded: text) else { throw .invalidRequest("`data` is not valid base64") }
            guard data.count <= FileRequest.maxChunkBytes else {
                throw .tooLarge(request.path.map(display) ?? "", limit: Int64(FileRequest.maxChunkBytes))
            }
            return data
        }

        switch request.op {
        case .list:
            let listing = try await list(try path())
            response.entries = listing.entries
            response.truncated = listing.truncated
        case .stat:
            response.entry = try await stat(try path())
        case .read:
            let wanted = min(request.length ?? FileRequest.maxChunkBytes, FileRequest.maxChunkBytes, maxReadBytes)
            let data = try await read(try path(), offset: request.offset ?? 0, length: wanted)
            response.data = data.base64EncodedString()
            response.eof = data.count < wanted
        case .write:
            let target = try path()
            response.entry = try await write(target, data: try chunk(), overwrite: request.overwrite ?? false)
        case .rename:
            guard let destination = request.destination else { throw .invalidRequest("rename needs `destination`") }
            response.entry = try await rename(try path(), to: destination)
        case .delete:
            try await delete(try path(), recursive: request.recursive ?? false)
        case .mkdir:
            response.entry = try await makeDirectory(try path())
        case .uploadBegin:
            response.uploadId = try await beginUpload(try path(), overwrite: request.overwrite ?? false, expectedSize: request.size)
        case .uploadAppend:
            guard let offset = request.offset else { throw .invalidRequest("upload.append needs `offset` (the bytes sent so far)") }
            response.received = try await appendUpload(try uploadID(), offset: offset, data: try chunk())
        case .uploadFinish:
            response.entry = try await finishUpload(try uploadID())
        case .uploadAbort:
            try await abortUpload(try uploadID())
        default:
            throw .invalidRequest("unknown operation \"\(FileAccessError.printable(request.op.rawValue, limit: 40))\"; known: \(FileRequest.Operation.all.map(\.rawValue).joined(separator: ", "))")
        }
        return response
    }
}
