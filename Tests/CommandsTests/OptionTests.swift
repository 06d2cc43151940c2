import ArgumentParser
import Foundation
import PortalBase
import Testing
@testable import PlumbingCommands
@testable import PorcelainCommands
@testable import PortalCLI
@testable import RemoteCommands

/// The command lines the commands accept and refuse, and what they say, as
/// swift-argument-parser reads them: what used to be reachable only through
/// the binaries.
@Suite("option handling of the commands")
struct OptionTests {
    /// The message a refused command line gets (exit status 64).
    func refusal<C: ParsableCommand>(_ command: C.Type, _ arguments: [String]) -> String? {
        do {
            _ = try command.parseAsRoot(arguments)
            return nil
        } catch {
            #expect(command.exitCode(for: error) == ExitCode(64))
            return command.message(for: error)
        }
    }

    @Test("portal-spec: --name is required with -, and must be a portal name")
    func specName() throws {
        #expect(refusal(PortalSpecCommand.self, ["-"]) == "--name is required when the spec is read from stdin")
        #expect(refusal(PortalSpecCommand.self, ["-", "--name", "a/b"])?.hasPrefix("--name: expected a portal name without '/'") == true)
        let command = try #require(try PortalSpecCommand.parseAsRoot(["-", "--name", "gpu", "--strict"]) as? PortalSpecCommand)
        #expect(command.file == "-" && command.name == "gpu" && command.strict)
    }

    @Test("portal-sign: --date and --presign are checked before anything is read")
    func signOptions() throws {
        #expect(refusal(PortalSign.self, ["--date", "2015-08-30"])
            == "--date: expected YYYYMMDDTHHMMSSZ, such as 20150830T123600Z, found '2015-08-30'")
        #expect(refusal(PortalSign.self, ["--presign", "604801"]) == "--presign: expected 1 to 604800 seconds, found '604801'")
        #expect(refusal(PortalSign.self, ["--print", "signature"]) != nil)
        let command = try #require(try PortalSign.parseAsRoot(["--print", "string-to-sign", "--presign", "60"]) as? PortalSign)
        #expect(command.print == .stringToSign && command.presign == 60)
    }

    @Test("a time option takes -1 as its value, and refuses it")
    func seconds() throws {
        #expect(refusal(PortalSpotRequest.self, ["--timeout", "0"]) == "--timeout: expected a positive number of seconds, found '0'")
        #expect(refusal(PortalSpotRequest.self, ["--timeout", "-1"]) != nil)
        #expect(refusal(PortalSpotRequest.self, ["--timeout", "nan"]) != nil)
        let command = try #require(try PortalSpotRequest.parseAsRoot(["--timeout", "2.5", "--api", "spot-fleet"]) as? PortalSpotRequest)
        #expect(command.timeout == Seconds(2.5) && command.api == .spotFleet)
        #expect(Seconds(argument: "1e308") == nil && Seconds(argument: "604800") == Seconds(604_800))
        #expect(Milliseconds(argument: "2.5") == nil && Milliseconds(argument: "20")?.seconds == 0.02)
    }

    @Test("-q and -v, one option group, for every plumbing command that talks to AWS or SSH")
    func verbosity() throws {
        let ec2 = try #require(try PortalEC2.parseAsRoot(["DescribeVolumes", "-q", "-v"]) as? PortalEC2)
        #expect(ec2.output.quiet && ec2.output.verbose)
        let mount = try #require(try PortalMount.parseAsRoot(["--quiet"]) as? PortalMount)
        #expect(mount.output.quiet && !mount.output.verbose)
        let sync = try #require(try PortalSyncCommand.parseAsRoot(["-v", "--once"]) as? PortalSyncCommand)
        #expect(sync.output.verbose && !sync.output.quiet)
        let helps = [PortalEC2.helpMessage(columns: 200), PortalMount.helpMessage(columns: 200), PortalSyncCommand.helpMessage(columns: 200),
                     PortalFind.helpMessage(columns: 200), PortalSpotRequest.helpMessage(columns: 200),
                     PortalVolumeAttach.helpMessage(columns: 200), PortalSpotCancel.helpMessage(columns: 200)]
        let lines = helps.map { help in help.split(separator: "\n").filter { $0.contains("-q, --quiet") || $0.contains("-v, --verbose") } }
        #expect(lines.allSatisfy { $0.count == 2 }, "\(lines)")
        #expect(Set(lines.map { $0.map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") } }).count == 1,
                "the same words everywhere: \(lines)")
    }

    @Test("portal-sync: --settle cannot be longer than --cap")
    func syncBurst() {
        #expect(refusal(PortalSyncCommand.self, ["--settle", "300", "--cap", "100"])
            == "--settle and --cap: expected settle <= cap, found 300 and 100")
        #expect(refusal(PortalSyncCommand.self, ["--settle", "100", "--cap", "100"]) == nil)
    }

    @Test("portal open --for takes a duration")
    func openFor() throws {
        #expect(refusal(Portal.self, ["open", "gpu", "--for", "3 weeks"])
            == "--for: expected a duration such as 90s, 30m, 3h or 1d, found '3 weeks'")
        let open = try #require(try Portal.parseAsRoot(["open", "gpu", "--for", "90m", "-q"]) as? OpenCommand)
        #expect(open.portal.name == "gpu" && open.duration == "90m" && open.output.quiet)
        #expect(SpotMarketStages.duration("90m") == 5400)
        #expect(SpotMarketStages.duration("1.5h") == 5400)
        #expect(SpotMarketStages.duration("2") == 7200)
        #expect(SpotMarketStages.duration("-1h") == nil && SpotMarketStages.duration("h") == nil)
    }

    @Test("portal -c FILE: the config goes to every command as PORTAL_CONFIG")
    func legacyConfig() {
        // The process's environment: left as it was found.
        let before = getenv("PORTAL_CONFIG").map { String(cString: $0) }
        defer { if let before { setenv("PORTAL_CONFIG", before, 1) } else { unsetenv("PORTAL_CONFIG") } }
        #expect(LegacyConfig.take(["-c", "old.conf", "open", "gpu"]) == ["open", "gpu"])
        #expect(getenv("PORTAL_CONFIG").map { String(cString: $0) } == "old.conf")
        #expect(LegacyConfig.take(["--config=other.conf", "list"]) == ["list"])
        #expect(getenv("PORTAL_CONFIG").map { String(cString: $0) } == "other.conf")
        #expect(LegacyConfig.take(["open", "-c", "x"]) == ["open", "-c", "x"])
    }
}

@Suite("output formatting of the commands")
struct FormattingTests {
    @Test("the completion script defines each shell function once")
    func completion() {
        let script = "_portal() {\n  one\n}\n_portal_help() {\n  ours\n}\n_portal_help() {\n  theirs\n}\ntail"
        #expect(Completion.firstDefinitions(script) == "_portal() {\n  one\n}\n_portal_help() {\n  ours\n}\ntail")
        let bash = Completion.firstDefinitions(Portal.completionScript(for: .bash))
        let definitions = bash.split(separator: "\n").filter { $0.hasSuffix("() {") && !$0.hasPrefix(" ") }
        #expect(!definitions.isEmpty)
        #expect(Set(definitions).count == definitions.count)
    }

    @Test("tables: columns two spaces apart, the last one not padded, no line ending in spaces, numbers right-aligned")
    func table() {
        let text = Table.render(header: ["NAME", "STATE", "NOTE"], rows: [["gpu", "running", "x"], ["a", "stopped", ""]])
        #expect(text == "NAME  STATE    NOTE\ngpu   running  x\na     stopped\n")
        #expect(Table.render(header: ["ID", "SIZE"], rows: [["a", "8 GiB"], ["b", "100 GiB"]], rightAligned: [1])
                == "ID     SIZE\na     8 GiB\nb   100 GiB\n")
    }

    @Test("every built-in command of portal is listed, with its abstract")
    func builtins() {
        let names = Portal.configuration.subcommands.map { $0._commandName }
        #expect(names == ["init", "open", "close", "info", "list", "ssh", "channel", "watch", "extend", "volume",
                          "prices", "gc", "help"])
        let help = Portal.helpMessage(columns: 200)
        #expect(help.contains("open") && help.contains("Open a portal: request its Spot Instance, attach and mount its volumes."))
    }
}
