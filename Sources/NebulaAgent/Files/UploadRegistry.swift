#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One chunked upload in progress: a hidden temporary file next to its destination, renamed into
/// place by ``FileAccess/finishUpload(_:)``.
struct PendingUpload: Sendable {
    /// The destination as the user sees it.
    let display: String
    /// The user's name for the destination (for the returned entry).
    let shownName: String
    /// Directory handle (walked with `O_NOFOLLOW`) holding both files.
    let directory: Int32
    /// The temporary file, open for writing.
    let file: Int32
    let temporaryName: String
    /// The destination's name inside `directory`.
    let name: String
    let overwrite: Bool
    let expectedSize: Int64?
    var received: Int64 = 0
    var busy = false
    var lastUsed = ContinuousClock.now

    /// Closes both descriptors and removes the temporary file.
    func discard() {
        close(file)
        try? Posix.unlinkAt(directory, temporaryName, isDirectory: false)
        close(directory)
    }
}

/// What an upload in progress must tell the ``UploadBook`` that keeps it.
public protocol TrackedUpload: Sendable {
    /// The destination as the user sees it, for messages.
    var display: String { get }
    /// Bytes written so far.
    var received: Int64 { get set }
    /// A chunk is being written right now.
    var busy: Bool { get set }
    var lastUsed: ContinuousClock.Instant { get set }
}

/// Chunked uploads in progress, wherever their bytes go (a local temporary file, or one on a server
/// reached over SFTP). Hands an upload to one chunk at a time, checks each chunk starts where the
/// last one ended, and gives back uploads idle for longer than `idleTimeout` so their owner can
/// delete their temporary files.
public actor UploadBook<Upload: TrackedUpload> {
    private var uploads: [UploadID: Upload] = [:]
    private let idleTimeout: Duration
    private let maxConcurrent: Int

    public init(idleTimeout: Duration = .seconds(15 * 60), maxConcurrent: Int = 16) {
        self.idleTimeout = idleTimeout
        self.maxConcurrent = max(1, maxConcurrent)
    }

    /// Records a new upload under `id`. When the book is full nothing is recorded and the caller
    /// deletes what it prepared.
    public func add(_ upload: Upload, id: UploadID) throws(FileAccessError) {
        guard uploads.count < maxConcurrent else {
            throw .invalidRequest("\(maxConcurrent) uploads are already in progress on this server; finish or abort one first", path: upload.display)
        }
        uploads[id] = upload
    }

    /// Marks the upload busy for one chunk that must start at `offset`.
    public func checkOut(_ id: UploadID, offset: Int64) throws(FileAccessError) -> Upload {
        guard var upload = uploads[id] else { throw .unknownUpload(id.rawValue) }
        guard !upload.busy else { throw .invalidRequest("another chunk of this upload is still being written; send chunks one at a time", path: upload.display) }
        guard offset == upload.received else {
            throw .invalidRequest("this chunk starts at byte \(offset) but the upload has \(upload.received) bytes; send the chunk at offset \(upload.received)", path: upload.display)
        }
        upload.busy = true
        uploads[id] = upload
        return upload
    }

    public func checkIn(_ id: UploadID, received: Int64) {
        uploads[id]?.received = received
        uploads[id]?.busy = false
        uploads[id]?.lastUsed = .now
    }

    /// Removes the upload so it can be finished or aborted.
    public func take(_ id: UploadID) throws(FileAccessError) -> Upload {
        guard let upload = uploads[id] else { throw .unknownUpload(id.rawValue) }
        guard !upload.busy else { throw .invalidRequest("a chunk of this upload is still being written; wait for it", path: upload.display) }
        uploads[id] = nil
        return upload
    }

    /// Forgets the upload (its owner deletes the temporary file).
    @discardableResult
    public func remove(_ id: UploadID) -> Upload? {
        uploads.removeValue(forKey: id)
    }

    /// Removes and returns the uploads idle for longer than the timeout.
    public func expired() -> [Upload] {
        let now = ContinuousClock.now
        var gone: [Upload] = []
        for (id, upload) in uploads where !upload.busy && upload.lastUsed.duration(to: now) > idleTimeout {
            uploads[id] = nil
            gone.append(upload)
        }
        return gone
    }

    public var count: Int { uploads.count }
}

extension PendingUpload: TrackedUpload {}

extension UploadBook where Upload == PendingUpload {
    /// Deletes the temporary files of uploads that went idle.
    func sweep() {
        for upload in expired() { upload.discard() }
    }

    /// Records a local upload under a new id (deleting its temporary file when the book is full).
    func add(_ upload: PendingUpload) throws(FileAccessError) -> UploadID {
        sweep()
        let id = UploadID(rawValue: UUID().uuidString.lowercased())
        do {
            try add(upload, id: id)
        } catch {
            upload.discard()
            throw error
        }
        return id
    }

    /// Drops the upload and deletes its temporary file.
    func discard(_ id: UploadID) {
        remove(id)?.discard()
    }
}
