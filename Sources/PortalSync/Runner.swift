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
/// reporting, running rsync, and the changes waiting to be sent.
///
/// A changes pass is not waited for: once its names are handed to an rsync
/// started ahead (see below), the runner goes back to its events while a
/// thread of the transfer's own reads rsync's output and end (rsync takes
/// tens of milliseconds to end after the last file is in place; the next
/// change need not wait for that). Up to `maximumInFlight` transfers run at
/// once, and a name is never in two of them (`NamesInFlight`): the later one
/// could land first and leave the older content. A full pass waits for them
/// all to end first.
///
/// An idle channel waits on descriptors only (inotify's, the remote watch's
/// pipes, `stop` and `landed`), with no timeout unless a burst or a retry is
/// due: it wakes for nothing.
class ChannelRunner: @unchecked Sendable {
    let index: Int
    let channel: PortalSpec.Channel
    var plan: RsyncPlan
    let rsync: String
    let transport: SSHTransport
    let options: SyncOptions
    let report: @Sendable (SyncEvent) -> Void
    /// Readable once the session stops (`SyncSession`).
    let stop: Wakeup
    /// Readable when a transfer in flight ended.
    let landed: Wakeup
    /// The last error reported, so that a retry that fails the same way is
    /// said once, not every few seconds.
    private var lastError: String?
    /// False once a pass of `--once` failed.
    var succeeded = true

    // The changes waiting, on the runner's thread.
    var pending = Set<String>()
    var coalescer: Coalescer
    var needsFullPass = true
    var backoff = Backoff()
    var retryAt = 0.0
    /// When the last full pass (or poll) started.
    var lastFullPass = 0.0

    init(index: Int, channel: PortalSpec.Channel, rsync: String, transport: SSHTransport, options: SyncOptions,
         stop: Wakeup, report: @escaping @Sendable (SyncEvent) -> Void) throws {
        self.index = index
        self.channel = channel
        self.rsync = rsync
        self.transport = transport
        self.options = options
        self.stop = stop
        self.report = report
        landed = try Wakeup()
        coalescer = Coalescer(quiet: options.quiet, cap: options.cap)
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
        while !stopped, monotonic() < end { waitReadable([stop.fd], timeout: end - monotonic()) }
    }

    /// rsync's complaint that the source's own folder does not exist, and
    /// nothing else.
    static func sourceMissing(_ stderr: String, root: String) -> Bool {
        let problems = stderr.split(separator: "\n").filter { !$0.hasPrefix("rsync error:") }
        return !problems.isEmpty && problems.allSatisfy {
            $0.contains("change_dir \"\(root)\" failed: No such file or directory")
        }
    }

    // MARK: The changes, sent as they are due

    /// Names changed (relative to the source's root): sent once the burst is over.
    func changed(_ names: Set<String>) {
        pending.formUnion(names)
        coalescer.note(at: monotonic())
    }

    /// How long the runner may wait for events: until the burst is due or a
    /// retry, else (nil) until something happens.
    var waitTime: Double? {
        let now = monotonic()
        if needsFullPass { return max(0, retryAt - now) }
        var wait: Double?
        if retryAt > now { wait = retryAt - now }
        if let deadline = coalescer.deadline, !blocked {
            // Names due after a failure wait for the retry, not in a spin.
            wait = min(wait ?? .infinity, max(0, max(deadline, retryAt) - now))
        }
        return wait
    }

    /// True when what is due must wait for a transfer in flight to end
    /// (`landed` wakes the runner then).
    private var blocked = false

    /// What follows events: the transfers that ended taken in; a full pass
    /// when one is needed (`pass`: `.full`, or `.poll` for a channel that
    /// polls), once those in flight ended; else the names due sent, on the
    /// rsyncs started ahead (`warmUp`: keep them started).
    func step(pass: Transfer.Pass, warmUp: Bool, retryFloor: Double = 0) {
        land()
        let now = monotonic()
        if now < retryAt || stopped { return }
        if needsFullPass {
            waitForFlights()
            if stopped { return }
            // Everything pending is part of it; events that come during it
            // are read afterwards.
            pending.removeAll()
            coalescer.reset()
            blocked = false
            lastFullPass = now
            switch transfer(pass, reportEmpty: pass == .full) {
            case .done:
                needsFullPass = false
                backoff.succeed()
                if warmUp { prepareChangesPass() }
            case .connectionLost(let message), .failed(let message):
                error(message)
                retryAt = monotonic() + max(retryFloor, backoff.fail())
            case .stopped:
                break
            }
            return
        }
        if warmUp { prepareChangesPass() }
        guard !pending.isEmpty, coalescer.isDue(at: now) else { return }
        let (ready, waiting) = flights.count < Self.maximumInFlight ? inFlight.split(pending) : ([], pending)
        blocked = ready.isEmpty
        if ready.isEmpty { return }
        pending = waiting
        if pending.isEmpty { coalescer.reset() }
        if let outcome = launch(ready) { settle(outcome, batch: ready) }
    }

    /// A transfer's outcome taken in: on failure its names wait again (and,
    /// the connection lost, a full pass follows), after a backoff.
    private func settle(_ outcome: TransferOutcome, batch: Set<String>) {
        switch outcome {
        case .done:
            backoff.succeed()
        case .connectionLost(let message), .failed(let message):
            error(message)
            // Nothing is dropped: the batch goes back, and after a lost
            // connection the reconnection begins with a full pass.
            if case .connectionLost = outcome { needsFullPass = true }
            changed(batch)
            retryAt = max(retryAt, monotonic() + backoff.fail())
        case .stopped:
            break
        }
    }

    // MARK: Transfers in flight

    static let maximumInFlight = 3

    private struct Flight {
        var pass: Transfer.Pass
        var batch: Set<String>
        var started: Date
        var start: Double
    }

    private var flights: [Int: Flight] = [:]
    private var inFlight = NamesInFlight()
    private var nextFlight = 0
    /// Filled by the transfers' threads: a flight's id, rsync's result (nil:
    /// stopped), when it ended.
    private let landingLock = Lock()
    private var landings: [(Int, (status: Int32, out: [UInt8], err: [UInt8])?, Double)] = []

    /// Starts sending `batch`; nil once it runs (its end is taken in by
    /// `land`), else why it could not start.
    private func launch(_ batch: Set<String>) -> TransferOutcome? {
        let child: Child
        do {
            // A single-file channel (its batch: [""]) sends its file whole.
            let (begun, started, start) = try begin(.changes, paths: plan.sourceIsFolder ? batch : nil)
            child = begun
            flights[nextFlight] = Flight(pass: .changes, batch: batch, started: started, start: start)
        } catch {
            return .failed("\(error)")
        }
        let id = nextFlight
        nextFlight += 1
        inFlight.add(batch)
        detachThread(stackSize: 256 << 10) { [self] in
            let result = child.collect(stop: { self.stopped })
            let end = monotonic()
            landingLock.withLock { landings.append((id, result, end)) }
            landed.post()
        }
        return nil
    }

    /// Takes in the transfers that ended: their JSON lines and errors.
    func land() {
        landed.clear()
        let ended = landingLock.withLock {
            defer { landings.removeAll() }
            return landings
        }
        for (id, result, end) in ended {
            guard let flight = flights.removeValue(forKey: id) else { continue }
            inFlight.remove(flight.batch)
            blocked = false
            let outcome = finish(result, pass: flight.pass, started: flight.started, start: flight.start, end: end,
                                 reportEmpty: false)
            settle(outcome, batch: flight.batch)
        }
    }

    /// Waits for every transfer in flight to end (they end early when the
    /// session stops), and takes them in.
    func waitForFlights() {
        land()
        while !flights.isEmpty {
            waitReadable([landed.fd], timeout: nil)
            land()
        }
    }

    // MARK: Rsyncs started ahead of the changes
    //
    // Most of a small transfer's time is spent before any file moves: rsync
    // and ssh starting, the instance starting rsync there. So a channel keeps
    // the next changes passes (`warmCount`) started and waiting for their
    // list on stdin (`--files-from=-`): when a burst is over, the names are
    // written to the oldest and it sends at once. Its replacement is started
    // on the runner's next wake-up (the transfer's end, most often), not at
    // once: starting it beside the transfer slowed the transfer. Without
    // `--timeout`, as they may wait for hours; a dead connection ends them
    // through ssh's keepalives, and then new ones are started (after a
    // backoff if they died young).

    /// The waiting rsyncs, oldest first, with when each started.
    private var warm: [(child: Child, started: Double)] = []
    private var warmBackoff = Backoff(initial: 1, maximum: 30)
    private var warmRetryAt = 0.0
    /// How many wait: two, so that at ten changes a second the one taken
    /// has had two changes' time to start (under load, one change's time is
    /// not enough).
    static let warmCount = 2

    /// Starts the next changes pass ahead, unless one waits already (or
    /// recently died young).
    func prepareChangesPass() {
        let now = monotonic()
        // The ones that ended are dropped; dead young, they delay the next.
        warm.removeAll { entry in
            guard entry.child.poll() != nil else { return false }
            if now - entry.started < 5 { warmRetryAt = now + warmBackoff.fail() }
            return true
        }
        guard !options.once, !stopped, now >= warmRetryAt else { return }
        var ahead = plan
        ahead.ioTimeout = nil
        while warm.count < Self.warmCount, let child = try? Child([rsync] + ahead.changesArguments(listFile: "-"), stdinPipe: true) {
            warm.append((child, monotonic()))
        }
    }

    /// Ends the waiting rsyncs (an empty list, and each ends having sent
    /// nothing), and waits for the transfers in flight.
    func endChangesPass() {
        waitForFlights()
        for (child, _) in warm { child.sendInput([]) }
        let end = monotonic() + 1
        for (child, _) in warm {
            while !child.outputClosed && monotonic() < end { _ = child.pump(timeout: 0.05) }
            child.terminate(grace: 0.5)
        }
        warm.removeAll()
    }

    /// The oldest waiting rsync still alive (taken), else nil.
    private func takeWarm() -> Child? {
        while !warm.isEmpty {
            let (child, started) = warm.removeFirst()
            if child.poll() != nil { continue }
            if monotonic() - started > 5 { warmBackoff.succeed() }
            return child
        }
        return nil
    }

    /// Runs one rsync to its end: a full pass, or the names in `paths`
    /// (relative to the source's root) only. Reports the transfer when
    /// anything moved, or always when `reportEmpty`.
    func transfer(_ pass: Transfer.Pass, paths: Set<String>? = nil, reportEmpty: Bool) -> TransferOutcome {
        do {
            let (child, started, start) = try begin(pass, paths: paths)
            let result = child.collect(stop: { self.stopped })
            return finish(result, pass: pass, started: started, start: start, end: monotonic(), reportEmpty: reportEmpty)
        } catch {
            return .failed("\(error)")
        }
    }

    /// Starts one rsync (the waiting one for a list of names, when there is
    /// one): the child, and when it started (wall clock, monotonic).
    private func begin(_ pass: Transfer.Pass, paths: Set<String>?) throws -> (Child, Date, Double) {
        guard let paths else { return (try Child([rsync] + plan.fullArguments), Date(), monotonic()) }
        let taken = takeWarm()
        let child = try taken ?? Child([rsync] + plan.changesArguments(listFile: "-"), stdinPipe: true)
        let started = (Date(), monotonic())
        child.sendInput(filesFromList(paths, source: plan.source))
        return (child, started.0, started.1)
    }

    /// What one rsync's end means; the transfer reported when anything
    /// moved, or always when `reportEmpty`.
    private func finish(_ result: (status: Int32, out: [UInt8], err: [UInt8])?, pass: Transfer.Pass, started: Date,
                        start: Double, end: Double, reportEmpty: Bool) -> TransferOutcome {
        guard let result else { return .stopped }
        let milliseconds = Int(((end - start) * 1000).rounded())
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
