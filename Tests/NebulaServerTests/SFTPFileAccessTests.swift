import Foundation
import NebulaAgent
import NebulaSSH
@testable import NebulaServer
import Testing

/// The file browser over SFTP, against the real sshd `make test` starts: the roots are temporary
/// directories on this machine, reached through sftp-server as `NEBULA_TEST_SSH_USER`.
@Suite struct SFTPFileAccessTests {
    /// A temporary tree: `base/srv` (root 0), `base/srv2` (a sibling whose name starts like the root)
    /// and `base/secret.txt` outside every root.
    struct Tree {
        let base: String
        var root: String { base + "/srv" }

        func path(_ relative: String) -> String { base + "/" + relative }
        func write(_ relative: String, _ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path(relative)))
        }
        func text(_ relative: String) -> String? {
            (try? Data(contentsOf: URL(fileURLWithPath: path(relative)))).map { String(decoding: $0, as: UTF8.self) }
        }
        func exists(_ relative: String) -> Bool {
            (try? FileManager.default.attributesOfItem(atPath: path(relative))) != nil
        }
        func mkdir(_ relative: String) throws {
            try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
        }
        func symlink(_ relative: String, to target: String) throws {
            try FileManager.default.createSymbolicLink(atPath: path(relative), withDestinationPath: target)
        }
        func names(_ relative: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []).sorted()
        }
    }

    /// Runs `body` with an SFTP file browser over a fresh tree (roots: `srv` plus `extraRoots`).
    /// Returns without running it when sshd is not configured (under CI that is recorded as a failure).
    static func withFiles(
        maxUploadBytes: Int64 = 8 << 20,
        extraRoots: [String] = [],
        _ body: (SFTPFileAccess, Tree) async throws -> Void
    ) async throws {
        guard let ssh = TestSSH.require() else { return }
        let identity = SSHIdentity.generate(comment: "nebula-sftp-files-tests")
        try ssh.authorize(identity.authorizedKeysLine)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-sftp-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        let tree = Tree(base: url.resolvingSymlinksInPath().path)
        try tree.mkdir("srv")
        try tree.mkdir("srv2")
        try tree.write("secret.txt", "outside")
        try tree.write("srv2/twin.txt", "sibling")
        let roots = try FileRoots([tree.root] + extraRoots.map(tree.path))
        let session = try await DefaultSSHClient().openSFTP(
            on: try SSHTarget(host: "127.0.0.1", port: ssh.port, username: ssh.user),
            identity: identity, hostKey: .trustOnFirstUse, timeout: .seconds(20)
        )
        let files = SFTPFileAccess(session: session, roots: roots, maxUploadBytes: maxUploadBytes)
        do {
            try await body(files, tree)
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    static func p(_ path: String, root: Int = 0) -> ClientPath { ClientPath(root: root, path: path) }

    // MARK: Happy paths

    @Test func everyOperationWorksInsideTheRoot() async throws {
        try await Self.withFiles { files, tree in
            // setup
            try tree.write("srv/existing.txt", "old")
            // act
            let mkdir = await files.handle(.makeDirectory(Self.p("docs")))
            let write = await files.handle(.write(Self.p("docs/a.txt"), data: Data("hello world".utf8)))
            let refused = await files.handle(.write(Self.p("docs/a.txt"), data: Data("again".utf8)))
            let overwrite = await files.handle(.write(Self.p("existing.txt"), data: Data("new".utf8), overwrite: true))
            let stat = await files.handle(.stat(Self.p("docs/a.txt")))
            let statRoot = await files.handle(.stat(Self.p("")))
            let list = await files.handle(.list(Self.p("")))
            let read = await files.handle(.read(Self.p("docs/a.txt"), offset: 6, length: 100))
            let readAll = await files.handle(.read(Self.p("docs/a.txt"), offset: 0, length: 5))
            let rename = await files.handle(.rename(Self.p("docs/a.txt"), to: Self.p("docs/b.txt")))
            let renameOnto = await files.handle(.rename(Self.p("docs/b.txt"), to: Self.p("existing.txt")))
            let mkdirAgain = await files.handle(.makeDirectory(Self.p("docs")))
            let deleteNonEmpty = await files.handle(.delete(Self.p("docs")))
            let readMissing = await files.handle(.read(Self.p("nope.txt"), offset: 0))
            let readDirectory = await files.handle(.read(Self.p("docs"), offset: 0))
            let listFile = await files.handle(.list(Self.p("existing.txt")))
            try tree.mkdir("srv/docs/deep/er")
            try tree.write("srv/docs/deep/er/x.txt", "x")
            try tree.symlink("srv/docs/deep/link-out", to: "/etc")
            let deleteFile = await files.handle(.delete(Self.p("existing.txt")))
            let deleteTree = await files.handle(.delete(Self.p("docs"), recursive: true))
            // verify
            for response in [mkdir, write, overwrite, stat, statRoot, list, read, readAll, rename, deleteFile, deleteTree] {
                #expect(response.ok, "\(String(describing: response.error))")
            }
            #expect(mkdir.entry?.kind == .directory && mkdir.entry?.name == "docs")
            #expect(write.entry?.kind == .file && write.entry?.size == 11 && write.entry?.permissions == "rw-r--r--")
            #expect(refused.error?.code == "exists")
            #expect(overwrite.entry?.size == 3)
            #expect(stat.entry?.name == "a.txt" && stat.entry?.size == 11 && stat.entry?.mode == 0o644)
            #expect(statRoot.entry?.name == "srv" && statRoot.entry?.kind == .directory)
            #expect(list.entries?.map(\.name) == ["docs", "existing.txt"] && list.truncated == false)
            #expect(read.decodedData == Data("world".utf8) && read.eof == true)
            #expect(readAll.decodedData == Data("hello".utf8) && readAll.eof == false)
            #expect(rename.entry?.name == "b.txt")
            #expect(renameOnto.error?.code == "exists")
            #expect(mkdirAgain.error?.code == "exists")
            #expect(deleteNonEmpty.error?.code == "directory_not_empty")
            #expect(readMissing.error?.code == "not_found")
            #expect(readDirectory.error?.code == "is_a_directory")
            #expect(listFile.error?.code == "not_a_directory")
            #expect(tree.names("srv") == [], "everything was deleted, and no temporary file is left")
            #expect(FileManager.default.fileExists(atPath: "/etc/passwd"), "recursive deletion removed the link, not /etc")
        }
    }

    @Test func chunkedUploadOfThreeMegabytesIsRenamedIntoPlace() async throws {
        try await Self.withFiles { files, tree in
            // setup
            var generator = SystemRandomNumberGenerator()
            let data = Data((0..<(3 * 1_000_000 + 77)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            try tree.write("srv/replace.bin", "old")
            // act
            let begin = await files.handle(.beginUpload(Self.p("up.bin"), size: Int64(data.count)))
            let id = try #require(begin.uploadId)
            let tempNames = tree.names("srv")
            var offset = 0
            var appended: [FileResponse] = []
            while offset < data.count {
                let end = min(offset + FileRequest.maxChunkBytes, data.count)
                appended.append(await files.handle(.appendUpload(id, offset: Int64(offset), data: data.subdata(in: offset..<end))))
                offset = end
            }
            let wrongOffset = await files.handle(.beginUpload(Self.p("other.bin")))
            let otherID = try #require(wrongOffset.uploadId)
            let misplaced = await files.handle(.appendUpload(otherID, offset: 5, data: Data("x".utf8)))
            let aborted = await files.handle(.abortUpload(otherID))
            let finish = await files.handle(.finishUpload(id))
            let refused = await files.handle(.beginUpload(Self.p("replace.bin")))
            let replacing = await files.handle(.beginUpload(Self.p("replace.bin"), overwrite: true))
            let replaceID = try #require(replacing.uploadId)
            _ = await files.handle(.appendUpload(replaceID, offset: 0, data: Data("brand new".utf8)))
            let replaced = await files.handle(.finishUpload(replaceID))
            let spent = await files.handle(.appendUpload(id, offset: Int64(data.count), data: Data("x".utf8)))
            // verify
            #expect(tempNames == [".nebula-upload-\(id.rawValue).part", "replace.bin"])
            #expect(appended.allSatisfy(\.ok) && appended.last?.received == Int64(data.count))
            #expect(misplaced.error?.code == "invalid_request")
            #expect(aborted.ok)
            #expect(finish.ok && finish.entry?.size == Int64(data.count) && finish.entry?.name == "up.bin")
            #expect(try Data(contentsOf: URL(fileURLWithPath: tree.path("srv/up.bin"))) == data)
            #expect(refused.error?.code == "exists")
            #expect(replaced.ok && tree.text("srv/replace.bin") == "brand new")
            #expect(spent.error?.code == "unknown_upload")
            #expect(tree.names("srv") == ["replace.bin", "up.bin"], "no temporary files are left")
        }
    }

    @Test func uploadsAndWritesOverTheCapAreRefused() async throws {
        try await Self.withFiles(maxUploadBytes: 1000) { files, tree in
            // act
            let announced = await files.handle(.beginUpload(Self.p("big.bin"), size: 2000))
            let begin = await files.handle(.beginUpload(Self.p("big.bin")))
            let id = try #require(begin.uploadId)
            let first = await files.handle(.appendUpload(id, offset: 0, data: Data(repeating: 1, count: 600)))
            let second = await files.handle(.appendUpload(id, offset: 600, data: Data(repeating: 2, count: 600)))
            let after = await files.handle(.finishUpload(id))
            let write = await files.handle(.write(Self.p("big.bin"), data: Data(repeating: 3, count: 1001)))
            // verify
            #expect(announced.error?.code == "too_large")
            #expect(first.ok && first.received == 600)
            #expect(second.error?.code == "too_large")
            #expect(after.error?.code == "unknown_upload")
            #expect(write.error?.code == "too_large")
            #expect(tree.names("srv") == [], "the temporary file was deleted")
        }
    }

    // MARK: Confinement

    static let traversal = [
        "..", "../secret.txt", "a/../../secret.txt", "/etc/passwd", "//etc", "%2e%2e/secret.txt", "%2E%2E%2Fsecret.txt",
        "..%2fsecret.txt", "%252e%252e/secret.txt", "a\\..\\..\\secret.txt", "a\u{0}b", "\u{2025}/secret.txt", "docs/./x", "a//b",
    ]

    @Test func traversalIsRefusedByEveryOperation() async throws {
        try await Self.withFiles { files, tree in
            // setup
            try tree.write("srv/victim.txt", "keep")
            // act
            var responses: [(String, FileResponse)] = []
            for path in Self.traversal {
                let target = Self.p(path)
                for request in [FileRequest.list(target), .stat(target), .read(target, offset: 0), .write(target, data: Data("x".utf8), overwrite: true),
                                .makeDirectory(target), .delete(target, recursive: true), .rename(Self.p("victim.txt"), to: target),
                                .rename(target, to: Self.p("moved")), .beginUpload(target, overwrite: true)] {
                    responses.append((path, await files.handle(request)))
                }
            }
            // verify
            for (path, response) in responses {
                #expect(response.error?.code == "invalid_path", "\(path.debugDescription): \(String(describing: response.error))")
                #expect(response.error?.message.contains("\u{0}") == false)
            }
            #expect(tree.text("secret.txt") == "outside" && tree.text("srv/victim.txt") == "keep")
            #expect(tree.names("srv") == ["victim.txt"])
        }
    }

    @Test func aLinkToEtcCannotBeFollowedButCanBeInspectedAndDeleted() async throws {
        try await Self.withFiles { files, tree in
            // setup
            try tree.symlink("srv/sys", to: "/etc")
            let probe = "nebula-sftp-test-\(UUID().uuidString)"
            // act
            let refused = [
                await files.handle(.list(Self.p("sys"))),
                await files.handle(.read(Self.p("sys/passwd"), offset: 0)),
                await files.handle(.stat(Self.p("sys/passwd"))),
                await files.handle(.list(Self.p("sys/ssh"))),
                await files.handle(.write(Self.p("sys/\(probe)"), data: Data("x".utf8))),
                await files.handle(.write(Self.p("sys"), data: Data("x".utf8), overwrite: true)),
                await files.handle(.makeDirectory(Self.p("sys/\(probe)"))),
                await files.handle(.beginUpload(Self.p("sys/\(probe)"))),
                await files.handle(.rename(Self.p("sys/passwd"), to: Self.p("stolen"))),
                await files.handle(.delete(Self.p("sys/passwd"))),
            ]
            let listing = await files.handle(.list(Self.p("")))
            let link = await files.handle(.stat(Self.p("sys")))
            let delete = await files.handle(.delete(Self.p("sys"), recursive: true))
            // verify
            for response in refused {
                #expect(response.error?.code == "outside_root", "\(String(describing: response.error))")
                #expect(response.error?.message.contains("/etc") == false, "never names the target")
            }
            #expect(listing.entries?.first?.kind == .symlink && listing.entries?.first?.symlinkTarget == "/etc")
            #expect(link.entry?.kind == .symlink && link.entry?.symlinkTarget == "/etc")
            #expect(delete.ok, "\(String(describing: delete.error))")
            #expect(!tree.exists("srv/sys"), "the link itself is deleted")
            #expect(FileManager.default.fileExists(atPath: "/etc/passwd"), "/etc untouched")
            #expect(!FileManager.default.fileExists(atPath: "/etc/\(probe)"))
            #expect(!FileManager.default.fileExists(atPath: tree.path("srv/stolen")))
        }
    }

    @Test func aSiblingWhoseNameStartsLikeTheRootIsOutside() async throws {
        try await Self.withFiles { files, tree in
            // setup
            try tree.symlink("srv/twin", to: tree.path("srv2"))
            try tree.symlink("srv/twin-file", to: "../srv2/twin.txt")
            try tree.symlink("srv/dangling", to: "../srv2/missing.txt")
            try tree.mkdir("srv/inside")
            try tree.write("srv/inside/ok.txt", "fine")
            try tree.symlink("srv/shortcut", to: "inside")
            // act
            let listTwin = await files.handle(.list(Self.p("twin")))
            let readThrough = await files.handle(.read(Self.p("twin/twin.txt"), offset: 0))
            let readLink = await files.handle(.read(Self.p("twin-file"), offset: 0))
            let overwriteLink = await files.handle(.write(Self.p("twin-file"), data: Data("pwned".utf8), overwrite: true))
            let writeDangling = await files.handle(.write(Self.p("dangling"), data: Data("pwned".utf8), overwrite: true))
            let listInside = await files.handle(.list(Self.p("shortcut")))
            let readInside = await files.handle(.read(Self.p("shortcut/ok.txt"), offset: 0))
            // verify
            for response in [listTwin, readThrough, readLink, overwriteLink, writeDangling] {
                #expect(response.error?.code == "outside_root", "\(String(describing: response.error))")
                #expect(response.error?.message.contains("srv2") == false)
            }
            #expect(listInside.entries?.map(\.name) == ["ok.txt"], "a link that stays inside the root is followed")
            #expect(readInside.decodedData == Data("fine".utf8))
            #expect(tree.text("srv2/twin.txt") == "sibling" && !tree.exists("srv2/missing.txt"))
        }
    }

    @Test func rootsCannotBeDeletedOrRenamedAndUnknownRootsAreRefused() async throws {
        try await Self.withFiles(extraRoots: ["srv/nested"]) { files, tree in
            // setup
            try tree.mkdir("srv/nested")
            try tree.write("srv/nested/keep.txt", "keep")
            // act
            let deleteRoot = await files.handle(.delete(Self.p(""), recursive: true))
            let renameRoot = await files.handle(.rename(Self.p(""), to: Self.p("moved")))
            let deleteNested = await files.handle(.delete(Self.p("nested"), recursive: true))
            let renameNested = await files.handle(.rename(Self.p("nested"), to: Self.p("moved")))
            let crossRoot = await files.handle(.rename(Self.p("nested/keep.txt"), to: Self.p("keep.txt", root: 1)))
            let noSuchRoot = await files.handle(.list(Self.p("", root: 7)))
            let nestedListing = await files.handle(.list(Self.p("", root: 1)))
            let noPath = await files.handle(FileRequest(op: .stat))
            let unknown = await files.handle(FileRequest(op: .init(rawValue: "chmod"), path: Self.p("")))
            // verify
            #expect(deleteRoot.error?.code == "invalid_path")
            #expect(renameRoot.error?.code == "invalid_path")
            #expect(deleteNested.error?.code == "invalid_path")
            #expect(renameNested.error?.code == "invalid_path")
            #expect(crossRoot.error?.code == "invalid_path")
            #expect(noSuchRoot.error?.code == "no_such_root")
            #expect(nestedListing.entries?.map(\.name) == ["keep.txt"])
            #expect(noPath.error?.code == "invalid_request")
            #expect(unknown.error?.code == "invalid_request")
            #expect(tree.text("srv/nested/keep.txt") == "keep")
        }
    }

    @Test func aMissingRootIsReportedAsNotFound() async throws {
        try await Self.withFiles(extraRoots: ["gone"]) { files, _ in
            // act
            let listing = await files.handle(.list(Self.p("", root: 1)))
            // verify
            #expect(listing.error?.code == "not_found", "\(String(describing: listing.error))")
        }
    }
}
