import Foundation
import NIOCore
import Testing

@testable import NebulaSSH

/// The SFTP client against the real OpenSSH sftp-server behind the sshd `start_sshd` runs (same
/// machine, so each test checks the remote effects in a local temporary directory).
@Suite(.enabled(if: TestSSHServer.isAvailable, TestSSHServer.skipMessage))
struct SFTPTests {
    let client = DefaultSSHClient()

    /// An open session and a fresh directory (its realpath) it can play in; both cleaned up.
    private func withSession(_ body: (SFTPSession, String) async throws -> Void) async throws {
        let server = try TestSSHServer.require()
        let identity = try server.authorizedIdentity(comment: "nebula-sftp-tests")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nebula-sftp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let real = directory.resolvingSymlinksInPath().path
        let session = try await client.openSFTP(on: try server.target(), identity: identity, hostKey: .pinned(try server.hostKey()), timeout: .seconds(20))
        do {
            try await body(session, real)
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    @Test func realpathResolvesDotsAndLinks() async throws {
        try await withSession { session, root in
            // setup
            try FileManager.default.createDirectory(atPath: root + "/a/b", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: "a/b")
            // act
            let dotted = try await session.realpath(root + "/a/./b/../b")
            let linked = try await session.realpath(root + "/link")
            let home = try await session.realpath(".")
            // verify
            #expect(dotted == root + "/a/b")
            #expect(linked == root + "/a/b")
            #expect(home.hasPrefix("/"))
        }
    }

    @Test func writeThenReadRoundTripsAndStatDescribesTheFile() async throws {
        try await withSession { session, root in
            // setup
            let path = root + "/hello.txt"
            let text = Data("grüße ✓\n".utf8)
            // act
            try await session.write(path, data: text, options: [.create, .exclusive], permissions: 0o640)
            let back = try await session.read(path, length: 1000)
            let middle = try await session.read(path, offset: 2, length: 3)
            let past = try await session.read(path, offset: 10_000, length: 10)
            let attributes = try await session.stat(path)
            // verify
            #expect(back == text)
            #expect(middle == text.subdata(in: 2..<5))
            #expect(past.isEmpty)
            #expect(attributes.fileType == .regular)
            #expect(attributes.size == UInt64(text.count))
            #expect(attributes.mode == 0o640)
            #expect(abs((attributes.modified ?? .distantPast).timeIntervalSinceNow) < 120)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == text)
        }
    }

    @Test func threeMegabytesWrittenInChunksReadBackInOneMebibyteReads() async throws {
        try await withSession { session, root in
            // setup
            let path = root + "/big.bin"
            var generator = SystemRandomNumberGenerator()
            let data = Data((0..<(3 * 1_000_000 + 123)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let chunk = 700_000
            // act
            var offset = 0
            while offset < data.count {
                let end = min(offset + chunk, data.count)
                try await session.write(path, data: data.subdata(in: offset..<end), offset: UInt64(offset), options: offset == 0 ? [.create, .truncate] : [])
                offset = end
            }
            var back = Data()
            while true {
                let part = try await session.read(path, offset: UInt64(back.count), length: SFTPSession.maxReadLength)
                back.append(part)
                if part.count < SFTPSession.maxReadLength { break }
            }
            // verify
            #expect(back.count == data.count)
            #expect(back == data)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == data)
            #expect(try await session.stat(path).size == UInt64(data.count))
        }
    }

    @Test func listDirectoryReturnsNamesTypesAndSizes() async throws {
        try await withSession { session, root in
            // setup
            try Data(repeating: 7, count: 1234).write(to: URL(fileURLWithPath: root + "/file.bin"))
            try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: false)
            try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: "/etc")
            for index in 0..<250 { try Data().write(to: URL(fileURLWithPath: root + "/sub/n\(index)")) }
            // act
            let listing = try await session.listDirectory(root)
            let many = try await session.listDirectory(root + "/sub")
            let limited = try await session.listDirectory(root + "/sub", limit: 10)
            // verify
            let byName = Dictionary(uniqueKeysWithValues: listing.entries.map { ($0.name, $0.attributes) })
            #expect(Set(byName.keys) == ["file.bin", "sub", "link"])
            #expect(byName["file.bin"]?.fileType == .regular)
            #expect(byName["file.bin"]?.size == 1234)
            #expect(byName["sub"]?.fileType == .directory)
            #expect(byName["link"]?.fileType == .symlink)
            #expect(listing.complete)
            #expect(many.entries.count == 250)
            #expect(many.complete)
            #expect(limited.entries.count == 10)
            #expect(!limited.complete)
        }
    }

    @Test func lstatAndReadlinkDescribeALinkWithoutFollowingIt() async throws {
        try await withSession { session, root in
            // setup
            try FileManager.default.createSymbolicLink(atPath: root + "/etc-link", withDestinationPath: "/etc")
            // act
            let link = try await session.lstat(root + "/etc-link")
            let followed = try await session.stat(root + "/etc-link")
            let target = try await session.readlink(root + "/etc-link")
            // verify
            #expect(link.fileType == .symlink)
            #expect(followed.fileType == .directory)
            #expect(target == "/etc")
        }
    }

    @Test func renameMovesAndRefusesToOverwrite() async throws {
        try await withSession { session, root in
            // setup
            try await session.write(root + "/a", data: Data("A".utf8))
            try await session.write(root + "/b", data: Data("B".utf8))
            // act
            try await session.rename(root + "/a", to: root + "/c")
            let refused = await #expect(throws: SFTPError.self) { try await session.rename(root + "/c", to: root + "/b") }
            // verify
            #expect(refused?.code == .failure)
            #expect(!FileManager.default.fileExists(atPath: root + "/a"))
            #expect(try String(contentsOfFile: root + "/c", encoding: .utf8) == "A")
            #expect(try String(contentsOfFile: root + "/b", encoding: .utf8) == "B")
        }
    }

    @Test func mkdirRmdirAndRemove() async throws {
        try await withSession { session, root in
            // setup
            let directory = root + "/made"
            // act
            try await session.mkdir(directory)
            let made = try await session.stat(directory)
            try await session.write(directory + "/f", data: Data("x".utf8))
            let notEmpty = await #expect(throws: SFTPError.self) { try await session.rmdir(directory) }
            try await session.remove(directory + "/f")
            try await session.rmdir(directory)
            // verify
            #expect(made.fileType == .directory)
            #expect(notEmpty?.code == .failure)
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }

    @Test func exclusiveCreateRefusesAnExistingName() async throws {
        try await withSession { session, root in
            // setup
            try await session.write(root + "/exists", data: Data("old".utf8))
            // act
            let error = await #expect(throws: SFTPError.self) {
                try await session.write(root + "/exists", data: Data("new".utf8), options: [.create, .exclusive])
            }
            // verify
            #expect(error?.code == .failure)
            #expect(try String(contentsOfFile: root + "/exists", encoding: .utf8) == "old")
        }
    }

    @Test func missingFilesAreReportedAsNoSuchFile() async throws {
        try await withSession { session, root in
            // setup
            let missing = root + "/nope/nothing"
            // act
            let errors: [SFTPError?] = [
                await #expect(throws: SFTPError.self) { try await session.stat(missing) },
                await #expect(throws: SFTPError.self) { try await session.lstat(missing) },
                await #expect(throws: SFTPError.self) { try await session.read(missing, length: 10) },
                await #expect(throws: SFTPError.self) { try await session.listDirectory(missing) },
                await #expect(throws: SFTPError.self) { try await session.remove(missing) },
                await #expect(throws: SFTPError.self) { try await session.rmdir(missing) },
                await #expect(throws: SFTPError.self) { try await session.readlink(missing) },
                await #expect(throws: SFTPError.self) { try await session.rename(missing, to: root + "/x") },
                await #expect(throws: SFTPError.self) { try await session.write(missing, data: Data()) },
            ]
            // verify
            for error in errors {
                #expect(error?.code == .noSuchFile)
                #expect(error?.status == 2)
                #expect(error?.description.contains("no such file or directory") == true)
            }
        }
    }

    @Test func argumentsAreCheckedBeforeSending() async throws {
        try await withSession { session, root in
            // act
            let tooLong = await #expect(throws: SFTPError.self) { try await session.read(root + "/x", length: SFTPSession.maxReadLength + 1) }
            let nul = await #expect(throws: SFTPError.self) { try await session.stat(root + "/a\u{0}/../etc") }
            let stillWorks = try await session.realpath(root)
            // verify
            #expect(tooLong?.code == .invalidArgument)
            #expect(nul?.code == .invalidArgument)
            #expect(stillWorks == root)
        }
    }

    @Test func closedSessionRefusesFurtherCalls() async throws {
        try await withSession { session, root in
            // act
            await session.close()
            let error = await #expect(throws: SFTPError.self) { try await session.stat(root) }
            // verify
            #expect(error?.code == .sessionClosed)
        }
    }

    @Test func malformedRepliesAreRejected() {
        // setup
        var truncatedStatus = ByteBuffer(bytes: [0, 0])
        var oversizedName = ByteBuffer(bytes: [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF])
        var hugeCount = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        var badData = ByteBuffer(bytes: [0, 0, 0, 9, 1, 2])
        var goodStatus = ByteBuffer(bytes: [0, 0, 0, 2, 0, 0, 0, 2, 0x68, 0x69, 0, 0, 0, 0])
        // act
        let replies = [
            SFTPReply.decode(type: SFTPPacketType.status, body: &truncatedStatus),
            SFTPReply.decode(type: SFTPPacketType.name, body: &oversizedName),
            SFTPReply.decode(type: SFTPPacketType.name, body: &hugeCount),
            SFTPReply.decode(type: SFTPPacketType.data, body: &badData),
            SFTPReply.decode(type: 42, body: &goodStatus),
        ]
        var goodAgain = ByteBuffer(bytes: [0, 0, 0, 2, 0, 0, 0, 2, 0x68, 0x69, 0, 0, 0, 0])
        let good = SFTPReply.decode(type: SFTPPacketType.status, body: &goodAgain)
        // verify
        #expect(replies.allSatisfy { $0 == nil })
        guard case .status(let code, let message) = good else {
            Issue.record("a well-formed status did not decode")
            return
        }
        #expect(code == 2)
        #expect(message == "hi")
    }
}
