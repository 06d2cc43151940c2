import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// `portal watch NAME`: the laptop side of the spot market (see PortalWatch).
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch an open portal for spot interruptions, deadline and idle stop; reopen it if asked.",
        discussion: """
            Follows the watcher that 'portal open' installs on the instance (installing it if it \
            is missing), over one SSH connection, reading its events every second, and runs the \
            portal's channels meanwhile. When AWS posts a spot interruption notice, says so, waits \
            for the spec's interruption_hook to finish on the instance (at most \
            interruption_hook_seconds), makes a final pass of every inbound channel and reports \
            what arrived. When the instance has gone, says how (interrupted by AWS and when, from \
            the spot request's status; or stopped itself at its deadline or when idle). With \
            reopen in the spec (or --reopen), opens the portal again after an interruption: same \
            zone, the next of fallback_instance_types when capacity is short, a growing pause \
            between rounds, at most reopen_attempts launches; the volumes are mounted and run \
            started again, and watching goes on. Ctrl-C stops watching and leaves the portal as \
            it is. Exit status: 0 the portal ended and was not to be reopened; 1 not open, or a \
            step failed; 69 the instance unreachable; 75 every reopen attempt failed (nothing \
            is left running); 77 SSH refused; 130 Ctrl-C.
            """)

    @OptionGroup var portal: PortalName

    @Flag(inversion: .prefixedNo, help: "Reopen after an interruption (default: the spec's reopen).")
    var reopen: Bool?

    @Flag(help: "Do not run the portal's channels while watching (the final pass is still made).")
    var noChannels = false

    @Option(help: ArgumentHelp("Seconds between two reads of the watcher's events.", valueName: "seconds"))
    var interval: Double = 1

    @Option(help: ArgumentHelp("Seconds to wait for the instance's sshd.", valueName: "seconds"))
    var sshTimeout: Double = 300

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard interval > 0, interval <= 60 else { throw ValidationError("--interval: expected 0 to 60 seconds, found \(interval)") }
    }

    func run() throws {
        try Report.run {
            Interruption.install()
            signal(SIGPIPE, SIG_IGN)
            let document = try Porcelain.document(portal.name)
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: true)
            var options = PortalWatch.Options()
            options.interval = interval
            options.channels = !noChannels
            options.reopen = reopen
            options.sshTimeout = sshTimeout
            let quiet = output.quiet
            let stamp: @Sendable () -> String = { localClock(Date(), milliseconds: true) }
            let watch = PortalWatch(
                document: document, cloud: cloud, options: options,
                say: { line in if !quiet { Terminal.stderr("portal: [\(stamp())] \(line)") } },
                loud: { line in
                    let text = "portal: [\(stamp())] \(line)"
                    Terminal.stderr(StatusLine.colourAllowed ? "\u{1B}[1;31m\(text)\u{1B}[0m" : "*** \(text)")
                })
            _ = try watch.run()
        }
    }
}
