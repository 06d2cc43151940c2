import Foundation
import PortalBase
import Testing

/// portal-sync against a twin machine (shared by the suite) with what a careless script or
/// an attacker may hand it: remote paths made of shell syntax, an environment
/// that asks rsync for its old argument handling, an old rsync, a reader that
/// goes away.
@Suite(.enabled(if: LocalCloud.available && LocalCloud.machines), .sharedTwin(.hostile))
struct HostileChannelTests {
    @Test("a remote path of $(…) and backquotes is a literal folder name, in and out, even with RSYNC_OLD_ARGS=1")
    func remotePathsAreLiteral() throws {
        let w = try SyncWorld(on: .hostile)
        // The remote shell runs on the instance: a command it ran would leave its marker there.
        let marker = w.remote + "/pwned"
        let name = "/dest $(touch \(marker)-dollar) `touch \(marker)-backquote`; touch \(marker)-semicolon"
        let hostile = w.remote + name
        try w.write(w.laptop + "/out/a.txt", "a")
        try w.write(w.instance + name + "-in/b.txt", "b")
        let document = try w.document([SyncWorld.channel("out", w.laptop + "/out/", hostile),
                                       SyncWorld.channel("in", w.laptop + "/in/", hostile + "-in/")])
        for environment in [["RSYNC_OLD_ARGS": "1"], ["RSYNC_PROTECT_ARGS": "0"], [:]] {
            let once = try run("portal-sync", ["--once"], stdin: document, environment: w.environment.merging(environment) { _, b in b })
            #expect(once.status == 0, "\(environment): \(once.stderr)")
            let made = (try? FileManager.default.contentsOfDirectory(atPath: w.instance)) ?? []
            #expect(!made.contains { $0.hasPrefix("pwned") }, "\(environment): the remote shell ran a command from the path: \(made)")
            #expect(SyncWorld.tree(w.instance + name) == ["a.txt": "a"], "\(environment)")
            #expect(SyncWorld.tree(w.laptop + "/in") == ["b.txt": "b"], "\(environment)")
        }
    }

    @Test("an rsync too old to keep remote paths from the remote shell is refused at start, naming its version")
    func oldRsyncRefused() throws {
        let w = try SyncWorld(on: .hostile)
        let bin = w.root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin + "/ssh", withDestinationPath: "/usr/bin/ssh")
        // What macOS's /usr/bin/rsync says; any transfer would be a failure of the test.
        try "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'rsync  version 2.6.9  protocol version 29'; exit 0; fi\ntouch '\(w.root)/ran'\nexit 1\n"
            .write(toFile: bin + "/rsync", atomically: true, encoding: .utf8)
        chmod(bin + "/rsync", 0o755)
        let document = try w.document([SyncWorld.channel("out", w.laptop + "/", w.remote + "/x")])
        let result = try run("portal-sync", ["--once"], stdin: document,
                             environment: w.environment.merging(["PATH": bin + ":/usr/bin:/bin"]) { _, b in b })
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("rsync 2.6.9"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: w.root + "/ran"))
    }

    @Test("a reader that goes away: portal-sync exits 74, its master connection ended and its private folder gone")
    func readerGoesAway() throws {
        let w = try SyncWorld(on: .hostile)
        let documentFile = w.root + "/document.json"
        try w.makeFolder(w.instance + "/y")
        try w.document([SyncWorld.channel("out", w.laptop + "/", w.remote + "/x"),
                        SyncWorld.channel("in", w.root + "/back", w.remote + "/y")])
            .write(toFile: documentFile, atomically: true, encoding: .utf8)
        let statusFile = w.root + "/status"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "{ '\(Binaries.path("portal-sync"))' < '\(documentFile)'; echo $? > '\(statusFile)'; } "
                             + "| { head -c1 >/dev/null; exec 0<&-; sleep 60; }"]
        process.environment = ProcessInfo.processInfo.environment.merging(w.environment) { _, b in b }
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(-process.processIdentifier, SIGKILL); process.terminate() } }
        // The private folder, from the master's ControlPath, once it runs.
        var folders: Set<String> = []
        let ready = Date().addingTimeInterval(30)
        while folders.isEmpty && Date() < ready {
            for pid in sshProcesses(knownHosts: w.knownHosts) {
                let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
                for argument in data.split(separator: 0).map({ String(decoding: $0, as: UTF8.self) })
                where argument.hasPrefix("ControlPath=") {
                    folders.insert((String(argument.dropFirst("ControlPath=".count)) as NSString).deletingLastPathComponent)
                }
            }
            usleep(100_000)
        }
        #expect(!folders.isEmpty, "no master connection seen")
        // Changes make portal-sync write again, into the abandoned pipe.
        let end = Date().addingTimeInterval(30)
        var n = 0
        while !FileManager.default.fileExists(atPath: statusFile) && Date() < end {
            n += 1
            try w.write(w.laptop + "/f\(n).txt", "\(n)")
            usleep(300_000)
        }
        usleep(100_000)
        let status = (try? String(contentsOfFile: statusFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(status == "74")
        #expect(sshProcesses(knownHosts: w.knownHosts).isEmpty, "ssh left running")
        for folder in folders { #expect(!FileManager.default.fileExists(atPath: folder), "'\(folder)' left behind") }
    }

    @Test("ssh and rsync run without the AWS keys: nothing in their environment to read or to SendEnv")
    func childrenGetNoSecrets() throws {
        let w = try SyncWorld(on: .hostile)
        let secrets = ["AWS_ACCESS_KEY_ID": "AKIDCHILDTEST", "AWS_SECRET_ACCESS_KEY": "child-test-secret",
                       "AWS_SESSION_TOKEN": "child-test-token", "RSYNC_OLD_ARGS": "1"]
        // An inbound channel keeps an ssh client (and so the master) running.
        try w.makeFolder(w.instance + "/y")
        let sync = try SyncRun(document: try w.document([SyncWorld.channel("out", w.laptop + "/", w.remote + "/x"),
                                                         SyncWorld.channel("in", w.root + "/back", w.remote + "/y")]),
                               environment: w.environment.merging(secrets) { _, b in b })
        #expect(sync.waitUntilReady(channels: 2), "\(sync.stderr)")
        // Processes that ended meanwhile have an empty environ; at least one is read.
        let environments = sshProcesses(knownHosts: w.knownHosts).map { pid in
            (pid, String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data(), as: UTF8.self))
        }.filter { $0.1.contains("PATH=") }
        #expect(!environments.isEmpty, "no ssh process found")
        for (pid, environ) in environments {
            for (name, value) in secrets {
                #expect(!environ.contains(name + "="), "process \(pid) has \(name)")
                #expect(value.count < 8 || !environ.contains(value), "process \(pid) has the value of \(name)")
            }
        }
        #expect(sync.interrupt() == 130)
    }
}
