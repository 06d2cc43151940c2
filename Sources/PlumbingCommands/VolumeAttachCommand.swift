import ArgumentParser
import Foundation
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
            var document = try Stage.readDocument(checkFiles: false)
            let instance = try document.requireInstance()
            let cloud = try Stage.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            Interruption.install()
            if detach {
                try cloud.detach(document, from: instance, timeout: timeout.value)
                document.attachments = []
            } else {
                let attachments = try cloud.attach(document, to: instance, timeout: timeout.value)
                document.attachments = attachments
            }
            Terminal.writeDocument(document.json)
        }
    }
}
