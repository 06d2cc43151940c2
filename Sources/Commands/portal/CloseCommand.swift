import ArgumentParser
import PortalCLI

struct CloseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "close", abstract: "Not written yet.")
}
