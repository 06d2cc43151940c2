// Over 400 lines, kept whole: `portal watch` is one loop (watch, final pass,
// reopen) over one watcher's events, and the channels' thread it runs beside.
import PortalAWS
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH
import PortalSync
import RemoteCommands

/// `portal watch`: follows an open portal's watcher over SSH, makes the final
/// inbound pass when a notice comes, says how the instance ended, and reopens
/// the portal when its spec asks (`reopen`).
public final class PortalWatch: @unchecked Sendable {
    public struct Options: Sendable {
        /// Seconds between two reads of the watcher's events.
        public var interval = 1.0
        /// Run the channels while watching (and resume them after a reopen).
        public var channels = true
        /// Reopen after an interruption; nil: as the spec says.
        public var reopen: Bool?
        /// The pause after a round of failed launches, doubled each round, at most `longestBackoff`.
        public var backoff = 5.0
        public var longestBackoff = 60.0
        public var sshTimeout = 300.0
        public init() {}
    }

    let cloud: PortalCloud
    let options: Options
    let say: @Sendable (String) -> Void
    let loud: @Sendable (String) -> Void
    var document: PortalDocument

    /// - Parameters:
    ///   - say: a line of progress; `loud`: a line that must be seen (notices).
    public init(document: PortalDocument, cloud: PortalCloud, options: Options,
                say: @escaping @Sendable (String) -> Void, loud: @escaping @Sendable (String) -> Void) {
        self.document = document
        self.cloud = cloud
        self.options = options
        self.say = say
        self.loud = loud
    }

    var reopens: Bool { options.reopen ?? document.spec.spotMarket.reopen }
    var name: String { document.name }

    /// Watches until the portal ends (and is not reopened) or Ctrl-C (exit 130,
    /// the portal left as it is). Returns how the last instance ended.
    public func run() throws -> Ending? {
        guard var instance = try cloud.findInstance(portal: document.name) else {
            throw Failure("portal '\(name)' is not open", hints: ["open it with: portal open \(document.name)"])
        }
        while true {
            let ending = try watch(instance)
            loud("portal '\(name)': instance \(ending.instanceID) \(ending.summary)")
            guard ending.interruptedByAWS, reopens else { return ending }
            instance = try reopen(after: instance)
        }
    }

    // MARK: One instance

    /// Follows one instance until AWS says it is shutting down or terminated.
    func watch(_ instance: Instance) throws -> Ending {
        var located = document
        located.instance = instance
        let target = try SSHTarget(document: located)
        say("watching \(instance.id) (\(instance.type) in \(instance.zone)) over ssh to \(target.destination); Ctrl-C stops watching")
        let session = try connect(to: target, options: ConnectOptions(timeout: options.sshTimeout),
                                  consoleOutput: { [cloud] in cloud.consoleOutput(instanceID: instance.id.rawValue) },
                                  progress: say)
        let installed = try WatcherInstall(spec: document.spec, deadline: .keep).install(session: session)
        say("watcher \(installed["watcher"] ?? "?") (\(installed["manager"] ?? "?"), pid \(installed["pid"] ?? "?"))")
        if let deadline = instance.deadline {
            say("deadline \(Ending.iso(deadline)): \(humanDuration(max(0, deadline.timeIntervalSinceNow))) left")
        }
        let channels = options.channels ? ChannelThread(document: located, say: say) : nil
        channels?.start()
        defer { channels?.stop() }

        var reader = WatcherEventReader()
        // Events already there were seen by an earlier watch: skip them.
        if let old = try? session.run(WatcherInstall().eventsCommand(from: 0)), old.status == 0 {
            _ = reader.feed(old.stdout)
        }
        var notice: (event: WatcherEvent, seen: Double)?
        var finalPassDone = false
        var lastCheck = 0.0
        var sessionAlive = true
        while true {
            if Interruption.requested {
                throw Failure("stopped watching; portal '\(name)' is left as it is", status: .interrupted)
            }
            let now = monotonic()
            if sessionAlive {
                do {
                    let answer = try session.run(WatcherInstall().eventsCommand(from: reader.offset))
                    for event in reader.feed(answer.stdout) {
                        report(event)
                        if event.isFinal && notice == nil { notice = (event, now) }
                        if event.event == "hook-done", let pending = notice, !finalPassDone {
                            finalPass(located, channels: channels, since: pending.seen)
                            finalPassDone = true
                        }
                    }
                } catch {
                    sessionAlive = false
                    say("the ssh connection ended (\(error)); asking AWS about \(instance.id)")
                }
            }
            // The hook did not answer in its budget (or the instance went quiet): pass anyway.
            if let pending = notice, !finalPassDone,
                now - pending.seen > document.spec.spotMarket.interruptionHookSeconds + 10 || !sessionAlive {
                finalPass(located, channels: channels, since: pending.seen)
                finalPassDone = true
            }
            if now - lastCheck >= (notice == nil && sessionAlive ? 10 : 2) {
                lastCheck = now
                if let ending = try cloud.ending(of: instance.id.rawValue), ["shutting-down", "terminated"].contains(ending.state) {
                    return try settled(ending)
                }
            }
            if !sessionAlive && notice == nil {
                // Unreachable but running: a network blip. Keep asking AWS.
                Interruption.sleep(2)
                continue
            }
            Interruption.sleep(options.interval)
        }
    }

    /// Waits (a little) for AWS's spot request status to say why.
    func settled(_ first: Ending) throws -> Ending {
        var ending = first
        let end = monotonic() + 30
        while ending.state != "terminated" || (ending.spotStatus == "marked-for-termination"), monotonic() < end {
            Interruption.sleep(1)
            try Interruption.check()
            ending = try cloud.ending(of: first.instanceID) ?? ending
        }
        return ending
    }

    func report(_ event: WatcherEvent) { PortalWatch.report(event, portal: document.name, say: say, loud: loud) }

    /// Says what a watcher's event means: a notice loudly.
    static func report(_ event: WatcherEvent, portal name: String, say: (String) -> Void, loud: (String) -> Void) {
        let f = event.fields
        switch event.event {
        case "interruption":
            loud("SPOT INTERRUPTION NOTICE for portal '\(name)': AWS will \(f["action"]?.stringValue ?? "terminate") "
                + "the instance at \(f["time"]?.stringValue ?? "?") (seen on the instance \(PortalWatch.ago(event.at)) ago)")
        case "rebalance":
            loud("rebalance recommendation for portal '\(name)': the instance is at elevated risk of interruption")
        case "hook-done":
            let status = f["status"]?.intValue ?? -1
            let timedOut = f["timed_out"]?.boolValue == true
            say("interruption hook " + (timedOut ? "timed out" : "ended with status \(status)") + " after \(f["seconds"]?.intValue ?? 0) s")
        case "deadline-warning":
            loud("portal '\(name)': the deadline is near; 'portal extend \(name) 1h' moves it")
        case "deadline-notice", "deadline":
            loud("portal '\(name)': DEADLINE reached: the instance terminates itself")
        case "idle-warning":
            loud("portal '\(name)': idle; the instance terminates itself in \(f["left"]?.intValue ?? 0) s")
        case "idle-stop":
            loud("portal '\(name)': IDLE STOP: the instance terminates itself")
        case "shutdown-failed":
            loud("portal '\(name)': the instance could not shut itself down (\(f["command"]?.stringValue ?? "?"))")
        default:
            break
        }
    }

    static func ago(_ epoch: Double) -> String {
        cFormat("%.1f s", max(0, Date().timeIntervalSince1970 - epoch))
    }

    /// One pass of every inbound channel (portal-sync --once over them), what arrived reported.
    func finalPass(_ located: PortalDocument, channels: ChannelThread?, since: Double) {
        channels?.stop()
        PortalWatch.finalPass(located, since: since, say: say, loud: loud)
    }

    /// One pass of every inbound channel (`portal-sync --once` over them),
    /// what arrived reported; `since`: when the notice reached here (monotonic).
    public static func finalPass(_ located: PortalDocument, since: Double, say: (String) -> Void, loud: (String) -> Void) {
        let inbound = located.spec.channels.filter { $0.direction == .in }
        guard !inbound.isEmpty else {
            say("no inbound channels: no final pass to make")
            return
        }
        var passing = located
        passing.spec.channels = inbound
        var options = SyncOptions()
        options.once = true
        options.connectTimeout = 20
        options.shouldStop = { false }
        let start = monotonic()
        let lock = Lock()
        nonisolated(unsafe) var files = 0, bytes: Int64 = 0, errors: [String] = [], names: [String] = []
        do {
            let session = try SyncSession(document: passing, options: options)
            _ = try session.run { event in
                lock.withLock {
                    switch event {
                    case .transfer(let transfer):
                        files += transfer.files
                        bytes += transfer.bytes
                        names += transfer.paths.prefix(transfer.files)
                    case .error(_, _, let message):
                        errors.append(message)
                    }
                }
            }
        } catch {
            errors.append("\(error)")
        }
        let seconds = monotonic() - start
        let shown = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", …" : "")
        loud("final pass of \(inbound.count) inbound channel\(inbound.count == 1 ? "" : "s"): "
             + "\(files) file\(files == 1 ? "" : "s") (\(bytes) bytes) arrived\(shown.isEmpty ? "" : " (\(shown))")"
             + cFormat(" in %.1f s; %.1f s after the notice reached here", seconds, monotonic() - since))
        for error in errors { say("final pass: \(error)") }
    }

    // MARK: Reopen

    /// Launches the portal again: same zone, the spec's type then its
    /// fallbacks on capacity errors, a pause between rounds, at most
    /// `reopen_attempts` launches. Every attempt is reported; all failing is
    /// exit 75 with nothing left running.
    func reopen(after previous: Instance) throws -> Instance {
        let market = document.spec.spotMarket
        let types = market.instanceTypes(first: document.spec.spotInstance.instanceType)
        var index = 0
        var pause = options.backoff
        var last = "no attempt made"
        let started = monotonic()
        for attempt in 1...market.reopenAttempts {
            try Interruption.check()
            let type = types[index]
            say("reopen attempt \(attempt) of \(market.reopenAttempts): \(type) in \(document.spec.spotInstance.availabilityZone)")
            var wanted = document
            wanted.spec.spotInstance.instanceType = type
            do {
                try waitForVolumes(wanted.spec)
                let instance = try open(wanted, deadline: previous.deadline)
                loud("portal '\(document.name)' reopened: \(instance.id) (\(type)), running again "
                     + cFormat("%.1f s after the reopen began", monotonic() - started))
                return instance
            } catch let error as PortalFailure where error.exitStatus == .interrupted {
                throw error
            } catch {
                last = "\(error)"
                let capacity = PortalWatch.isCapacity(error)
                say("reopen attempt \(attempt): " + (capacity ? "no capacity for \(type): " : "failed: ") + last)
                if capacity && index + 1 < types.count {
                    index += 1
                    continue
                }
                index = 0
                if attempt < market.reopenAttempts {
                    say("trying again in \(humanDuration(pause))")
                    Interruption.sleep(pause)
                    pause = min(pause * 2, options.longestBackoff)
                }
            }
        }
        throw Failure("portal '\(name)' could not be reopened after \(market.reopenAttempts) attempts: \(last)",
                      status: .temporary, hints: ["nothing is left running; 'portal open \(name)' tries again"])
    }

    static func isCapacity(_ error: Error) -> Bool {
        if let aws = error as? AWSError {
            return ["InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity",
                    "SpotMaxPriceTooLow", "MaxSpotInstanceCountExceeded", "Unsupported"].contains(aws.code)
        }
        return (error as? PortalFailure)?.exitStatus == .temporary
    }

    /// The volumes of the ended instance take a moment to come free.
    func waitForVolumes(_ spec: PortalSpec, timeout: Double = 300) throws {
        let end = monotonic() + timeout
        while true {
            let volumes = try cloud.describeVolumes(of: spec)
            if volumes.allSatisfy({ $0.state == "available" }) { return }
            guard monotonic() < end else { return }  // launch refuses with the reason
            Interruption.sleep(1)
            try Interruption.check()
        }
    }

    /// What `portal open` does, in process: launch, attach, mount, provision,
    /// the watcher and `run`. A failure after the launch closes the new
    /// instance, so that nothing is left running.
    func open(_ wanted: PortalDocument, deadline: Date?) throws -> Instance {
        var launch = LaunchOptions()
        launch.timeout = 600
        var located = try Stages.spotRequest(wanted, cloud: cloud, options: launch)
        let instance = try located.requireInstance()
        do {
            located = try Stages.volumeAttach(located, cloud: cloud, justLaunched: true)
            var remote = Stages.RemoteOptions()
            remote.sshTimeout = options.sshTimeout
            let now = Int(Date().timeIntervalSince1970)
            remote.deadline = deadline.map { .at(Int($0.timeIntervalSince1970), since: now) }
                ?? SpotMarketStages.deadline(spec: wanted.spec, duration: nil, justLaunched: true)
            _ = try Stages.mount(located, cloud: cloud, options: remote, progress: say)
            return instance
        } catch {
            say("closing \(instance.id): \(error)")
            _ = try? Stages.spotCancel(located, cloud: cloud)
            throw error
        }
    }
}

/// The channels, run on a thread of their own until stopped.
final class ChannelThread: @unchecked Sendable {
    let document: PortalDocument
    let say: @Sendable (String) -> Void
    private let lock = Lock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)
    private var running = false

    init?(document: PortalDocument, say: @escaping @Sendable (String) -> Void) {
        guard !document.spec.channels.isEmpty else { return nil }
        self.document = document
        self.say = say
    }

    func start() {
        running = true
        detachThread { [self] in
            var options = SyncOptions()
            options.shouldStop = { [self] in lock.withLock { stopped } || Interruption.requested }
            options.progress = say
            do {
                let session = try SyncSession(document: document, options: options)
                _ = try session.run { [say] event in
                    if case .transfer(let transfer) = event, transfer.files > 0 {
                        say("channel \(transfer.channel) \(transfer.direction == .in ? "IN " : "OUT") \(transfer.files) file(s), \(transfer.bytes) bytes")
                    }
                }
            } catch let error as PortalFailure where error.exitStatus == .interrupted {
            } catch {
                say("channels stopped: \(error)")
            }
            done.signal()
        }
    }

    /// Stops the channels and waits for their transfers in flight to end.
    func stop() {
        let wasStopped = lock.withLock {
            defer { stopped = true }
            return stopped
        }
        if !wasStopped && running { done.wait() }
    }
}

/// `portal channel`'s ear for the spot market: a thread that follows the
/// instance's watcher over an SSH session of its own, says loudly when a
/// notice comes, and makes the final pass of the inbound channels once the
/// hook is done (or its budget is over), as `portal watch` does. It ends when
/// the instance can no longer be reached, at Ctrl-C, or at `stop()`.
public final class NoticeFollower: @unchecked Sendable {
    let document: PortalDocument
    let cloud: PortalCloud
    let say: @Sendable (String) -> Void
    let loud: @Sendable (String) -> Void
    private let lock = Lock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    /// - Parameter document: the portal with its `"instance"`.
    public init(document: PortalDocument, cloud: PortalCloud, say: @escaping @Sendable (String) -> Void,
                loud: @escaping @Sendable (String) -> Void) {
        self.document = document
        self.cloud = cloud
        self.say = say
        self.loud = loud
    }

    var isStopped: Bool { lock.withLock { stopped } || Interruption.requested }

    public func start() {
        detachThread { [self] in
            follow()
            done.signal()
        }
    }

    /// Stops following and waits for the thread (a final pass in flight ends first).
    public func stop() {
        lock.withLock { stopped = true }
        done.wait()
    }

    func follow() {
        let name = document.name
        do {
            let target = try SSHTarget(document: document)
            var options = ConnectOptions(timeout: 60)
            options.shouldStop = { [self] in isStopped }
            let id = target.hostKeyAlias
            let session = try connect(to: target, options: options, consoleOutput: { [cloud] in cloud.consoleOutput(instanceID: id) },
                                      progress: { _ in })
            var reader = WatcherEventReader()
            _ = reader.feed(try session.run(WatcherInstall().eventsCommand(from: 0)).stdout)  // seen before: skipped
            var notice: Double?
            var passed = false
            while !isStopped {
                for event in reader.feed(try session.run(WatcherInstall().eventsCommand(from: reader.offset)).stdout) {
                    PortalWatch.report(event, portal: name, say: say, loud: loud)
                    if event.isFinal && notice == nil { notice = monotonic() }
                    if event.event == "hook-done", let seen = notice, !passed {
                        PortalWatch.finalPass(document, since: seen, say: say, loud: loud)
                        passed = true
                    }
                }
                if let seen = notice, !passed, monotonic() - seen > document.spec.spotMarket.interruptionHookSeconds + 10 {
                    PortalWatch.finalPass(document, since: seen, say: say, loud: loud)
                    passed = true
                }
                Interruption.sleep(1)
            }
        } catch {
            if !isStopped { say("spot notices: no longer followed (\(error))") }
        }
    }
}
