import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// `portal-find`.
public struct PortalFind: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-find",
        abstract: "Find the running instance of a portal by its tags.",
        discussion: """
            Reads a portal document on stdin (as portal-spec writes it) and writes it back with \
            "instance" set to the portal's live instance (tagged portal-name and created-by the \
            caller), or null. Exits 1 when the portal is not open, so that scripts can test it.
            """)

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    public init() {}

    public func run() throws {
        try Report.run {
            let found = try CommandIO.runStage(aws, output) { try Stages.find($0, cloud: $1) }
            if found.instance == nil { throw ExitCode(ExitStatus.failure.rawValue) }
        }
    }
}
