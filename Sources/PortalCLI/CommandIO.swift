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
        let json = try readJSON(expecting: "a portal document")
        return try PortalDocument(json: json, checkFiles: checkFiles)
    }

    /// Reads the whole of stdin as one JSON document; a syntax error is exit 65.
    public static func readJSON(expecting what: String = "a JSON document") throws -> JSON {
        if Terminal.stdinIsTerminal {
            Terminal.stderr("\(Report.program): reading \(what) from stdin (end with Ctrl-D)")
        }
        let data = try StandardStreams.readInput()
        do {
            return try JSON(parsing: data)
        } catch {
            throw Failure("<stdin>: \(error)", status: .dataError)
        }
    }

    /// The AWS client for a command: credentials and region from the
    /// standard chain, each AWS call shown on stderr when verbose.
    public static func client(_ aws: AWSOptions, verbose: Bool = false) throws -> AWSClient {
        let client = AWSClient(configuration: try aws.configuration())
        let program = Report.program
        if verbose { client.trace = { Terminal.stderr("\(program): \($0)") } }
        return client
    }

    /// The cloud for a command: its client, and progress on stderr unless quiet.
    public static func cloud(_ aws: AWSOptions, verbose: Bool = false, quiet: Bool = false) throws -> PortalCloud {
        PortalCloud(client: try client(aws, verbose: verbose), progress: quiet ? .silent : progressLog())
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
