import ArgumentParser
import PortalAWS
import PortalBase
import PortalCore
import PortalModel

/// What every plumbing stage shares: the document on stdin, the AWS client,
/// progress on stderr, the document on stdout.
public enum CommandIO {
    /// Reads the portal document a previous stage wrote. A stage that never
    /// uses SSH passes `checkFiles: false`, so that a portal can be closed
    /// from a machine without its key.
    public static func readDocument(checkFiles: Bool = true) throws -> PortalDocument {
        let json = try readStandardInputJSON(expecting: "a portal document")
        return try PortalDocument(json: json, checkFiles: checkFiles)
    }

    /// The cloud for a command: credentials and region from the standard
    /// chain, progress on stderr unless quiet, each AWS call shown when verbose.
    public static func cloud(_ aws: AWSOptions, verbose: Bool = false, quiet: Bool = false) throws -> PortalCloud {
        let client = AWSClient(configuration: try aws.configuration())
        let program = Report.program
        if verbose { client.trace = { Terminal.stderr("\(program): \($0)") } }
        return PortalCloud(client: client, progress: quiet ? .silent : progressLog())
    }

    /// A plumbing stage's one shape: the document from stdin, `check` (bad input refused
    /// before any AWS call), the cloud, the stage, and the document it returns on stdout.
    @discardableResult
    public static func runStage(_ aws: AWSOptions, _ output: OutputOptions,
                                check: (PortalDocument) throws -> Void = { _ in },
                                _ stage: (PortalDocument, PortalCloud) throws -> PortalDocument) throws -> PortalDocument {
        let document = try readDocument(checkFiles: false)
        try check(document)
        let done = try stage(document, try cloud(aws, verbose: output.verbose, quiet: output.quiet))
        Terminal.writeDocument(done.json)
        return done
    }

    /// The status line of this process, shared by every step.
    public static let statusLine = StatusLine(program: Report.program)

    /// Progress for people: the status line (in place on a terminal).
    public static func progressLog() -> ProgressLog {
        let line = statusLine
        return ProgressLog { line.update($0) }
    }
}

/// `-v` and `-q`, for every command that talks to AWS.
public struct OutputOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Show each AWS call (never secrets) on stderr.")
    public var verbose = false

    @Flag(name: .shortAndLong, help: "Print no progress, only errors.")
    public var quiet = false

    public init() {}
}
