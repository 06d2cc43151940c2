// Path strings taken apart without Foundation's NSString.

/// The last component of a path, as `basename` says it (`/a/b/` is `b`).
public func fileName(of path: String) -> String {
    let parts = path.split(separator: "/")
    return parts.last.map(String.init) ?? (path.hasPrefix("/") ? "/" : "")
}

/// The folder of a path, as NSString's deletingLastPathComponent has it:
/// `/a/b` is `/a`, `/a` is `/`, `a` is the empty string.
public func folder(of path: String) -> String {
    var parts = path.split(separator: "/")
    guard !parts.isEmpty else { return path.hasPrefix("/") ? "/" : "" }
    parts.removeLast()
    let joined = parts.joined(separator: "/")
    return path.hasPrefix("/") ? "/" + joined : joined
}

/// This program's name, as it was called (argv[0] without its folder).
public var programName: String { CommandLine.arguments.first.map(fileName(of:)) ?? "portal" }

/// Makes a folder and its missing parents (`mkdir -p`), new ones with
/// `mode`; on failure, the C library's reason (`Permission denied`).
public func makeFolders(_ path: String, mode: mode_t = 0o755) throws(Failure) {
    var current = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        current += (current.isEmpty || current.hasSuffix("/") ? "" : "/") + part
        if mkdir(current, mode) != 0 && errno != EEXIST { throw Failure(String(cString: strerror(errno))) }
    }
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw Failure("not a folder") }
}
