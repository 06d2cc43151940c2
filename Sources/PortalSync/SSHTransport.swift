import PortalBase
import PortalModel
import PortalSSH

/// One multiplexed OpenSSH connection to the instance, reused by every
/// transfer: `ControlMaster=auto` with `ControlPersist`, its socket in a
/// private (0700) temporary folder. The first ssh to run becomes the master;
/// should the master die (a network blip, the instance rebooting), the next
/// ssh makes a new one. Same key, user, port and known_hosts as `portal ssh`
/// (`sshArguments`), plus no prompts (`BatchMode`).
///
/// rsync runs `remoteShell` (a small script in the private folder that
/// `exec`s ssh with these options), so that no path is ever split wrongly.
public final class SSHTransport: @unchecked Sendable {
    public let target: SSHTarget
    public let ssh: String
    /// The private folder: the control socket, the wrapper, file lists.
    public let folder: String
    /// How long the master outlives its last use, in seconds.
    public let persist: Int
    /// ssh's options (`options(knownHosts:)`).
    public private(set) var sshOptions: [String] = []

    public var controlPath: String { folder + "/master" }
    public var remoteShell: String { folder + "/ssh" }
    /// rsync's remote shell through the relay (`Relay`), once it runs: no
    /// remote shell started, no session held per transfer.
    public internal(set) var relayShell: String?
    /// What rsync runs as its remote shell: the relay's, else ssh's.
    public var transferShell: String { relayShell ?? remoteShell }

    public init(target: SSHTarget, knownHosts: KnownHosts, ssh: String, persist: Int = 600) throws {
        self.target = target
        self.ssh = ssh
        self.persist = persist
        // /tmp, not $TMPDIR: a socket path must stay under ~100 bytes.
        var template = Array("/tmp/portal-sync.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure("cannot create a private folder in /tmp: \(String(cString: strerror(errno)))")
        }
        folder = String(cString: made)
        chmod(folder, 0o700)
        sshOptions = options(knownHosts: knownHosts)
        let script = "#!/bin/sh\nexec " + Shell.join([ssh] + sshOptions) + " \"$@\"\n"
        guard FileManager.default.createFile(atPath: remoteShell, contents: Data(script.utf8),
                                             attributes: [.posixPermissions: 0o700]) else {
            throw Failure("'\(remoteShell)': cannot write")
        }
    }

    /// ssh's options: `portal ssh`'s, then the multiplexing ones.
    func options(knownHosts: KnownHosts) -> [String] {
        var arguments = sshArguments(target: target, knownHosts: knownHosts)
        if arguments.last == target.destination { arguments.removeLast() }
        return arguments + [
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=15",
            "-o", "ServerAliveCountMax=3",
            "-o", "ControlMaster=auto",
            "-o", "ControlPath=\(controlPath)",
            "-o", "ControlPersist=\(persist)",
            "-o", "LogLevel=ERROR",
        ]
    }

    /// The arguments that run a command line on the instance over the master.
    public func command(_ line: String) -> [String] {
        [remoteShell, target.destination, line]
    }

    /// The same through the relay where it runs (`sh -c`: no login shell,
    /// no start-up files), else over a session of its own.
    public func relayedCommand(_ line: String) -> [String] {
        relayShell.map { [$0, "--wait", target.destination, "sh", "-c", line] } ?? command(line)
    }

    /// The master's process id, when one is running (`ssh -O check`).
    public func masterPID() -> pid_t? {
        guard let result = try? Child.run([remoteShell, "-O", "check", target.destination], stop: { false }),
              let text = Optional(String(decoding: result.err + result.out, as: UTF8.self)),
              let range = text.firstRange(of: "pid=") else { return nil }
        return pid_t(text[range.upperBound...].prefix { $0.isNumber })
    }

    /// Ends the master connection (`ssh -O exit`) and removes the private folder.
    public func close() {
        if FileManager.default.fileExists(atPath: controlPath) {
            _ = try? Child.run([remoteShell, "-O", "exit", target.destination], stop: { false })
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// ssh's own failure (exit 255) as a message: its last line of stderr.
    public static func message(status: Int32, stderr: [UInt8], program: String) -> String {
        let lines = String(decoding: stderr, as: UTF8.self).split(separator: "\n")
            .map { $0.trimming(\.isBlank) }.filter { !$0.isEmpty }
        let last = lines.last { !$0.hasPrefix("rsync error:") } ?? lines.last
        return last.map { "\(program) exited with \(status): \($0)" } ?? "\(program) exited with \(status)"
    }
}
