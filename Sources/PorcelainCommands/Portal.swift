import ArgumentParser
import PortalBase
import PortalCLI

/// `portal`: the porcelain. Every built-in command is one file here, listed in
/// this one table; any other `portal foo` runs `portal-foo` from the exec path,
/// as git does (see ExecPath.swift).
public struct Portal: ParsableCommand {
    public static let configuration = CommandConfiguration(
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
            PricesCommand.self,
            GCCommand.self,
            HelpCommand.self,
        ])

    // Taken from the command line by `LegacyConfig` before parsing; here for --help.
    @Option(name: [.customShort("c"), .long], help: ArgumentHelp(
        "Portal Gun 0.x's config file (aws_region, aws_access_key, aws_secret_key), before any command; it sets PORTAL_CONFIG.",
        valueName: "file"))
    var config: String?

    public init() {}

    /// `portal`'s entry point: the completion script, `-c FILE`, an external
    /// command (`portal-foo`), else one of the built-in commands.
    public static func start(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        Completion.printIfAsked(arguments)
        let arguments = ExecPath.runExternalCommandIfNeeded(
            builtins: configuration.subcommands.map { $0._commandName },
            arguments: LegacyConfig.take(arguments))
        main(arguments)
    }
}

/// `portal -c FILE COMMAND …`, as Portal Gun 0.x took its config: the file
/// goes to every command (and plumbing it runs) as `PORTAL_CONFIG`.
enum LegacyConfig {
    static func take(_ arguments: [String]) -> [String] {
        var arguments = arguments
        guard let first = arguments.first else { return arguments }
        if first == "-c" || first == "--config", arguments.count > 1 {
            setenv("PORTAL_CONFIG", arguments[1], 1)
            arguments.removeFirst(2)
        } else if first.hasPrefix("--config=") {
            setenv("PORTAL_CONFIG", String(first.dropFirst("--config=".count)), 1)
            arguments.removeFirst()
        }
        return arguments
    }
}

/// `--generate-completion-script SHELL`, with each shell function defined
/// once: swift-argument-parser adds its own `help` beside ours, and its
/// second `_portal_help` would replace the one that completes topics.
enum Completion {
    static func printIfAsked(_ arguments: [String]) {
        guard let flag = arguments.firstIndex(where: { $0.hasPrefix("--generate-completion-script") }) else { return }
        let value = arguments[flag].contains("=") ? String(arguments[flag].split(separator: "=", maxSplits: 1)[1])
            : flag + 1 < arguments.count ? arguments[flag + 1] : ""
        guard let shell = CompletionShell(rawValue: value) else { return }  // the parser says what is wrong
        print(firstDefinitions(Portal.completionScript(for: shell)), terminator: "")
        exit(0)
    }

    /// The script with only the first definition of each function (`name() {` … `}`).
    static func firstDefinitions(_ script: String) -> String {
        var seen = Set<String>()
        var skipping = false
        var lines: [Substring] = []
        for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
            if skipping {
                if line == "}" { skipping = false }
                continue
            }
            if line.hasSuffix("() {"), !line.hasPrefix(" ") {
                if !seen.insert(String(line)).inserted { skipping = true; continue }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
