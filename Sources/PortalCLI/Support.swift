import ArgumentParser
import Foundation
import PortalAWS
import PortalBase

/// How every command reports a failure: `NAME: error: MESSAGE` on stderr, then
/// any hints, then the exit status the failure carries (DESIGN.md's table).
public enum Report {
    public static let program: String = {
        (CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent }) ?? "portal"
    }()

    public static func error(_ message: String, hints: [String] = []) {
        Stage.statusLine.finish()
        let label = StatusLine.colourAllowed ? "\u{1B}[31merror\u{1B}[0m" : "error"
        // Several problems (a spec's), one a line, each labelled.
        for line in message.split(separator: "\n") { Terminal.stderr("\(program): \(label): \(line)") }
        for hint in hints { Terminal.stderr("  \(hint)") }
    }

    public static func warning(_ message: String) {
        Stage.statusLine.finish()
        let label = StatusLine.colourAllowed ? "\u{1B}[33mwarning\u{1B}[0m" : "warning"
        Terminal.stderr("\(program): \(label): \(message)")
    }

    /// Runs a command body, turning a failure into its message and exit status.
    public static func run(_ body: () throws -> Void) throws {
        defer { Stage.statusLine.finish() }
        do {
            try body()
        } catch let failure as PortalFailure {
            error(failure.description, hints: failure.hints)
            throw ExitCode(failure.exitStatus.rawValue)
        } catch let exit as ExitCode {
            throw exit
        } catch let syntax as JSONSyntaxError {
            error("<stdin>: \(syntax)")
            throw ExitCode(ExitStatus.dataError.rawValue)
        }
    }
}

public enum Terminal {
    public static func stderr(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public static func stdout(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) != 0 }
    public static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }
    public static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) != 0 }

    /// Writes a plumbing command's JSON document: indented for a person at a
    /// terminal, one compact line for a pipe.
    public static func writeDocument(_ json: JSON) {
        stdout(json.serialized(pretty: stdoutIsTerminal) + "\n")
    }
}

/// Reads the whole of stdin as one JSON document; a syntax error is exit 65.
public func readStandardInputJSON(expecting what: String = "a JSON document") throws -> JSON {
    if Terminal.stdinIsTerminal {
        Terminal.stderr("\(Report.program): reading \(what) from stdin (end with Ctrl-D)")
    }
    let data = FileHandle.standardInput.readDataToEndOfFile()
    do {
        return try JSON(parsing: Array(data))
    } catch {
        throw Failure("<stdin>: \(error)", status: .dataError)
    }
}

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
