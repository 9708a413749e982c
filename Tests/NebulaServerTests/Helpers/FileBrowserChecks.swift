import Foundation
@testable import NebulaServer
import Testing

/// The file browser walk-through every kind of server must pass: the same operations, the same
/// refusals, whether the files are served in-process, by an agent or over SFTP.
enum FileBrowserChecks {
    struct Entry: Decodable { var name: String; var kind: String; var size: Int64 }
    struct ListingBody: Decodable { var entries: [Entry]; var truncated: Bool }

    /// A root folder with a file, and a link inside it that points at /etc.
    static func makeRoot() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: root.appendingPathComponent("hello.txt"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("etc-link").path, withDestinationPath: "/etc")
        return root
    }

    static func query(_ path: String, root: Int = 0) -> String {
        "root=\(root)&path=" + (path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? path)
    }

    /// Walks every operation on `server` and checks the confinement rules; shared by the local
    /// node and an agent node.
    static func exercise(_ app: TestApp, server: UUID, root: URL, token: String) async throws {
        let base = "/api/v1/servers/\(server)/files"
        let big = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })   // 3 MiB: several 1 MiB chunks
        // act
        let made = try await app.request(.POST, base + "/mkdir", token: token, json: #"{"root":0,"path":"media"}"#)
        let uploaded = try await app.request(.PUT, base + "/upload?" + query("media/big.bin"), token: token, raw: big)
        let again = try await app.request(.PUT, base + "/upload?" + query("media/big.bin"), token: token, raw: Data("x".utf8))
        let replaced = try await app.request(.PUT, base + "/upload?" + query("media/small.txt") + "&overwrite=true", token: token, raw: Data("small".utf8))
        let listing = try await app.request(.GET, base + "?" + query("media"), token: token).decode(ListingBody.self)
        let download: TestResponse
        do {
            download = try await app.request(.GET, base + "/download?" + query("media/big.bin"), token: token)
        } catch {
            Issue.record("the download broke off: \(error); server log: \(relevantLog())")
            throw error
        }
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
        if download.data != big { Issue.record("server log: \(relevantLog())") }
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
        #expect(deleteLink.status == .noContent && FileManager.default.fileExists(atPath: "/etc/passwd"), "the link goes, /etc stays: \(deleteLink.body) \(relevantLog())")
        for body in [dotdot.body, throughLink.body, listLink.body] {
            #expect(!body.contains("/etc/passwd") && !body.contains(root.path), "errors never show paths outside the roots")
        }
        let uploads = try await app.auditEntries(action: "file.upload")
        #expect(uploads.count == 2 && uploads.allSatisfy { $0.target?.hasSuffix(".bin") == true || $0.target?.hasSuffix(".txt") == true })
        #expect(try await app.auditEntries(action: "file.download").count == 1)
        #expect(try await app.auditEntries(action: "file.delete").count == 2)
    }

    /// What the control plane logged about downloads and agents, for failures seen only on loaded machines.
    static func relevantLog() -> String {
        LogCapture.allText.split(separator: "\n")
            .filter { $0.contains("download") || $0.contains("agent") || $0.contains("WebSocket") }
            .suffix(20).joined(separator: "\n")
    }
}
