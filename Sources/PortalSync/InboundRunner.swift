import PortalBase
import PortalModel
import PortalSSH

/// An inbound channel. Where the instance has inotifywait, its change events
/// stream over the same SSH connection and only what changed is fetched;
/// otherwise (or with `--poll`) a pass every `delay` seconds, as Portal Gun did.
final class InboundRunner: ChannelRunner, @unchecked Sendable {
    /// The instance has inotifywait (found at start).
    var remoteWatch = false

    override func run() {
        if options.once {
            once()
            return
        }
        if remoteWatch && !options.pollInbound { stream() } else { poll() }
    }

    /// A pass every `delay` seconds; the first one reported even if empty.
    func poll(first: Bool = true) {
        var first = first
        var backoff = Backoff()
        while !stopped {
            let start = monotonic()
            switch transfer(first ? .full : .poll, reportEmpty: first) {
            case .done:
                first = false
                backoff.succeed()
                pause(max(0, start + channel.pollInterval - monotonic()))
            case .connectionLost(let message), .failed(let message):
                error(message)
                pause(max(channel.pollInterval, backoff.fail()))
            case .stopped:
                return
            }
        }
    }

    /// The remote command: waits for events under the remote folder and
    /// prints one line per event, `E EVENTS PATH`, after inotifywait's own
    /// `Watches established.`. It ends when the connection closes (its stdin
    /// reaches end of file), leaving nothing running on the instance. Exit 3
    /// and `missingLine` (the relay passes no exit status): the folder is not
    /// there (yet).
    static func watchCommand(root: String, recursive: Bool) -> String {
        let events = "close_write,moved_to,moved_from,create,delete,attrib,delete_self,move_self"
        return "r=\(Shell.quote(root)); [ -e \"$r\" ] || { echo \(missingLine); exit 3; }; exec 3<&0; "
            + "(cat <&3 >/dev/null 2>&1; kill $$ 2>/dev/null) >/dev/null 2>&1 & "
            + "exec inotifywait -m\(recursive ? " -r" : "") -e \(events) --format 'E %e %w%f' -- \"$r\" 2>&1 3<&-"
    }

    static let missingLine = "portal-sync:no-such-folder"

    /// An event line of `watchCommand` as a change and a name relative to the root.
    static func parseEvent(_ line: String, root: String) -> (WatchChange, String)? {
        guard line.hasPrefix("E ") else { return nil }
        let rest = line.dropFirst(2)
        guard let space = rest.firstIndex(of: " ") else { return nil }
        var mask: UInt32 = 0
        for name in rest[..<space].split(separator: ",") { mask |= inotifyFlags[String(name)] ?? 0 }
        guard let change = WatchChange.of(mask: mask) else { return nil }
        var path = String(rest[rest.index(after: space)...])
        let prefix = root.hasSuffix("/") ? root : root + "/"
        if path.hasPrefix(prefix) {
            path.removeFirst(prefix.count)
        } else if path == root {
            path = ""
        }
        while path.hasSuffix("/") { path.removeLast() }
        return (change, path)
    }

    static let inotifyFlags: [String: UInt32] = [
        "ACCESS": UInt32(IN_ACCESS), "MODIFY": UInt32(IN_MODIFY), "ATTRIB": UInt32(IN_ATTRIB),
        "CLOSE_WRITE": UInt32(IN_CLOSE_WRITE), "CLOSE_NOWRITE": UInt32(IN_CLOSE_NOWRITE), "OPEN": UInt32(IN_OPEN),
        "MOVED_FROM": UInt32(IN_MOVED_FROM), "MOVED_TO": UInt32(IN_MOVED_TO), "CREATE": UInt32(IN_CREATE),
        "DELETE": UInt32(IN_DELETE), "DELETE_SELF": UInt32(IN_DELETE_SELF), "MOVE_SELF": UInt32(IN_MOVE_SELF),
        "UNMOUNT": UInt32(IN_UNMOUNT), "Q_OVERFLOW": UInt32(IN_Q_OVERFLOW), "IGNORED": UInt32(IN_IGNORED),
        "ISDIR": UInt32(IN_ISDIR),
    ]

    /// Streams remote events; on a lost stream, reconnects with backoff and
    /// starts again with a full pass.
    func stream() {
        let source = plan.source
        var backoff = Backoff()
        var waitingForFolder = false
        while !stopped {
            let child: Child
            do {
                child = try Child(transport.relayedCommand(Self.watchCommand(root: source.root, recursive: channel.recursive)),
                                  stdinPipe: true)
            } catch {
                self.error("\(error)")
                pause(backoff.fail())
                continue
            }
            var established = false
            var needsFullPass = false
            var pending = Set<String>()
            var coalescer = Coalescer(quiet: options.quiet, cap: options.cap)
            var partial: [UInt8] = []
            var messages: [String] = []
            var retryAt = 0.0
            var missing = false
            while !stopped {
                var wait = 0.2
                if let deadline = coalescer.deadline { wait = min(wait, max(0, deadline - monotonic())) }
                let chunk = child.pump(timeout: wait)
                partial += chunk.out + chunk.err
                while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
                    var line = String(decoding: partial[..<newline], as: UTF8.self)
                    if line.hasSuffix("\r") { line.removeLast() }
                    partial.removeSubrange(...newline)
                    if line == "Watches established." {
                        established = true
                        needsFullPass = true
                        waitingForFolder = false
                    } else if let (change, name) = Self.parseEvent(line, root: source.root) {
                        switch change {
                        case .overflow, .rootGone: needsFullPass = true
                        case .file, .newFolder: pending.insert(name)
                        case .removed, .removedFolder: if channel.delete { pending.insert(name) }
                        case .created: break
                        }
                        if change != .created { coalescer.note(at: monotonic()) }
                    } else if line == Self.missingLine {
                        missing = true
                    } else if !line.hasPrefix("Setting up watches") && !line.isEmpty {
                        messages.append(line)
                    }
                }
                // (Through the relay, its script ends once its input does.)
                if child.outputClosed { break }
                let now = monotonic()
                if now < retryAt { continue }
                if established && !needsFullPass { prepareChangesPass() }
                if needsFullPass {
                    pending.removeAll()
                    coalescer.reset()
                    switch transfer(.full, reportEmpty: true) {
                    case .done: needsFullPass = false; backoff.succeed()
                    case .connectionLost(let message), .failed(let message):
                        error(message)
                        retryAt = monotonic() + backoff.fail()
                    case .stopped: break
                    }
                } else if !pending.isEmpty && coalescer.isDue(at: now) {
                    let batch = pending
                    pending.removeAll()
                    coalescer.reset()
                    switch transfer(.changes, paths: batch, reportEmpty: false) {
                    case .done: backoff.succeed()
                    case .connectionLost(let message), .failed(let message):
                        error(message)
                        pending.formUnion(batch)
                        coalescer.note(at: monotonic())
                        retryAt = monotonic() + backoff.fail()
                    case .stopped: break
                    }
                }
            }
            child.closeInput()
            let end = monotonic() + 1
            while child.poll() == nil && monotonic() < end { usleep(5_000) }
            child.terminate(grace: 1)
            endChangesPass()
            if stopped { return }
            let status = child.wait()
            if status == 3 || missing {
                // Not an error: the job has not made it yet. The first time,
                // a full pass still says the channel is up.
                if !waitingForFolder {
                    options.progress("channel \(index): '\(source.root)' is not on the instance yet; it will be fetched when it is")
                    waitingForFolder = true
                    _ = transfer(.full, reportEmpty: true)
                }
                pause(channel.pollInterval)
                continue
            }
            let said = messages.last ?? "the connection closed"
            if !established && status != 255 {
                // inotifywait itself failed (its watch limit, most likely): poll.
                error("cannot watch '\(source.root)' on the instance (\(said)); polling every \(channel.pollInterval) s instead")
                poll()
                return
            }
            error("lost the change events of '\(source.root)' from the instance: \(said); reconnecting")
            pause(backoff.fail())
        }
    }
}
