/// Quoting for POSIX `sh` command lines built from untrusted strings.
public enum ShellWord {
    /// `s` as one single-quoted word: `it's` becomes `'it'\''s'`, the empty string `''`.
    /// Everything inside single quotes is literal to sh (`$`, backquotes, `\`, newlines, globs).
    /// sh arguments cannot hold NUL bytes; strip them before quoting.
    public static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Each word quoted, joined by spaces: `join(["ls", "-l", "my dir"])` → `'ls' '-l' 'my dir'`.
    public static func join(_ words: [String]) -> String {
        words.map(quote).joined(separator: " ")
    }
}
