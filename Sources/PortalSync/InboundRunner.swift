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
        var streamBackoff = Backoff()
        var waitingForFolder = false
        while !stopped {
            let child: Child
            do {
                child = try Child(transport.relayedCommand(Self.watchCommand(root: source.root, recursive: channel.recursive)),
                                  stdinPipe: true)
            } catch {
                self.error("\(error)")
                pause(streamBackoff.fail())
                continue
            }
            var established = false
            var partial: [UInt8] = []
            var said: String?
            var missing = false
            while !stopped {
                let chunk = child.pump(timeout: established ? waitTime : nil, alsoWaitingFor: [stop.fd, landed.fd])
                partial += chunk.out + chunk.err
                while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
                    var line = String(decoding: partial[..<newline], as: UTF8.self)
                    if line.hasSuffix("\r") { line.removeLast() }
                    partial.removeSubrange(...newline)
                    if line == "Watches established." {
                        established = true
                        needsFullPass = true
                        waitingForFolder = false
                        streamBackoff.succeed()
                    } else if line.hasPrefix("E ") {
                        // An event; one that needs no transfer (a folder's
                        // mode or owner changed, a file created and not yet
                        // closed) is no message either.
                        guard let (change, name) = Self.parseEvent(line, root: source.root) else { continue }
                        switch change {
                        case .overflow, .rootGone: needsFullPass = true
                        case .file, .newFolder: changed([name])
                        case .removed, .removedFolder: if channel.delete { changed([name]) }
                        case .created: break
                        }
                    } else if line == Self.missingLine {
                        missing = true
                    } else if !line.hasPrefix("Setting up watches") && !line.isEmpty {
                        said = line
                    }
                }
                // (Through the relay, its script ends once its input does.)
                if child.outputClosed { break }
                if established { step(pass: .full, warmUp: true) }
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
            let why = said ?? "the connection closed"
            if !established && status != 255 {
                // inotifywait itself failed (its watch limit, most likely): poll.
                error("cannot watch '\(source.root)' on the instance (\(why)); polling every \(channel.pollInterval) s instead")
                poll()
                return
            }
            error("lost the change events of '\(source.root)' from the instance: \(why); reconnecting")
            pause(streamBackoff.fail())
        }
    }
}
