import ArgumentParser
import PortalAWS
import PortalCore

// The option groups the commands share, spelt and meaning the same everywhere.

/// `--profile` and `--region`, for every command that talks to AWS.
public struct AWSOptions: ParsableArguments {
    @Option(help: "The AWS profile to use (else AWS_PROFILE, else 'default').")
    public var profile: String?

    @Option(help: "The AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region).")
    public var region: String?

    public init() {}

    public func configuration() throws -> AWSConfiguration {
        try ConfigurationResolver(profile: profile, region: region).resolve()
    }
}

/// `--api`, for the commands that launch.
extension LaunchAPI: ExpressibleByArgument {}

/// `-v` and `-q`, for every command that talks to AWS or over SSH: -v says
/// more on stderr (each AWS call; each SSH step, with its figures), -q says
/// nothing there but errors (and what a command runs on the instance).
public struct OutputOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Say more on stderr: each step the command takes (see its man page); never secrets.")
    public var verbose = false

    @Flag(name: .shortAndLong, help: "Print no progress, only errors.")
    public var quiet = false

    public init() {}
}
