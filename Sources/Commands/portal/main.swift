import ArgumentParser
import PortalCLI

struct Placeholder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal", abstract: "Not written yet.")
}

Placeholder.main()
