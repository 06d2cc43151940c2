import Foundation
import PortalBase
import Testing

@testable import PortalSSH
import PortalModel

/// The watcher's script, run here with sh: its state in a temporary folder,
/// IMDSv2 from a small loopback server. That server stands in for the
/// instance's IMDS only in these tests; the integration tests use the local
/// cloud's own, inside a machine.
@Suite(.serialized)
struct WatcherTests {
    /// A folder with the watcher's state and library, an IMDS on loopback
    /// that serves `interrupt.json` / `rebalance.json` from the folder when
    /// they exist, and the install's settings pointing at them.
    final class Bench {
        let folder: String
        let imds: Process
        let port: Int
        var install = WatcherInstall()

        init(hook: [String] = ["echo ran >>\"$RUNS\"", "sleep 1"]) throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-gun-watcher-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let server = folder + "/imds.py"
            try Bench.server.write(toFile: server, atomically: true, encoding: .utf8)
            imds = Process()
            imds.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            imds.arguments = ["python3", server, folder]
            let pipe = Pipe()
            imds.standardOutput = pipe
            try imds.run()
            let line = String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
            port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            install.state = folder + "/state"
            install.library = folder + "/lib/portal-gun"
            install.interval = 0.2
            install.hookSeconds = 5
            install.user = ""
            install.hook = hook
            install.systemd = false
            install.shutdownCommand = "touch \(folder)/shutdown"
            install.wallCommand = folder + "/wall"
            install.environment = [("PORTAL_GUN_STATE", install.state), ("PORTAL_IMDS", "http://127.0.0.1:\(port)"),
                                   ("RUNS", folder + "/runs")]
            let wall = "#!/bin/sh\nprintf '%s\\n' \"$1\" >>\(Shell.quote(folder + "/walls"))\n"
            _ = FileManager.default.createFile(atPath: install.wallCommand, contents: Data(wall.utf8),
                                               attributes: [.posixPermissions: 0o755])
        }

        deinit {
            if let pid = Int32(read("state/watcher.pid").trimmingCharacters(in: .whitespacesAndNewlines)) { kill(pid, SIGTERM) }
            kill(imds.processIdentifier, SIGKILL)  // it may have inherited blocked signals
            imds.waitUntilExit()
            try? FileManager.default.removeItem(atPath: folder)
        }

        /// Runs the install script with sh, as `install(session:)` does over
        /// SSH. Through files and posix_spawn, not Foundation's Process: the
        /// detached watcher keeps whatever it inherits open, and Process sees
        /// its child end only when its own socket closes.
        func runInstall() throws -> [String: String] {
            let script = folder + "/install.sh", out = folder + "/install.out"
            try install.script.write(toFile: script, atomically: true, encoding: .utf8)
            let status = WatcherTests.shell("sh -s <\(Shell.quote(script)) >\(Shell.quote(out)) 2>&1")
            #expect(status == 0, "\(read("install.out"))")
            return WatcherInstall.pairs(read("install.out"))
        }

        func read(_ name: String) -> String {
            (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? ""
        }

        func write(_ name: String, _ text: String) {
            try? text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        }

        var events: [WatcherEvent] {
            read("state/events.jsonl").split(separator: "\n").compactMap(WatcherEvent.init(line:))
        }

        /// Waits up to `seconds` for an event.
        func wait(for event: String, count: Int = 1, seconds: Double = 10) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if events.filter({ $0.event == event }).count >= count { return true }
                usleep(100_000)
            }
            return false
        }

        static let server = #"""
            import http.server, os, sys
            folder = sys.argv[1]
            class IMDS(http.server.BaseHTTPRequestHandler):
                def log_message(self, *args): pass
                def answer(self, code, body):
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def do_PUT(self):
                    if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                        return self.answer(200, b"token-1")
                    self.answer(400, b"")
                def do_GET(self):
                    if self.headers.get("X-aws-ec2-metadata-token") != "token-1":
                        return self.answer(401, b"")
                    name = {"/latest/meta-data/spot/instance-action": "interrupt.json",
                            "/latest/meta-data/events/recommendations/rebalance": "rebalance.json"}.get(self.path)
                    path = os.path.join(folder, name) if name else None
                    if path and os.path.exists(path):
                        return self.answer(200, open(path, "rb").read())
                    self.answer(404, b"")
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IMDS)
            print(server.server_address[1], flush=True)
            server.serve_forever()
            """#
    }

    /// `sh -c command`, waited for; its exit status.
    static func shell(_ command: String) -> Int32 {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { for pointer in argv { free(pointer) } }
        // Signals unblocked and at their defaults in the child: the test
        // runner's threads block some, and the watcher would inherit that.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        guard posix_spawn(&pid, "/bin/sh", nil, &attributes, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    @Test("installed twice, one watcher runs: the second install finds it by its pidfile and leaves it")
    func oneWatcher() throws {
        let bench = try Bench()
        let first = try bench.runInstall()
        #expect(first["watcher"] == "started")
        #expect(first["manager"] == "pidfile")
        let second = try bench.runInstall()
        #expect(second["watcher"] == "running")
        #expect(second["pid"] == first["pid"])
        // Detached: its own session, not the installer's.
        let pid = try #require(Int32(first["pid"] ?? ""))
        #expect(kill(pid, 0) == 0)
        #expect(getsid(pid) == pid)
    }

    @Test("a spot interruption notice runs the hook once, however long the notice stays, and the events say so in order")
    func interruptionRunsHookOnce() throws {
        let bench = try Bench()
        _ = try bench.runInstall()
        #expect(bench.wait(for: "watcher-start"))
        bench.write("interrupt.json", #"{"action": "terminate", "time": "2026-12-01T22:00:00Z"}"#)
        #expect(bench.wait(for: "hook-done"))
        usleep(1_500_000)  // several more rounds with the notice still there
        #expect(bench.read("runs") == "ran\n")
        let names = bench.events.map(\.event)
        #expect(names == ["watcher-start", "interruption", "hook-done"])
        let notice = try #require(bench.events.first { $0.event == "interruption" })
        #expect(notice.fields["action"]?.stringValue == "terminate")
        #expect(notice.fields["time"]?.stringValue == "2026-12-01T22:00:00Z")
        #expect(bench.read("walls").contains("spot interruption notice"))
        // A watcher started again (a reboot, a crash) does not run it again either.
        let pid = try #require(Int32(bench.read("state/watcher.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGKILL)
        usleep(300_000)
        #expect(try bench.runInstall()["watcher"] == "started")
        #expect(bench.wait(for: "watcher-start", count: 2))
        usleep(1_000_000)
        #expect(bench.read("runs") == "ran\n")
    }

    @Test("a hook that outlives its budget is killed, and the event says it timed out")
    func hookBudget() throws {
        let bench = try Bench(hook: ["sleep 30"])
        bench.install.hookSeconds = 1
        _ = try bench.runInstall()
        bench.write("rebalance.json", #"{"noticeTime": "2026-12-01T21:58:00Z"}"#)
        #expect(bench.wait(for: "hook-done", seconds: 10))
        let done = try #require(bench.events.first { $0.event == "hook-done" })
        #expect(done.fields["timed_out"]?.boolValue == true)
        #expect(bench.events.contains { $0.event == "rebalance" && $0.fields["time"]?.stringValue == "2026-12-01T21:58:00Z" })
    }

    @Test("at the deadline the hook runs, then the instance is shut down, after a warning to open sessions")
    func deadline() throws {
        let bench = try Bench()
        let now = Int(Date().timeIntervalSince1970)
        bench.install.deadline = .at(now + 2, since: now)
        _ = try bench.runInstall()
        #expect(bench.wait(for: "shutdown", seconds: 10))
        // The event comes just before the command runs.
        let end = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: bench.folder + "/shutdown") && Date() < end { usleep(50_000) }
        #expect(FileManager.default.fileExists(atPath: bench.folder + "/shutdown"))
        #expect(bench.read("runs") == "ran\n")
        #expect(bench.events.map(\.event).filter { $0.hasPrefix("deadline") } == ["deadline-warning", "deadline-notice", "deadline"])
        #expect(bench.read("walls").contains("deadline"))
    }

    @Test("a later deadline written while it runs (portal extend) postpones the shutdown")
    func extend() throws {
        let bench = try Bench()
        let now = Int(Date().timeIntervalSince1970)
        bench.install.deadline = .at(now + 2, since: now)
        _ = try bench.runInstall()
        #expect(WatcherTests.shell(bench.install.deadlineCommand(now + 60, since: now)) == 0)
        usleep(3_500_000)
        #expect(!FileManager.default.fileExists(atPath: bench.folder + "/shutdown"))
        #expect(!bench.events.contains { $0.event == "deadline" })
    }

    @Test("idle for idle_seconds (no SSH session here, no run session) shuts the instance down after a warning")
    func idleStop() throws {
        let bench = try Bench()
        bench.install.idleSeconds = 2
        bench.install.environment.append(("TMUX_TMPDIR", bench.folder))  // no run session to find
        bench.install.sessions = "^no SSH session on this test machine$"
        _ = try bench.runInstall()
        #expect(bench.wait(for: "shutdown", seconds: 10))
        let names = bench.events.map(\.event)
        #expect(names.contains("idle-start") && names.contains("idle-warning") && names.contains("idle-stop"))
        #expect(bench.read("runs").isEmpty)
    }

    @Test("the event reader keeps an incomplete last line for the next read")
    func eventReader() {
        var reader = WatcherEventReader()
        let first = reader.feed(Array("{\"event\":\"watcher-start\",\"at\":1}\n{\"event\":\"interr".utf8))
        #expect(first.map(\.event) == ["watcher-start"])
        let second = reader.feed(Array("uption\",\"at\":2,\"action\":\"terminate\"}\n".utf8))
        #expect(second.map(\.event) == ["interruption"])
        #expect(second.first?.isFinal == true)
        #expect(reader.offset == 86)
    }

    @Test("the hook runs each command in its own shell, all of them, quoted once")
    func hookScript() {
        var install = WatcherInstall()
        install.hook = ["echo 'a b'", "false", "touch \"$HOME/x\""]
        #expect(install.hookScript == """
            cd "$HOME" 2>/dev/null || true
            status=0
            sh -c 'echo '\\''a b'\\''' || status=$?
            sh -c false || status=$?
            sh -c 'touch "$HOME/x"' || status=$?
            exit $status

            """)
    }
}
