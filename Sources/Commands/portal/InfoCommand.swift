import ArgumentParser
import PortalCLI

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Not written yet.")
}
