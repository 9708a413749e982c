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

/// The uploads in progress, shared by every copy of a ``FileAccess``. Holds descriptors, hands an
/// upload to one chunk at a time, and drops uploads idle for longer than `idleTimeout` (their
/// temporary files are deleted) whenever an upload starts or continues.
actor UploadRegistry {
    private var uploads: [UploadID: PendingUpload] = [:]
    private let idleTimeout: Duration
    private let maxConcurrent: Int

    init(idleTimeout: Duration, maxConcurrent: Int) {
        self.idleTimeout = idleTimeout
        self.maxConcurrent = max(1, maxConcurrent)
    }

    func add(_ upload: PendingUpload) throws(FileAccessError) -> UploadID {
        sweep()
        guard uploads.count < maxConcurrent else {
            upload.discard()
            throw .invalidRequest("\(maxConcurrent) uploads are already in progress on this server; finish or abort one first", path: upload.display)
        }
        let id = UploadID(rawValue: UUID().uuidString.lowercased())
        uploads[id] = upload
        return id
    }

    /// Marks the upload busy for one chunk that must start at `offset`.
    func checkOut(_ id: UploadID, offset: Int64) throws(FileAccessError) -> PendingUpload {
        sweep()
        guard var upload = uploads[id] else { throw .unknownUpload(id.rawValue) }
        guard !upload.busy else { throw .invalidRequest("another chunk of this upload is still being written; send chunks one at a time", path: upload.display) }
        guard offset == upload.received else {
            throw .invalidRequest("this chunk starts at byte \(offset) but the upload has \(upload.received) bytes; send the chunk at offset \(upload.received)", path: upload.display)
        }
        upload.busy = true
        uploads[id] = upload
        return upload
    }

    func checkIn(_ id: UploadID, received: Int64) {
        uploads[id]?.received = received
        uploads[id]?.busy = false
        uploads[id]?.lastUsed = .now
    }

    /// Removes the upload so it can be finished or aborted.
    func take(_ id: UploadID) throws(FileAccessError) -> PendingUpload {
        guard let upload = uploads[id] else { throw .unknownUpload(id.rawValue) }
        guard !upload.busy else { throw .invalidRequest("a chunk of this upload is still being written; wait for it", path: upload.display) }
        uploads[id] = nil
        return upload
    }

    /// Drops the upload and deletes its temporary file.
    func discard(_ id: UploadID) {
        uploads.removeValue(forKey: id)?.discard()
    }

    var count: Int { uploads.count }

    private func sweep() {
        let now = ContinuousClock.now
        for (id, upload) in uploads where !upload.busy && upload.lastUsed.duration(to: now) > idleTimeout {
            uploads[id] = nil
            upload.discard()
        }
    }
}
