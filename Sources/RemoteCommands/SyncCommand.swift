import ArgumentParser
import PortalAWS
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH
import PortalSync

/// `portal-sync`.
public struct PortalSyncCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-sync",
        abstract: "Keep a portal's channels in sync: rsync over one SSH connection, on every change.",
        discussion: """
            Reads a portal document with "instance" (portal-find or portal-spot-request writes one) \
            on stdin and runs every channel of its spec until interrupted (Ctrl-C, SIGTERM), or, with \
            --once, one pass over each.

            Transfers are rsync over OpenSSH, all over ONE multiplexed connection (ControlMaster, its \
            socket in a private folder under /tmp), with the portal's key, user and port and Portal \
            Gun's known_hosts (~/.portal-gun/known_hosts, or PORTAL_KNOWN_HOSTS) with strict checking, \
            as 'portal ssh'; an instance whose key is not recorded yet is checked as portal-mount \
            checks it. An outbound channel watches its folder with inotify (every subfolder when \
            "recursive"), waits for a burst of changes to end, and sends only the files that changed \
            (rsync --files-from); a file is sent once it is closed. An inbound channel streams change \
            events from the instance where it has inotifywait (else, or with --poll, a pass every \
            "delay" seconds). Every channel begins with a full pass.

            No transfer starts a remote shell: a helper started once on the instance (python3, \
            over one SSH session; it ends with the connection) starts each transfer's remote rsync \
            and each inotifywait directly, reached over channels forwarded through the same \
            connection (ssh -W), which are not sessions: any number of channels work under sshd's \
            default MaxSessions 10, and a slow shell start-up (conda init) is paid once. Without \
            python3 or TCP forwarding on the instance, each transfer runs a remote command, as \
            before.

            The trailing slash, as in rsync: a source "src/" means its contents, into the other \
            side's folder; "src" means the folder itself, as a folder in it. "recursive": false sends \
            only the files directly in the folder. Nothing is deleted on the receiving side unless the \
            channel says "delete": true. Files are written under a temporary name and renamed when \
            complete: none is ever seen half-written under its real name.

            A lost connection (a network blip, the instance rebooting, the laptop asleep) is reported \
            and retried with backoff (0.5 s doubling to 30 s), then resumed with a full pass; nothing \
            waiting to be sent is dropped. On Ctrl-C the transfers in flight are ended (a partial \
            file is removed, never left under its real name), the connection is closed, and the exit \
            status is 130.

            stdout: one JSON line per transfer: {"channel": INDEX, "direction": "out", "files": N, \
            "bytes": N, "started": "2026-05-01T12:01:33.120Z", "ms": N, "deleted": N, "pass": \
            "full"|"changes"|"poll", "paths": [up to 100 names]}, "files" being the files written on \
            the receiving side and "bytes" their sizes; a pass that moved nothing is printed only when \
            it is a full one. One JSON line per error: {"channel": INDEX, "direction": "out", \
            "error": "…"}, also said on stderr. A steady error is printed once until it clears.

            Exit status: 0 stopped cleanly, or (--once) every pass succeeded; 1 a --once pass failed, \
            or rsync or ssh is missing on this machine; 64 bad command line; 65 bad input (no \
            "instance", no channels); 69 the instance unreachable within --ssh-timeout, or rsync \
            missing on the instance; 74 stdout could not be written (closed, full, its reader \
            gone): the transfers are ended and the connection closed; 77 the host key or the login \
            refused; 130 interrupted.
            """)

    @Flag(help: "One pass over every channel, then exit: 0 if all succeeded, else 1.")
    var once = false

    @Flag(help: "Poll inbound channels every \"delay\" seconds even where the instance has inotifywait.")
    var poll = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Milliseconds of quiet that end a burst of local changes.", valueName: "ms"))
    var settle = Milliseconds(20)

    @Option(parsing: .unconditional, help: ArgumentHelp("The longest a burst of local changes is held before it is sent, in milliseconds.", valueName: "ms"))
    var cap = Milliseconds(250)

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the instance's sshd at start.", valueName: "seconds"))
    var sshTimeout = Seconds(60)

    @OptionGroup var aws: AWSOptions

    @OptionGroup var output: OutputOptions

    public func validate() throws {
        if cap.value < settle.value { throw ValidationError("--settle and --cap: expected settle <= cap, found \(settle) and \(cap)") }
    }

    public init() {}

    public func run() throws {
        try Report.run {
            Interruption.install()
            let document = try CommandIO.readDocument()
            var options = SyncOptions()
            options.once = once
            options.pollInbound = poll
            options.quiet = settle.seconds
            options.cap = cap.seconds
            options.connectTimeout = sshTimeout.value
            let (verbose, quiet) = (output.verbose, output.quiet)
            let cloud = try? CommandIO.cloud(aws, verbose: verbose, quiet: true)
            let instanceID = (try? SSHTarget(document: document))?.hostKeyAlias ?? ""
            let say: @Sendable (String) -> Void = { Terminal.stderr("portal-sync: \($0)") }
            options.progress = { if !quiet { say($0) } }
            options.consoleOutput = { cloud?.consoleOutput(instanceID: instanceID) }
            let session = try SyncSession(document: document, options: options)
            let succeeded = try session.run { event in
                Terminal.stdout(event.line + "\n")
                switch event {
                case .error:
                    event.reportError()
                case .transfer(let transfer) where verbose:
                    say("channel \(transfer.channel) (\(transfer.direction.rawValue)): \(transfer.pass.rawValue) pass, "
                        + "\(transfer.files) files, \(transfer.bytes) bytes, \(transfer.milliseconds) ms")
                case .transfer:
                    break
                }
            }
            if !succeeded { throw ExitCode(ExitStatus.failure.rawValue) }
        }
    }
}

extension SyncEvent {
    /// Says an error event on stderr, as `portal-sync`, `portal channel` and
    /// `portal open` say it: `channel 0 (out): MESSAGE`, or the session's
    /// MESSAGE. A transfer says nothing here.
    public func reportError() {
        guard case .error(let channel, let direction, let message) = self else { return }
        Report.error(channel.map { "channel \($0) (\(direction?.rawValue ?? "?")): \(message)" } ?? message)
    }
}
