import ArgumentParser
import PortalCLI

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Not written yet.")
}
