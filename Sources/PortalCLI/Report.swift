import ArgumentParser
import PortalBase

/// How every command reports a failure: `NAME: error: MESSAGE` on stderr, then
/// any hints, then the exit status the failure carries (`ExitStatus`).
public enum Report {
    public static let program: String = {
        programName
    }()

    /// The message and each hint are cut at `longestLine` characters: a
    /// value pasted into a message (a huge argument or key) is never echoed
    /// whole.
    public static func error(_ message: String, hints: [String] = []) {
        CommandIO.statusLine.finish()
        let label = StatusLine.colourAllowed ? "\u{1B}[31merror\u{1B}[0m" : "error"
        // Several problems (a spec's), one a line, each labelled.
        for line in message.split(separator: "\n") {
            Terminal.stderr("\(program): \(label): \(abbreviated(String(line), limit: longestLine))")
        }
        for hint in hints { Terminal.stderr("  \(abbreviated(hint, limit: longestLine))") }
    }

    public static let longestLine = 1000

    public static func warning(_ message: String) {
        CommandIO.statusLine.finish()
        let label = StatusLine.colourAllowed ? "\u{1B}[33mwarning\u{1B}[0m" : "warning"
        Terminal.stderr("\(program): \(label): \(abbreviated(message, limit: longestLine))")
    }

    /// Runs a command body, turning a failure into its message and exit status.
    /// stdout that could not be written (closed, full, its reader gone) ends
    /// the command with 74 whatever the body did (see `StandardStreams`).
    public static func run(_ body: () throws -> Void) throws {
        defer {
            // Background work (an SSH connection, a tag) stops when told or
            // interrupted: let it, before the process's exit-time clean-up.
            Background<Void>.settle(within: 5)
            CommandIO.statusLine.finish()
        }
        StandardStreams.install()
        func fail(_ failure: PortalFailure) -> ExitCode {
            let failure: PortalFailure = StandardStreams.outputFailure ?? failure
            error(failure.description, hints: failure.hints)
            return ExitCode(failure.exitStatus.rawValue)
        }
        do {
            try body()
        } catch let failure as PortalFailure {
            throw fail(failure)
        } catch let exit as ExitCode {
            if let output = StandardStreams.outputFailure { throw fail(output) }
            throw exit
        } catch let syntax as JSONSyntaxError {
            throw fail(Failure("<stdin>: \(syntax)", status: .dataError))
        }
        if let output = StandardStreams.outputFailure { throw fail(output) }
    }
}

public enum Terminal {
    public static func stderr(_ line: String) {
        StandardStreams.stderr(line + "\n")
    }

    /// Writes to stdout; a failure ends the command at its end (or at its
    /// next check, `StandardStreams.outputFailure`) with exit status 74.
    public static func stdout(_ text: String) {
        StandardStreams.stdout(text)
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
