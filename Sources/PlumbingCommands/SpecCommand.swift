import ArgumentParser
import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// `portal-spec`.
public struct PortalSpecCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portal-spec",
        abstract: "Validate a portal spec and write its portal document.",
        discussion: """
            Reads a spec file (or, with -, a spec on stdin), checks every field before any AWS \
            call is made, and writes the portal document {"name": NAME, "spec": {...}} on stdout: \
            the name is the file name without .json (or --name), and the spec is normalised, with \
            the keys of the input format, every default filled in, ~ expanded and local paths made \
            absolute from the spec file's folder. The later stages (portal-spot-request, \
            portal-volume-attach, portal-mount, ...) read this document on stdin.

            stdout holds only the document: indented at a terminal, one line in a pipe. Warnings \
            (unknown keys, with the nearest known key) and errors go to stderr. A refused spec \
            names the file, the field and what was expected and found, as in \
            'gpu.json': spot_instance.instance_type: expected a string, found 42, one line for \
            each problem; placeholders left from 'portal init' are listed all at once. A value \
            Portal Gun 0.x coerced ("yes", "True", 1 for true; "0.5" for 0.5) is taken with a \
            warning saying what to write. A missing or unprivate identity file is a warning \
            here: only the commands that connect refuse it.

            Exit status: 0 the document was written; 64 bad command line; 65 the spec is refused \
            (missing, not JSON, or invalid); 74 stdout could not be written (closed, full, or its \
            reader gone).
            """)

    @Argument(help: ArgumentHelp("The spec file, or - to read the spec from stdin.", valueName: "file|-"))
    var file: String

    @Option(help: ArgumentHelp("The portal's name (default: the file name without .json; required with -).",
                               valueName: "name"))
    var name: String?

    @Flag(help: "Refuse unknown keys instead of warning about them.")
    var strict = false

    public func validate() throws {
        if file == "-", name == nil {
            throw ValidationError("--name is required when the spec is read from stdin")
        }
        if let name, let problem = PortalDocument.nameProblem(name) {
            throw ValidationError("--name: \(problem), found '\(abbreviated(name))'")
        }
    }

    public init() {}

    public func run() throws {
        try Report.run {
            let result: (document: PortalDocument, warnings: [String])
            do {
                if file == "-" {
                    if Terminal.stdinIsTerminal {
                        Terminal.stderr("\(Report.program): reading a spec from stdin (end with Ctrl-D)")
                    }
                    let text = try StandardStreams.readInput()
                    result = try PortalDocument.fromSpec(text: text, file: "<stdin>", name: name ?? "",
                                                         strict: strict,
                                                         directory: FileManager.default.currentDirectoryPath,
                                                         filesWarn: true)
                } else {
                    result = try PortalDocument.fromSpecFile(file, name: name, strict: strict, filesWarn: true)
                }
            } catch let error as SpecError {
                error.warnings.forEach(Report.warning)
                throw error
            }
            result.warnings.forEach(Report.warning)
            Terminal.writeDocument(result.document.json)
        }
    }
}
