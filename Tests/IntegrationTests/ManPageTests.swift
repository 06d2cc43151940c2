import Foundation
import PortalBase
import Testing

/// The manual pages in man/ and the commands' --help, kept in step: every
/// executable and every `portal` command has a page, every option its help
/// shows is documented there (and nothing more), and mandoc finds nothing to
/// complain about. No cloud needed: only the built binaries and man/.
enum Manual {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let folder = repository.appendingPathComponent("man")

    static func path(_ page: String) -> String { folder.appendingPathComponent(page).path }

    /// Every file in man/, such as `portal-open.1` and `portal-spec.5`.
    static let pages: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.range(of: #"\.[1-9]$"#, options: .regularExpression) != nil }.sorted()

    /// The executable products of Package.swift: its `plumbing` list, and `portal`.
    static func executables() throws -> [String] {
        let manifest = try String(contentsOf: repository.appendingPathComponent("Package.swift"), encoding: .utf8)
        guard let start = manifest.range(of: "let plumbing = ["),
              let end = manifest.range(of: "]", range: start.upperBound..<manifest.endIndex)
        else { throw Failure("Package.swift: no 'let plumbing = [...]' list") }
        let list = manifest[start.upperBound..<end.lowerBound]
        let names = list.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        return names + ["portal"]
    }

    /// mandoc(1) on PATH, or nil.
    static var mandoc: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/mandoc" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// What a command's --help says: its options (`-f`, `--field`, both of
/// `--provision/--no-provision`) and its subcommands.
struct HelpText {
    var text: String

    /// The lines of one section (`OPTIONS:`, `SUBCOMMANDS:`), without its title.
    func section(_ title: String) -> [Substring] {
        var lines: [Substring] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && line.hasSuffix(":") && !line.isEmpty {
                inside = line == title + ":"
                continue
            }
            if line.hasPrefix("USAGE:") || line.hasPrefix("OVERVIEW:") { inside = false }
            if inside { lines.append(line) }
        }
        return lines
    }

    /// Every option name an OPTIONS entry shows: `  -f, --field <FIELD>   Print…`.
    var options: Set<String> {
        var names = Set<String>()
        for line in section("OPTIONS") where line.hasPrefix("  -") {
            let entry = line.dropFirst(2)
            let head = entry.range(of: "  ").map { entry[..<$0.lowerBound] } ?? entry
            for part in head.split(whereSeparator: { $0 == "," || $0 == "/" }) {
                if let name = part.split(separator: " ").first, name.hasPrefix("-") { names.insert(String(name)) }
            }
        }
        return names
    }

    /// The subcommands a SUBCOMMANDS section lists.
    var subcommands: [String] {
        section("SUBCOMMANDS").compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
            let name = String(line.dropFirst(2).prefix { $0 != " " })
            return name.range(of: "^[a-z][a-z0-9-]*$", options: .regularExpression) == nil ? nil : name
        }
    }

    /// A command whose help still says it is a placeholder.
    var isPlaceholder: Bool { text.contains("OVERVIEW: Not written yet.") }
}

/// What a page documents in its OPTIONS section: the flags of its `.It Fl …` entries.
struct PageText {
    var name: String
    var source: String

    init(_ name: String) throws {
        self.name = name
        source = try String(contentsOfFile: Manual.path(name), encoding: .utf8)
    }

    var sections: [String] {
        source.split(separator: "\n").filter { $0.hasPrefix(".Sh ") }
            .map { $0.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) }
    }

    static let macros: Set<String> = [
        "Ar", "Op", "Oo", "Oc", "Cm", "Ns", "Pq", "Po", "Pc", "Xo", "Xc", "No", "Li", "Ic", "Ev", "Pa", "Qq", "Ql",
        "Dq", "Sq", "Em", "Sy", "Va", "Nm", "Xr", "Pf",
    ]

    var documentedOptions: Set<String> {
        var names = Set<String>()
        var inOptions = false
        for line in source.split(separator: "\n") {
            if line.hasPrefix(".Sh ") { inOptions = line == ".Sh OPTIONS"; continue }
            guard inOptions, line.hasPrefix(".It ") else { continue }
            var flag = false
            for token in line.dropFirst(4).split(separator: " ").map(String.init) {
                if token == "Fl" { flag = true; continue }
                if PageText.macros.contains(token) { flag = false; continue }
                guard flag, ![",", "|", "[", "]", "(", ")"].contains(token) else { continue }
                names.insert("-" + token.replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\&", with: ""))
            }
        }
        return names
    }
}

/// One page to hold against one command's help: `portal-open.1` and
/// `portal open --help`; `portal-volume.1` and every `portal volume …` help.
struct CommandPage: Sendable, CustomTestStringConvertible {
    var command: [String]
    var page: String
    var subcommands: [[String]] = []

    var testDescription: String { "\(command.joined(separator: " ")) and man/\(page)" }

    func help(_ words: [String]) throws -> HelpText {
        let result = try run(words[0], Array(words.dropFirst()) + ["--help"])
        #expect(result.status == 0, "\(words.joined(separator: " ")) --help: exit \(result.status): \(result.stderr)")
        return HelpText(text: result.stdout)
    }

    /// The plumbing, `portal`, and each `portal` command (with its own subcommands).
    static let all: [CommandPage] = {
        let executables = (try? Manual.executables()) ?? []
        var pages = executables.map { CommandPage(command: [$0], page: "\($0).1") }
        let top = (try? run("portal", ["--help"])).map { HelpText(text: $0.stdout) }
        for sub in top?.subcommands ?? [] {
            let nested = (try? run("portal", [sub, "--help"])).map { HelpText(text: $0.stdout).subcommands } ?? []
            pages.append(CommandPage(command: ["portal", sub], page: "portal-\(sub).1",
                                     subcommands: nested.map { ["portal", sub, $0] }))
        }
        return pages
    }()

    /// Shown by every command, and documented once, in portal(1), if at all.
    static let universal: Set<String> = ["-h", "--help", "--version"]
    /// What portal(1) documents that --help does not show: handled before
    /// the parser (--exec-path) or hidden by it (--generate-completion-script).
    static let beyondHelp: Set<String> = ["--exec-path", "--generate-completion-script", "--"]
}

@Suite("Manual pages")
struct ManPageTests {
    @Test("every executable product of Package.swift has a page in man/")
    func everyExecutableHasAPage() throws {
        let executables = try Manual.executables()
        let manifest = try String(contentsOf: Manual.repository.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(manifest.contains(#"(plumbing + ["portal"]).map { .executable"#),
                "Package.swift's executable products are no longer its plumbing list and portal: update Manual.executables()")
        #expect(executables.count >= 10, "Package.swift lists \(executables)")
        for name in executables {
            #expect(FileManager.default.fileExists(atPath: Manual.path("\(name).1")), "no man/\(name).1 for the executable \(name)")
        }
        #expect(FileManager.default.fileExists(atPath: Manual.path("portal-spec.5")), "no man/portal-spec.5 for the spec format")
    }

    @Test("every portal command has a page of its own, as git-commit(1) is git commit's")
    func everyPortalCommandHasAPage() throws {
        let help = HelpText(text: try run("portal", ["--help"]).stdout)
        let subcommands = help.subcommands
        #expect(subcommands.contains("open") && subcommands.contains("help"), "portal --help lists \(subcommands)")
        for sub in subcommands {
            #expect(FileManager.default.fileExists(atPath: Manual.path("portal-\(sub).1")), "no man/portal-\(sub).1 for 'portal \(sub)'")
        }
    }

    @Test("every option a command's --help shows is documented in its page", arguments: CommandPage.all)
    func helpOptionsAreDocumented(_ pair: CommandPage) throws {
        let page = try PageText(pair.page)
        var shown = try pair.help(pair.command).options
        for sub in pair.subcommands { shown.formUnion(try pair.help(sub).options) }
        let universal = pair.command == ["portal"] ? ["-h", "--help"] : CommandPage.universal
        let missing = shown.subtracting(universal).subtracting(page.documentedOptions).sorted()
        #expect(missing.isEmpty, "man/\(pair.page) does not document \(missing.joined(separator: ", ")), which '\(pair.command.joined(separator: " ")) --help' shows: add an '.It Fl …' entry under OPTIONS")
    }

    @Test("every option a page documents is one its command takes", arguments: CommandPage.all)
    func documentedOptionsExist(_ pair: CommandPage) throws {
        let page = try PageText(pair.page)
        let help = try pair.help(pair.command)
        var shown = help.options
        #expect(!help.isPlaceholder, "'\(pair.command.joined(separator: " "))' is still a placeholder")
        for sub in pair.subcommands {
            shown.formUnion(try pair.help(sub).options)
        }
        let stale = page.documentedOptions.subtracting(shown).subtracting(CommandPage.universal)
            .subtracting(CommandPage.beyondHelp).sorted()
        #expect(stale.isEmpty, "man/\(pair.page) documents \(stale.joined(separator: ", ")), which '\(pair.command.joined(separator: " ")) --help' does not show")
    }

    @Test("every page has the sections of the checklist", arguments: Manual.pages)
    func pageHasItsSections(_ name: String) throws {
        let sections = try PageText(name).sections
        var required = ["NAME", "DESCRIPTION", "SEE ALSO"]
        if name.hasSuffix(".1") {
            required += ["SYNOPSIS", "OPTIONS", "EXIT STATUS", "EXAMPLES"]
            let executables = try Manual.executables()
            if executables.contains(String(name.dropLast(2))) && name != "portal.1" { required += ["INPUT", "OUTPUT"] }
        }
        let missing = required.filter { !sections.contains($0) }
        #expect(missing.isEmpty, "man/\(name) has no \(missing.joined(separator: ", ")) section")
    }

    @Test("mandoc -T lint -W warning finds nothing to report in any page", arguments: Manual.pages)
    func pageIsLintClean(_ name: String) throws {
        guard let mandoc = Manual.mandoc else {
            Issue.record("mandoc is not installed (bin/setup installs it): man/\(name) was not linted")
            return
        }
        let result = try run(mandoc, ["-T", "lint", "-W", "warning", Manual.path(name)])
        #expect(result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty,
                "mandoc -T lint -W warning man/\(name): exit \(result.status)\n\(result.stdout)\(result.stderr)")
    }

    @Test("every page is in portal(1)'s SEE ALSO")
    func portalPageNamesEveryPage() throws {
        let portal = try PageText("portal.1").source
        for name in Manual.pages where name != "portal.1" {
            let (page, section) = (String(name.dropLast(2)), name.suffix(1))
            #expect(portal.contains(".Xr \(page) \(section)"), "portal.1 does not refer to \(page)(\(section))")
        }
    }
}

@Suite("portal help")
struct HelpCommandTests {
    /// A folder for PATH that holds only the given programs, so that a test
    /// can take man(1) or mandoc(1) away.
    func path(with programs: [String]) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("portal-help-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for program in programs {
            if let found = path.split(separator: ":").map({ "\($0)/\(program)" })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
                try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent(program).path,
                                                           withDestinationPath: found)
            }
        }
        return folder.path
    }

    @Test("portal help open shows portal-open(1) from the source tree")
    func helpShowsThePage() throws {
        let result = try run("portal", ["help", "open"], environment: ["MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("PORTAL-OPEN(1)") && result.stdout.contains("--close-on-failure"), "\(result.stdout.prefix(400))")
    }

    @Test("portal help format shows the spec format, portal-spec(5)")
    func helpShowsTheFormat() throws {
        let result = try run("portal", ["help", "format"], environment: ["MANPAGER": "cat", "MANWIDTH": "80"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("PORTAL-SPEC(5)"), "\(result.stdout.prefix(400))")
    }

    @Test("without man, portal help prints the page as mandoc formats it")
    func helpWithoutManUsesMandoc() throws {
        guard Manual.mandoc != nil else { return }
        let folder = try path(with: ["mandoc"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try run("portal", ["help", "mount"], environment: ["PATH": folder])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("PORTAL-MOUNT(1)") && result.stdout.contains("--device-timeout"))
        #expect(!result.stdout.contains("\u{8}"), "backspaces of terminal bold in a pipe")
    }

    @Test("without man and mandoc, portal help says where the page is and how to get mandoc (exit 1)")
    func helpWithoutManOrMandoc() throws {
        let folder = try path(with: [])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try run("portal", ["help", "volume", "create"], environment: ["PATH": folder])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("man/portal-volume.1'") && result.stderr.contains("apt-get install mandoc"),
                "\(result.stderr)")
    }

    @Test("portal help of an unknown command is a usage error")
    func helpOfUnknownCommand() throws {
        let result = try run("portal", ["help", "no-such-command"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("'no-such-command' is not a portal command"), "\(result.stderr)")
    }
}
