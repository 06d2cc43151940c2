import ArgumentParser
import PortalCLI

struct OpenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "open", abstract: "Not written yet.")
}
