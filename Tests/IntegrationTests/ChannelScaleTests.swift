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

    @Test("the connection killed in the middle of a big file: never a partial file under its name, then the whole file")
    func killedDuringBigFile() throws {
        // 256 MB rather than 2 GB, for the test's time (bin/bench-channels rewrites 2 GB).
        let w = try SyncWorld(on: .scale)
        try FileManager.default.createDirectory(atPath: w.laptop + "/out", withIntermediateDirectories: true)
        let sync = try SyncRun(document: try w.document([SyncWorld.channel("out", w.laptop + "/out/", w.remote + "/out")]),
                               environment: w.environment)
        try #require(sync.waitUntilReady(channels: 1), "\(sync.stderr)")
        // Written outside the channel's folder, then moved in: one version only.
        let written = w.laptop + "/big.bin", local = w.laptop + "/out/big.bin", remote = w.instance + "/out/big.bin"
        let chunk = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        #expect(FileManager.default.createFile(atPath: written, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: written))
        for i in 0..<256 { handle.write(Data(chunk.map { $0 ^ UInt8(truncatingIfNeeded: i) })) }
        try handle.close()
        try FileManager.default.moveItem(atPath: written, toPath: local)
        let size = 256 << 20
        // Wait for the transfer to be under way (rsync's temporary file), then kill every ssh of the session.
        let underWay = sync.wait(60) {
            ((try? FileManager.default.contentsOfDirectory(atPath: w.instance + "/out")) ?? []).contains { $0.hasPrefix(".big.bin.") }
        }
        #expect(underWay, "no temporary file seen on the instance")
        let killed = sshProcesses(knownHosts: w.knownHosts)
        #expect(!killed.isEmpty)
        for pid in killed { kill(pid, SIGKILL) }
        var partial = false
        let whole = sync.wait(120) {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: remote),
               (attributes[.size] as? Int) != size { partial = true }
            return (try? FileManager.default.attributesOfItem(atPath: remote)[.size] as? Int) == size
        }
        #expect(whole, "\(sync.stderr)")
        #expect(!partial, "a partial big.bin was visible under its own name")
        #expect(FileManager.default.contentsEqual(atPath: local, andPath: remote), "the file on the instance differs")
        #expect(!sync.errorLines.isEmpty, "the lost connection was not reported")
        #expect(sync.interrupt() == 130)
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
