import Foundation
import PortalBase
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A channel test's own world: a "laptop" folder and an "instance" folder, a
/// known_hosts file of its own, and a portal document with "instance" for
/// portal-sync. The instance side is either this host through the loopback
/// sshd fixture (remote paths are local paths) or a twin machine shared by a
/// suite (remote paths are under its ubuntu home, seen from here through the
/// machine's root).
final class SyncWorld {
    let root: String
    /// The instance-side folder as the channels name it (a remote path).
    let remote: String
    let twin: SharedTwin.Opened?
    var laptop: String { root + "/laptop" }
    /// The instance-side folder as this host reads and writes it.
    var instance: String { twin?.machine.path(remote) ?? remote }
    var knownHosts: String { root + "/known_hosts" }

    /// A world on the shared twin machine; without one, only its laptop side is of use.
    init(on shared: SharedTwin? = nil) throws {
        let id = UUID().uuidString.prefix(8)
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sync-\(id)").path
        twin = try shared?.open()
        remote = twin.map { "/home/\($0.user)/sync-\(id)" } ?? root + "/instance"
        try FileManager.default.createDirectory(atPath: laptop, withIntermediateDirectories: true)
        try makeFolder(instance)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
        if twin != nil { try? FileManager.default.removeItem(atPath: instance) }
    }

    var environment: [String: String] { ["PORTAL_KNOWN_HOSTS": knownHosts] }

    /// The portal document for these channels (JSON objects as text): a spec exactly as
    /// for AWS, on the shared twin machine, with that machine's "instance".
    func document(_ channels: [String]) throws -> String {
        let twin = try #require(twin, "a channels document needs the world on a shared twin")
        let spec = try LocalCloud.spec(instanceType: "t3.medium", channels: channels.map { try JSON(parsing: Array($0.utf8)) })
            .serialized()
        let specPath = root + "/w\(UUID().uuidString.prefix(6)).json"
        try spec.write(toFile: specPath, atomically: true, encoding: .utf8)
        let validated = try run("portal-spec", [specPath])
        try #require(validated.status == 0, "\(validated.stderr)")
        var object = try #require(validated.json?.objectValue)
        object["instance"] = twin.instance
        return JSON.object(object).serialized()
    }

    static func channel(_ direction: String, _ local: String, _ remote: String, recursive: Bool = true,
                        delete: Bool = false, delay: Double = 1) -> String {
        #"{"direction": "\#(direction)", "local_path": "\#(local)", "remote_path": "\#(remote)", "recursive": \#(recursive), "delete": \#(delete), "delay": \#(delay)}"#
    }

    func write(_ path: String, _ text: String) throws {
        try makeFolder((path as NSString).deletingLastPathComponent)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        owned(path)
    }

    /// A folder and its missing parents, owned on the twin by the remote user (rsync runs as it there).
    func makeFolder(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        owned(path)
    }

    /// On the twin, a path under the instance folder (and the folders between) given to the remote user.
    private func owned(_ path: String) {
        guard let twin, path.hasPrefix(instance) else { return }
        var current = path
        while current.hasPrefix(instance) {
            chown(current, twin.owner.uid, twin.owner.gid)
            if current == instance { break }
            current = (current as NSString).deletingLastPathComponent
        }
    }

    /// Every file below a folder, relative, with its contents.
    static func tree(_ folder: String) -> [String: String] {
        var files: [String: String] = [:]
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return files }
        while let name = walker.nextObject() as? String {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isFolder), !isFolder.boolValue {
                files[name] = (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? "<unreadable>"
            }
        }
        return files
    }
}

/// One twin machine shared by a suite's tests (opening one per test would cost
/// CI minutes): a portal opened at the first test that asks, closed when the
/// suite ends (its `.sharedTwin` trait), even on failure.
final class SharedTwin: @unchecked Sendable {  // its state behind `lock`
    struct Opened {
        let machine: Machine
        /// The portal document's "instance", as portal-find reports it.
        let instance: JSON
        let user: String
        let owner: (uid: uid_t, gid: gid_t)
    }

    // Each suite its own: suites run in parallel, and each closes its twin at its end.
    static let channels = SharedTwin()
    static let hostile = SharedTwin()
    static let scale = SharedTwin()
    private let lock = NSLock()
    private var portal: TestPortal?
    private var opened: Result<Opened, any Error>?
    /// The portal's own: each world has another, so that sshProcesses(knownHosts:) finds only its sessions
    /// (and portal-sync's first contact verifies the machine's key, as on a laptop that never saw it).
    private var knownHosts: String { (portal?.folder.path ?? "") + "/known_hosts" }

    func open() throws -> Opened {
        lock.lock()
        defer { lock.unlock() }
        if let opened { return try opened.get() }
        let result = Result { try openPortal() }
        opened = result
        return try result.get()
    }

    private func openPortal() throws -> Opened {
        let p = try TestPortal(volumes: 0)
        portal = p
        let open = try p.portal(["open", p.name, "--no-mount"], environment: ["PORTAL_KNOWN_HOSTS": knownHosts])
        guard open.status == 0 else { throw Failure("portal open of the shared twin: exit \(open.status): \(open.stderr)") }
        let document = try run("portal-spec", [p.specPath])
        let found = try run("portal-find", stdin: document.stdout)
        guard found.status == 0, let instance = found.json?["instance"], let id = instance["id"]?.stringValue else {
            throw Failure("portal-find of the shared twin: exit \(found.status): \(found.stderr)")
        }
        let machine = try Machine.ready(id)
        let user = LocalCloud.environment["PORTAL_LOCAL_USER"] ?? "ubuntu"
        var home = stat()
        guard stat(machine.path("/home/\(user)"), &home) == 0 else { throw Failure("no /home/\(user) on \(id)") }
        return Opened(machine: machine, instance: instance, user: user, owner: (home.st_uid, home.st_gid))
    }

    /// `portal close`, then the TestPortal's own cleanup (whatever instance is left).
    func close() {
        lock.lock()
        defer { lock.unlock() }
        if let portal { _ = try? portal.portal(["close", portal.name], environment: ["PORTAL_KNOWN_HOSTS": knownHosts]) }
        portal = nil
        opened = nil
    }
}

/// Closes a suite's shared twin once all its tests have run.
struct SharedTwinScope: SuiteTrait, TestScoping {
    let twin: SharedTwin
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        defer { twin.close() }
        try await function()
    }
}

extension Trait where Self == SharedTwinScope {
    static func sharedTwin(_ twin: SharedTwin) -> Self { SharedTwinScope(twin: twin) }
}

/// portal-sync running until stopped; its stdout lines gathered as they come.
final class SyncRun: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var buffer = Data()
    private var errors = Data()
    private(set) var lines: [JSON] = []

    init(document: String, arguments: [String] = [], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: Binaries.path("portal-sync"))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.buffer += data
            while let newline = self.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = self.buffer[..<newline]
                self.buffer.removeSubrange(...newline)
                if let json = try? JSON(parsing: Array(line)) { self.lines.append(json) }
            }
            self.lock.unlock()
        }
        error.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.errors += data
            self.lock.unlock()
        }
        try process.run()
        input.fileHandleForWriting.write(Data(document.utf8))
        try input.fileHandleForWriting.close()
    }

    var snapshot: [JSON] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: errors, as: UTF8.self)
    }

    var transfers: [JSON] { snapshot.filter { $0["error"] == nil } }
    var errorLines: [JSON] { snapshot.filter { $0["error"] != nil } }

    /// Waits until `condition` holds (checked every 10 ms); false on timeout.
    @discardableResult
    func wait(_ timeout: Double = 30, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            if !process.isRunning { return condition() }
            usleep(10_000)
        }
        return condition()
    }

    /// Waits for every channel's first (full) pass.
    func waitUntilReady(channels: Int, timeout: Double = 30) -> Bool {
        wait(timeout) {
            Set(transfers.filter { $0["pass"] == "full" }.compactMap { $0["channel"]?.intValue }).count == channels
        }
    }

    /// Ctrl-C, then the exit status.
    func interrupt() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        let end = Date().addingTimeInterval(20)
        while process.isRunning && Date() < end { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// The ssh processes of a test's sessions, found by its own known_hosts
/// file, and their masters (which OpenSSH renames `ssh: CONTROLPATH [mux]`).
func sshProcesses(knownHosts: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    var clients: [pid_t] = [], controlPaths: Set<String> = [], masters: [(pid_t, String)] = []
    for entry in entries {
        guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        if let title = arguments.first, title.hasPrefix("ssh: "), title.hasSuffix("[mux]") {
            masters.append((pid, String(title.dropFirst(5).prefix { $0 != " " })))
            continue
        }
        guard arguments.first.map({ ($0 as NSString).lastPathComponent == "ssh" }) == true,
              arguments.contains("UserKnownHostsFile=\(knownHosts)"),
              let control = arguments.first(where: { $0.hasPrefix("ControlPath=") }) else { continue }
        clients.append(pid)
        controlPaths.insert(String(control.dropFirst("ControlPath=".count)))
    }
    return clients + masters.filter { controlPaths.contains($0.1) }.map(\.0)
}

/// On a twin machine shared by the suite (`bin/local-cloud up --machines`), with specs exactly as for AWS.
@Suite(.enabled(if: LocalCloud.available && LocalCloud.machines), .sharedTwin(.channels))
struct ChannelIntegrationTests {
    @Test("out, --once: 'src/' sends the contents, 'src' the folder itself; recursive or only the top files")
    func outboundTrailingSlash() throws {
        let w = try SyncWorld(on: .channels)
        try w.write(w.laptop + "/src/a.txt", "a")
        try w.write(w.laptop + "/src/sub/b.txt", "b")
        let document = try w.document([
            SyncWorld.channel("out", w.laptop + "/src/", w.remote + "/contents"),
            SyncWorld.channel("out", w.laptop + "/src", w.remote + "/folder"),
            SyncWorld.channel("out", w.laptop + "/src/", w.remote + "/flat-contents", recursive: false),
            SyncWorld.channel("out", w.laptop + "/src", w.remote + "/flat-folder", recursive: false),
        ])
        let once = try run("portal-sync", ["--once"], stdin: document, environment: w.environment)
        #expect(once.status == 0, "\(once.stderr)")
        #expect(SyncWorld.tree(w.instance + "/contents") == ["a.txt": "a", "sub/b.txt": "b"])
        #expect(SyncWorld.tree(w.instance + "/folder") == ["src/a.txt": "a", "src/sub/b.txt": "b"])
        #expect(SyncWorld.tree(w.instance + "/flat-contents") == ["a.txt": "a"])
        #expect(SyncWorld.tree(w.instance + "/flat-folder") == ["src/a.txt": "a"])
        let lines = once.stdout.split(separator: "\n").compactMap { try? JSON(parsing: Array($0.utf8)) }
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { $0["pass"] == "full" && $0["direction"] == "out" })
        #expect(lines.first { $0["channel"] == 0 }?["files"] == 2)
        #expect(lines.first { $0["channel"] == 0 }?["bytes"] == 2)
        #expect(lines.first { $0["channel"] == 1 }?["paths"] == ["src/a.txt", "src/sub/b.txt"])
    }

    @Test("in, --once: a remote folder the job has not written yet is an empty folder, not an error")
    func inboundFolderNotThereYet() throws {
        let w = try SyncWorld(on: .channels)
        let document = try w.document([SyncWorld.channel("in", w.laptop + "/results/", w.remote + "/results/")])
        let first = try run("portal-sync", ["--once"], stdin: document, environment: w.environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(!first.stdout.contains("\"error\""))
        try w.write(w.instance + "/results/loss.txt", "0.042")
        let second = try run("portal-sync", ["--once"], stdin: document, environment: w.environment)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(SyncWorld.tree(w.laptop + "/results") == ["loss.txt": "0.042"])
    }

    @Test("in, --once: the same rule from the instance; the local folder is made")
    func inboundTrailingSlash() throws {
        let w = try SyncWorld(on: .channels)
        try w.write(w.instance + "/runs/log.txt", "log")
        try w.write(w.instance + "/runs/e1/model.pt", "model")
        let document = try w.document([
            SyncWorld.channel("in", w.laptop + "/contents", w.remote + "/runs/"),
            SyncWorld.channel("in", w.laptop + "/folder", w.remote + "/runs"),
            SyncWorld.channel("in", w.laptop + "/flat", w.remote + "/runs/", recursive: false),
        ])
        let once = try run("portal-sync", ["--once"], stdin: document, environment: w.environment)
        #expect(once.status == 0, "\(once.stderr)")
        #expect(SyncWorld.tree(w.laptop + "/contents") == ["log.txt": "log", "e1/model.pt": "model"])
        #expect(SyncWorld.tree(w.laptop + "/folder") == ["runs/log.txt": "log", "runs/e1/model.pt": "model"])
        #expect(SyncWorld.tree(w.laptop + "/flat") == ["log.txt": "log"])
    }

    @Test("--once exits 1 when a pass fails, and says why on stdout and stderr")
    func onceFailure() throws {
        let w = try SyncWorld(on: .channels)
        // A non-empty folder on the instance where the laptop has a file: rsync
        // will not delete it without "delete".
        try w.write(w.laptop + "/clash/x", "a file")
        try w.write(w.instance + "/clash/x/inner.txt", "in the way")
        try w.write(w.laptop + "/plain/y.txt", "y")
        let document = try w.document([
            SyncWorld.channel("out", w.laptop + "/clash/", w.remote + "/clash"),
            SyncWorld.channel("out", w.laptop + "/plain/", w.remote + "/plain"),
        ])
        let once = try run("portal-sync", ["--once"], stdin: document, environment: w.environment)
        #expect(once.status == 1)
        let lines = once.stdout.split(separator: "\n").compactMap { try? JSON(parsing: Array($0.utf8)) }
        #expect(lines.contains { $0["channel"] == 0 && $0["error"]?.stringValue?.contains("rsync exited with 23") == true }, "\(once.stdout)")
        #expect(lines.contains { $0["channel"] == 1 && $0["files"] == 1 })
        #expect(once.stderr.contains("portal-sync: error: channel 0 (out): rsync exited with 23"), "\(once.stderr)")
        #expect(SyncWorld.tree(w.instance + "/clash") == ["x/inner.txt": "in the way"])
    }

    @Test("rsync missing on this machine is a clear error at start")
    func rsyncMissingLocally() throws {
        let w = try SyncWorld(on: .channels)
        let bin = w.root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin + "/ssh", withDestinationPath: "/usr/bin/ssh")
        let document = try w.document([SyncWorld.channel("out", w.laptop + "/", w.remote + "/x")])
        let result = try run("portal-sync", ["--once"], stdin: document, environment: w.environment.merging(["PATH": bin]) { _, b in b })
        #expect(result.status == 1)
        #expect(result.stderr.contains("portal-sync: error: rsync is not installed on this machine"))
    }

    @Test("out, continuous: a change is sent by itself, named, and only it")
    func outboundChange() throws {
        let w = try SyncWorld(on: .channels)
        for i in 0..<50 { try w.write(w.laptop + "/src/f\(i).txt", "\(i)") }
        let sync = try SyncRun(document: try w.document([SyncWorld.channel("out", w.laptop + "/src", w.remote)]),
                               environment: w.environment)
        #expect(sync.waitUntilReady(channels: 1), "\(sync.stderr)")
        #expect(sync.transfers.first?["files"] == 50)
        try w.write(w.laptop + "/src/f7.txt", "changed")
        try w.write(w.laptop + "/src/new/deep/g.txt", "new")
        #expect(sync.wait { SyncWorld.tree(w.instance + "/src")["new/deep/g.txt"] == "new"
                            && SyncWorld.tree(w.instance + "/src")["f7.txt"] == "changed" })
        usleep(300_000)
        let changes = sync.transfers.filter { $0["pass"] == "changes" }
        // g.txt may travel twice: with its new folder's batch, before its
        // writer closed it, and again on its close event (CI saw this at load
        // 12). f7.txt, one close of an existing file, travels once; nothing else.
        let sent = changes.flatMap { ($0["paths"]?.arrayValue ?? []).compactMap(\.stringValue) }
        #expect(Set(sent) == ["src/f7.txt", "src/new/deep/g.txt"], "\(changes)")
        #expect(sent.filter { $0 == "src/f7.txt" }.count == 1, "\(changes)")
        #expect((1...2).contains(sent.filter { $0 == "src/new/deep/g.txt" }.count), "\(changes)")
        #expect((2...3).contains(changes.reduce(0) { $0 + ($1["files"]?.intValue ?? 0) }), "\(changes)")
        #expect(changes.allSatisfy { ($0["ms"]?.intValue ?? -1) >= 0 && $0["started"]?.stringValue?.hasSuffix("Z") == true })
        // Same size, same second: rsync's quick check (size and time to the
        // second) would take it for unchanged.
        for text in ["aaaa", "bbbb", "cccc"] {
            try w.write(w.laptop + "/src/same.txt", text)
            #expect(sync.wait(10) { SyncWorld.tree(w.instance + "/src")["same.txt"] == text }, "\(text) never arrived")
        }
        #expect(sync.interrupt() == 130)
        #expect(sync.errorLines.isEmpty, "\(sync.errorLines)")
    }

    @Test("a channel of one file: sent at start and whenever it changes, its neighbours never")
    func singleFile() throws {
        let w = try SyncWorld(on: .channels)
        try w.write(w.laptop + "/train.py", "v1")
        try w.write(w.laptop + "/notes.txt", "private")
        let sync = try SyncRun(document: try w.document([SyncWorld.channel("out", w.laptop + "/train.py", w.remote + "/code",
                                                                           recursive: false)]),
                               environment: w.environment)
        #expect(sync.waitUntilReady(channels: 1), "\(sync.stderr)")
        #expect(SyncWorld.tree(w.instance + "/code") == ["train.py": "v1"])
        try w.write(w.laptop + "/notes.txt", "still private")
        try w.write(w.laptop + "/train.py", "v2")
        #expect(sync.wait { SyncWorld.tree(w.instance + "/code")["train.py"] == "v2" })
        #expect(SyncWorld.tree(w.instance + "/code") == ["train.py": "v2"])
        #expect(sync.interrupt() == 130)
    }

    @Test("in, continuous: changes on the instance arrive, streamed (inotifywait) and polled")
    func inboundChange() throws {
        for poll in [false, true] {
            let w = try SyncWorld(on: .channels)
            try w.write(w.instance + "/runs/old.txt", "old")
            let sync = try SyncRun(document: try w.document([SyncWorld.channel("in", w.laptop, w.remote + "/runs/", delay: 0.5)]),
                                   arguments: poll ? ["--poll"] : [], environment: w.environment)
            #expect(sync.waitUntilReady(channels: 1), "\(sync.stderr)")
            #expect(SyncWorld.tree(w.laptop) == ["old.txt": "old"])
            try w.write(w.instance + "/runs/e1/metrics.json", "{}")
            #expect(sync.wait(10) { SyncWorld.tree(w.laptop)["e1/metrics.json"] == "{}" }, "poll: \(poll) \(sync.stderr)")
            #expect(sync.wait(5) { sync.transfers.contains { $0["paths"] == ["e1/metrics.json"] && $0["pass"] == (poll ? "poll" : "changes") } },
                    "\(sync.transfers)")
            for text in ["aaaa", "bbbb", "cccc"] {
                try w.write(w.instance + "/runs/same.txt", text)
                #expect(sync.wait(10) { SyncWorld.tree(w.laptop)["same.txt"] == text }, "poll: \(poll): \(text) never arrived")
            }
            #expect(sync.interrupt() == 130)
        }
    }

    @Test("a burst of 1,000 writes all arrive, complete")
    func burst() throws {
        let w = try SyncWorld(on: .channels)
        let sync = try SyncRun(document: try w.document([SyncWorld.channel("out", w.laptop + "/src/", w.remote + "/dst")]),
                               environment: w.environment)
        #expect(sync.waitUntilReady(channels: 1), "\(sync.stderr)")
        var expected: [String: String] = [:]
        for i in 0..<1000 {
            let text = String(repeating: "\(i)-\(UUID().uuidString)\n", count: 1 + i % 40)
            expected["d\(i % 10)/f\(i).txt"] = text
            try w.write(w.laptop + "/src/d\(i % 10)/f\(i).txt", text)
        }
        #expect(sync.wait(60) { SyncWorld.tree(w.instance + "/dst").count == 1000 })
        usleep(500_000)
        let arrived = SyncWorld.tree(w.instance + "/dst")
        #expect(arrived == expected)
        let changes = sync.transfers.filter { $0["pass"] == "changes" }
        #expect(changes.count < 200, "the burst was sent in \(changes.count) transfers: not coalesced")
        #expect(sync.interrupt() == 130)
        #expect(sync.errorLines.isEmpty, "\(sync.errorLines)")
    }

    /// A writer appends to a file for about a second while other files change
    /// around it (so transfers run the whole time) and the other side is
    /// watched every millisecond: whenever the file is there under its real
    /// name, it must be whole. Sending it at each write (IN_MODIFY) or with
    /// --inplace would show a prefix, and fail.
    @Test("a file still being written never appears half-written on the other side, out or in")
    func neverHalfWritten() throws {
        let w = try SyncWorld(on: .channels)
        let sync = try SyncRun(document: try w.document([
            SyncWorld.channel("out", w.laptop + "/out/", w.remote + "/out"),
            SyncWorld.channel("in", w.laptop + "/in", w.remote + "/in/"),
        ]), environment: w.environment)
        try w.makeFolder(w.instance + "/in")
        try FileManager.default.createDirectory(atPath: w.laptop + "/out", withIntermediateDirectories: true)
        #expect(sync.waitUntilReady(channels: 2), "\(sync.stderr)")
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 256 * 1024)
        let chunks = 40
        let complete = chunk.count * chunks

        for (writing, watched, side) in [(w.laptop + "/out/big.bin", w.instance + "/out/big.bin", "out"),
                                         (w.instance + "/in/big.bin", w.laptop + "/in/big.bin", "in")] {
            let writer = Thread {
                let fd = open(writing, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                for i in 0..<chunks {
                    _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    // Other files change meanwhile, so transfers keep running.
                    try? "\(i)".write(toFile: (writing as NSString).deletingLastPathComponent + "/tick\(i % 3).txt",
                                      atomically: false, encoding: .utf8)
                    usleep(25_000)
                }
                close(fd)
            }
            writer.start()
            var seenPartial: [Int] = []
            var seenComplete = false
            let end = Date().addingTimeInterval(30)
            while Date() < end && !seenComplete {
                var info = stat()
                if stat(watched, &info) == 0 {
                    // Read it whole: its size alone could change under us.
                    let data = FileManager.default.contents(atPath: watched) ?? Data()
                    if data.count == complete && data.allSatisfy({ $0 == UInt8(ascii: "x") }) {
                        seenComplete = true
                    } else {
                        seenPartial.append(data.count)
                    }
                }
                usleep(1000)
            }
            #expect(seenComplete, "\(side): the file never arrived whole")
            #expect(seenPartial.isEmpty, "\(side): seen under its real name with \(seenPartial.prefix(5)) bytes of \(complete)")
        }
        #expect(sync.interrupt() == 130)
    }

    @Test("deletions are not carried over unless the channel says delete: true")
    func deletions() throws {
        let w = try SyncWorld(on: .channels)
        for name in ["keep", "delete"] {
            try w.write(w.laptop + "/\(name)/a.txt", "a")
            try w.write(w.laptop + "/\(name)/d/b.txt", "b")
        }
        try w.write(w.instance + "/delete/extra-on-instance.txt", "extra")
        try w.write(w.instance + "/keep/extra-on-instance.txt", "extra")
        let sync = try SyncRun(document: try w.document([
            SyncWorld.channel("out", w.laptop + "/keep/", w.remote + "/keep"),
            SyncWorld.channel("out", w.laptop + "/delete/", w.remote + "/delete", delete: true),
        ]), environment: w.environment)
        #expect(sync.waitUntilReady(channels: 2), "\(sync.stderr)")
        // The full pass at start: only the deleting channel removes what the laptop has not.
        #expect(SyncWorld.tree(w.instance + "/keep") == ["a.txt": "a", "d/b.txt": "b", "extra-on-instance.txt": "extra"])
        #expect(SyncWorld.tree(w.instance + "/delete") == ["a.txt": "a", "d/b.txt": "b"])
        for name in ["keep", "delete"] {
            try FileManager.default.removeItem(atPath: w.laptop + "/\(name)/a.txt")
            try FileManager.default.removeItem(atPath: w.laptop + "/\(name)/d")
            // A later change: once it has arrived, the deletion has been seen.
            try w.write(w.laptop + "/\(name)/later.txt", "later")
        }
        #expect(sync.wait { SyncWorld.tree(w.instance + "/delete") == ["later.txt": "later"] },
                "\(SyncWorld.tree(w.instance + "/delete"))")
        #expect(sync.wait { SyncWorld.tree(w.instance + "/keep")["later.txt"] == "later" })
        usleep(300_000)
        #expect(SyncWorld.tree(w.instance + "/keep")
                == ["a.txt": "a", "d/b.txt": "b", "extra-on-instance.txt": "extra", "later.txt": "later"])
        #expect(sync.transfers.contains { $0["channel"] == 1 && ($0["deleted"]?.intValue ?? 0) >= 2 })
        #expect(!sync.transfers.contains { $0["channel"] == 0 && ($0["deleted"]?.intValue ?? 0) > 0 })
        #expect(sync.interrupt() == 130)
    }

    @Test("the connection killed mid-session is reported and recovered, with nothing lost on either side")
    func connectionKilled() throws {
        let w = try SyncWorld(on: .channels)
        let sync = try SyncRun(document: try w.document([
            SyncWorld.channel("out", w.laptop + "/out/", w.remote + "/out"),
            SyncWorld.channel("in", w.laptop + "/in", w.remote + "/in/"),
        ]), environment: w.environment)
        try w.makeFolder(w.instance + "/in")
        try FileManager.default.createDirectory(atPath: w.laptop + "/out", withIntermediateDirectories: true)
        #expect(sync.waitUntilReady(channels: 2), "\(sync.stderr)")
        var expectedOut: [String: String] = [:], expectedIn: [String: String] = [:]
        for round in 0..<3 {
            // Writes before, during and after the kill.
            for i in 0..<30 {
                let name = "r\(round)-\(i).txt"
                expectedOut[name] = "out \(round) \(i)"
                expectedIn[name] = "in \(round) \(i)"
                try w.write(w.laptop + "/out/" + name, expectedOut[name]!)
                try w.write(w.instance + "/in/" + name, expectedIn[name]!)
                if i == 10 {
                    // The first time, the session is steady (the master, the
                    // inbound event stream, the outbound rsync waiting); later,
                    // whatever has come back so far.
                    let killed = sshProcesses(knownHosts: w.knownHosts)
                    if round == 0 { #expect(killed.count >= 2, "the session's ssh processes not found: \(killed)") }
                    for pid in killed { kill(pid, SIGKILL) }
                }
                usleep(20_000)
            }
        }
        #expect(sync.wait(60) { SyncWorld.tree(w.instance + "/out") == expectedOut && SyncWorld.tree(w.laptop + "/in") == expectedIn },
                "out: \(SyncWorld.tree(w.instance + "/out").count) of 90 (not expected: \(SyncWorld.tree(w.instance + "/out").keys.filter { expectedOut[$0] == nil })), in: \(SyncWorld.tree(w.laptop + "/in").count) of 90; \(sync.stderr)")
        #expect(!sync.errorLines.isEmpty, "the lost connection was not reported")
        #expect(sync.process.isRunning)
        // Still live after recovery.
        try w.write(w.laptop + "/out/after.txt", "after")
        #expect(sync.wait { SyncWorld.tree(w.instance + "/out")["after.txt"] == "after" })
        #expect(sync.interrupt() == 130)
    }

    @Test("Ctrl-C: exit 130, the master connection closed, the private folder gone")
    func interrupt() throws {
        let w = try SyncWorld(on: .channels)
        try w.makeFolder(w.instance + "/y")
        let sync = try SyncRun(document: try w.document([SyncWorld.channel("out", w.laptop + "/", w.remote + "/x"),
                                                         SyncWorld.channel("in", w.root + "/back", w.remote + "/y")]),
                               environment: w.environment)
        #expect(sync.waitUntilReady(channels: 2), "\(sync.stderr)")
        let pids = sshProcesses(knownHosts: w.knownHosts)
        #expect(!pids.isEmpty)
        let controlDirs = Set(pids.compactMap { pid -> String? in
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            let argument = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                .first { $0.hasPrefix("ControlPath=") }
            return argument.map { (String($0.dropFirst("ControlPath=".count)) as NSString).deletingLastPathComponent }
        })
        let masters = pids.filter {
            (FileManager.default.contents(atPath: "/proc/\($0)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? "")
                .hasPrefix("ssh: ")
        }
        #expect(masters.count == 1, "one master connection, found \(masters.count)")
        #expect(sync.interrupt() == 130)
        // Ended (or a zombie about to be reaped) within 3 s.
        func alive(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return !stat[close...].hasPrefix(") Z")
        }
        let end = Date().addingTimeInterval(3)
        while Date() < end && pids.contains(where: alive) { usleep(20_000) }
        for pid in pids { #expect(!alive(pid), "ssh process \(pid) left running") }
        for folder in controlDirs { #expect(!FileManager.default.fileExists(atPath: folder), "'\(folder)' left behind") }
        #expect(sync.errorLines.isEmpty, "\(sync.errorLines)")
    }

    @Test("portal channel NAME: finds the open portal, a line per transfer, --json the raw lines; not open is an error")
    func porcelain() throws {
        let p = try TestPortal(volumes: 0)
        let w = try SyncWorld()  // the laptop side only: this test opens a portal of its own
        // the portal's instance is a machine of its own: the remote folder is its user's
        let remote = "/home/ubuntu/\(p.name)"
        let spec = try #require(try JSON(parsing: Array(Data(contentsOf: URL(fileURLWithPath: p.specPath)))).objectValue)
        var object = spec
        object["channels"] = try JSON(parsing: Array("[\(SyncWorld.channel("out", w.laptop + "/src", remote))]".utf8))
        try JSON.object(object).serialized().write(toFile: p.specPath, atomically: true, encoding: .utf8)
        try w.write(w.laptop + "/src/train.py", "print('hi')\n")
        let env = w.environment

        let closed = try p.portal(["channel", p.name], environment: env)
        #expect(closed.status == 1)
        #expect(closed.stderr.contains("portal: error: portal '\(p.name)' is not open"))

        let open = try p.portal(["open", p.name, "--no-mount"], environment: env)
        try #require(open.status == 0, "\(open.stderr)")
        defer { _ = try? p.portal(["close", p.name], environment: env) }
        let machine = try Machine.ready(try #require(try p.liveInstances().first))
        let instance = machine.path(remote)

        for json in [false, true] {
            let out = Pipe()
            let process = portalChannel(p, json: json, environment: env, output: out)
            try? FileManager.default.removeItem(atPath: instance + "/src/train.py")
            try process.run()
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && SyncWorld.tree(instance)["src/train.py"] == nil { usleep(20_000) }
            let text = "print('changed \(json)')\n"
            try w.write(w.laptop + "/src/train.py", text)
            while Date() < deadline && SyncWorld.tree(instance)["src/train.py"] != text { usleep(20_000) }
            usleep(200_000)
            kill(process.processIdentifier, SIGINT)
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 130)
            if json {
                let lines = output.split(separator: "\n").compactMap { try? JSON(parsing: Array($0.utf8)) }
                #expect(lines.contains { $0["paths"] == ["src/train.py"] && $0["pass"] == "changes" }, "\(output)")
            } else {
                // [12:01:33] OUT src/train.py  17 B  35 ms
                let matched = output.split(separator: "\n").contains { line in
                    line.range(of: #"^\[\d\d:\d\d:\d\d\] OUT src/train\.py  \d+ B  \d+ ms$"#, options: .regularExpression) != nil
                }
                #expect(matched, "\(output)")
            }
        }
    }
}
