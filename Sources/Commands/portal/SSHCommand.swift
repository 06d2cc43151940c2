import ArgumentParser
import PortalCLI

struct SSHCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh", abstract: "Not written yet.")
}
