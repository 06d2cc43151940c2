import ArgumentParser
import PortalCLI

struct Placeholder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal-spec", abstract: "Not written yet.")
}

Placeholder.main()
