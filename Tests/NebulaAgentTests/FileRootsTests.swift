import Foundation
import NebulaAgent
import Testing

@Suite struct FileRootsTests {
    @Test func rootsAreNormalised() throws {
        // act
        let roots = try FileRoots(["/srv/", "//home//pi/./", "/"])
        // verify
        #expect(roots.paths == ["/srv", "/home/pi", "/"])
        #expect(roots.root(at: 1) == "/home/pi")
        #expect(roots.root(at: 3) == nil && roots.root(at: -1) == nil)
    }

    @Test(arguments: [
        (["srv"], "not absolute"), ([""], "empty"), (["/srv/../etc"], "`..`"), (["/srv\u{0}x"], "control"), (["/srv\nx"], "control"),
        (["/srv", "/srv/"], "twice"),
    ])
    func badRootsAreRefusedWithAReason(_ paths: [String], _ reason: String) {
        // act
        let error = #expect(throws: FileRootsError.self) { try FileRoots(paths) }
        // verify
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
        #expect(error?.description.contains("\n") == false)
    }

    @Test func settingStringIsCommaSeparatedAndEmptyMeansNone() throws {
        // act
        let roots = try FileRoots(setting: " /srv , /home/pi,, ")
        let none = try FileRoots(setting: "  ")
        // verify
        #expect(roots.paths == ["/srv", "/home/pi"])
        #expect(none == .none && none.count == 0)
    }

    @Test func atMostTwentyRoots() throws {
        // setup
        let twenty = (1...20).map { "/data/\($0)" }
        // act / verify
        #expect(try FileRoots(twenty).count == 20)
        #expect(throws: FileRootsError.self) { try FileRoots(twenty + ["/data/21"]) }
    }

    @Test func codableAsAnArrayAndValidatedWhenDecoded() throws {
        // setup
        let roots = try FileRoots(["/srv", "/home/pi"])
        // act
        let json = try JSONEncoder().encode(roots)
        let decoded = try JSONDecoder().decode(FileRoots.self, from: json)
        // verify
        #expect(String(decoding: json, as: UTF8.self) == #"["\/srv","\/home\/pi"]"#)
        #expect(decoded == roots)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(FileRoots.self, from: Data(#"["relative"]"#.utf8)) }
    }
}
