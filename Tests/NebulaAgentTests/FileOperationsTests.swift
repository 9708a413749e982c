import Foundation
@testable import NebulaAgent
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct FileOperationsTests {
    @Test func listShowsDirectoriesFirstThenByNameWithKindsPermissionsAndLinkTargets() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.mkdir("srv/media/Zeta")
            try tree.mkdir("srv/media/alpha")
            try tree.write("srv/media/b.txt", "hello")
            try tree.write("srv/media/A.txt", "")
            try tree.symlink("srv/media/latest", to: "alpha")
            tree.chmod("srv/media/b.txt", 0o640)
            // act
            let listing = try await files.list(p("media"))
            // verify
            #expect(listing.entries.map(\.name) == ["alpha", "Zeta", "A.txt", "b.txt", "latest"])
            #expect(listing.entries.map(\.kind) == [.directory, .directory, .file, .file, .symlink])
            #expect(!listing.truncated)
            let text = try #require(listing.entries.first { $0.name == "b.txt" })
            #expect(text.size == 5 && text.permissions == "rw-r-----" && text.mode == 0o640)
            #expect(abs(text.modified.timeIntervalSinceNow) < 120 && text.modified.timeIntervalSince1970.rounded() == text.modified.timeIntervalSince1970)
            #expect(listing.entries.first { $0.name == "latest" }?.symlinkTarget == "alpha")
            #expect(listing.path == p("media"))
        }
    }

    @Test func listTheRootAndThroughALinkThatStaysInside() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.mkdir("srv/media/movies")
            try tree.write("srv/media/movies/film.mkv", "x")
            try tree.symlink("srv/movies", to: "media/movies")
            try tree.symlink("srv/self", to: ".")
            // act
            let root = try await files.list(p(""))
            let throughLink = try await files.list(p("movies"))
            let throughSelf = try await files.list(p("self/media"))
            // verify
            #expect(root.entries.map(\.name) == ["media", "movies", "self"])
            #expect(throughLink.entries.map(\.name) == ["film.mkv"])
            #expect(throughSelf.entries.map(\.name) == ["movies"])
        }
    }

    @Test func statDescribesTheEntryAndALinkItself() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("srv/a.txt", "abc")
            try tree.symlink("srv/link", to: "a.txt")
            // act
            let file = try await files.stat(p("a.txt"))
            let link = try await files.stat(p("link"))
            let root = try await files.stat(p(""))
            // verify
            #expect(file.name == "a.txt" && file.kind == .file && file.size == 3)
            #expect(link.kind == .symlink && link.symlinkTarget == "a.txt")
            #expect(root.kind == .directory && root.name == "srv")
        }
    }

    @Test func readReturnsChunksAndNothingPastTheEnd() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("srv/data.bin", "0123456789")
            // act
            let first = try await files.read(p("data.bin"), offset: 0, length: 4)
            let rest = try await files.read(p("data.bin"), offset: 4, length: 100)
            let past = try await files.read(p("data.bin"), offset: 50, length: 4)
            let negative = await failure { try await files.read(p("data.bin"), offset: -1, length: 4) }
            // verify
            #expect(String(decoding: first, as: UTF8.self) == "0123")
            #expect(String(decoding: rest, as: UTF8.self) == "456789")
            #expect(past.isEmpty)
            #expect(negative?.code == .invalidRequest)
        }
    }

    @Test func readIsCappedAtMaxReadBytes() async throws {
        try await withTempTree { tree in
            // setup
            try tree.mkdir("srv")
            try tree.write("srv/big", String(repeating: "x", count: 100))
            let files = FileAccess(roots: try FileRoots([tree.path("srv")]), maxReadBytes: 10)
            // act
            let data = try await files.read(p("big"), offset: 0, length: 100)
            // verify
            #expect(data.count == 10)
        }
    }

    @Test func writeCreatesAtomicallyAndRefusesToOverwriteUnlessAsked() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            // act
            let created = try await files.write(p("notes.txt"), data: Data("one".utf8))
            let again = await failure { try await files.write(p("notes.txt"), data: Data("two".utf8)) }
            let replaced = try await files.write(p("notes.txt"), data: Data("three".utf8), overwrite: true)
            // verify
            #expect(created.kind == .file && created.size == 3 && created.permissions == "rw-r--r--")
            #expect(again?.code == .exists)
            #expect(replaced.size == 5)
            #expect(tree.text("srv/notes.txt") == "three")
            #expect(tree.names("srv") == ["notes.txt"], "no temporary files are left behind")
        }
    }

    @Test func overwriteKeepsPermissionsButDropsSetUserID() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("srv/tool", "old")
            tree.chmod("srv/tool", 0o4750)
            // act
            let entry = try await files.write(p("tool"), data: Data("new".utf8), overwrite: true)
            // verify
            #expect(entry.mode == 0o750)
        }
    }

    @Test func writeOntoADirectoryOrTheRootIsRefused() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.mkdir("srv/dir")
            // act
            let ontoDirectory = await failure { try await files.write(p("dir"), data: Data(), overwrite: true) }
            let ontoRoot = await failure { try await files.write(p(""), data: Data(), overwrite: true) }
            let missingParent = await failure { try await files.write(p("nope/file"), data: Data()) }
            // verify
            #expect(ontoDirectory?.code == .isADirectory)
            #expect(ontoRoot?.code == .isADirectory)
            #expect(missingParent?.code == .notFound)
        }
    }

    @Test func renameMovesWithinTheRootAndRefusesAnExistingDestination() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.mkdir("srv/dir")
            try tree.write("srv/a.txt", "a")
            try tree.write("srv/b.txt", "b")
            // act
            let moved = try await files.rename(p("a.txt"), to: p("dir/c.txt"))
            let onto = await failure { try await files.rename(p("b.txt"), to: p("dir/c.txt")) }
            let dirOnto = await failure { try await files.rename(p("dir"), to: p("b.txt")) }
            let intoItself = await failure { try await files.rename(p("dir"), to: p("dir/inner")) }
            let missing = await failure { try await files.rename(p("gone"), to: p("x")) }
            // verify
            #expect(moved.name == "c.txt" && moved.kind == .file)
            #expect(tree.text("srv/dir/c.txt") == "a" && !tree.exists("srv/a.txt"))
            #expect(onto?.code == .exists && dirOnto?.code == .exists)
            #expect(tree.text("srv/b.txt") == "b" && tree.text("srv/dir/c.txt") == "a", "both untouched")
            #expect(intoItself?.code == .invalidPath)
            #expect(missing?.code == .notFound)
        }
    }

    @Test func renameAcrossRootsIsRefused() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree, roots: ["srv", "other"])
            try tree.write("srv/a.txt", "a")
            // act
            let error = await failure { try await files.rename(p("a.txt"), to: p("a.txt", root: 1)) }
            // verify
            #expect(error?.code == .invalidPath)
            #expect(tree.exists("srv/a.txt") && !tree.exists("other/a.txt"))
        }
    }

    @Test func deleteFilesLinksAndDirectories() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("srv/a.txt", "a")
            try tree.mkdir("srv/empty")
            try tree.mkdir("srv/full/deeper/deepest")
            try tree.write("srv/full/deeper/deepest/x", "x")
            try tree.write("srv/full/y", "y")
            try tree.symlink("srv/full/link", to: "../a.txt")
            // act
            try await files.delete(p("a.txt"))
            try await files.delete(p("empty"))
            let notEmpty = await failure { try await files.delete(p("full")) }
            let stillThere = tree.exists("srv/full/y")
            try await files.delete(p("full"), recursive: true)
            let missing = await failure { try await files.delete(p("full")) }
            // verify
            #expect(notEmpty?.code == .directoryNotEmpty && stillThere)
            #expect(tree.names("srv").isEmpty)
            #expect(missing?.code == .notFound)
        }
    }

    @Test func makeDirectory() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            // act
            let made = try await files.makeDirectory(p("new"))
            let nested = try await files.makeDirectory(p("new/inner"))
            let again = await failure { try await files.makeDirectory(p("new")) }
            let noParent = await failure { try await files.makeDirectory(p("a/b")) }
            let root = await failure { try await files.makeDirectory(p("")) }
            // verify
            #expect(made.kind == .directory && made.permissions.hasPrefix("rwx"))
            #expect(nested.name == "inner" && tree.exists("srv/new/inner"))
            #expect(again?.code == .exists && root?.code == .exists)
            #expect(noParent?.code == .notFound)
        }
    }

    @Test func wrongKindsGiveClearCodes() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("srv/file", "x")
            try tree.mkdir("srv/dir")
            // act
            let listFile = await failure { try await files.list(p("file")) }
            let readDirectory = await failure { try await files.read(p("dir"), offset: 0, length: 1) }
            let readRoot = await failure { try await files.read(p(""), offset: 0, length: 1) }
            let underFile = await failure { try await files.list(p("file/x")) }
            let missing = await failure { try await files.stat(p("nothing")) }
            // verify
            #expect(listFile?.code == .notADirectory)
            #expect(readDirectory?.code == .isADirectory && readRoot?.code == .isADirectory)
            #expect(underFile?.code == .notADirectory)
            #expect(missing?.code == .notFound)
            #expect(missing?.description == "\(tree.path("srv/nothing")): no such file or directory. Refresh the listing; it may have been moved or deleted.")
        }
    }

    @Test func listingIsTruncatedAtTheCapWithDirectoriesFirst() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree, maxListEntries: 10)
            for index in 0..<3 { try tree.mkdir("srv/big/dir\(index)") }
            for index in 0..<20 { try tree.write("srv/big/file\(String(format: "%02d", index))", "") }
            try tree.mkdir("srv/small")
            try tree.write("srv/small/one", "")
            // act
            let big = try await files.list(p("big"))
            let small = try await files.list(p("small"))
            // verify
            #expect(big.truncated && big.entries.count == 10)
            #expect(big.entries.prefix(3).map(\.name) == ["dir0", "dir1", "dir2"])
            #expect(big.entries.dropFirst(3).map(\.name) == (0..<7).map { "file0\($0)" })
            #expect(!small.truncated && small.entries.count == 1)
        }
    }

    @Test func unknownRootIndexAndMissingRoot() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            let missingRoot = FileAccess(roots: try FileRoots([tree.path("gone")]))
            let none = FileAccess(roots: .none)
            // act
            let negative = await failure { try await files.list(p("", root: -1)) }
            let tooHigh = await failure { try await files.read(p("a", root: 1), offset: 0, length: 1) }
            let noRoots = await failure { try await none.list(p("")) }
            let gone = await failure { try await missingRoot.list(p("")) }
            // verify
            #expect(negative?.code == .noSuchRoot && tooHigh?.code == .noSuchRoot && noRoots?.code == .noSuchRoot)
            #expect(tooHigh?.description.contains("1 root(s)") == true)
            #expect(gone?.code == .notFound)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFIFOIsNotReadSoItCannotHangTheAgent() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            #expect(mkfifo(tree.path("srv/pipe"), 0o644) == 0)
            // act
            let read = await failure { try await files.read(p("pipe"), offset: 0, length: 10) }
            let overwrite = await failure { try await files.write(p("pipe"), data: Data("x".utf8), overwrite: true) }
            let listing = try await files.list(p(""))
            // verify
            #expect(read?.code == .invalidPath)
            #expect(overwrite?.code == .invalidPath)
            #expect(listing.entries.first?.kind == .other)
        }
    }

    // Root bypasses permission bits, so a 000 directory proves nothing when the tests run as root
    // (as they do in CI containers); there the errno mapping test below stands in for it.
    @Test(.enabled(if: geteuid() != 0, "running as root, which bypasses permission bits"))
    func permissionDeniedOnAnUnreadableDirectory() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.mkdir("srv/locked")
            try tree.write("srv/locked/secret", "s")
            tree.chmod("srv/locked", 0o000)
            defer { tree.chmod("srv/locked", 0o755) }
            // act
            let list = await failure { try await files.list(p("locked")) }
            let read = await failure { try await files.read(p("locked/secret"), offset: 0, length: 1) }
            let write = await failure { try await files.write(p("locked/new"), data: Data()) }
            // verify
            #expect(list?.code == .permissionDenied)
            #expect(read?.code == .permissionDenied)
            #expect(write?.code == .permissionDenied)
        }
    }

    @Test func operatingSystemRefusalsMapToPermissionDenied() {
        // act
        let codes = [EACCES, EPERM, EROFS].map { FileAccess.failure(Errno(code: $0), "/srv/x").code }
        let others = [(ENOENT, FileAccessError.Code.notFound), (EEXIST, .exists), (ENOTEMPTY, .directoryNotEmpty), (ENOSPC, .ioError), (EISDIR, .isADirectory)]
        // verify
        #expect(codes == [.permissionDenied, .permissionDenied, .permissionDenied])
        for (errno, code) in others { #expect(FileAccess.failure(Errno(code: errno), "/srv/x").code == code) }
        #expect(FileAccess.failure(Errno(code: EROFS), "/srv/x").description.contains("read-only"))
    }
}
