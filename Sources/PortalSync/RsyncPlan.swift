import PortalModel

/// One side of a channel read with rsync's trailing-slash rule, as Portal Gun
/// documents it: `src/` means the contents of src (they land in the other
/// side's folder), `src` means the folder itself (it lands as a folder named
/// src inside the other side's folder).
public struct SourcePath: Equatable, Sendable {
    /// The path as the spec has it.
    public var path: String
    /// The folder that is watched: the path without its trailing slash.
    public var root: String
    /// What `--files-from` names are relative to (ends with `/`).
    public var base: String
    /// The first component of every `--files-from` name: empty for the
    /// contents form, the folder's own name for the folder form.
    public var prefix: String

    public init(_ path: String) {
        self.path = path
        var root = path
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        if path.hasSuffix("/") || root == "/" {
            base = root == "/" ? "/" : root + "/"
            prefix = ""
        } else {
            // A remote path without a slash (`results`) is in the home folder: `./`.
            if let slash = root.lastIndex(of: "/") {
                base = String(root[..<slash]) + "/"
                prefix = String(root[root.index(after: slash)...])
            } else {
                base = "./"
                prefix = root
            }
        }
    }

    /// True for the contents form (`src/`).
    public var isContents: Bool { prefix.isEmpty }

    /// A path relative to `root` as a `--files-from` name (relative to `base`).
    public func name(_ relative: String) -> String {
        if prefix.isEmpty { return relative.isEmpty ? "." : relative }
        return relative.isEmpty ? prefix : prefix + "/" + relative
    }
}

/// A destination is always a folder: what the source names goes inside it.
public func destinationFolder(_ path: String) -> String {
    path.hasSuffix("/") ? path : path + "/"
}

/// `[user@]host:path` as rsync takes a remote path (IPv6 hosts in brackets).
public func remoteSpec(user: String, host: String, path: String) -> String {
    let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    return "\(user)@\(h):\(path)"
}

/// Every rsync argument of a channel's transfers.
public struct RsyncPlan: Equatable, Sendable {
    public var channel: PortalSpec.Channel
    /// `user@host`, or `user@[v6]`.
    public var user: String
    public var host: String
    /// The program rsync runs as its remote shell (`-e`): Portal Gun's ssh
    /// wrapper with the master connection's options.
    public var remoteShell: String
    /// `--timeout`: seconds without any I/O before rsync gives up; nil for
    /// an rsync started ahead of its changes (see `ChannelRunner`), which
    /// may wait for them longer than that.
    public var ioTimeout: Int? = 60
    /// False when the source is a single file rather than a folder.
    public var sourceIsFolder = true

    public init(channel: PortalSpec.Channel, user: String, host: String, remoteShell: String) {
        self.channel = channel
        self.user = user
        self.host = host
        self.remoteShell = remoteShell
    }

    /// The side that sends: the local path for `out`, the remote one for `in`.
    public var source: SourcePath {
        SourcePath(channel.direction == .out ? channel.localPath : channel.remotePath)
    }

    func remote(_ path: String) -> String { remoteSpec(user: user, host: host, path: path) }

    /// Options common to every transfer. Files are written to a temporary
    /// name and renamed when complete (rsync's default; never --inplace), so
    /// that no file is ever seen half-written under its real name.
    /// `--modify-window=-1` compares modification times to the nanosecond:
    /// rsync's default, to the second, takes a same-size rewrite within the
    /// same second for no change, and would lose it. `-s` (--secluded-args,
    /// formerly --protect-args, rsync 3.0 and later) sends the paths inside
    /// rsync's protocol, never through the remote shell, whatever the rsync
    /// version and RSYNC_OLD_ARGS say: a remote path is a literal name.
    public var commonOptions: [String] {
        [channel.recursive ? "-r" : "-d", "-s", "--links", "--perms", "--times", "--modify-window=-1"]
            + (ioTimeout.map { ["--timeout=\($0)"] } ?? [])
            + ["-e", remoteShell, "--out-format=%i %l %n"]
    }

    /// A full pass: everything the source holds (rsync skips what is the same).
    public var fullArguments: [String] {
        let destination = destinationFolder(channel.direction == .out ? channel.remotePath : channel.localPath)
        var arguments = commonOptions
        if channel.delete { arguments.append("--delete") }
        // A source that is not there yet (a results folder the job has not
        // made) is no error: there is nothing to copy.
        arguments.append("--ignore-missing-args")
        // The folder form, non-recursive, is the folder's files into
        // DEST/NAME/ (rsync -d would make the folder and stop there).
        let source = self.source
        var from = source.path, to = destination
        if sourceIsFolder && !channel.recursive && !source.isContents {
            from = source.root + "/"
            to = destination + source.prefix + "/"
        }
        switch channel.direction {
        case .out: arguments += [from, remote(to)]
        case .in: arguments += [remote(from), to]
        }
        return arguments
    }

    /// A pass over the names listed (NUL-separated) in `listFile` (`-`:
    /// stdin), relative to the source's base: only what changed. A listed name that no longer
    /// exists is deleted on the other side only when the channel says
    /// `"delete": true`; otherwise it is skipped.
    public func changesArguments(listFile: String) -> [String] {
        let source = self.source
        let destination = destinationFolder(channel.direction == .out ? channel.remotePath : channel.localPath)
        // The events say these changed: no quick check (--ignore-times).
        var arguments = commonOptions + ["--files-from=\(listFile)", "--from0", "--ignore-times"]
        if channel.delete {
            arguments += ["--delete-missing-args", "--delete"]
        } else {
            arguments.append("--ignore-missing-args")
        }
        switch channel.direction {
        case .out: arguments += [source.base, remote(destination)]
        case .in: arguments += [remote(source.base), destination]
        }
        return arguments
    }
}

/// The `--files-from` list: names relative to the source's base, sorted,
/// each ended by NUL (`--from0`), so that any name, newlines included, passes.
public func filesFromList(_ relativePaths: Set<String>, source: SourcePath) -> [UInt8] {
    var bytes: [UInt8] = []
    for path in relativePaths.sorted() {
        bytes += Array(source.name(path).utf8)
        bytes.append(0)
    }
    return bytes
}
