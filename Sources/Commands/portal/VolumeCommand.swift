import ArgumentParser
import PortalCLI

struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "volume", abstract: "Not written yet.")
}
