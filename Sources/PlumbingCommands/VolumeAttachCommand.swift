import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// `portal-volume-attach`.
public struct PortalVolumeAttach: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-volume-attach",
        abstract: "Attach a portal's volumes to its instance (or detach them).",
        discussion: """
            Reads a portal document with "instance" on stdin, attaches every volume of the spec \
            at its device (the calls at the same time), waits until all are attached, tags each \
            with mount-point and portal-name, and writes the document back with "attachments". \
            A volume already attached to this instance is fine; one attached to another instance \
            is an error, and nothing is changed. With --detach, the reverse: "attachments" \
            becomes an empty array.
            """)

    @Flag(help: "Detach the volumes instead, and remove their tags.")
    var detach = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the volumes.", valueName: "SECONDS"))
    var timeout = Seconds(300)

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    public init() {}

    public func run() throws {
        try Report.run {
            try CommandIO.runStage(aws, output, check: { _ = try $0.requireInstance() }) { document, cloud in
                Interruption.install()
                return detach ? try Stages.volumeDetach(document, cloud: cloud, timeout: timeout.value)
                    : try Stages.volumeAttach(document, cloud: cloud, timeout: timeout.value)
            }
        }
    }
}
