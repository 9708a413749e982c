import Foundation
@testable import NebulaAgent
import Testing

@Suite struct UploadTests {
    @Test func chunkedUploadAssemblesTheFileAndLeavesNoTemporaryFile() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            let chunks = ["first-", "second-", "third"].map { Data($0.utf8) }
            // act
            let id = try await files.beginUpload(p("upload.txt"), expectedSize: 18)
            let during = tree.names("srv")
            var offset: Int64 = 0
            for chunk in chunks { offset = try await files.appendUpload(id, offset: offset, data: chunk) }
            let entry = try await files.finishUpload(id)
            let reused = await failure { try await files.appendUpload(id, offset: offset, data: Data("x".utf8)) }
            // verify
            #expect(during.count == 1 && during[0].hasPrefix(FileAccess.temporaryFilePrefix), "\(during)")
            #expect(offset == 18 && entry.size == 18 && entry.name == "upload.txt")
            #expect(tree.text("srv/upload.txt") == "first-second-third")
            #expect(tree.names("srv") == ["upload.txt"])
            #expect(reused?.code == .unknownUpload)
        }
    }

    @Test func aChunkAtTheWrongOffsetIsRefusedAndTheUploadGoesOn() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            let id = try await files.beginUpload(p("f"))
            try await files.appendUpload(id, offset: 0, data: Data("abc".utf8))
            // act
            let duplicate = await failure { try await files.appendUpload(id, offset: 0, data: Data("abc".utf8)) }
            let gap = await failure { try await files.appendUpload(id, offset: 10, data: Data("x".utf8)) }
            try await files.appendUpload(id, offset: 3, data: Data("def".utf8))
            try await files.finishUpload(id)
            // verify
            #expect(duplicate?.code == .invalidRequest && gap?.code == .invalidRequest)
            #expect(duplicate?.description.contains("offset 3") == true)
            #expect(tree.text("srv/f") == "abcdef")
        }
    }

    @Test func singleWriteOverTheCapIsRefused() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree, maxUploadBytes: 1000)
            // act
            let error = await failure { try await files.write(p("big"), data: Data(count: 1001)) }
            let exactly = try await files.write(p("fits"), data: Data(count: 1000))
            // verify
            #expect(error?.code == .tooLarge && error?.description.contains("1000 bytes") == true)
            #expect(!tree.exists("srv/big") && exactly.size == 1000)
        }
    }

    @Test func chunkedUploadOverTheCapIsDroppedWithItsTemporaryFile() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree, maxUploadBytes: 1000)
            let id = try await files.beginUpload(p("big"))
            try await files.appendUpload(id, offset: 0, data: Data(count: 600))
            // act
            let over = await failure { try await files.appendUpload(id, offset: 600, data: Data(count: 600)) }
            let finish = await failure { try await files.finishUpload(id) }
            let announced = await failure { try await files.beginUpload(p("big2"), expectedSize: 1001) }
            // verify
            #expect(over?.code == .tooLarge)
            #expect(finish?.code == .unknownUpload)
            #expect(announced?.code == .tooLarge)
            #expect(tree.names("srv").isEmpty, "\(tree.names("srv"))")
        }
    }

    @Test func moreOrFewerBytesThanAnnouncedAreRefused() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            let short = try await files.beginUpload(p("short"), expectedSize: 10)
            let long = try await files.beginUpload(p("long"), expectedSize: 2)
            try await files.appendUpload(short, offset: 0, data: Data("abc".utf8))
            // act
            let shortFinish = await failure { try await files.finishUpload(short) }
            let longAppend = await failure { try await files.appendUpload(long, offset: 0, data: Data("abc".utf8)) }
            // verify
            #expect(shortFinish?.code == .invalidRequest && longAppend?.code == .invalidRequest)
            #expect(tree.names("srv").isEmpty)
        }
    }

    @Test func uploadsRefuseToOverwriteUnlessAskedEvenWhenTheNameAppearsMeanwhile() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            try tree.write("srv/exists", "old")
            let early = await failure { try await files.beginUpload(p("exists")) }
            let id = try await files.beginUpload(p("late"))
            try await files.appendUpload(id, offset: 0, data: Data("upload".utf8))
            try tree.write("srv/late", "someone else")
            // act
            let late = await failure { try await files.finishUpload(id) }
            let replace = try await files.beginUpload(p("exists"), overwrite: true)
            try await files.appendUpload(replace, offset: 0, data: Data("new".utf8))
            try await files.finishUpload(replace)
            // verify
            #expect(early?.code == .exists && late?.code == .exists)
            #expect(tree.text("srv/late") == "someone else" && tree.text("srv/exists") == "new")
            #expect(tree.names("srv") == ["exists", "late"])
        }
    }

    @Test func abortDeletesTheTemporaryFileAndSpendsTheID() async throws {
        try await withTempTree { tree in
            // setup
            let files = try FileAccess.over(tree)
            let id = try await files.beginUpload(p("a"))
            try await files.appendUpload(id, offset: 0, data: Data("x".utf8))
            // act
            try await files.abortUpload(id)
            let again = await failure { try await files.abortUpload(id) }
            // verify
            #expect(again?.code == .unknownUpload)
            #expect(tree.names("srv").isEmpty, "\(tree.names("srv"))")
        }
    }

    @Test func idleUploadsExpireAndTheirTemporaryFilesAreDeleted() async throws {
        try await withTempTree { tree in
            // setup
            // Seconds, not milliseconds: under a loaded CI machine the fresh upload must not expire
            // between starting it and looking at the folder.
            let files = try FileAccess.over(tree, uploadIdleTimeout: .seconds(5))
            let idle = try await files.beginUpload(p("idle"))
            try await Task.sleep(for: .milliseconds(5500))
            // act
            let fresh = try await files.beginUpload(p("fresh"))   // starting an upload sweeps idle ones
            let expired = await failure { try await files.appendUpload(idle, offset: 0, data: Data("x".utf8)) }
            let remaining = tree.names("srv")
            _ = await failure { try await files.abortUpload(fresh) }
            // verify
            #expect(expired?.code == .unknownUpload)
            #expect(remaining.count == 1, "only the fresh upload's temporary file: \(remaining)")
        }
    }
}
