import Foundation
import NebulaAgent
import NebulaCore
@testable import NebulaServer
import Testing

@Suite struct FilesTests {
    struct ServerList: Decodable { var items: [ServerDTO] }
    struct IssuedToken: Decodable { var token: String }
    struct Entry: Decodable { var name: String; var kind: String; var size: Int64 }
    struct ListingBody: Decodable { var entries: [Entry]; var truncated: Bool }

    func waitUntil(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// A root folder with a file, and a link inside it that points at /etc.
    func makeRoot() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: root.appendingPathComponent("hello.txt"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("etc-link").path, withDestinationPath: "/etc")
        return root
    }

    func query(_ path: String, root: Int = 0) -> String {
        "root=\(root)&path=" + (path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? path)
    }

    /// Walks every operation on `server` and checks the confinement rules; shared by the local
    /// node and an agent node.
    func exercise(_ app: TestApp, server: UUID, root: URL, token: String) async throws {
        let base = "/api/v1/servers/\(server)/files"
        let big = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })   // 3 MiB: several 1 MiB chunks
        // act
        let made = try await app.request(.POST, base + "/mkdir", token: token, json: #"{"root":0,"path":"media"}"#)
        let uploaded = try await app.request(.PUT, base + "/upload?" + query("media/big.bin"), token: token, raw: big)
        let again = try await app.request(.PUT, base + "/upload?" + query("media/big.bin"), token: token, raw: Data("x".utf8))
        let replaced = try await app.request(.PUT, base + "/upload?" + query("media/small.txt") + "&overwrite=true", token: token, raw: Data("small".utf8))
        let listing = try await app.request(.GET, base + "?" + query("media"), token: token).decode(ListingBody.self)
        let download = try await app.request(.GET, base + "/download?" + query("media/big.bin"), token: token)
        let renamed = try await app.request(.POST, base + "/rename", token: token, json: #"{"root":0,"path":"media/small.txt","to":"small-renamed.txt"}"#)
        let notEmpty = try await app.request(.POST, base + "/delete", token: token, json: #"{"root":0,"path":"media"}"#)
        let deleted = try await app.request(.POST, base + "/delete", token: token, json: #"{"root":0,"path":"media","recursive":true}"#)
        // Attacks: traversal, absolute, encoded traversal (decoded once by HTTP), a link out of the root.
        let dotdot = try await app.request(.GET, base + "?" + query("../../etc"), token: token)
        let absolute = try await app.request(.GET, base + "/download?" + query("/etc/passwd"), token: token)
        let encoded = try await app.request(.GET, base + "/download?root=0&path=%252e%252e%252fetc%252fpasswd", token: token)
        let throughLink = try await app.request(.GET, base + "/download?" + query("etc-link/passwd"), token: token)
        let listLink = try await app.request(.GET, base + "?" + query("etc-link"), token: token)
        let writeThroughLink = try await app.request(.PUT, base + "/upload?" + query("etc-link/nebula-was-here"), token: token, raw: Data("x".utf8))
        let noRoot = try await app.request(.GET, base + "?" + query("", root: 7), token: token)
        let deleteLink = try await app.request(.POST, base + "/delete", token: token, json: #"{"root":0,"path":"etc-link"}"#)
        // verify
        #expect(made.status == .created, "\(made.body)")
        #expect(uploaded.status == .created, "\(uploaded.body)")
        #expect(again.status == .conflict && again.errorCode == "exists", "no silent overwrite")
        #expect(replaced.status == .created)
        #expect(Set(listing.entries.map(\.name)) == ["big.bin", "small.txt"])
        #expect(listing.entries.first { $0.name == "big.bin" }?.size == Int64(big.count))
        #expect(download.status == .ok && download.data == big, "the download is the uploaded bytes (\(download.data.count) of \(big.count))")
        #expect(download.headers.first(name: "Content-Disposition")?.contains("big.bin") == true)
        #expect(renamed.status == .ok)
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("small-renamed.txt").path))
        #expect(notEmpty.status == .conflict && notEmpty.errorCode == "directory_not_empty")
        #expect(deleted.status == .noContent && !FileManager.default.fileExists(atPath: root.appendingPathComponent("media").path))
        #expect(dotdot.status == .unprocessableEntity && dotdot.errorCode == "invalid_path")
        #expect(absolute.errorCode == "invalid_path")
        #expect(encoded.errorCode == "invalid_path", "\(encoded.body)")
        #expect(throughLink.status == .forbidden && throughLink.errorCode == "outside_root")
        #expect(listLink.errorCode == "outside_root")
        #expect(writeThroughLink.errorCode == "outside_root" && !FileManager.default.fileExists(atPath: "/etc/nebula-was-here"))
        #expect(noRoot.status == .notFound && noRoot.errorCode == "no_such_root")
        #expect(deleteLink.status == .noContent && FileManager.default.fileExists(atPath: "/etc/passwd"), "the link goes, /etc stays")
        for body in [dotdot.body, throughLink.body, listLink.body] {
            #expect(!body.contains("/etc/passwd") && !body.contains(root.path), "errors never show paths outside the roots")
        }
        let uploads = try await app.auditEntries(action: "file.upload")
        #expect(uploads.count == 2 && uploads.allSatisfy { $0.target?.hasSuffix(".bin") == true || $0.target?.hasSuffix(".txt") == true })
        #expect(try await app.auditEntries(action: "file.download").count == 1)
        #expect(try await app.auditEntries(action: "file.delete").count == 2)
    }

    @Test(arguments: TestDatabase.all)
    func theLocalNodesFilesAreBrowsableInsideItsRootsOnly(_ database: TestDatabase) async throws {
        let root = try makeRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        try await withApp(database, configure: { $0.measuresLocalHost = true }) { app in
            // setup
            let token = try await app.token(role: .operator)
            var local: ServerDTO?
            _ = try await waitUntil {
                local = try await app.request(.GET, "/api/v1/servers", token: token).decode(ServerList.self).items.first { $0.connection == .local }
                return local != nil
            }
            let node = try #require(local)
            let unset = try await app.request(.GET, "/api/v1/servers/\(node.id)/files", token: token)
            let badRoots = try await app.request(.PATCH, "/api/v1/servers/\(node.id)", token: token, json: #"{"fileRoots":["relative/path"]}"#)
            _ = try await app.request(.PATCH, "/api/v1/servers/\(node.id)", token: token, json: #"{"fileRoots":["\#(root.path)"]}"#)
            let viewer = try await app.request(.GET, "/api/v1/servers/\(node.id)/files", token: try await app.token(role: .viewer))
            // act + verify
            #expect(unset.status == .conflict && unset.errorCode == "no_file_roots")
            #expect(badRoots.status == .unprocessableEntity && badRoots.errorCode == "invalid_file_roots")
            #expect(viewer.status == .forbidden)
            try await exercise(app, server: node.id, root: root, token: token)
        }
    }

    @Test(arguments: TestDatabase.all)
    func anAgentNodesFilesAreServedByItsAgent(_ database: TestDatabase) async throws {
        let root = try makeRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        try await withApp(database) { app in
            // setup
            let token = try await app.token(role: .operator)
            let server = try await app.request(.POST, "/api/v1/servers", token: token,
                                               json: #"{"name":"file-node","connection":"agent","fileRoots":["\#(root.path)"]}"#).decode(ServerDTO.self)
            let joinToken = try await app.request(.POST, "/api/v1/servers/\(server.id)/join-token", token: token).decode(IssuedToken.self).token
            let agent = NodeAgent(options: AgentOptions(serverURL: app.baseURL, joinToken: joinToken,
                                                        credentialFile: app.directory.appendingPathComponent("files-node/credential.json").path, interval: .seconds(1)))
            let running = Task { try await agent.run() }
            defer { running.cancel() }
            let connections = try app.services.agents.connections
            #expect(try await waitUntil { await connections.isConnected(server.id) })
            // act + verify
            try await exercise(app, server: server.id, root: root, token: token)
        }
    }

    @Test(arguments: TestDatabase.all)
    func anUploadOverTheLimitIsRefusedAndLeavesNothingBehind(_ database: TestDatabase) async throws {
        let root = try makeRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        try await withApp(database, configure: { $0.measuresLocalHost = true; $0.maxUploadBytes = 1 << 20 }) { app in
            // setup
            let token = try await app.token(role: .operator)
            var local: ServerDTO?
            _ = try await waitUntil {
                local = try await app.request(.GET, "/api/v1/servers", token: token).decode(ServerList.self).items.first { $0.connection == .local }
                return local != nil
            }
            let node = try #require(local)
            _ = try await app.request(.PATCH, "/api/v1/servers/\(node.id)", token: token, json: #"{"fileRoots":["\#(root.path)"]}"#)
            // act
            let tooBig = try await app.request(.PUT, "/api/v1/servers/\(node.id)/files/upload?" + query("huge.bin"), token: token,
                                               raw: Data(count: (1 << 20) + 1))
            // verify
            #expect(tooBig.status == .payloadTooLarge && tooBig.errorCode == "too_large", "\(tooBig.body)")
            let left = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
            #expect(left == ["etc-link", "hello.txt"], "no partial file or temp file is left: \(left)")
        }
    }
}
