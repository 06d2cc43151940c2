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
        var waiting = false

        while !stopped {
            if !polling && (tree == nil || tree!.rootGone) {
                tree = nil
                // A full pass never runs beside changes passes.
                waitForFlights()
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
                    endChangesPass()  // the rsyncs started ahead serve no poll
                }
                needsFullPass = true
                pending.removeAll()
                coalescer.reset()
            }

            if let watched = tree {
                waitReadable([watched.inotify.fd, stop.fd, landed.fd], timeout: waitTime)
                do {
                    let changes = try watched.read(timeout: 0, deletions: channel.delete)
                    if changes.needsFullPass { needsFullPass = true }
                    if !changes.paths.isEmpty {
                        // A single-file channel's names are relative to the
                        // folder watched; rsync's are relative to the base.
                        changed(plan.sourceIsFolder ? changes.paths : [""])
                    }
                } catch {
                    self.error("\(error); polling every \(channel.pollInterval) s instead")
                    tree = nil
                    polling = true
                    endChangesPass()  // the rsyncs started ahead serve no poll
                    needsFullPass = true
                }
            } else if polling {
                let due = max(0, lastFullPass + channel.pollInterval - monotonic())
                waitReadable([stop.fd, landed.fd], timeout: min(waitTime ?? .infinity, due))
                if monotonic() >= lastFullPass + channel.pollInterval { needsFullPass = true }
            }
            if stopped { break }
            step(pass: polling ? .poll : .full, warmUp: tree != nil, retryFloor: polling ? channel.pollInterval : 0)
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
