import ArgumentParser
import PortalAWS
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH
import PortalSync

/// `portal ssh NAME [-t|--tmux [SESSION]] [-- COMMAND…]`: hands the terminal to
/// OpenSSH, connected as `portal-mount` connects (see PortalSSH.sshArguments).
struct SSHCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh",
        abstract: "Connect to an open portal's instance with ssh, or run a command there.",
        usage: "portal ssh <name> [-t|--tmux [<session>]] [-- <command> ...]",
        discussion: """
            Runs OpenSSH (ssh) with the portal's identity file, remote user, host and port, and \
            Portal Gun's known_hosts file (~/.portal-gun/known_hosts, or PORTAL_KNOWN_HOSTS) with \
            strict host key checking; the instance's key is recorded under its instance id \
            (HostKeyAlias). If the key is not recorded yet (the portal was opened on another \
            machine), it is checked first as portal-mount checks it: against the instance \
            console's fingerprints, else trusted on first use.

            With -t, the shell (or COMMAND) runs in tmux: 'tmux new -A -s SESSION' attaches to \
            the session if it exists (default name: portal). As in Portal Gun 0.x, the session may \
            also come first: 'portal ssh -t train gpu'. After --, one word is a command line \
            for the remote shell ('ls | wc -l'); several words are run exactly as given, each \
            quoted (sh -c 'exit 7'). The exit status is the command's, or 255 when ssh itself fails.
            """)

    @OptionGroup var portal: PortalName

    @Flag(name: [.customShort("t"), .customLong("tmux")],
          help: "Run in tmux: 'tmux new -A -s SESSION' (SESSION defaults to portal).")
    var tmux = false

    @Argument(help: ArgumentHelp("The tmux session's name (with -t).", valueName: "session"))
    var session: String?

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command to run on the instance.", valueName: "command"))
    var command: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for sshd when the host key must be checked first.", valueName: "seconds"))
    var sshTimeout = Seconds(300)

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if session != nil && !tmux {
            throw ValidationError("'\(session!)': a session name needs -t; a command to run goes after --")
        }
    }

    func run() throws {
        try Report.run {
            let terminator = CommandLine.arguments.firstIndex(of: "--") ?? CommandLine.arguments.endIndex
            let (name, session) = portalAndTmuxSession((portal.name, self.session),
                                                       arguments: Array(CommandLine.arguments[..<terminator]))
            var document = try Porcelain.document(name)
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: true)
            guard let instance = try cloud.findInstance(portal: document.name) else {
                throw Failure("portal '\(document.name)' is not open", hints: ["open it with: portal open \(name)"])
            }
            document.instance = instance
            let target = try SSHTarget(document: document)
            let quiet = output.quiet
            let say = { (line: String) in if !quiet { Terminal.stderr("portal: \(line)") } }
            try ensureKnownHost(target, options: ConnectOptions(timeout: sshTimeout.value),
                                consoleOutput: { cloud.consoleOutput(instanceID: target.hostKeyAlias) }, progress: say)
            let arguments = sshArguments(target: target, tmux: tmux ? (session ?? "portal") : nil, command: command)
            let program = findProgram("ssh") ?? "/usr/bin/ssh"
            replaceProcess([program] + arguments)
            throw Failure("cannot run '\(program)': \(String(cString: strerror(errno)))", status: .unavailable,
                          hints: ["install OpenSSH's client (apt-get install openssh-client)"])
        }
    }
}
