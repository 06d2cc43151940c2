import PortalBase
import PortalModel

/// An outbound channel: watches the local folder (inotify; every subfolder
/// too when recursive), gathers the names that changed, and once a burst is
/// over sends only those (`--files-from`). A full pass at start, after a lost
/// connection, and when the kernel dropped events. Without inotify watches to
/// spare it falls back to a full pass every `delay` seconds.
final class OutboundRunner: ChannelRunner, @unchecked Sendable {
    override func run() {
        let source = plan.source
        if options.once {
            plan.sourceIsFolder = isFolder(source.root)
            once()
            return
        }
        var tree: WatchTree?
        var polling = false
        var pending = Set<String>()
        var coalescer = Coalescer(quiet: options.quiet, cap: options.cap)
        var needsFullPass = true
        var backoff = Backoff()
        var retryAt = 0.0
        var lastPoll = 0.0
        var waiting = false

        while !stopped {
            if !polling && (tree == nil || tree!.rootGone) {
                tree = nil
                guard exists(source.root) else {
                    // Not an error: there is nothing to send yet. The first
                    // time, a full pass still says the channel is up.
                    if !waiting {
                        options.progress("channel \(index): '\(source.root)' is not there yet; it will be sent when it is")
                        waiting = true
                        _ = transfer(.full, reportEmpty: true)
                    }
                    pause(0.5)
                    continue
                }
                waiting = false
                plan.sourceIsFolder = isFolder(source.root)
                do {
                    let watched = plan.sourceIsFolder
                        ? try WatchTree(root: source.root, recursive: channel.recursive)
                        : try WatchTree(root: parent(of: source.root), recursive: false,
                                        only: String(source.root.split(separator: "/").last ?? ""))
                    try watched.start()
                    tree = watched
                } catch {
                    self.error("\(error); polling every \(channel.pollInterval) s instead")
                    polling = true
                }
                needsFullPass = true
                pending.removeAll()
                coalescer.reset()
            }

            let now = monotonic()
            if let watched = tree {
                var wait = 0.2
                if let deadline = coalescer.deadline { wait = min(wait, max(0, deadline - now)) }
                if retryAt > now { wait = min(wait, retryAt - now) }
                do {
                    let changes = try watched.read(timeout: wait, deletions: channel.delete)
                    if changes.needsFullPass { needsFullPass = true }
                    if !changes.paths.isEmpty {
                        // A single-file channel's names are relative to the
                        // folder watched; rsync's are relative to the base.
                        pending.formUnion(plan.sourceIsFolder ? changes.paths : [""])
                        coalescer.note(at: monotonic())
                    }
                } catch {
                    self.error("\(error); polling every \(channel.pollInterval) s instead")
                    tree = nil
                    polling = true
                    needsFullPass = true
                }
            } else if polling {
                pause(min(0.2, max(0, lastPoll + channel.pollInterval - now)))
                if monotonic() >= lastPoll + channel.pollInterval { needsFullPass = true }
            }
            if stopped { break }

            let time = monotonic()
            if time < retryAt { continue }
            if tree != nil && !needsFullPass { prepareChangesPass() }
            if needsFullPass {
                // Everything pending is part of it; events that come during
                // it are read afterwards.
                pending.removeAll()
                coalescer.reset()
                lastPoll = time
                switch transfer(polling ? .poll : .full, reportEmpty: !polling) {
                case .done:
                    needsFullPass = false
                    backoff.succeed()
                case .connectionLost(let message), .failed(let message):
                    error(message)
                    retryAt = monotonic() + (polling ? max(channel.pollInterval, backoff.fail()) : backoff.fail())
                case .stopped:
                    break
                }
                continue
            }
            if !pending.isEmpty && coalescer.isDue(at: time) {
                let batch = pending
                pending.removeAll()
                coalescer.reset()
                // A single-file channel sends its file whole: a full pass of it.
                switch transfer(.changes, paths: plan.sourceIsFolder ? batch : nil, reportEmpty: false) {
                case .done:
                    backoff.succeed()
                case .connectionLost(let message):
                    error(message)
                    // Nothing is dropped: the batch goes back, and the
                    // reconnection begins with a full pass.
                    pending.formUnion(batch)
                    coalescer.note(at: monotonic())
                    needsFullPass = true
                    retryAt = monotonic() + backoff.fail()
                case .failed(let message):
                    error(message)
                    pending.formUnion(batch)
                    coalescer.note(at: monotonic())
                    retryAt = monotonic() + backoff.fail()
                case .stopped:
                    break
                }
            }
        }
        endChangesPass()
    }
}

func exists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

func isFolder(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}

func parent(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let folder = String(path[..<slash])
    return folder.isEmpty ? "/" : folder
}
