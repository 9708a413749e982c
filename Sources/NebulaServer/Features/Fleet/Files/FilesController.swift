import Foundation
import NebulaAgent
import NIOCore
import OpenAPIKit30
import Vapor

/// `/api/v1/servers/{id}/files…`: the file browser's API. Paths are a root index (into the
/// server's `fileRoots`) and a path relative to that root.
struct FilesController: RouteCollection {
    struct PathBody: Codable, Sendable {
        var root: Int
        var path: String
        var to: String?
        var recursive: Bool?
    }

    func boot(routes: any RoutesBuilder) throws {
        let pathQuery = [QueryDoc(name: "root", description: "Index of the root in the server's fileRoots (default 0)", schema: .integer),
                         QueryDoc(name: "path", description: "Path relative to the root (default: the root itself)")]
        routes.endpoint(.GET, "servers", ":id", "files", role: .operator, summary: "List a folder", tag: "Files",
                        response: ListingDoc.doc, query: pathQuery, use: list)
        routes.endpoint(.GET, "servers", ":id", "files", "download", role: .operator, audit: "file.download",
                        summary: "Download a file (streamed)", tag: "Files", query: pathQuery, produces: "application/octet-stream", use: download)
        routes.endpoint(.PUT, "servers", ":id", "files", "upload", role: .operator, audit: "file.upload",
                        summary: "Upload a file (the request body, streamed; ?overwrite=true replaces an existing one)", tag: "Files",
                        response: FileEntryDoc.doc, status: .created,
                        query: pathQuery + [QueryDoc(name: "overwrite", description: "true replaces an existing file", schema: .boolean)],
                        body: .stream, use: upload)
        routes.endpoint(.POST, "servers", ":id", "files", "rename", role: .operator, audit: "file.rename",
                        summary: "Rename or move inside one root", tag: "Files", request: FileRenameDoc.doc, response: FileEntryDoc.doc, use: rename)
        routes.endpoint(.POST, "servers", ":id", "files", "delete", role: .operator, audit: "file.delete",
                        summary: "Delete a file, a link or a folder (recursive: true for a non-empty folder)", tag: "Files",
                        request: FileDeleteDoc.doc, status: .noContent, use: delete)
        routes.endpoint(.POST, "servers", ":id", "files", "mkdir", role: .operator, audit: "file.mkdir",
                        summary: "Make a folder", tag: "Files", request: FilePathDoc.doc, response: FileEntryDoc.doc, status: .created, use: makeDirectory)
    }

    static func clientPath(_ req: Request) -> ClientPath {
        ClientPath(root: req.query[Int.self, at: "root"] ?? 0, path: req.query[String.self, at: "path"] ?? "")
    }

    @Sendable func list(req: Request) async throws -> Listing {
        let path = Self.clientPath(req)
        let (response, _) = try await req.nebula.files.perform(try req.uuidParameter(), .list(path), by: try req.actor)
        return Listing(path: path, entries: response.entries ?? [], truncated: response.truncated ?? false)
    }

    @Sendable func download(req: Request) async throws -> Response {
        let files = try req.nebula.files
        let id = try req.uuidParameter()
        let actor = try req.actor
        let path = Self.clientPath(req)
        // The first chunk is read before answering, so a missing file or a refusal is a JSON error.
        let (first, target) = try await files.perform(id, .read(path, offset: 0), by: actor)
        try await files.audited("file.download", path, on: target, by: actor)
        let name = path.path.split(separator: "/").last.map(String.init) ?? "download"
        let response = Response(status: .ok)
        response.headers.contentType = .binary
        response.headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename=\"\(Self.headerSafe(name))\"; filename*=UTF-8''\(Self.percentEncoded(name))")
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        response.body = .init(asyncStream: { writer in
            var chunk = first
            var offset: Int64 = 0
            do {
                while true {
                    let bytes = chunk.decodedData ?? Data()
                    if !bytes.isEmpty { try await writer.write(.buffer(ByteBuffer(data: bytes))) }
                    offset += Int64(bytes.count)
                    if chunk.eof == true || bytes.isEmpty { break }
                    chunk = try await files.perform(.read(path, offset: offset), on: target)
                }
                try await writer.write(.end)
            } catch {
                req.logger.warning("download of \(path) from server \(id) stopped: \(error)")
                try? await writer.write(.error(error))
            }
        })
        return response
    }

    @Sendable func upload(req: Request) async throws -> Response {
        let files = try req.nebula.files
        let id = try req.uuidParameter()
        let actor = try req.actor
        let path = Self.clientPath(req)
        let overwrite = req.query[Bool.self, at: "overwrite"] ?? false
        let expected = req.headers.first(name: .contentLength).flatMap(Int64.init)
        let (begun, target) = try await files.perform(id, .beginUpload(path, overwrite: overwrite, size: expected), by: actor)
        guard let upload = begun.uploadId else { throw NebulaError.badGateway("The server did not start the upload.", code: "upload_failed") }
        var received: Int64 = 0
        var pending = ByteBuffer()
        do {
            // Forwarded in chunks of at most 1 MiB, as they arrive: the body is never held whole.
            for try await var part in req.body {
                pending.writeBuffer(&part)
                while pending.readableBytes >= FileRequest.maxChunkBytes {
                    let slice = pending.readSlice(length: FileRequest.maxChunkBytes) ?? ByteBuffer()
                    received = try await files.perform(.appendUpload(upload, offset: received, data: Data(buffer: slice)), on: target).received ?? received
                }
            }
            if pending.readableBytes > 0 {
                received = try await files.perform(.appendUpload(upload, offset: received, data: Data(buffer: pending)), on: target).received ?? received
            }
            let finished = try await files.perform(.finishUpload(upload), on: target)
            try await files.audited("file.upload", path, on: target, by: actor, detail: "\(received) bytes")
            return try await (finished.entry ?? FileEntry.placeholder(name: path.path)).encodeResponse(status: .created, for: req)
        } catch {
            _ = try? await files.perform(.abortUpload(upload), on: target)
            throw error
        }
    }

    @Sendable func rename(req: Request) async throws -> FileEntry {
        let input = try req.decodeJSON(PathBody.self, allowedKeys: ["root", "path", "to"])
        guard let to = input.to else { throw NebulaError.invalid("Give the new path in \"to\".", code: "missing_destination") }
        let from = ClientPath(root: input.root, path: input.path)
        let (response, target) = try await req.nebula.files.perform(try req.uuidParameter(), .rename(from, to: ClientPath(root: input.root, path: to)), by: try req.actor)
        try await req.nebula.files.audited("file.rename", from, on: target, by: try req.actor, detail: "to \(to)")
        return response.entry ?? FileEntry.placeholder(name: to)
    }

    @Sendable func delete(req: Request) async throws -> HTTPStatus {
        let input = try req.decodeJSON(PathBody.self, allowedKeys: ["root", "path", "recursive"])
        let path = ClientPath(root: input.root, path: input.path)
        let (_, target) = try await req.nebula.files.perform(try req.uuidParameter(), .delete(path, recursive: input.recursive ?? false), by: try req.actor)
        try await req.nebula.files.audited("file.delete", path, on: target, by: try req.actor)
        return .noContent
    }

    @Sendable func makeDirectory(req: Request) async throws -> Response {
        let input = try req.decodeJSON(PathBody.self, allowedKeys: ["root", "path"])
        let path = ClientPath(root: input.root, path: input.path)
        let (response, target) = try await req.nebula.files.perform(try req.uuidParameter(), .makeDirectory(path), by: try req.actor)
        try await req.nebula.files.audited("file.mkdir", path, on: target, by: try req.actor)
        return try await (response.entry ?? FileEntry.placeholder(name: input.path)).encodeResponse(status: .created, for: req)
    }

    /// A file name for a quoted header value: no quotes, backslashes or control characters.
    static func headerSafe(_ name: String) -> String {
        String(name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
    }

    static func percentEncoded(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? "download"
    }
}

extension FileEntry: Content {
    /// For an answer whose operation succeeded but sent no entry back.
    static func placeholder(name: String) -> FileEntry {
        FileEntry(name: name.split(separator: "/").last.map(String.init) ?? name, kind: .file, size: 0, modified: Date(), permissions: "", mode: 0, symlinkTarget: nil)
    }
}

extension Listing: Content {}

enum FilePathDoc: Documented {
    static let schemaName = "FilePath"
    static let schema = JSONSchema.object(properties: [
        "root": .integer(description: "Index of the root in the server's fileRoots"),
        "path": .string(description: "Path relative to the root"),
        "to": .string(required: false, description: "rename: the new path, relative to the same root"),
        "recursive": .boolean(required: false, description: "delete: also a non-empty folder"),
    ])
    static let example: String? = #"{"root":0,"path":"media/new-folder"}"#
}

enum FileRenameDoc: Documented {
    static let schemaName = "FileRename"
    static let schema = FilePathDoc.schema
    static let example: String? = #"{"root":0,"path":"a.txt","to":"b.txt"}"#
}

enum FileDeleteDoc: Documented {
    static let schemaName = "FileDelete"
    static let schema = FilePathDoc.schema
    static let example: String? = #"{"root":0,"path":"a.txt"}"#
}

private let fileEntrySchema = JSONSchema.object(properties: [
    "name": .string, "kind": .string(allowedValues: ["file", "directory", "symlink", "other"]), "size": .integer,
    "modified": .string(format: .dateTime), "permissions": .string, "mode": .integer,
    "symlinkTarget": .string(required: false, nullable: true),
])

enum FileEntryDoc: Documented {
    static let schemaName = "FileEntry"
    static let schema = fileEntrySchema
}

enum ListingDoc: Documented {
    static let schemaName = "FileListing"
    static let schema = JSONSchema.object(properties: [
        "path": .object(properties: ["root": .integer, "path": .string]),
        "entries": .array(items: .reference(.component(named: FileEntryDoc.schemaName))),
        "truncated": .boolean,
    ])
    static var related: [SchemaDoc] { [FileEntryDoc.doc] }
}
