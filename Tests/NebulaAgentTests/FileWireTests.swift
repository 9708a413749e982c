import Foundation
import NebulaAgent
import Testing

@Suite struct FileWireTests {
    /// Sends `request` the way the agent protocol does: JSON out, JSON back.
    static func exchange(_ files: FileAccess, _ request: FileRequest) async throws -> FileResponse {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let received = try decoder.decode(FileRequest.self, from: try encoder.encode(request))
        #expect(received == request)
        let response = await files.handle(received)
        let back = try decoder.decode(FileResponse.self, from: try encoder.encode(response))
        #expect(back == response, "dates in whole seconds survive ISO 8601")
        #expect(back.id == request.id)
        return back
    }

    @Test func everyOperationRoundTripsThroughJSON() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            // act
            let mkdir = try await Self.exchange(files, .makeDirectory(p("docs")))
            let write = try await Self.exchange(files, .write(p("docs/a.txt"), data: Data("hello".utf8)))
            let list = try await Self.exchange(files, .list(p("docs")))
            let stat = try await Self.exchange(files, .stat(p("docs/a.txt")))
            let read = try await Self.exchange(files, .read(p("docs/a.txt"), offset: 1, length: 3))
            let readEnd = try await Self.exchange(files, .read(p("docs/a.txt"), offset: 0))
            let rename = try await Self.exchange(files, .rename(p("docs/a.txt"), to: p("docs/b.txt")))
            let begin = try await Self.exchange(files, .beginUpload(p("docs/up.bin"), size: 6))
            let id = try #require(begin.uploadId)
            let append1 = try await Self.exchange(files, .appendUpload(id, offset: 0, data: Data("abc".utf8)))
            let append2 = try await Self.exchange(files, .appendUpload(id, offset: 3, data: Data("def".utf8)))
            let finish = try await Self.exchange(files, .finishUpload(id))
            let abort = try await Self.exchange(files, .abortUpload(id))
            let delete = try await Self.exchange(files, .delete(p("docs"), recursive: true))
            // verify
            #expect(mkdir.ok && mkdir.entry?.kind == .directory)
            #expect(write.ok && write.entry?.size == 5)
            #expect(list.entries?.map(\.name) == ["a.txt"] && list.truncated == false)
            #expect(stat.entry?.permissions == "rw-r--r--")
            #expect(read.decodedData == Data("ell".utf8) && read.eof == false)
            #expect(readEnd.decodedData == Data("hello".utf8) && readEnd.eof == true)
            #expect(rename.ok && rename.entry?.name == "b.txt")
            #expect(append1.received == 3 && append2.received == 6)
            #expect(finish.ok && finish.entry?.size == 6)
            #expect(!abort.ok && abort.error?.code == "unknown_upload")
            #expect(delete.ok && tree.names("srv").isEmpty)
        }
    }

    @Test func errorsComeBackAsCodeAndMessage() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.symlink("srv/sys", to: "/etc")
            // act
            let outside = try await Self.exchange(files, .read(p("sys/passwd"), offset: 0))
            let traversal = try await Self.exchange(files, .list(p("../..")))
            let noRoot = try await Self.exchange(files, .list(p("", root: 7)))
            // verify
            #expect(!outside.ok && outside.error?.code == "outside_root" && outside.data == nil)
            #expect(outside.error?.message.contains("/etc") == false)
            #expect(outside.accessError?.code == .outsideRoot)
            #expect(traversal.error?.code == "invalid_path" && noRoot.error?.code == "no_such_root")
        }
    }

    @Test func malformedRequestsAreAnsweredNotThrown() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            let unknown = try JSONDecoder().decode(FileRequest.self, from: Data(#"{"id":"1","op":"chmod","path":{"root":0,"path":"x"}}"#.utf8))
            let oversize = FileRequest(op: .write, path: p("big"), data: Data(count: FileRequest.maxChunkBytes + 1).base64EncodedString())
            // act
            let responses = [
                await files.handle(unknown),
                await files.handle(FileRequest(op: .list)),
                await files.handle(FileRequest(op: .write, path: p("x"), data: "not base64!")),
                await files.handle(FileRequest(op: .rename, path: p("x"))),
                await files.handle(FileRequest(op: .uploadAppend, data: "", offset: 0)),
            ]
            let tooBig = await files.handle(oversize)
            // verify
            #expect(responses.map { $0.error?.code } == Array(repeating: "invalid_request", count: 5))
            #expect(responses[0].error?.message.contains("chmod") == true && responses[0].id == "1")
            #expect(tooBig.error?.code == "too_large")
            #expect(tree.names("srv").isEmpty)
        }
    }

    @Test func theWireShapeIsPlainJSON() throws {
        // setup
        let request = FileRequest(id: "r1", op: .uploadBegin, path: ClientPath(root: 1, path: "media/a b.mkv"), overwrite: true, size: 42)
        // act
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as? [String: Any])
        // verify
        #expect(json["op"] as? String == "upload.begin")
        #expect((json["path"] as? [String: Any])?["root"] as? Int == 1)
        #expect((json["path"] as? [String: Any])?["path"] as? String == "media/a b.mkv")
        #expect(json["size"] as? Int == 42 && json["overwrite"] as? Bool == true)
    }
}
