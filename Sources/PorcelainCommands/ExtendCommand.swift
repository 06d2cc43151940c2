import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH
import RemoteCommands

/// `portal extend NAME 2h`: moves the deadline the instance enforces itself.
struct ExtendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extend",
        abstract: "Move an open portal's deadline later (or set one).",
        discussion: """
            The instance terminates itself at its deadline (max_hours in the spec, or 'portal \
            open --for'). 'portal extend NAME 2h' moves it two hours later; a portal without a \
            deadline gets one two hours from now. The new deadline is written on the instance \
            (over SSH, for its watcher) and in the instance's portal-deadline tag (for 'portal \
            info'). Exit status: 0 done; 1 the portal is not open or the instance refused; 64 a \
            bad duration; 69 the instance unreachable; 77 SSH refused.
            """)

    @OptionGroup var portal: PortalName

    @Argument(help: ArgumentHelp("How much later: 90s, 30m, 2h, 1d, or a number of hours.", valueName: "duration"))
    var duration: String

    @Option(help: ArgumentHelp("Seconds to wait for the instance's sshd.", valueName: "seconds"))
    var sshTimeout: Double = 60

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if SpotMarketStages.duration(duration) == nil {
            throw ValidationError("'\(duration)': expected a duration such as 90s, 30m, 2h or 1d")
        }
    }

    func run() throws {
        try Report.run {
            var document = try Porcelain.document(portal.name)
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: true)
            guard let instance = try cloud.findInstance(portal: document.name) else {
                throw Failure("portal '\(document.name)' is not open", hints: ["open it with: portal open \(document.name)"])
            }
            document.instance = instance
            let seconds = SpotMarketStages.duration(duration)!
            let now = Date()
            let deadline = max(instance.deadline ?? now, now).addingTimeInterval(seconds)
            let target = try SSHTarget(document: document)
            let session = try connect(to: target, options: ConnectOptions(timeout: sshTimeout),
                                      consoleOutput: { cloud.consoleOutput(instanceID: instance.id.rawValue) },
                                      progress: { if !output.quiet { Terminal.stderr("portal: \($0)") } })
            var install = WatcherInstall(spec: document.spec,
                                         deadline: .at(Int(deadline.timeIntervalSince1970), since: Int(now.timeIntervalSince1970)))
            install.user = document.spec.spotInstance.remoteUser
            try install.install(session: session)
            try cloud.tagDeadline(instanceID: instance.id, deadline: deadline)
            Terminal.stdout("portal '\(document.name)': deadline \(Ending.iso(deadline)), "
                + "\(humanDuration(deadline.timeIntervalSince(now))) from now\n")
        }
    }
}
