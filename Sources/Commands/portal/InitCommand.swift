import ArgumentParser
import PortalCLI

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Not written yet.")
}
