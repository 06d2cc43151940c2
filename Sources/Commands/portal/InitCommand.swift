import ArgumentParser
import Foundation
import PortalBase
import PortalCLI
import PortalCore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a draft spec NAME.json with every field of the format.",
        discussion: """
            The draft's values are placeholders such as "<instance type, e.g. t3.medium>"; \
            'portal-spec NAME.json' lists every one still to be filled. An existing file is \
            never overwritten.
            """)

    @OptionGroup var portal: PortalName
    @OptionGroup var output: OutputOptions

    func run() throws {
        try Report.run {
            let path = Porcelain.specPath(portal.name)
            if let problem = PortalDocument.nameProblem(PortalDocument.name(forSpecFile: path)) {
                throw Failure("'\(path)': the portal's name \(problem)", status: .usage)
            }
            guard FileManager.default.createFile(atPath: path + ".tmp-init", contents: nil) else {
                throw Failure("'\(path)': cannot write here")
            }
            defer { try? FileManager.default.removeItem(atPath: path + ".tmp-init") }
            let text = PortalSpec.draft().serialized(pretty: true) + "\n"
            // O_EXCL: never overwrite, even when a file appears meanwhile.
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            guard fd >= 0 else {
                if errno == EEXIST {
                    throw Failure("'\(path)' already exists; it is left as it is")
                }
                throw Failure("'\(path)': \(String(cString: strerror(errno)))")
            }
            let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            close(fd)
            guard written == text.utf8.count else { throw Failure("'\(path)': could not write the draft") }
            if !output.quiet { Terminal.stderr("portal: wrote \(path); fill in the <…> values, then check it with 'portal-spec \(path)'") }
        }
    }
}
