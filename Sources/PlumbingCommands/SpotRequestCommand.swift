import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// `portal-spot-request`.
public struct PortalSpotRequest: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-spot-request",
        abstract: "Launch a portal's Spot Instance and wait until it runs.",
        discussion: """
            Reads a portal document on stdin and writes it back with "instance" (id, type, zone, \
            state, addresses, launch time, lifecycle, spot request or fleet id) once the instance \
            runs. Refuses, before launching anything, when the portal is already open or a volume \
            is missing, in use, or in another zone. On Ctrl-C or timeout it cancels the request and \
            terminates what it started, waits for AWS to confirm, and exits 130 or 75.
            """)

    @Option(help: ArgumentHelp("How to ask for the instance: run-instances (default), spot-request, spot-fleet (default when the spec has spot_fleet).", valueName: "API"))
    var api: LaunchAPI?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the instance to run.", valueName: "SECONDS"))
    var timeout = Seconds(600)

    @OptionGroup var aws: AWSOptions
    @OptionGroup var output: OutputOptions

    public func validate() throws {
        if timeout.value <= 0 { throw ValidationError("--timeout: expected a positive number of seconds, found '\(timeout)'") }
    }

    public init() {}

    public func run() throws {
        try Report.run {
            var options = LaunchOptions()
            options.api = api
            options.timeout = timeout.value
            try CommandIO.runStage(aws, output) { document, cloud in
                Interruption.install()
                return try Stages.spotRequest(document, cloud: cloud, options: options)
            }
        }
    }
}
