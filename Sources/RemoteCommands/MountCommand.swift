import ArgumentParser
import PortalAWS
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH

/// `portal-mount`.
public struct PortalMount: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-mount",
        abstract: "Mount a portal's volumes on its instance over SSH, then provision it.",
        discussion: """
            Reads a portal document with "attachments" (portal-volume-attach writes one) on stdin, \
            opens ONE SSH connection to the instance (libssh2, in process: it waits for sshd while \
            the instance boots, checks the host key, authenticates with the spec's identity file or \
            ssh-agent) and runs one small, fully quoted script per volume, as root (sudo -n when the \
            remote user is not root): it finds the device (the NVMe by-id link or serial of the \
            volume id, else the requested name and its sd/xvd twin), formats it ext4 ONLY when it \
            holds nothing at all, mounts it on its mount point, gives a fresh file system to the \
            remote user, and grows the file system when the volume has grown. Then, unless \
            --no-provision, it installs extra_python_packages (in python_virtual_env) and runs \
            setup_commands, their output streamed to stderr.

            Host keys are kept in ~/.portal-gun/known_hosts (PORTAL_KNOWN_HOSTS), keyed by instance \
            id. On first contact the key is checked against the fingerprints cloud-init prints on the \
            instance console (GetConsoleOutput), or trusted on first use when there are none; stderr \
            says which. A key that does not match is refused.

            stdout: the document with "mounts" added, one entry per attachment: volume_id, device \
            (as found), mount_point, formatted, filesystem, size_bytes, filesystem_bytes, grown, \
            already_mounted, found_by; and "provisioned": {python_virtual_env, python_packages, \
            setup_commands} unless --no-provision.

            Ctrl-C stops the remote script (and whatever it started, so that its lock on the \
            volume is released) and exits 130; so does a lost connection on the instance's side.

            Exit status: 0 done; 1 a volume could not be mounted or a setup command failed; 64 bad \
            command line; 65 bad input (no "attachments"); 69 the instance unreachable within \
            --ssh-timeout; 74 stdout could not be written; 75 a volume's device did not appear \
            within --device-timeout; 77 the host key refused or authentication refused (an RSA key \
            gets an explanation); 130 interrupted.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for sshd while the instance boots.", valueName: "seconds"))
    var sshTimeout = Seconds(300)

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for a volume's device to appear on the instance.", valueName: "seconds"))
    var deviceTimeout = Seconds(60)

    @Flag(inversion: .prefixedNo, help: "Install extra_python_packages and run setup_commands after mounting.")
    var provision = true

    @OptionGroup var aws: AWSOptions

    @OptionGroup var output: OutputOptions

    public init() {}

    public func run() throws {
        try Report.run {
            let start = Date()
            let document = try CommandIO.readDocument()
            // Ctrl-C stops the remote script (its lock released) and exits 130.
            Interruption.install()
            let say = { (line: String) in Terminal.stderr("portal-mount: \(line)") }
            let (verbose, quiet) = (output.verbose, output.quiet)
            var options = Stages.RemoteOptions()
            options.sshTimeout = sshTimeout.value
            options.deviceTimeout = Int(deviceTimeout.value.rounded(.up))
            options.provision = provision
            let cloud = try? CommandIO.cloud(aws, verbose: verbose, quiet: true)
            let mounted = try Stages.mount(
                document, cloud: cloud, options: options, progress: { line in if !quiet { say(line) } },
                detail: { line in if verbose { say(line) } })
            if verbose { say("total \(cFormat("%.3f", Date().timeIntervalSince(start))) s") }
            Terminal.writeDocument(mounted.json)
        }
    }
}
