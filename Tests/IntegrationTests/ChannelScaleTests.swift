import Foundation
import PortalBase
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Channels at pace and at scale: many quick writes, many channels on one
/// connection under sshd's default MaxSessions, a lost connection in the
/// middle of a big file.
@Suite(.enabled(if: LocalCloud.available && LocalCloud.machines), .sharedTwin(.scale))
struct ChannelScaleTests {
    @Test("1,000 writes 0.05 s apart, out and in by turns, all arrive identical")
    func steadyPace() throws {
        let w = try SyncWorld(on: .scale)
        try FileManager.default.createDirectory(atPath: w.laptop + "/out", withIntermediateDirectories: true)
        try w.makeFolder(w.instance + "/in")
        let sync = try SyncRun(document: try w.document([
            SyncWorld.channel("out", w.laptop + "/out/", w.remote + "/out"),
            SyncWorld.channel("in", w.laptop + "/in", w.remote + "/in/"),
        ]), environment: w.environment)
        try #require(sync.waitUntilReady(channels: 2), "\(sync.stderr)")
        var expectedOut: [String: String] = [:], expectedIn: [String: String] = [:]
        let start = monotonic()
        for i in 0..<1000 {
            let wait = start + Double(i) * 0.05 - monotonic()
            if wait > 0 { usleep(UInt32(wait * 1e6)) }
            // A few names written again, so that rewrites are in the mix.
            let name = "w\(i % 900).txt"
            let text = "write \(i) " + String(repeating: "x", count: i % 300)
            if i % 2 == 0 {
                expectedOut[name] = text
                try w.write(w.laptop + "/out/" + name, text)
            } else {
                expectedIn[name] = text
                try w.write(w.instance + "/in/" + name, text)
            }
        }
        let arrived = sync.wait(60) {
            SyncWorld.tree(w.instance + "/out") == expectedOut && SyncWorld.tree(w.laptop + "/in") == expectedIn
        }
        let out = SyncWorld.tree(w.instance + "/out"), back = SyncWorld.tree(w.laptop + "/in")
        let sameOut = expectedOut.filter { out[$0.key] == $0.value }.count
        let sameIn = expectedIn.filter { back[$0.key] == $0.value }.count
        #expect(arrived, "out: \(sameOut) of \(expectedOut.count) identical, in: \(sameIn) of \(expectedIn.count); \(sync.stderr)")
        #expect(sync.errorLines.isEmpty, "\(sync.errorLines)")
        #expect(sync.interrupt() == 130)
    }

    @Test("the connection killed in the middle of a 2 GiB file: never a partial file under its name, then the whole file, no temporary left")
    func killedDuringBigFile() throws {
        let w = try SyncWorld(on: .scale)
        try FileManager.default.createDirectory(atPath: w.laptop + "/out", withIntermediateDirectories: true)
        let sync = try SyncRun(document: try w.document([SyncWorld.channel("out", w.laptop + "/out/", w.remote + "/out")]),
                               environment: w.environment)
        try #require(sync.waitUntilReady(channels: 1), "\(sync.stderr)")
        // Every name that appears in the instance's folder, as inotify sees it:
        // a complete record, not samples of the folder.
        let events = try FolderEvents(w.instance + "/out")
        defer { events.stop() }
        // Written outside the channel's folder, then moved in: one version
        // only. Each MiB differs (its index in its first bytes).
        let written = w.laptop + "/big.bin", local = w.laptop + "/out/big.bin", remote = w.instance + "/out/big.bin"
        let size = 2048 << 20
        var chunk = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        #expect(FileManager.default.createFile(atPath: written, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: written))
        for i in 0..<(size >> 20) {
            withUnsafeBytes(of: UInt64(i).littleEndian) { chunk.replaceSubrange(0..<8, with: $0) }
            handle.write(Data(chunk))
        }
        try handle.close()
        try FileManager.default.moveItem(atPath: written, toPath: local)
        // Wait for the transfer to be under way (rsync's temporary file), then kill every ssh of the session.
        let start = monotonic()
        let underWay = sync.wait(60) { events.names.contains { $0.hasPrefix(".big.bin.") } }
        #expect(underWay, "no temporary file seen on the instance")
        let killed = sshProcesses(knownHosts: w.knownHosts)
        #expect(!killed.isEmpty)
        for pid in killed { kill(pid, SIGKILL) }
        let whole = sync.wait(600) {
            (try? FileManager.default.attributesOfItem(atPath: remote)[.size] as? Int) == size
        }
        let seconds = monotonic() - start
        #expect(whole, "\(sync.stderr)")
        // Under its own name the file only ever arrived by a rename of a
        // complete temporary: no write, no creation under that name.
        let own = events.all.filter { $0.name == "big.bin" }
        #expect(own.map(\.mask) == [UInt32(IN_MOVED_TO)], "events on big.bin: \(own)")
        #expect(events.names.filter { $0.hasPrefix(".big.bin.") }.count >= 2, "one temporary before the kill, one after")
        let checksums = sha256(local, remote)
        #expect(checksums.count == 2 && checksums[0] == checksums[1], "SHA-256 here and on the instance: \(checksums)")
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: w.instance + "/out")) ?? []).filter { $0 != "big.bin" }
        #expect(left.isEmpty, "left on the instance: \(left)")
        #expect(!sync.errorLines.isEmpty, "the lost connection was not reported")
        #expect(sync.interrupt() == 130)
        print("killedDuringBigFile: 2 GiB, killed and whole again in \(Int(seconds)) s")
        try? FileManager.default.removeItem(atPath: local)
        try? FileManager.default.removeItem(atPath: remote)
    }

    @Test("20 channels, 10 out and 10 in, on one connection to a machine whose sshd has the default MaxSessions (10)",
          .enabled(if: LocalCloud.machines))
    func twentyChannels() throws {
        let p = try TestPortal(volumes: 0)
        let w = try SyncWorld()
        let remote = "/home/ubuntu/\(p.name)"
        var channels: [String] = []
        for i in 0..<20 {
            channels.append(i % 2 == 0
                ? SyncWorld.channel("out", w.laptop + "/out\(i)/", remote + "/out\(i)")
                : SyncWorld.channel("in", w.laptop + "/in\(i)", remote + "/in\(i)/"))
            if i % 2 == 0 { try FileManager.default.createDirectory(atPath: w.laptop + "/out\(i)", withIntermediateDirectories: true) }
        }
        var spec = try #require(try JSON(parsing: Array(Data(contentsOf: URL(fileURLWithPath: p.specPath)))).objectValue)
        spec["channels"] = try JSON(parsing: Array("[\(channels.joined(separator: ", "))]".utf8))
        try JSON.object(spec).serialized().write(toFile: p.specPath, atomically: true, encoding: .utf8)
        let env = w.environment
        let open = try p.portal(["open", p.name, "--no-mount"], environment: env)
        try #require(open.status == 0, "\(open.stderr)")
        defer { _ = try? p.portal(["close", p.name], environment: env) }
        let machine = try Machine.ready(try #require(try p.liveInstances().first))

        // OpenSSH's default: no MaxSessions line (10), sshd reloaded.
        let config = machine.path("/etc/ssh/sshd_config")
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("MaxSessions") }
            .joined(separator: "\n").write(toFile: config, atomically: false, encoding: .utf8)
        let sshd = try #require(Self.sshd(of: machine), "the machine's sshd not found")
        kill(sshd, SIGHUP)
        usleep(500_000)

        let out = Pipe()
        let process = portalChannel(p, json: true, environment: env, output: out)
        let lines = LineCollector(out.fileHandleForReading)
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let ready = waitUntil(seconds: 60) {
            Set(lines.json.filter { $0["pass"] == "full" }.compactMap { $0["channel"]?.intValue }).count == 20
        }
        #expect(ready, "full passes of channels \(Set(lines.json.compactMap { $0["channel"]?.intValue }).sorted()); \(lines.json.filter { $0["error"] != nil })")
        for round in 0..<2 {
            for i in 0..<20 {
                let path = i % 2 == 0 ? w.laptop + "/out\(i)/r\(round).txt" : machine.path(remote + "/in\(i)/r\(round).txt")
                try w.write(path, "channel \(i) round \(round)")
                usleep(50_000)
            }
        }
        let arrived = waitUntil(seconds: 60) {
            (0..<20).allSatisfy { i in
                let folder = i % 2 == 0 ? machine.path(remote + "/out\(i)") : w.laptop + "/in\(i)"
                return SyncWorld.tree(folder) == ["r0.txt": "channel \(i) round 0", "r1.txt": "channel \(i) round 1"]
            }
        }
        #expect(arrived, "missing: \((0..<20).filter { i in SyncWorld.tree(i % 2 == 0 ? machine.path(remote + "/out\(i)") : w.laptop + "/in\(i)").count != 2 })")
        #expect(lines.json.filter { $0["error"] != nil }.isEmpty, "\(lines.json.filter { $0["error"] != nil })")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
    }

    /// The machine's sshd listener, as this host numbers it: the child of its PID 1 named sshd.
    static func sshd(of machine: Machine) -> pid_t? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8)
            else { continue }
            let fields = Dictionary(status.split(separator: "\n").compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }, uniquingKeysWith: { a, _ in a })
            if fields["Name"] == "sshd", fields["PPid"] == "\(machine.pid)" { return pid }
        }
        return nil
    }
}

/// `portal channel NAME [--json]` in the portal's folder, its stdout into
/// `output`, not started yet.
func portalChannel(_ p: TestPortal, json: Bool, environment: [String: String], output: Pipe) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Binaries.path("portal"))
    process.arguments = ["channel", p.name] + (json ? ["--json"] : [])
    process.currentDirectoryURL = p.folder
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, b in b }
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    return process
}

/// `sha256sum` of some files, in their order (run side by side).
func sha256(_ paths: String...) -> [String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sha256sum", "--"] + paths
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return [] }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map { String($0.prefix { $0 != " " }) }
}

/// inotify's record of one folder (creations, writes, renames, deletions
/// of the names in it), read on a thread of its own until `stop`.
final class FolderEvents: @unchecked Sendable {
    struct Event: CustomStringConvertible {
        var mask: UInt32
        var name: String
        var description: String { "\(name) 0x\(String(mask, radix: 16))" }
    }
    private let lock = NSLock()
    private var events: [Event] = []
    private var running = true
    private let fd: Int32

    init(_ folder: String) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        let mask = UInt32(IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE)
        guard fd >= 0, inotify_add_watch(fd, folder, mask) >= 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: folder])
        }
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while isRunning {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                let count = read(fd, &buffer, buffer.count)
                var offset = 0
                while count > 0 && offset + 16 <= count {
                    let load = { (at: Int) in buffer[(offset + at)..<(offset + at + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
                    let mask = load(4), length = Int(load(12))
                    let name = String(decoding: buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
                    lock.lock()
                    events.append(Event(mask: mask & ~UInt32(IN_ISDIR), name: name))
                    lock.unlock()
                    offset += 16 + length
                }
            }
            close(fd)
        }
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    var all: [Event] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    /// Every name an event named, once each.
    var names: Set<String> { Set(all.map(\.name)) }

    func stop() {
        lock.lock()
        running = false
        lock.unlock()
    }
}

/// A pipe's lines as JSON, gathered as they come.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    private var lines: [JSON] = []

    init(_ handle: FileHandle) {
        handle.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.buffer += data
            while let newline = self.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                if let json = try? JSON(parsing: Array(self.buffer[..<newline])) { self.lines.append(json) }
                self.buffer.removeSubrange(...newline)
            }
            self.lock.unlock()
        }
    }

    var json: [JSON] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}
