import PortalBase

/// Paths on the laptop and on the instance, handled as text: nothing here
/// follows symbolic links.
enum SpecPaths {
    static func home() -> String {
        ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? passwdHomeDirectory()
    }

    static func currentDirectory() -> String { FileManager.default.currentDirectoryPath }

    /// The absolute folder a file is in.
    static func directory(of file: String) -> String {
        let absolute = self.absolute(file, from: currentDirectory())
        guard let slash = absolute.lastIndex(of: "/"), slash != absolute.startIndex else { return "/" }
        return String(absolute[..<slash])
    }

    /// `~` and `~/…` become the home folder, `~user/…` that user's; nil for an unknown user.
    static func expandingTilde(_ path: String, home: String) -> String? {
        guard path.hasPrefix("~") else { return path }
        let user = path.dropFirst().prefix { $0 != "/" }
        let rest = path.dropFirst(1 + user.count)
        if user.isEmpty { return home + rest }
        guard let userHome = FileManager.default.homeDirectory(forUser: String(user))?.path else { return nil }
        return userHome + rest
    }

    /// A path made absolute from a folder, then normalised.
    static func absolute(_ path: String, from directory: String) -> String {
        normalised(path.hasPrefix("/") ? path : directory + "/" + path, keepingTrailingSlash: true)
    }

    /// An absolute path without `.`, `..` or repeated slashes; a trailing slash
    /// is kept if asked (rsync reads it as "the folder's contents").
    static func normalised(_ path: String, keepingTrailingSlash: Bool) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        let joined = "/" + parts.joined(separator: "/")
        let trailing = keepingTrailingSlash && joined != "/"
            && (path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/.."))
        return trailing ? joined + "/" : joined
    }

    /// A path on the instance: an absolute one normalised; a relative one
    /// (to the remote user's home, which only the instance knows) without
    /// `~/`, `.` and repeated slashes, `.` for the home itself.
    static func remote(_ path: String, keepingTrailingSlash: Bool) -> String {
        if path.hasPrefix("/") { return normalised(path, keepingTrailingSlash: keepingTrailingSlash) }
        let rest = path == "~" ? "" : path.hasPrefix("~/") ? String(path.dropFirst(2)) : path
        var parts: [Substring] = []
        for part in rest.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if let last = parts.last, last != ".." { parts.removeLast() } else { parts.append(part) }
            default: parts.append(part)
            }
        }
        let joined = parts.isEmpty ? "." : parts.joined(separator: "/")
        return keepingTrailingSlash && (path.hasSuffix("/") || path == "~") ? joined + "/" : joined
    }

    /// How one path stands to another: "is the same as", "is inside",
    /// "contains", or nil when neither holds. A relative (remote) path is
    /// under the home folder, apart from every absolute one.
    static func relation(of path: String, to other: String) -> String? {
        let home = { (p: String) in p.hasPrefix("/") ? p : "/~/" + p }
        let a = normalised(home(path), keepingTrailingSlash: false)
        let b = normalised(home(other), keepingTrailingSlash: false)
        if a == b { return "is the same as" }
        if a.hasPrefix(b == "/" ? "/" : b + "/") { return "is inside" }
        if b.hasPrefix(a == "/" ? "/" : a + "/") { return "contains" }
        return nil
    }
}
