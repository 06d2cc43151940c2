import ArgumentParser
import PortalCLI

struct HelpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "help", abstract: "Not written yet.")
}
