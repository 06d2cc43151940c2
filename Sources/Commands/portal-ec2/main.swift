import ArgumentParser
import PortalCLI

struct Placeholder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "portal-ec2", abstract: "Not written yet.")
}

Placeholder.main()
