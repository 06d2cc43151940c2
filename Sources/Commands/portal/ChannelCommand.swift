import ArgumentParser
import PortalCLI

struct ChannelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "channel", abstract: "Not written yet.")
}
