import Foundation
@testable import NebulaAgent
import Testing

@Suite struct PathRulesTests {
    /// Every one must be refused by the lexical checks, before the disk is touched.
    static let refused = [
        "..", "../srv2", "a/../..", "./../", "a/..", "./a", "a/./b", "/etc/passwd", "//etc", "/",
        "a\u{0}b", "\u{0}", "a\nb", "tab\tname", "a\u{7F}",
        "..\\..\\etc", "a\\b", "\\etc",
        "a//b", "a/", "/a",
        "%2e%2e", "%2E%2E", "%2e%2e/etc", "..%2f..", "%2e%2e%2fetc", "a%2fb", "%2f", "%5c", "%00", "%2e",
        "%252e%252e", "%25252e%25252e", "%252e%252e%252fetc", "%c0%ae%c0%ae", "%c0%af",
        "‥", "．．", "a／b",
        String(repeating: "n", count: 256), String(repeating: "a/", count: 2100) + "a",
    ]

    @Test(arguments: refused)
    func traversalAndMalformedPathsAreRefused(_ path: String) {
        // act
        let error = #expect(throws: PathRuleViolation.self) { try ClientPath(root: 0, path: path).components() }
        // verify
        #expect(error?.rule.isEmpty == false)
    }

    /// Names with `%`, dots and Unicode that are only literal names; they must work.
    static let literal = ["100% done.txt", "a%20b", "50%", "%zz", "%2", "..hidden", "...", ".env", "a..b", "café", "日本語.txt", "foo%2ebar", "-rf"]

    @Test(arguments: literal)
    func literalNamesAreAccepted(_ name: String) throws {
        // act
        let names = try ClientPath(root: 0, path: "dir/" + name).components()
        // verify
        #expect(names == ["dir", name])
    }

    @Test func emptyAndDotMeanTheRoot() throws {
        // act / verify
        #expect(try ClientPath(root: 0, path: "").components() == [])
        #expect(try ClientPath(root: 0, path: ".").components() == [])
    }

    @Test func theHTTPLayerDecodesOnceAndWhatRemainsIsStillRefused() {
        // setup: what arrives in a URL; the HTTP layer percent-decodes it exactly once
        let raw = ["%252e%252e", "%252E%252E%252Fetc", "a%252fb", "%25c0%25ae%25c0%25ae"]
        for segment in raw {
            // act
            let decodedOnce = segment.removingPercentEncoding ?? segment
            // verify
            #expect(decodedOnce.contains("%"), "\(segment) still carries an encoding after one decode")
            #expect(throws: PathRuleViolation.self, "\(decodedOnce)") { try ClientPath(root: 0, path: decodedOnce).components() }
        }
    }

    @Test func containmentUsesASlashBoundaryAndBytes() {
        // act / verify
        #expect(ConfinedPath.isInside("/tmp/x/srv", root: "/tmp/x/srv"))
        #expect(ConfinedPath.isInside("/tmp/x/srv/a", root: "/tmp/x/srv"))
        #expect(!ConfinedPath.isInside("/tmp/x/srv2", root: "/tmp/x/srv"))
        #expect(!ConfinedPath.isInside("/tmp/x/srv2/a", root: "/tmp/x/srv"))
        #expect(!ConfinedPath.isInside("/tmp/x", root: "/tmp/x/srv"))
        #expect(ConfinedPath.isInside("/etc", root: "/"))
        #expect(!ConfinedPath.isInside("/tmp/x/cafe\u{301}", root: "/tmp/x/caf\u{E9}"), "canonically equal strings are different bytes on disk")
    }

    @Test func errorCodesAreStable() {
        // act
        let codes = FileAccessError.Code.allCases.map(\.rawValue)
        // verify
        #expect(codes == ["outside_root", "invalid_path", "not_found", "exists", "not_a_directory", "is_a_directory", "directory_not_empty",
                          "too_large", "permission_denied", "io_error", "no_such_root", "unknown_upload", "invalid_request"])
    }
}
