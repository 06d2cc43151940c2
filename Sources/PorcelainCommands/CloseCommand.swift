import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

struct CloseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close",
        abstract: "Close a portal: cancel its spot request and terminate its instance.",
        discussion: """
            The volumes are detached by the termination and stay as they are: the next \
            'portal open' finds everything on them as it was left. Nothing is deleted. Closing \
            a portal that is not open says so and succeeds.
            """)

    @OptionGroup var portal: PortalName
    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try Report.run {
            let document = try Porcelain.document(portal.name, checkFiles: false)
            let cloud = try CommandIO.cloud(aws, verbose: output.verbose, quiet: output.quiet)
            let started = Date()
            if let closed = try Stages.spotCancel(document, cloud: cloud).closed?.instanceID {
                cloud.progress("portal '\(document.name)' is closed: \(closed) terminated (\(humanDuration(Date().timeIntervalSince(started))))")
            } else {
                cloud.progress("portal '\(document.name)' is not open")
            }
        }
    }
}
