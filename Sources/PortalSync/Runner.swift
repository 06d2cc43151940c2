import PortalBase
import PortalModel

/// What one rsync run came to.
enum TransferOutcome {
    case done(Transfer)
    /// The connection (or ssh) failed: retry later, with a full pass.
    case connectionLost(String)
    /// rsync failed for another reason (a permission, a full disk).
    case failed(String)
    case stopped
}

/// What every channel runner shares: its plan, the session's transport,
/// reporting, and running rsync.
class ChannelRunner: @unchecked Sendable {
    let index: Int
    let channel: PortalSpec.Channel
    var plan: RsyncPlan
    let rsync: String
    let transport: SSHTransport
    let options: SyncOptions
    let report: @Sendable (SyncEvent) -> Void
    /// The last error reported, so that a retry that fails the same way is
    /// said once, not every few seconds.
    private var lastError: String?
    /// False once a pass of `--once` failed.
    var succeeded = true

    init(index: Int, channel: PortalSpec.Channel, rsync: String, transport: SSHTransport, options: SyncOptions,
         report: @escaping @Sendable (SyncEvent) -> Void) {
        self.index = index
        self.channel = channel
        self.rsync = rsync
        self.transport = transport
        self.options = options
        self.report = report
        plan = RsyncPlan(channel: channel, user: transport.target.user, host: transport.target.host,
                         remoteShell: transport.transferShell)
    }

    var stopped: Bool { options.shouldStop() }

    func run() {}

    /// `--once`: one full pass, its failure reported.
    func once() {
        switch transfer(.full, reportEmpty: true) {
        case .done: break
        case .connectionLost(let message), .failed(let message): error(message)
        case .stopped: succeeded = false
        }
    }

    func error(_ message: String, repeatable: Bool = false) {
        succeeded = false
        if !repeatable && message == lastError { return }
        lastError = message
        report(.error(channel: index, direction: channel.direction, message: message))
    }

    func recovered() { lastError = nil }

    /// Sleeps up to `seconds`, waking early when the session stops.
    func pause(_ seconds: Double) {
        let end = monotonic() + seconds
        while !stopped, monotonic() < end { usleep(UInt32(min(0.1, max(0.001, end - monotonic())) * 1e6)) }
    }

    /// rsync's complaint that the source's own folder does not exist, and
    /// nothing else.
    static func sourceMissing(_ stderr: String, root: String) -> Bool {
        let problems = stderr.split(separator: "\n").filter { !$0.hasPrefix("rsync error:") }
        return !problems.isEmpty && problems.allSatisfy {
            $0.contains("change_dir \"\(root)\" failed: No such file or directory")
        }
    }

    // MARK: An rsync started ahead of the changes
    //
    // Most of a small transfer's time is spent before any file moves: rsync
    // and ssh starting, the instance starting a shell (its login files
    // included) and rsync there. So an outbound channel keeps the next
    // changes pass started and waiting for its list on stdin
    // (`--files-from=-`): when a burst is over, the names are written to it
    // and it sends at once. Without `--timeout`, as it may wait for hours; a
    // dead connection ends it through ssh's keepalives, and then a new one is
    // started (after a backoff if it died young).

    /// The waiting rsync, if any.
    private var warm: Child?
    private var warmStarted = 0.0
    private var warmBackoff = Backoff(initial: 1, maximum: 30)
    private var warmRetryAt = 0.0

    /// Starts the next changes pass ahead, unless one waits already (or
    /// recently died young).
    func prepareChangesPass() {
        if let child = warm, child.poll() != nil {
            warm = nil
            if monotonic() - warmStarted < 5 { warmRetryAt = monotonic() + warmBackoff.fail() }
        }
        guard warm == nil, !options.once, !stopped, monotonic() >= warmRetryAt else { return }
        var ahead = plan
        ahead.ioTimeout = nil
        warm = try? Child([rsync] + ahead.changesArguments(listFile: "-"), stdinPipe: true)
        warmStarted = monotonic()
    }

    /// Ends the waiting rsync: an empty list, and it ends having sent nothing.
    func endChangesPass() {
        guard let child = warm else { return }
        warm = nil
        child.sendInput([])
        let end = monotonic() + 1
        while !child.outputClosed && monotonic() < end { _ = child.pump(timeout: 0.05) }
        child.terminate(grace: 0.5)
    }

    /// The waiting rsync if it is still alive (taken), else nil.
    private func takeWarm() -> Child? {
        guard let child = warm else { return nil }
        warm = nil
        if child.poll() != nil { return nil }
        if monotonic() - warmStarted > 5 { warmBackoff.succeed() }
        return child
    }

    /// Runs one rsync: a full pass, or the names in `paths` (relative to the
    /// source's root) only. Reports the transfer when anything moved, or
    /// always when `reportEmpty`.
    func transfer(_ pass: Transfer.Pass, paths: Set<String>? = nil, reportEmpty: Bool) -> TransferOutcome {
        let child: Child
        var started = Date()
        var start = monotonic()
        do {
            if let paths {
                child = try takeWarm() ?? Child([rsync] + plan.changesArguments(listFile: "-"), stdinPipe: true)
                started = Date()
                start = monotonic()
                child.sendInput(filesFromList(paths, source: plan.source))
            } else {
                child = try Child([rsync] + plan.fullArguments)
            }
        } catch {
            return .failed("\(error)")
        }
        let result = child.collect(stop: { self.stopped })
        guard let result else { return .stopped }
        let milliseconds = Int(((monotonic() - start) * 1000).rounded())
        // A source folder that is not there (yet) holds nothing to send: for
        // "src/" rsync says change_dir failed, for "src" --ignore-missing-args
        // already made it no error. 24: some source files vanished before they
        // could be sent: they are gone, nothing is lost.
        let missing = result.status == 23 && Self.sourceMissing(String(decoding: result.err, as: UTF8.self),
                                                                root: plan.source.root)
        guard result.status == 0 || result.status == 24 || missing else {
            let message = SSHTransport.message(status: result.status, stderr: result.err, program: "rsync")
            // 255 and 12: ssh or the connection failed; 10, 30, 35: socket
            // I/O, timeouts; 5: the remote rsync could not be started.
            return [255, 12, 10, 30, 35, 5].contains(result.status) ? .connectionLost(message) : .failed(message)
        }
        let summary = missing ? RsyncSummary() : RsyncSummary(output: String(decoding: result.out, as: UTF8.self))
        let transfer = Transfer(channel: index, direction: channel.direction, files: summary.files, bytes: summary.bytes,
                                deleted: summary.deleted, started: started, milliseconds: milliseconds, pass: pass,
                                paths: summary.paths)
        if reportEmpty || summary.files > 0 || summary.deleted > 0 { report(.transfer(transfer)) }
        recovered()
        return .done(transfer)
    }
}
