import Foundation
import PortalBase
import Testing
@testable import PortalSync

#if canImport(Glibc)
import Glibc
#endif

/// The inotify side of an outbound channel, on a real folder of the test's own.
@Suite("watching a folder for changes")
struct WatchTreeTests {
    final class Folder {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        func write(_ name: String, _ text: String = "x") throws {
            let url = URL(fileURLWithPath: path + "/" + name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: false, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Everything the tree reports until it has been quiet for 100 ms.
    func drain(_ tree: WatchTree, deletions: Bool = false) throws -> WatchTree.Changes {
        var all = WatchTree.Changes()
        var quietSince = monotonic()
        while monotonic() - quietSince < 0.1 {
            let changes = try tree.read(timeout: 0.02, deletions: deletions)
            if !changes.paths.isEmpty || changes.needsFullPass { quietSince = monotonic() }
            all.paths.formUnion(changes.paths)
            all.needsFullPass = all.needsFullPass || changes.needsFullPass
        }
        return all
    }

    @Test("a file written and closed is one change, named relative to the folder")
    func written() throws {
        let folder = try Folder()
        try folder.write("sub/deep/x.txt")
        let tree = try WatchTree(root: folder.path, recursive: true)
        try tree.start()
        #expect(tree.watchCount == 3)
        try folder.write("a.txt", "hello")
        try folder.write("sub/deep/x.txt", "again")
        #expect(try drain(tree).paths == ["a.txt", "sub/deep/x.txt"])
    }

    @Test("a file still open for writing is not a change until it is closed")
    func stillOpen() throws {
        let folder = try Folder()
        let tree = try WatchTree(root: folder.path, recursive: true)
        try tree.start()
        let fd = open(folder.path + "/big.bin", O_WRONLY | O_CREAT, 0o644)
        _ = write(fd, "partial", 7)
        #expect(try drain(tree).paths.isEmpty)
        close(fd)
        #expect(try drain(tree).paths == ["big.bin"])
    }

    @Test("a new folder is watched at once and sent whole, files made in it before the watch included")
    func newFolder() throws {
        let folder = try Folder()
        let tree = try WatchTree(root: folder.path, recursive: true)
        try tree.start()
        try folder.write("new/a/b/c.txt")
        let first = try drain(tree)
        #expect(first.paths.contains("new"))
        try folder.write("new/a/b/later.txt")
        #expect(try drain(tree).paths == ["new/a/b/later.txt"])
    }

    @Test("not recursive: only the folder's own files")
    func flat() throws {
        let folder = try Folder()
        try folder.write("sub/x.txt")
        let tree = try WatchTree(root: folder.path, recursive: false)
        try tree.start()
        #expect(tree.watchCount == 1)
        try folder.write("top.txt")
        try folder.write("sub/x.txt", "changed")
        try folder.write("sub2/y.txt")
        #expect(try drain(tree).paths == ["top.txt"])
    }

    @Test("deletions are changes only when the channel deletes")
    func deletions() throws {
        let folder = try Folder()
        try folder.write("a.txt")
        try folder.write("d/b.txt")
        let tree = try WatchTree(root: folder.path, recursive: true)
        try tree.start()
        try FileManager.default.removeItem(atPath: folder.path + "/a.txt")
        #expect(try drain(tree).paths.isEmpty)
        try FileManager.default.removeItem(atPath: folder.path + "/d")
        #expect(try drain(tree, deletions: true).paths == ["d", "d/b.txt"])
    }

    @Test("a folder renamed inside the tree keeps being watched under its new name")
    func renamed() throws {
        let folder = try Folder()
        try folder.write("old/x.txt")
        let tree = try WatchTree(root: folder.path, recursive: true)
        try tree.start()
        try FileManager.default.moveItem(atPath: folder.path + "/old", toPath: folder.path + "/new")
        #expect(try drain(tree).paths == ["new"])
        try folder.write("new/y.txt")
        #expect(try drain(tree).paths == ["new/y.txt"])
    }

    @Test("a single-file channel hears only its file")
    func singleFile() throws {
        let folder = try Folder()
        let tree = try WatchTree(root: folder.path, recursive: false, only: "train.py")
        try tree.start()
        try folder.write("other.py")
        try folder.write("train.py")
        #expect(try drain(tree).paths == ["train.py"])
    }

    @Test("event masks: writes count when closed, folders on creation, overflow means a full pass")
    func masks() {
        #expect(WatchChange.of(mask: UInt32(IN_CLOSE_WRITE)) == .file)
        #expect(WatchChange.of(mask: UInt32(IN_MODIFY)) == nil)
        #expect(WatchChange.of(mask: UInt32(IN_MOVED_TO)) == .file)
        #expect(WatchChange.of(mask: UInt32(IN_CREATE)) == .created)
        #expect(WatchChange.of(mask: UInt32(IN_CREATE | IN_ISDIR)) == .newFolder)
        #expect(WatchChange.of(mask: UInt32(IN_MOVED_FROM | IN_ISDIR)) == .removedFolder)
        #expect(WatchChange.of(mask: UInt32(IN_DELETE)) == .removed)
        #expect(WatchChange.of(mask: UInt32(IN_Q_OVERFLOW)) == .overflow)
        #expect(WatchChange.of(mask: UInt32(IN_DELETE_SELF)) == .rootGone)
    }

    @Test("inotify records decode: wd, mask, cookie, NUL-padded name")
    func parse() {
        var bytes: [UInt8] = []
        func u32(_ v: UInt32) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
        u32(7); u32(UInt32(IN_CLOSE_WRITE)); u32(0); u32(16); bytes += Array("a.txt".utf8) + Array(repeating: 0, count: 11)
        u32(8); u32(UInt32(IN_Q_OVERFLOW)); u32(5); u32(0)
        let events = Inotify.parse(bytes[...])
        #expect(events == [Inotify.Event(watch: 7, mask: UInt32(IN_CLOSE_WRITE), name: "a.txt"),
                           Inotify.Event(watch: 8, mask: UInt32(IN_Q_OVERFLOW), cookie: 5, name: "")])
    }

    @Test("remote events (inotifywait) read as changes relative to the remote folder")
    func remoteEvents() {
        let root = "/data/runs"
        #expect(InboundRunner.parseEvent("E CLOSE_WRITE,CLOSE /data/runs/a/log.txt", root: root)! == (.file, "a/log.txt"))
        #expect(InboundRunner.parseEvent("E CREATE,ISDIR /data/runs/new", root: root)! == (.newFolder, "new"))
        #expect(InboundRunner.parseEvent("E MOVED_TO /data/runs/with space.txt", root: root)! == (.file, "with space.txt"))
        #expect(InboundRunner.parseEvent("E DELETE /data/runs/x", root: root)! == (.removed, "x"))
        #expect(InboundRunner.parseEvent("E Q_OVERFLOW ", root: root)?.0 == .overflow)
        #expect(InboundRunner.parseEvent("E MODIFY /data/runs/x", root: root) == nil)
        #expect(InboundRunner.parseEvent("Watches established.", root: root) == nil)
    }

    @Test("the remote watch command quotes the folder and ends with the connection")
    func remoteCommand() {
        let line = InboundRunner.watchCommand(root: "/data/it's here", recursive: true)
        #expect(line.hasPrefix(#"r='/data/it'\''s here'; [ -e "$r" ] || { echo portal-sync:no-such-folder; exit 3; };"#))
        #expect(line.contains("inotifywait -m -r -e close_write"))
        #expect(line.contains("cat <&3"))
        #expect(!InboundRunner.watchCommand(root: "/d", recursive: false).contains(" -r "))
    }
}
