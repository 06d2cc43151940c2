/// Quoting for the POSIX shell that runs a remote command: every value that
/// reaches a remote command line goes through here, so that a mount point
/// such as `/data/it's a "dir" $(touch x)` stays one literal word.
public enum Shell {
    /// One word, quoted when it needs to be: `abc` stays `abc`, anything
    /// else is put in single quotes, each `'` written as `'\''`.
    /// `=` is quoted too, since `A=1` first on a line is an assignment.
    public static func quote(_ word: String) -> String {
        quote(word, allowingEquals: false)
    }

    /// Words joined into one command line that a shell splits back into
    /// exactly these words (`=` left bare after the first word: `-o Key=value`).
    public static func join(_ words: [String]) -> String {
        words.enumerated().map { quote($1, allowingEquals: $0 > 0) }.joined(separator: " ")
    }

    private static func quote(_ word: String, allowingEquals: Bool) -> String {
        if !word.isEmpty, word.unicodeScalars.allSatisfy({ isPlain($0) || (allowingEquals && $0 == "=") }) { return word }
        return "'" + word.replacing("'", with: #"'\''"#) + "'"
    }

    private static func isPlain(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        case "-", "_", ".", "/", ":", "@", "%", "+", ",": return true
        default: return false
        }
    }
}
