import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel
import PortalSSH
import RemoteCommands

struct OpenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Open a portal: request its Spot Instance, attach and mount its volumes.",
        discussion: """
            Does what 'portal-spec NAME.json | portal-spot-request | portal-volume-attach | \
            portal-mount' does, in one process, then says how to connect. A portal that is \
            already open (found by its tags) is continued with, not launched twice. When a step \
            fails after the instance exists, the portal stays open for inspection and \
            'portal close NAME' is the way out; --close-on-failure closes it at once. Ctrl-C \
            during an open that launched the instance closes the portal and waits until the \
            instance is terminated, unless --keep-on-failure; a second Ctrl-C exits at once, \
            saying what is still running. SSH connects while the volumes attach.
            """)

    @OptionGroup var portal: PortalName

    @Option(help: ArgumentHelp("How to ask for the instance: run-instances, spot-request, spot-fleet.", valueName: "API"))
    var api: LaunchAPI?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the instance to run.", valueName: "SECONDS"))
    var timeout = Seconds(600)

    @Flag(help: "Close the portal at once when a step after the launch fails.")
    var closeOnFailure = false

    @Flag(help: "On Ctrl-C after the launch, keep the new instance for inspection instead of closing the portal.")
    var keepOnFailure = false

    @Flag(help: "Only request the instance and attach the volumes; do not mount or provision.")
    var noMount = false

    @Flag(help: "Mount the volumes but do not install extra_python_packages nor run setup_commands.")
    var noProvision = false

    @Option(name: .customLong("for"), help: ArgumentHelp(
        "The instance terminates itself after this long (90s, 30m, 3h, 1d); overrides max_hours.", valueName: "DURATION"))
    var duration: String?

    @Flag(help: "Print the portal document (JSON) on stdout when done.")
    var json = false

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let duration, SpotMarketStages.duration(duration) == nil {
            throw ValidationError("--for: expected a duration such as 90s, 30m, 3h or 1d, found '\(duration)'")
        }
    }

    func run() throws {
        try Report.run {
            let started = Date()
            var document = try Porcelain.document(portal.name)
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            Interruption.install()
            var stages: [(String, TimeInterval)] = []
            func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
                let t = Date()
                defer { stages.append((stage, Date().timeIntervalSince(t))) }
                return try body()
            }

            var options = LaunchOptions()
            options.api = api
            options.timeout = timeout.value
            var instance: Instance
            var justLaunched = false
            // The launch's checks (volumes, subnet) beside the look-up.
            let checks = cloud.launchChecks(document.spec)
            if let existing = try timed("find", { try cloud.findInstance(portal: document.name) }) {
                cloud.progress("portal '\(document.name)' is already open: continuing with \(existing.id) (\(existing.state))")
                instance = existing
                if existing.state == "pending" {
                    // AttachVolume needs a running instance (else IncorrectState).
                    instance = try timed("launch") { try cloud.waitUntilRunning(existing.id.rawValue, started: Date(), options: options) }
                }
            } else {
                // The price is told while the launch goes on, not before it.
                let spec = document.spec, quiet = output.quiet
                let price = Background { PricesCommand.announce(spec, cloud: cloud, quiet: quiet) }
                document = try timed("launch") {
                    try Stages.spotRequest(document, cloud: cloud, options: options, knownClosed: true, checks: checks)
                }
                instance = try document.requireInstance()
                try price.value()
                justLaunched = true
            }
            document.instance = instance
            var remote = Stages.RemoteOptions()
            remote.provision = !noProvision
            remote.deadline = SpotMarketStages.deadline(spec: document.spec, duration: duration.flatMap(SpotMarketStages.duration),
                                                        justLaunched: justLaunched)
            // SSH (connect, host key, authentication) while the volumes
            // attach, and the volumes' tags while they are mounted: the
            // remote stages wait only for what they need.
            let stop = StopFlag()
            let verbose = output.verbose
            let connection = noMount || !Stages.needConnection(document, options: remote) ? nil
                : Background { [document, remote] in
                    try Stages.connect(document, cloud: cloud, options: remote, progress: { cloud.progress($0) },
                                             detail: { line in if verbose { cloud.progress(line) } },
                                             shouldStop: { Interruption.cutsShort || stop.isSet })
                }
            var tagging: Background<Void>?
            do {
                document = try timed("attach") {
                    try Stages.volumeAttach(document, cloud: cloud, justLaunched: justLaunched, tag: false)
                }
                tagging = Background { [document] in try cloud.tagAttached(document) }
                if !noMount {
                    let session = try connection.map { connection in try timed("ssh") { try connection.value() } }
                    document = try timed("mount") {
                        try Stages.mount(document, cloud: cloud, options: remote, session: session,
                                                           progress: { cloud.progress($0) },
                                                           detail: { line in if output.verbose { cloud.progress(line) } })
                    }
                }
                try tagging?.value()
            } catch {
                stop.set()
                if Interruption.requested, justLaunched, !keepOnFailure {
                    // The portal was not open before this open: leave nothing billing.
                    cloud.progress("interrupted: closing the portal, as it was not open before (--keep-on-failure keeps it)")
                    Interruption.cleaningUp(stillRunning: "instance \(instance.id) may still be running; "
                                            + "'portal close \(document.name)' ends it") {
                        _ = try? tagging?.value()
                        do {
                            _ = try Stages.spotCancel(document, cloud: cloud)
                            cloud.progress("portal '\(document.name)' is closed: \(instance.id) terminated")
                        } catch {
                            Report.error("closing after the interruption failed: \(error)",
                                         hints: ["'portal close \(document.name)' ends it"])
                        }
                    }
                } else if closeOnFailure {
                    cloud.progress("closing the portal (--close-on-failure)")
                    _ = try? Stages.spotCancel(document, cloud: cloud)
                } else {
                    Report.error("\(error)")
                    Terminal.stderr("  the portal stays open for inspection: 'portal ssh \(document.name)'; 'portal close \(document.name)' closes it")
                    throw ExitCode((error as? PortalFailure)?.exitStatus.rawValue ?? 1)
                }
                throw error
            }
            if json { Terminal.writeDocument(document.json) }
            if !output.quiet {
                printSummary(document, instance: instance, stages: stages, total: Date().timeIntervalSince(started))
            }
        }
    }

    func printSummary(_ document: PortalDocument, instance: Instance, stages: [(String, TimeInterval)], total: TimeInterval) {
        CommandIO.statusLine.finish()
        for line in OpenCommand.summary(document, instance: instance, stages: stages, total: total) { Terminal.stderr(line) }
    }

    /// What an open says when done, on stderr: the instance, each volume and
    /// where it is mounted, the time each stage took, how to connect and close.
    static func summary(_ document: PortalDocument, instance: Instance, stages: [(String, TimeInterval)],
                        total: TimeInterval) -> [String] {
        var lines = ["", "portal '\(document.name)' is open: \(instance.id), \(instance.type) in \(instance.zone)"]
        let mounts = document.mounts ?? []
        for volume in document.spec.persistentVolumes {
            let mount = mounts.first { $0.volumeID == volume.volumeID }
            let how = mount.map { ($0.formatted ? "formatted, " : "") + "mounted" } ?? "attached"
            let mounted = mount?.mountPoint ?? volume.mountPoint
            lines.append("  \(volume.volumeID)  \(volume.device) -> \(mounted)  (\(how))")
        }
        lines.append("  time: " + stages.map { "\($0.0) \(cFormat("%.1f", $0.1)) s" }.joined(separator: ", ")
            + cFormat("; %.1f s in all", total))
        lines.append("connect with: portal ssh \(document.name)")
        if let target = try? SSHTarget(document: document) { lines.append("          or: " + sshCommandLine(target: target)) }
        lines.append("close with:   portal close \(document.name)")
        return lines
    }
}
