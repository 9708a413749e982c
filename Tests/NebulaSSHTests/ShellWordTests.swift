import Foundation
import NebulaSSH
import Testing

@Suite struct ShellWordTests {
    static let trickyStrings = [
        "", "plain", "it's", "'", "''", "'leading", "trailing'", "$HOME", "${PATH}", "`id`", "$(echo injected)",
        "a b  c", " leading space", "tab\there", "new\nline", "\"double\"", "back\\slash", "\\'", "*", "?[a-z]",
        "semi;echo injected", "pipe|cat", "amp&&echo injected", "-n", "--", "grüße ✓ 日本語 🚀", "!bang", "#hash",
        "~root", "x=1", "%s%d", "\r\n",
    ]

    @Test(arguments: trickyStrings)
    func quotedWordIsReadBackLiterallyBySh(_ word: String) throws {
        // setup
        let command = "printf %s " + ShellWord.quote(word)
        // act
        let output = try LocalCommand.run("/bin/sh", ["-c", command])
        // verify
        #expect(output.status == 0, "sh failed: \(output.stderr)")
        #expect(output.stdout == Data(word.utf8))
    }

    @Test func quoteEscapesSingleQuotesTheShWay() {
        // act / verify
        #expect(ShellWord.quote("it's") == #"'it'\''s'"#)
        #expect(ShellWord.quote("") == "''")
    }

    @Test func joinKeepsWordBoundaries() throws {
        // setup
        let words = ["a b", "it's", "", "$x"]
        // act
        let output = try LocalCommand.run("/bin/sh", ["-c", "printf '<%s>' " + ShellWord.join(words)])
        // verify
        #expect(output.text == "<a b><it's><><$x>")
    }
}
