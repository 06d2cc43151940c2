import ArgumentParser
import PortalCLI

struct Placeholder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal-volume-attach", abstract: "Not written yet.")
}

Placeholder.main()
