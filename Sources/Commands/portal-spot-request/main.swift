import ArgumentParser
import PortalCLI

struct Placeholder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal-spot-request", abstract: "Not written yet.")
}

Placeholder.main()
