import ArgumentParser
import PortalAWS
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH
import PortalSync

/// `portal channel NAME`: the portal's channels, kept in sync until Ctrl-C,
/// one line per transfer (the same session as portal-sync, in process).
struct ChannelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel",
        abstract: "Keep an open portal's channels in sync until Ctrl-C, a line per transfer.",
        discussion: """
            Finds the portal's instance and runs its channels as portal-sync does: outbound folders \
            sent as they change, inbound ones fetched as the instance changes them (or polled every \
            "delay" seconds), all over one SSH connection. When the spec uses the spot market \
            (portal-spec(5)), it also follows the instance's watcher as portal watch does: a spot \
            interruption notice is said loudly on stderr and, once the interruption hook is done, \
            every inbound channel makes one final pass. Each transfer is a line:

              [12:01:33] OUT src/train.py  4.2 KB  35 ms
              [12:01:35] IN  12 files (results/epoch-3.pt, …)  48.1 MB  920 ms

            With --json, portal-sync's JSON lines instead (see portal-sync --help). Errors go to \
            stderr; a lost connection is retried until Ctrl-C. Exit status: 130 after Ctrl-C; 1 the \
            portal is not open, or rsync or ssh missing here; 65 the spec has no channels; 69 the \
            instance unreachable or without rsync; 74 stdout could not be written; 77 the host key \
            or the login refused.
            """)

    @OptionGroup var portal: PortalName

    @Flag(help: "Print portal-sync's JSON lines instead of a line per transfer.")
    var json = false

    @Flag(help: "Poll inbound channels every \"delay\" seconds even where the instance has inotifywait.")
    var poll = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the instance's sshd.", valueName: "seconds"))
    var sshTimeout = Seconds(60)

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try Report.run {
            Interruption.install()
            var document = try Porcelain.document(portal.name)
            guard !document.spec.channels.isEmpty else {
                throw Failure("portal '\(document.name)' has no channels", status: .dataError,
                              hints: ["add some to its spec: \"channels\": [{\"direction\": \"out\", \"local_path\": \"./src/\", "
                                      + "\"remote_path\": \"/home/ubuntu/src\"}]"])
            }
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: true)
            guard let instance = try cloud.findInstance(portal: document.name) else {
                throw Failure("portal '\(document.name)' is not open", hints: ["open it with: portal open \(document.name)"])
            }
            document.instance = instance
            var options = SyncOptions()
            options.pollInbound = poll
            options.connectTimeout = sshTimeout.value
            let quiet = output.quiet
            options.progress = { if !quiet { Terminal.stderr("portal: \($0)") } }
            let instanceID = instance.id.rawValue
            options.consoleOutput = { cloud.consoleOutput(instanceID: instanceID) }
            let session = try SyncSession(document: document, options: options)
            // Spot notices (the watcher's events), as portal watch has them.
            let notices = document.spec.spotMarket.needsWatcher ? NoticeFollower(
                document: document, cloud: cloud, say: { if !quiet { Terminal.stderr("portal: \($0)") } },
                loud: { Terminal.stderr("portal: *** \($0)") }) : nil
            notices?.start()
            defer { notices?.stop() }
            if !quiet && !json {
                for (index, channel) in document.spec.channels.enumerated() {
                    Terminal.stderr("portal: channel \(index): " + Self.describe(channel))
                }
                Terminal.stderr("portal: syncing; Ctrl-C stops")
            }
            let json = self.json
            let succeeded: Bool
            do {
                succeeded = try session.run { event in
                if json {
                    Terminal.stdout(event.line + "\n")
                    event.reportError()
                    return
                }
                switch event {
                case .transfer(let transfer):
                    if let line = Self.line(transfer) { Terminal.stdout(line + "\n") }
                case .error:
                    event.reportError()
                }
                }
            } catch let failure as PortalFailure where failure.exitStatus == .interrupted {
                // Ctrl-C is how channels are meant to stop: no error.
                if !quiet { Terminal.stderr("portal: channels stopped") }
                throw ExitCode(ExitStatus.interrupted.rawValue)
            }
            if !succeeded { throw ExitCode(ExitStatus.failure.rawValue) }
        }
    }

    /// `OUT '/home/me/src/' -> '/data/src'`.
    static func describe(_ channel: PortalSpec.Channel) -> String {
        let remote = channel.remotePath.hasPrefix("/") ? channel.remotePath : "~/" + channel.remotePath
        let arrow = channel.direction == .out
            ? "OUT '\(channel.localPath)' -> instance '\(remote)'"
            : "IN  instance '\(remote)' -> '\(channel.localPath)'"
        return arrow + (channel.recursive ? ", recursive" : "") + (channel.delete ? ", deleting" : "")
    }

    /// The human line for a transfer: `[12:01:33] OUT src/train.py  4.2 KB  35 ms`;
    /// a full pass that found nothing to do says the channel is in sync.
    static func line(_ transfer: Transfer) -> String? {
        let time = localClock(transfer.started)
        let direction = transfer.direction == .out ? "OUT" : "IN "
        if transfer.files == 0 && transfer.deleted == 0 {
            guard transfer.pass == .full else { return nil }
            return "[\(time)] \(direction) channel \(transfer.channel) in sync  \(transfer.milliseconds) ms"
        }
        var what: String
        let written = Array(transfer.paths.prefix(transfer.files))
        if transfer.files == 1, let path = written.first {
            what = path
        } else if transfer.files > 0 {
            let shown = written.prefix(3).joined(separator: ", ")
            what = "\(transfer.files) files" + (shown.isEmpty ? "" : " (\(shown)\(transfer.files > 3 ? ", …" : ""))")
        } else {
            what = ""
        }
        if transfer.deleted > 0 {
            what += (what.isEmpty ? "" : ", ") + "\(transfer.deleted) deleted"
        }
        return "[\(time)] \(direction) \(what)  \(size(transfer.bytes))  \(transfer.milliseconds) ms"
    }

    /// `512 B`, `4.2 KB`, `48.1 MB` (powers of 1024).
    static func size(_ bytes: Int64) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        var value = Double(bytes) / 1024
        for unit in ["KB", "MB", "GB"] {
            if value < 1024 || unit == "GB" { return cFormat("%.1f", value) + " " + unit }
            value /= 1024
        }
        return "\(bytes) B"
    }
}
