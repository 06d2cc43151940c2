import PortalBase
import PortalSSH

/// The relay: one long-lived helper on the instance, started once over the
/// master connection, that starts every transfer's remote side without a
/// shell, so that no transfer pays a remote command's start-up (a login
/// shell's files, conda init) and no transfer holds an SSH session.
///
/// On the instance (python3, no root): `relayScript` listens on a loopback
/// TCP port chosen by the kernel and prints `portal-relay 1 PORT TOKEN` (the
/// token: 128 random bits). A connection sends the token and an argument
/// vector, each ended by NUL, then one more NUL; the helper checks the token,
/// and starts the vector (`rsync --server …`, or `sh -c` a watch command)
/// with the connection as its stdin and stdout, in a session of its own, in
/// the home folder; stderr is the helper's. It relays no bytes itself. When
/// its stdin ends (the SSH session closed: portal-sync stopped, or the
/// connection went), it ends every process it started and exits: a watch
/// command at once (SIGTERM to its group); an rsync by its connection's end
/// (end of file), which rsync takes as an error and cleans up after, its
/// temporary file removed, and by SIGTERM only if still running 30 s later:
/// an rsync server signalled in the middle of a transfer leaves its
/// temporary file behind now and then (rsync 3.5.0: 7 times in 140).
///
/// On this machine: `shim`, rsync's remote shell (`-e`), a script in the
/// private folder: it sends the token and rsync's remote command, then the
/// transfer's bytes (`cat`), over `ssh -W 127.0.0.1:PORT` through the master:
/// a forwarded TCP channel, not a session, so that any number of channels
/// work under sshd's default `MaxSessions 10`.
///
/// Costs on the instance: one python3 process (18 MiB resident with Python 3.11), one sshd
/// session; per transfer, the remote rsync alone.
final class Relay: @unchecked Sendable {
    let transport: SSHTransport
    /// rsync's remote shell through the relay (see the type's comment).
    var shim: String { transport.folder + "/relay" }
    private let lock = Lock()
    private var helper: Child?
    private var isClosed = false
    /// True once `close` was called.
    var closed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return isClosed
    }

    init(transport: SSHTransport) {
        self.transport = transport
    }

    /// The helper, one line of Python per statement, no single quote in it
    /// (it travels quoted in the session's command line).
    static let relayScript = """
        import hmac, os, secrets, select, signal, socket, sys, time
        token = secrets.token_hex(16).encode()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        os.chdir(os.path.expanduser("~"))
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        print("portal-relay 1 %d %s" % (listener.getsockname()[1], token.decode()), flush=True)
        waiting, children = {}, {}
        def start(conn):
            try:
                head = conn.recv(65536, socket.MSG_PEEK)
            except BlockingIOError:
                return False
            end = head.find(b"\\0\\0")
            if end < 0:
                return not head or len(head) >= 65536
            conn.recv(end + 2)
            words = head[:end].split(b"\\0")
            if len(words) < 2 or not hmac.compare_digest(words[0], token):
                return True
            conn.setblocking(True)
            pid = os.fork()
            if pid == 0:
                try:
                    os.setsid()
                    os.dup2(conn.fileno(), 0)
                    os.dup2(conn.fileno(), 1)
                    for s in (signal.SIGCHLD, signal.SIGPIPE):
                        signal.signal(s, signal.SIG_DFL)
                    os.execvp(words[1], words[1:])
                finally:
                    os._exit(127)
            children[pid] = os.path.basename(words[1]) == b"rsync"
            return True
        def alive(pid):
            try:
                os.kill(pid, 0)
                return True
            except OSError:
                return False
        try:
            while True:
                ready = select.select([0, listener] + list(waiting), [], [], 5 if waiting else None)[0]
                if 0 in ready and not os.read(0, 4096):
                    break
                if listener in ready:
                    conn = listener.accept()[0]
                    conn.setblocking(False)
                    waiting[conn] = time.monotonic()
                for conn in list(waiting):
                    if conn in ready and start(conn) or time.monotonic() - waiting[conn] > 30:
                        del waiting[conn]
                        conn.close()
                children = {pid: rsync for pid, rsync in children.items() if alive(pid)}
        finally:
            end = time.monotonic() + 30
            while True:
                for pid in [pid for pid, rsync in children.items() if not rsync or time.monotonic() > end]:
                    try:
                        os.killpg(pid, signal.SIGTERM)
                    except OSError:
                        pass
                    del children[pid]
                children = {pid: rsync for pid, rsync in children.items() if alive(pid)}
                if not children:
                    break
                time.sleep(0.1)
        """

    /// Starts the helper and writes `shim`; nil when it runs, else why not
    /// (no python3 on the instance, forwarding refused by its sshd).
    func start(timeout: Double, stop: () -> Bool) -> String? {
        let child: Child
        do {
            child = try Child(transport.command("exec python3 -c " + Shell.quote(Self.relayScript)), stdinPipe: true)
        } catch {
            return "\(error)"
        }
        var out: [UInt8] = [], err: [UInt8] = []
        let end = monotonic() + timeout
        var line: String?
        while line == nil && monotonic() < end && !stop() {
            let chunk = child.pump(timeout: 0.05)
            out += chunk.out
            err += chunk.err
            if let newline = out.firstIndex(of: UInt8(ascii: "\n")) {
                line = String(decoding: out[..<newline], as: UTF8.self)
            } else if child.outputClosed && child.poll() != nil {
                break
            }
        }
        let words = line?.split(separator: " ") ?? []
        guard words.count == 4, words[0] == "portal-relay", words[1] == "1", let port = Int(words[2]) else {
            child.closeInput()
            child.terminate(grace: 0.5)
            let said = String(decoding: err, as: UTF8.self).split(separator: "\n").last.map(String.init)
            return said ?? "the helper did not start"
        }
        // Through the master only, never as one (an ssh -W that became the
        // master would have asked the server for no more sessions), and
        // never a connection of its own (ProxyCommand false) when the master
        // is gone.
        let forwardOptions = transport.sshOptions.map { $0 == "ControlMaster=auto" ? "ControlMaster=no" : $0 }
            + ["-o", "ProxyCommand=false"]
        // For rsync the pipeline runs in the background and the script ends
        // at once: ssh -W ends only at the end of its input, which rsync
        // closes only after its remote shell ended; rsync reads end of file
        // when the remote side is done (or the connection is gone: exit 12).
        // With --wait (a watch stream, whose input portal-sync closes) the
        // script waits and exits with ssh's status (255: the connection).
        let script = "#!/bin/sh\n"
            + "# rsync's remote shell through portal-sync's relay: [--wait] [-l USER] HOST COMMAND...\n"
            + "w=; [ \"$1\" = --wait ] && { w=1; shift; }\n"
            + "[ \"$1\" = -l ] && shift 2\nshift\n"
            + "exec 4<&0\n"
            + "{ printf '%s\\0' \(words[3]) \"$@\"; printf '\\0'; exec cat <&4 4<&- 2>/dev/null; } | exec "
            + Shell.join([transport.ssh] + forwardOptions + ["-W", "127.0.0.1:\(port)", transport.target.destination])
            + " 4<&- &\n"
            + "[ -n \"$w\" ] || exit 0\nexec 4<&- >/dev/null 2>&1\nwait $!\n"
        let temporary = shim + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(script.utf8),
                                             attributes: [.posixPermissions: 0o700]),
              rename(temporary, shim) == 0 else {
            child.closeInput()
            child.terminate(grace: 0.5)
            return "'\(shim)': cannot write"
        }
        // One command through it: forwarding may be refused (AllowTcpForwarding no).
        let check = (try? Child.run([shim, transport.target.destination, "echo", "portal-relay-ok"], stop: stop)) ?? nil
        guard let check, check.out == Array("portal-relay-ok\n".utf8) else {
            child.closeInput()
            child.terminate(grace: 0.5)
            return check.map { SSHTransport.message(status: $0.status, stderr: $0.err, program: "ssh -W") } ?? "stopped"
        }
        lock.lock()
        helper = child
        lock.unlock()
        return nil
    }

    /// Keeps the helper running until `stop`: its stderr read (the remote
    /// sides' complaints, said with `verbose`), and a new one started (with
    /// backoff) when it ends, as when the connection was lost. `wake`: a
    /// descriptor readable once `stop` is true (no other wake-ups when idle).
    func watch(stop: @escaping () -> Bool, wake: Int32, progress: @escaping (String) -> Void) {
        var backoff = Backoff(initial: 0.5, maximum: 30)
        while !stop() {
            lock.lock()
            let child = helper
            lock.unlock()
            if let child {
                _ = child.pump(timeout: nil, alsoWaitingFor: [wake])
                if child.outputClosed && child.poll() == nil { usleep(100_000) }
                if child.outputClosed && child.poll() != nil {
                    lock.lock()
                    helper = nil
                    lock.unlock()
                }
                continue
            }
            if let why = start(timeout: 30, stop: stop) {
                if stop() { break }
                progress("the relay on the instance did not start again (\(why)); retrying")
                let until = monotonic() + backoff.fail()
                while !stop() && monotonic() < until { usleep(100_000) }
            } else {
                backoff.succeed()
            }
        }
    }

    /// Ends the helper (and so everything it started on the instance).
    func close() {
        lock.lock()
        isClosed = true
        let child = helper
        helper = nil
        lock.unlock()
        guard let child else { return }
        child.closeInput()
        let end = monotonic() + 1
        while child.poll() == nil && monotonic() < end { _ = child.pump(timeout: 0.05) }
        child.terminate(grace: 0.5)
    }
}
