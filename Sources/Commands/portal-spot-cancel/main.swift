import ArgumentParser
import PortalCLI

struct Placeholder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal-spot-cancel", abstract: "Not written yet.")
}

Placeholder.main()
