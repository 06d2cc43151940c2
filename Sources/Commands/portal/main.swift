import ArgumentParser
import Foundation
import PortalCLI

/// `portal`: the porcelain. Every built-in command is one file here, listed in
/// this one table; any other `portal foo` runs `portal-foo` from the exec path,
/// as git does (see ExecPath.swift).
struct Portal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portal",
        abstract: "Rent AWS EC2 Spot Instances as portals: open, use, close; keep what matters on volumes.",
        discussion: """
            A portal is a remote environment described by a JSON spec file NAME.json: a Spot \
            Instance, the EBS volumes to attach and mount, and channels that keep folders in \
            sync. Any other 'portal foo' runs 'portal-foo' from the exec path (--exec-path, \
            PORTAL_EXEC_PATH, the folder of portal itself, then PATH).
            """,
        version: PortalVersion.current,
        subcommands: [
            InitCommand.self,
            OpenCommand.self,
            CloseCommand.self,
            InfoCommand.self,
            ListCommand.self,
            SSHCommand.self,
            ChannelCommand.self,
            WatchCommand.self,
            ExtendCommand.self,
            VolumeCommand.self,
            HelpCommand.self,
        ])
}

let arguments = ExecPath.runExternalCommandIfNeeded(
    builtins: Portal.configuration.subcommands.map { $0._commandName })
Portal.main(arguments)
