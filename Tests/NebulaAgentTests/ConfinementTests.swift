import Foundation
@testable import NebulaAgent
import Testing

@Suite struct ConfinementTests {
    /// Runs every operation on `path` and returns each one's error (nil = it succeeded).
    static func everyOperation(_ files: FileAccess, _ path: ClientPath) async -> [String: FileAccessError?] {
        [
            "list": await failure { try await files.list(path) },
            "stat": await failure { try await files.stat(path) },
            "read": await failure { try await files.read(path, offset: 0, length: 10) },
            "write": await failure { try await files.write(path, data: Data("x".utf8), overwrite: true) },
            "mkdir": await failure { try await files.makeDirectory(path) },
            "delete": await failure { try await files.delete(path, recursive: true) },
            "rename.from": await failure { try await files.rename(path, to: ClientPath(root: path.root, path: "renamed")) },
            "rename.to": await failure { try await files.rename(ClientPath(root: path.root, path: "victim.txt"), to: path) },
            "upload.begin": await failure { try await files.beginUpload(path, overwrite: true) },
        ]
    }

    @Test(arguments: PathRulesTests.refused)
    func everyOperationRefusesTraversalBeforeTouchingTheDisk(_ path: String) async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("srv/victim.txt", "keep")
            try tree.write("secret.txt", "outside")
            // act
            let errors = await Self.everyOperation(files, p(path))
            // verify
            for (operation, error) in errors {
                #expect(error?.code == .invalidPath, "\(operation) \(path.debugDescription): \(String(describing: error))")
                #expect(error?.description.contains("\u{0}") == false && error?.description.contains("\n") == false)
            }
            #expect(tree.text("srv/victim.txt") == "keep" && tree.text("secret.txt") == "outside")
            #expect(tree.names("srv") == ["victim.txt"])
        }
    }

    @Test func aLinkToEtcCannotBeFollowedButCanBeInspectedAndDeleted() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.symlink("srv/sys", to: "/etc")
            let probe = "nebula-files-test-\(UUID().uuidString)"
            // act
            let list = await failure { try await files.list(p("sys")) }
            let read = await failure { try await files.read(p("sys/hostname"), offset: 0, length: 100) }
            let statInside = await failure { try await files.stat(p("sys/hostname")) }
            let write = await failure { try await files.write(p("sys/\(probe)"), data: Data("x".utf8)) }
            let writeOver = await failure { try await files.write(p("sys"), data: Data("x".utf8), overwrite: true) }
            let mkdir = await failure { try await files.makeDirectory(p("sys/\(probe)")) }
            let upload = await failure { try await files.beginUpload(p("sys/\(probe)")) }
            let moveOut = await failure { try await files.rename(p("sys/hostname"), to: p("stolen")) }
            let link = try await files.stat(p("sys"))
            try await files.delete(p("sys"), recursive: true)
            // verify
            for error in [list, read, statInside, write, writeOver, mkdir, upload, moveOut] {
                #expect(error?.code == .outsideRoot, "\(String(describing: error))")
                #expect(error?.description.contains("/etc") == false, "never names the target: \(String(describing: error))")
            }
            #expect(link.kind == .symlink && link.symlinkTarget == "/etc")
            #expect(!tree.exists("srv/sys"), "the link itself is deleted")
            #expect(FileManager.default.fileExists(atPath: "/etc/hostname") || FileManager.default.fileExists(atPath: "/etc/passwd"), "/etc untouched")
            #expect(!FileManager.default.fileExists(atPath: "/etc/\(probe)"))
        }
    }

    @Test func aLinkToAFileOutsideIsNotReadNorWrittenThrough() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("outside.txt", "precious")
            try tree.symlink("srv/absolute", to: tree.path("outside.txt"))
            try tree.symlink("srv/relative", to: "../outside.txt")
            // act
            var errors: [FileAccessError?] = []
            for name in ["absolute", "relative"] {
                errors.append(await failure { try await files.read(p(name), offset: 0, length: 100) })
                errors.append(await failure { try await files.write(p(name), data: Data("pwned".utf8), overwrite: true) })
                errors.append(await failure { try await files.beginUpload(p(name), overwrite: true) })
            }
            try await files.rename(p("relative"), to: p("renamed"))   // the link itself may move
            // verify
            #expect(errors.allSatisfy { $0?.code == .outsideRoot }, "\(errors)")
            #expect(tree.text("outside.txt") == "precious")
            #expect(tree.isSymlink("srv/renamed"))
            #expect(errors.allSatisfy { $0?.description.contains("outside.txt") == false })
        }
    }

    @Test func aLinkToASiblingWithTheRootsNameAsPrefixIsOutside() async throws {
        try await withTempTree { tree in
            // setup: root x/srv; x/srv2 is next to it and shares the prefix
            let files = try FileAccess.over(tree, roots: ["x/srv"])
            try tree.mkdir("x/srv2")
            try tree.write("x/srv2/file.txt", "sibling")
            try tree.write("x/srv/mine.txt", "mine")
            try tree.symlink("x/srv/sib", to: "../srv2")
            try tree.symlink("x/srv/sibfile", to: tree.path("x/srv2/file.txt"))
            // act
            let list = await failure { try await files.list(p("sib")) }
            let read = await failure { try await files.read(p("sib/file.txt"), offset: 0, length: 10) }
            let readFile = await failure { try await files.read(p("sibfile"), offset: 0, length: 10) }
            let write = await failure { try await files.write(p("sib/new.txt"), data: Data("x".utf8)) }
            let moveInto = await failure { try await files.rename(p("mine.txt"), to: p("sib/mine.txt")) }
            let deleteThrough = await failure { try await files.delete(p("sib/file.txt")) }
            // verify
            for error in [list, read, readFile, write, moveInto, deleteThrough] { #expect(error?.code == .outsideRoot, "\(String(describing: error))") }
            #expect(tree.names("x/srv2") == ["file.txt"] && tree.text("x/srv/mine.txt") == "mine")
        }
    }

    @Test func aLinkInsideTheRootIsFollowedAndWritingThroughItUpdatesTheTarget() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.mkdir("srv/docs")
            try tree.write("srv/docs/real.txt", "old")
            try tree.symlink("srv/current", to: "docs/real.txt")
            // act
            let before = try await files.read(p("current"), offset: 0, length: 10)
            try await files.write(p("current"), data: Data("new".utf8), overwrite: true)
            // verify
            #expect(String(decoding: before, as: UTF8.self) == "old")
            #expect(tree.text("srv/docs/real.txt") == "new")
            #expect(tree.isSymlink("srv/current"))
        }
    }

    @Test func danglingLinksAndLinkLoopsAreRefusedWithoutHanging() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.symlink("srv/dangling", to: "/nonexistent-\(UUID().uuidString)")
            try tree.symlink("srv/loop1", to: "loop2")
            try tree.symlink("srv/loop2", to: "loop1")
            // act
            let readDangling = await failure { try await files.read(p("dangling"), offset: 0, length: 1) }
            let writeDangling = await failure { try await files.write(p("dangling"), data: Data("x".utf8), overwrite: true) }
            let loop = await failure { try await files.read(p("loop1"), offset: 0, length: 1) }
            let listLoop = await failure { try await files.list(p("loop1/x")) }
            try await files.delete(p("loop1"))
            // verify
            #expect(readDangling?.code == .notFound && writeDangling?.code == .notFound)
            #expect(readDangling?.description.contains("nonexistent") == false)
            #expect(loop?.code == .invalidPath && listLoop?.code == .invalidPath)
            #expect(!tree.exists("srv/loop1") && tree.isSymlink("srv/loop2"))
        }
    }

    @Test func theRootAndConfiguredRootsCannotBeDeletedOrRenamed() async throws {
        try await withTempTree { tree in
            // setup: root 1 is nested inside root 0
            let files = try FileAccess.over(tree, roots: ["srv", "srv/media"])
            try tree.write("srv/media/film", "x")
            // act
            let errors = [
                await failure { try await files.delete(p("")) },
                await failure { try await files.delete(p("."), recursive: true) },
                await failure { try await files.delete(p("", root: 1), recursive: true) },
                await failure { try await files.delete(p("media"), recursive: true) },
                await failure { try await files.rename(p("media"), to: p("elsewhere")) },
                await failure { try await files.rename(p(""), to: p("elsewhere")) },
            ]
            // verify
            #expect(errors.allSatisfy { $0?.code == .invalidPath }, "\(errors)")
            #expect(tree.text("srv/media/film") == "x")
        }
    }

    /// Best effort at the race: after the checks pass, a directory on the path is swapped for a link
    /// that leads outside. The O_NOFOLLOW walk from the root must notice and refuse. (The remaining
    /// window — a directory already opened and then moved out of the root by someone with write access
    /// to both places — is documented, not tested.)
    @Test func aParentSwappedForALinkBetweenCheckAndUseIsRefused() async throws {
        try await withTempTree { tree in
            // setup
            try tree.mkdir("outside")
            try tree.write("outside/file.txt", "outside")
            try tree.mkdir("srv/a")
            try tree.write("srv/a/file.txt", "inside")
            let swap: @Sendable () -> Void = {
                try? FileManager.default.moveItem(atPath: tree.path("srv/a"), toPath: tree.path("srv/a-moved"))
                try? FileManager.default.createSymbolicLink(atPath: tree.path("srv/a"), withDestinationPath: tree.path("outside"))
            }
            let files = try FileAccess.over(tree, beforeOpen: swap)
            // act
            let write = await failure { try await files.write(p("a/new.txt"), data: Data("x".utf8)) }
            let read = await failure { try await files.read(p("a/file.txt"), offset: 0, length: 100) }
            let list = await failure { try await files.list(p("a")) }
            // verify
            #expect(write?.code == .outsideRoot, "\(String(describing: write))")
            #expect(read?.code == .outsideRoot, "\(String(describing: read))")
            #expect(list?.code == .outsideRoot || list?.code == .notADirectory, "\(String(describing: list))")
            #expect(tree.names("outside") == ["file.txt"])
        }
    }

    @Test func aFinalNameSwappedForALinkBetweenCheckAndUseIsRefused() async throws {
        try await withTempTree { tree in
            // setup
            try tree.write("outside.txt", "outside")
            try tree.mkdir("srv")
            try tree.write("srv/file.txt", "inside")
            let swap: @Sendable () -> Void = {
                try? FileManager.default.removeItem(atPath: tree.path("srv/file.txt"))
                try? FileManager.default.createSymbolicLink(atPath: tree.path("srv/file.txt"), withDestinationPath: tree.path("outside.txt"))
            }
            let files = try FileAccess.over(tree, beforeOpen: swap)
            // act
            let read = await failure { try await files.read(p("file.txt"), offset: 0, length: 100) }
            let write = await failure { try await files.write(p("file.txt"), data: Data("x".utf8), overwrite: true) }
            // verify
            #expect(read?.code == .outsideRoot, "\(String(describing: read))")
            #expect(write?.code == .outsideRoot, "\(String(describing: write))")
            #expect(tree.text("outside.txt") == "outside")
        }
    }
}
