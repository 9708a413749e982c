import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing

@Suite struct FilesTests {


    @Test(arguments: TestDatabase.all)
    func theLocalNodesFilesAreBrowsableInsideItsRootsOnly(_ database: TestDatabase) async throws {
        let root = try FileBrowserChecks.makeRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup
            let token = try await app.token(role: .operator)
            let node = try await app.localServer(token: token)
            let unset = try await app.request(.GET, "/api/v1/servers/\(node.id)/files", token: token)
            let badRoots = try await app.request(.PATCH, "/api/v1/servers/\(node.id)", token: token, json: #"{"fileRoots":["relative/path"]}"#)
            _ = try await app.request(.PATCH, "/api/v1/servers/\(node.id)", token: token, json: #"{"fileRoots":["\#(root.path)"]}"#)
            let viewer = try await app.request(.GET, "/api/v1/servers/\(node.id)/files", token: try await app.token(role: .viewer))
            // act + verify
            #expect(unset.status == .conflict && unset.errorCode == "no_file_roots")
            #expect(badRoots.status == .unprocessableEntity && badRoots.errorCode == "invalid_file_roots")
            #expect(viewer.status == .forbidden)
            try await FileBrowserChecks.exercise(app, server: node.id, root: root, token: token)
        }
    }

    @Test(arguments: TestDatabase.all)
    func anAgentNodesFilesAreServedByItsAgent(_ database: TestDatabase) async throws {
        let root = try FileBrowserChecks.makeRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let (server, joinToken) = try await app.agentServer(token: token, name: "file-node", extra: #""fileRoots":["\#(root.path)"]"#)
            let running = try await app.startAgent(for: server.id, joinToken: joinToken)
            defer { running.cancel() }
            // act + verify
            try await FileBrowserChecks.exercise(app, server: server.id, root: root, token: token)
        }
    }

    @Test(arguments: TestDatabase.all)
    func anUploadOverTheLimitIsRefusedAndLeavesNothingBehind(_ database: TestDatabase) async throws {
        let root = try FileBrowserChecks.makeRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        try await withApp(database, configure: { $0.measuresLocalHost = true; $0.maxUploadBytes = 1 << 20 }) { app in
            // setup
            let token = try await app.token(role: .operator)
            let node = try await app.localServer(token: token)
            _ = try await app.request(.PATCH, "/api/v1/servers/\(node.id)", token: token, json: #"{"fileRoots":["\#(root.path)"]}"#)
            // act
            let tooBig = try await app.request(.PUT, "/api/v1/servers/\(node.id)/files/upload?" + FileBrowserChecks.query("huge.bin"), token: token,
                                               raw: Data(count: (1 << 20) + 1))
            // verify
            #expect(tooBig.status == .payloadTooLarge && tooBig.errorCode == "too_large", "\(tooBig.body)")
            let left = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
            #expect(left == ["etc-link", "hello.txt"], "no partial file or temp file is left: \(left)")
        }
    }
}
