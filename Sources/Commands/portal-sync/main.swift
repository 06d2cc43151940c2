import ArgumentParser
import PortalCLI

struct Placeholder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal-sync", abstract: "Not written yet.")
}

Placeholder.main()
