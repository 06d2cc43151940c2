import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// `portal-spot-cancel`.
public struct PortalSpotCancel: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-spot-cancel",
        abstract: "Close a portal: cancel its spot request and terminate its instance.",
        discussion: """
            Reads a portal document on stdin ("instance" optional: without it the portal's \
            instance is found by its tags), cancels the spot request or fleet, terminates the \
            instance, waits until AWS says it is terminated, removes the volumes' mount-point and \
            portal-name tags, and writes the document back with "closed". Volumes become \
            available again; nothing is deleted. A portal that is not open is closed already: \
            exit 0, "closed" names no instance.
            """)

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    public init() {}

    public func run() throws {
        try Report.run {
            try CommandIO.runStage(aws, output, check: { _ = try $0.givenInstance() }) {
                try Stages.spotCancel($0, cloud: $1)
            }
        }
    }
}
