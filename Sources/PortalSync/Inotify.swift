import PortalBase

#if canImport(Glibc)
import Glibc
#endif

/// One inotify instance (Linux): watches added by path, events read in
/// batches. The descriptor is closed with the object.
public final class Inotify {
    public struct Event: Equatable, Sendable {
        public var watch: Int32
        public var mask: UInt32
        public var cookie: UInt32
        public var name: String

        public init(watch: Int32, mask: UInt32, cookie: UInt32 = 0, name: String) {
            self.watch = watch
            self.mask = mask
            self.cookie = cookie
            self.name = name
        }

        public var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
    }

    public let fd: Int32

    public init() throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            throw Failure("cannot watch files (inotify_init1): \(String(cString: strerror(errno)))",
                          hints: ["raise fs.inotify.max_user_instances (sysctl) if too many are in use"])
        }
    }

    deinit { close(fd) }

    /// Watches a folder (or a file); returns the watch descriptor, or the
    /// errno on failure.
    public func add(_ path: String, mask: UInt32) -> Result<Int32, Errno> {
        let wd = inotify_add_watch(fd, path, mask)
        return wd >= 0 ? .success(wd) : .failure(Errno(errno))
    }

    public func remove(_ watch: Int32) {
        inotify_rm_watch(fd, watch)
    }

    /// Waits up to `timeout` seconds and returns the events that came.
    public func read(timeout: Double) -> [Event] {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&entry, 1, pollMilliseconds(timeout)) > 0 else { return [] }
        var events: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = Glibc.read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            events += Inotify.parse(buffer[..<count])
        }
        return events
    }

    /// Decodes `struct inotify_event` records: wd, mask, cookie, len, name
    /// (NUL-padded to len).
    static func parse(_ bytes: ArraySlice<UInt8>) -> [Event] {
        var events: [Event] = []
        var offset = bytes.startIndex
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        while offset + 16 <= bytes.endIndex {
            let wd = Int32(bitPattern: u32(offset))
            let mask = u32(offset + 4), cookie = u32(offset + 8), length = Int(u32(offset + 12))
            let nameBytes = bytes[(offset + 16)..<min(bytes.endIndex, offset + 16 + length)].prefix { $0 != 0 }
            events.append(Event(watch: wd, mask: mask, cookie: cookie, name: String(decoding: nameBytes, as: UTF8.self)))
            offset += 16 + length
        }
        return events
    }
}

public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }
    public var description: String { String(cString: strerror(code)) }
}

/// What one inotify event means for a channel.
public enum WatchChange: Equatable, Sendable {
    /// A file (or link) to send: written and closed, moved in, its mode changed.
    case file
    /// A new folder: watch it (and its subfolders) and send it whole.
    case newFolder
    /// A name that went away: deleted on the other side with `"delete": true`.
    case removed
    /// A folder moved away or deleted: stop watching it.
    case removedFolder
    /// A file created: it is sent when closed, unless it is a link (see `WatchTree`).
    case created
    /// The kernel dropped events: only a full pass can tell what changed.
    case overflow
    /// The watched folder itself went away.
    case rootGone

    /// The meaning of an event mask; nil for what needs no transfer. Writes
    /// count when the file is closed (IN_CLOSE_WRITE), not at each write, so
    /// that a file being written is never sent half-way.
    public static func of(mask: UInt32) -> WatchChange? {
        func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }
        if has(IN_Q_OVERFLOW) { return .overflow }
        if has(IN_DELETE_SELF) || has(IN_MOVE_SELF) { return .rootGone }
        if has(IN_ISDIR) {
            if has(IN_CREATE) || has(IN_MOVED_TO) { return .newFolder }
            if has(IN_DELETE) || has(IN_MOVED_FROM) { return .removedFolder }
            return nil
        }
        if has(IN_CLOSE_WRITE) || has(IN_MOVED_TO) || has(IN_ATTRIB) { return .file }
        if has(IN_DELETE) || has(IN_MOVED_FROM) { return .removed }
        if has(IN_CREATE) { return .created }
        return nil
    }

    /// What a channel watches.
    public static let mask: UInt32 = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE
        | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
}

/// The watches of one outbound channel: its folder and, when recursive, every
/// folder below (new ones included as they appear). Turns events into the
/// set of names (relative to the watched folder) that changed.
public final class WatchTree {
    public let root: String
    public let recursive: Bool
    /// For a channel whose source is one file: the folder is watched, only
    /// this name counts.
    public let only: String?
    let inotify: Inotify
    /// Watch descriptor → folder, relative to `root` ("" for the root).
    private(set) var folders: [Int32: String] = [:]
    public private(set) var rootGone = false

    public init(root: String, recursive: Bool, only: String? = nil) throws {
        self.root = root
        self.recursive = recursive
        self.only = only
        inotify = try Inotify()
    }

    public var watchCount: Int { folders.count }

    /// Watches the root and, when recursive, every folder below. Returns the
    /// problem when a watch cannot be added (the inotify limit, most likely).
    public func start() throws {
        try watch("")
    }

    /// Adds watches for a folder and (recursive) its subfolders; returns the
    /// names of everything found below it, for sending.
    @discardableResult
    func watch(_ relative: String) throws -> [String] {
        let path = relative.isEmpty ? root : root + "/" + relative
        switch inotify.add(path, mask: WatchChange.mask | (relative.isEmpty ? 0 : UInt32(IN_ONLYDIR))) {
        case .success(let wd):
            folders[wd] = relative
        case .failure(let error) where error.code == ENOSPC:
            throw Failure("'\(path)': cannot watch more folders: the inotify limit (fs.inotify.max_user_watches) is reached",
                          hints: ["raise it: sudo sysctl fs.inotify.max_user_watches=524288"])
        case .failure(let error):
            if relative.isEmpty { throw Failure("'\(path)': cannot watch: \(error)") }
            return []  // gone already, or not a folder any more
        }
        guard recursive else { return [] }
        var found: [String] = []
        for (name, isFolder) in listFolder(path) {
            let child = relative.isEmpty ? name : relative + "/" + name
            found.append(child)
            if isFolder { found += try watch(child) }
        }
        return found
    }

    /// The entries of a folder, with whether each is a folder (not following links).
    func listFolder(_ path: String) -> [(String, Bool)] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var entries: [(String, Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            var isFolder = entry.pointee.d_type == UInt8(DT_DIR)
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                var info = stat()
                isFolder = lstat(path + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
            }
            entries.append((name, isFolder))
        }
        return entries
    }

    public struct Changes: Equatable, Sendable {
        /// Names relative to the root, to send (or, gone, to delete).
        public var paths: Set<String> = []
        /// Only a full pass can tell what changed.
        public var needsFullPass = false
    }

    /// Waits up to `timeout` seconds for events and returns what they changed.
    public func read(timeout: Double, deletions: Bool) throws -> Changes {
        var changes = Changes()
        let events = inotify.read(timeout: timeout)
        var movedAway: [UInt32: String] = [:]
        for event in events {
            guard let change = WatchChange.of(mask: event.mask) else { continue }
            if change == .overflow { changes.needsFullPass = true; continue }
            guard let folder = folders[event.watch] else { continue }
            if change == .rootGone {
                if folder.isEmpty { rootGone = true; changes.needsFullPass = true }
                continue
            }
            if let only, folder.isEmpty && event.name != only { continue }
            let name = folder.isEmpty ? event.name : folder + "/" + event.name
            switch change {
            case .file:
                changes.paths.insert(name)
            case .created:
                // A file is sent when it is closed; a link or a new hard link never is.
                var info = stat()
                if lstat(root + "/" + name, &info) == 0,
                   (info.st_mode & S_IFMT) == S_IFLNK || ((info.st_mode & S_IFMT) == S_IFREG && info.st_nlink > 1) {
                    changes.paths.insert(name)
                }
            case .newFolder:
                guard recursive else { continue }
                if event.mask & UInt32(IN_MOVED_TO) != 0, let old = movedAway.removeValue(forKey: event.cookie) {
                    rename(folder: old, to: name)
                }
                try watch(name)
                changes.paths.insert(name)
            case .removed:
                if deletions { changes.paths.insert(name) }
            case .removedFolder:
                if event.mask & UInt32(IN_MOVED_FROM) != 0 { movedAway[event.cookie] = name }
                if deletions { changes.paths.insert(name) }
            case .overflow, .rootGone:
                break
            }
        }
        // Moved out of the tree: those watches now see somewhere else.
        for old in movedAway.values { unwatch(folder: old) }
        return changes
    }

    private func rename(folder old: String, to new: String) {
        for (wd, path) in folders where path == old || path.hasPrefix(old + "/") {
            folders[wd] = new + path.dropFirst(old.count)
        }
    }

    private func unwatch(folder old: String) {
        for (wd, path) in folders where path == old || path.hasPrefix(old + "/") {
            inotify.remove(wd)
            folders[wd] = nil
        }
    }
}
