// Text helpers that the full Foundation has and FoundationEssentials does
// not (see Imports.swift).

extension Character {
    /// White space that ends no line: a space or a tab.
    public var isBlank: Bool { isWhitespace && !isNewline }
}

extension StringProtocol {
    /// Without the leading and trailing characters that `isTrimmed` picks
    /// (white space, newlines included, unless told).
    public func trimming(_ isTrimmed: (Character) -> Bool = \.isWhitespace) -> String {
        guard let first = firstIndex(where: { !isTrimmed($0) }) else { return "" }
        let last = lastIndex(where: { !isTrimmed($0) })!
        return String(self[first...last])
    }
}

/// The home folder the password database gives this user (for when HOME is
/// not set), else `/`.
public func passwdHomeDirectory() -> String {
    guard let entry = getpwuid(getuid()), let folder = entry.pointee.pw_dir else { return "/" }
    return String(cString: folder)
}
