import PortalBase
import PortalModel
import PortalSSH

/// How a sync session runs.
public struct SyncOptions: Sendable {
    /// One pass over every channel, then return.
    public var once = false
    /// Poll inbound channels even where the instance has inotifywait.
    public var pollInbound = false
    /// Seconds of quiet that end a burst of local changes, and the longest a
    /// burst is held (see `Coalescer`).
    public var quiet = 0.02
    public var cap = 0.25
    /// Seconds to wait for the instance's sshd at start.
    public var connectTimeout = 60.0
    public var knownHosts: KnownHosts = .default
    /// The instance's console text, for checking its host key on first contact.
    public var consoleOutput: @Sendable () -> String? = { nil }
    /// Messages for stderr.
    public var progress: @Sendable (String) -> Void = { _ in }
    /// Asked often: true ends the session (default: Ctrl-C or SIGTERM, or
    /// stdout that can no longer be written).
    public var shouldStop: @Sendable () -> Bool = { Interruption.requested || StandardStreams.outputFailure != nil }

    public init() {}
}

/// What the start-up check found on the instance.
public struct RemoteCapabilities: Equatable, Sendable {
    public var rsync: Bool
    public var inotifywait: Bool
}

/// A sync session: every channel of a portal document with `"instance"`,
/// until stopped (or one pass each with `once`).
///
/// At start, before any transfer: rsync and ssh on this machine (else exit
/// 1), the instance's host key in Portal Gun's known_hosts (checked as
/// `portal ssh` does on first contact), the master connection, and on the
/// instance rsync (else exit 69), inotifywait (optional) and the outbound
/// channels' folders (made when missing).
public final class SyncSession: @unchecked Sendable {
    public let document: PortalDocument
    public let options: SyncOptions
    public let channels: [PortalSpec.Channel]
    public private(set) var transport: SSHTransport?
    public private(set) var capabilities: RemoteCapabilities?
    private let rsync: String
    private let ssh: String

    public init(document: PortalDocument, options: SyncOptions = SyncOptions()) throws {
        self.document = document
        self.options = options
        channels = document.spec.channels
        guard !channels.isEmpty else {
            throw Failure("portal '\(document.name)' has no channels", status: .dataError,
                          hints: ["add some to its spec: \"channels\": [{\"direction\": \"out\", \"local_path\": \"./src/\", "
                                  + "\"remote_path\": \"/home/ubuntu/src\"}]"])
        }
        guard let rsync = findProgram("rsync") else {
            throw Failure("rsync is not installed on this machine", hints: ["install it: sudo apt-get install rsync (macOS: brew install rsync)"])
        }
        guard let ssh = findProgram("ssh") else {
            throw Failure("ssh is not installed on this machine", hints: ["install OpenSSH's client: sudo apt-get install openssh-client"])
        }
        try SyncSession.checkVersion(of: rsync)
        self.rsync = rsync
        self.ssh = ssh
    }

    /// Refuses an rsync older than 3.0 (macOS's own is 2.6.9): it has no
    /// `-s` (--protect-args), so a remote path would reach the remote shell,
    /// where `$(…)` in it runs.
    static func checkVersion(of rsync: String) throws {
        let output = (try? Child.run([rsync, "--version"], stop: { false })).flatMap { $0 }
        let text = String(decoding: output?.out ?? [], as: UTF8.self)
        let firstLine = text.split(separator: "\n").first.map(String.init) ?? ""
        if let version = rsyncVersion(firstLine), !version.lexicographicallyPrecedes([3, 0]) { return }
        let found = rsyncVersion(firstLine).map { "rsync " + $0.map(String.init).joined(separator: ".") }
            ?? "'\(abbreviated(firstLine, limit: 60))'"
        throw Failure("\(found) ('\(rsync)') cannot keep remote paths from the remote shell: Portal Gun needs rsync 3.0 or later "
                      + "(for -s, --protect-args)",
                      hints: ["install a newer rsync: brew install rsync (macOS), sudo apt-get install rsync"])
    }

    /// [3, 2, 7] from `rsync  version 3.2.7  protocol version 31`, else nil.
    static func rsyncVersion(_ line: String) -> [Int]? {
        let words = line.split(separator: " ")
        guard words.first == "rsync", let index = words.firstIndex(of: "version"), index + 1 < words.count else { return nil }
        let parts = words[index + 1].split(separator: ".").map { Int($0.prefix { $0.isNumber }) }
        guard parts.count >= 2, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.compactMap { $0 }
    }

    /// Connects, checks, and runs every channel, each on a thread of its own,
    /// reporting each transfer and error; returns whether every pass
    /// succeeded (what `--once` exits with). Throws the start-up failures and,
    /// when stopped by Ctrl-C, the interruption (exit 130) after ending the
    /// transfers in flight and closing the master connection.
    public func run(report: @escaping @Sendable (SyncEvent) -> Void) throws -> Bool {
        // Readable once the session stops: what every wait of the channels
        // (and the relay's) also waits on. One thread asks `shouldStop` four
        // times a second (the channels themselves wake for nothing), and a
        // report that finds stdout gone says so at once.
        let stop = try Wakeup()
        let shouldStop = options.shouldStop
        detachThread(stackSize: 64 << 10) {
            while !shouldStop() && !waitReadable([stop.fd], timeout: 0.25) {}
            stop.post()
        }
        defer { stop.post() }
        let lock = Lock()
        let serialized: @Sendable (SyncEvent) -> Void = { event in
            lock.lock()
            defer { lock.unlock() }
            report(event)
            if shouldStop() { stop.post() }
        }
        let target = try SSHTarget(document: document)
        try ensureKnownHost(target, options: ConnectOptions(timeout: options.connectTimeout, knownHosts: options.knownHosts,
                                                            useAgent: true),
                            consoleOutput: options.consoleOutput, progress: options.progress)
        let transport = try SSHTransport(target: target, knownHosts: options.knownHosts, ssh: ssh)
        self.transport = transport
        defer { transport.close() }
        let capabilities = try check(transport)
        self.capabilities = capabilities
        // The relay (see Relay): transfers and remote watches without a
        // remote shell each. Not for --once, whose few transfers would wait
        // for it; without python3 or forwarding on the instance, each
        // transfer runs a remote command, as before.
        let relay = Relay(transport: transport)
        let relayDone = DispatchGroup()
        defer {
            relay.close()
            relayDone.wait()
        }
        if !options.once {
            if let why = relay.start(timeout: options.connectTimeout, stop: options.shouldStop) {
                options.progress("no relay on the instance (\(why)): each transfer starts a remote command")
            } else {
                transport.relayShell = relay.shim
                let progress = options.progress
                relayDone.enter()
                detachThread(stackSize: 1 << 20) {
                    relay.watch(stop: { shouldStop() || relay.closed }, wake: stop.fd, progress: progress)
                    relayDone.leave()
                }
            }
        }
        for channel in channels where channel.direction == .in {
            let folder = destinationFolder(channel.localPath)
            do {
                try makeFolders(folder)
            } catch {
                throw Failure("'\(folder)': cannot create the folder for an inbound channel: \(error.message)")
            }
        }

        let runners: [ChannelRunner] = try channels.enumerated().map { index, channel in
            switch channel.direction {
            case .out:
                return try OutboundRunner(index: index, channel: channel, rsync: rsync, transport: transport,
                                          options: options, stop: stop, report: serialized)
            case .in:
                let runner = try InboundRunner(index: index, channel: channel, rsync: rsync, transport: transport,
                                               options: options, stop: stop, report: serialized)
                runner.remoteWatch = capabilities.inotifywait
                return runner
            }
        }
        let group = DispatchGroup()
        for runner in runners {
            group.enter()
            detachThread(stackSize: 1 << 20) {
                runner.run()
                group.leave()
            }
        }
        group.wait()
        if options.shouldStop() && !options.once {
            throw Failure("interrupted", status: .interrupted)
        }
        return runners.allSatisfy(\.succeeded)
    }

    /// The start-up check, over the master connection (which it opens):
    /// rsync and inotifywait on the instance, the outbound folders made, and
    /// the inbound source folders too (a folder the job has not written yet is
    /// an empty folder to sync, not an error).
    /// Retries an unreachable instance with backoff for `connectTimeout`.
    func check(_ transport: SSHTransport) throws -> RemoteCapabilities {
        let outbound = channels.filter { $0.direction == .out }.map { destinationFolder($0.remotePath) }
        let inbound = channels.filter { $0.direction == .in && ($0.recursive || $0.remotePath.hasSuffix("/")) }
            .map { SourcePath($0.remotePath).root }
        let folders = outbound + inbound
        var line = "command -v rsync >/dev/null 2>&1 || exit 3"
        if !folders.isEmpty { line += "; mkdir -p -- " + Shell.join(folders) + " || exit 4" }
        line += "; if command -v inotifywait >/dev/null 2>&1; then echo inotifywait; fi; echo ok"
        var backoff = Backoff(initial: 0.5, maximum: 5)
        let end = monotonic() + options.connectTimeout
        while true {
            guard let result = try Child.run(transport.command(line), stop: options.shouldStop) else {
                throw Failure("interrupted", status: .interrupted)
            }
            let out = String(decoding: result.out, as: UTF8.self)
            let err = String(decoding: result.err, as: UTF8.self).trimming()
            let destination = "\(transport.target.destination) port \(transport.target.port)"
            switch result.status {
            case 0 where out.contains("ok"):
                return RemoteCapabilities(rsync: true, inotifywait: out.contains("inotifywait"))
            case 3:
                throw Failure("rsync is not installed on the instance (\(destination))", status: .unavailable,
                              hints: ["install it there: sudo apt-get install rsync, or add that to spot_instance.setup_commands"])
            case 4:
                throw Failure("cannot create the outbound channels' folders on the instance: \(err)", status: .failure)
            case 255 where err.contains("Permission denied") || err.contains("Host key verification failed")
                || err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"):
                throw Failure("ssh to \(destination) refused: \(err.split(separator: "\n").last ?? "")", status: .permission)
            default:
                let message = SSHTransport.message(status: result.status, stderr: result.err, program: "ssh")
                if monotonic() + backoff.delay >= end || result.status != 255 {
                    throw Failure("cannot reach the instance (\(destination)): \(message)", status: .unavailable)
                }
                options.progress("cannot reach the instance yet (\(message)); trying again")
                let wait = backoff.fail()
                let stop = monotonic() + wait
                while monotonic() < stop {
                    if options.shouldStop() { throw Failure("interrupted", status: .interrupted) }
                    usleep(50_000)
                }
            }
        }
    }
}
