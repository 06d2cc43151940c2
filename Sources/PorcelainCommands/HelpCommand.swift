import ArgumentParser
import PortalBase
import PortalCLI

/// `portal help [COMMAND [SUBCOMMAND]]`: the manual page of a command, as
/// `git help` shows it. `portal help` is portal(1), `portal help open`
/// portal-open(1), `portal help mount` the plumbing's portal-mount(1),
/// `portal help format` portal-spec(5). Pages are found beside `portal` (an
/// installed one's `../share/man`, or the source tree's `man/` when it runs
/// from its build folder), else in man's own path; without man(1) the page
/// is printed as mandoc(1) formats it.
struct HelpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "help",
        abstract: "Show the manual page of a command.",
        usage: "portal help [<command> [<subcommand>]]",
        discussion: """
            'portal help' opens portal(1); 'portal help open' opens portal-open(1), and so for \
            every command; 'portal help mount' opens the plumbing's portal-mount(1); 'portal help \
            format' opens portal-spec(5), the spec format. Pages are looked for beside portal \
            (PREFIX/share/man when installed, the source tree's man/ when run from the build \
            folder), then in man's own path. Without man(1), the page is printed as mandoc(1) \
            formats it; without either, its path is printed.
            """)

    @Argument(help: ArgumentHelp("The command whose page to show.", valueName: "command"),
              completion: .custom { _, _, _ in ManualPage.topics() })
    var command: [String] = []

    func run() throws {
        try Report.run {
            let page = try ManualPage(topic: command)
            try page.show()
        }
    }
}

/// A manual page of Portal Gun: its name and section, and where its file is.
struct ManualPage {
    var name: String
    var section: Int
    /// The page's file beside `portal`, or nil: man(1) looks in its own path.
    var file: String?

    /// The page of a topic, as `portal help` takes it. An unknown command is
    /// a usage error (64).
    init(topic: [String]) throws {
        let word = topic.first ?? "portal"
        switch word {
        case "portal": (name, section) = ("portal", 1)
        case "format", "spec-format": (name, section) = ("portal-spec", 5)
        default: (name, section) = (word.hasPrefix("portal-") ? word : "portal-" + word, 1)
        }
        file = ManualPage.localFile(name: name, section: section)
        if file == nil && word != "portal" && section == 1 {
            let command = String(name.dropFirst("portal-".count))
            let builtins = Portal.configuration.subcommands.map { $0._commandName }
            let environment = ProcessInfo.processInfo.environment
            if !builtins.contains(command),
                ExecPath.find(command, arguments: Array(CommandLine.arguments.dropFirst()), environment: environment) == nil
            {
                throw ExecPath.unknownCommand(word, builtins: builtins)
            }
        }
    }

    /// The folders that may hold Portal Gun's pages, nearest first: an
    /// installed `portal`'s `PREFIX/share/man/manN/`, then the source tree's
    /// `man/` when `portal` runs from `.build/…` (the first folder above it
    /// with a Package.swift).
    static func folders(section: Int) -> [String] {
        let binary = URL(fileURLWithPath: ExecPath.selfDirectory)
        var folders = [binary.deletingLastPathComponent().appendingPathComponent("share/man/man\(section)").path]
        var folder = binary
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
                folders.append(folder.appendingPathComponent("man").path)
                break
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { break }
            folder = parent
        }
        return folders
    }

    static func localFile(name: String, section: Int) -> String? {
        folders(section: section).map { "\($0)/\(name).\(section)" }
            .first { FileManager.default.isReadableFile(atPath: $0) }
    }

    /// What `portal help <Tab>` offers: the built-in commands, the commands
    /// that have a page beside `portal`, and `format`.
    static func topics() -> [String] {
        var topics = Portal.configuration.subcommands.map { $0._commandName }
        for folder in folders(section: 1) {
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            where file.hasPrefix("portal-") && file.hasSuffix(".1") {
                topics.append(String(file.dropFirst("portal-".count).dropLast(2)))
            }
        }
        var seen = Set<String>()
        return (topics + ["format"]).filter { seen.insert($0).inserted }
    }

    /// Opens the page with man(1); without man, prints it as mandoc(1)
    /// formats it; without either, says where the page is and how to get
    /// mandoc (exit 1).
    func show() throws {
        if let man = findProgram("man") {
            // A path with a slash is a file to man-db, mandoc's man and macOS's alike.
            let arguments = file.map { [$0] } ?? [String(section), name]
            replaceProcess([man] + arguments)
            throw Failure("cannot run '\(man)': \(String(cString: strerror(errno)))")
        }
        guard let file else {
            throw Failure("no manual page '\(name)(\(section))' beside portal, and no man(1) to look further",
                          hints: ["install man-db, or run portal from the source tree, whose man/ holds the pages"])
        }
        guard let mandoc = findProgram("mandoc") else {
            throw Failure("neither man(1) nor mandoc(1) is installed to show \(name)(\(section)); its page is '\(file)'",
                          hints: ["install mandoc ('apt-get install mandoc' on Debian and Ubuntu), "
                                  + "then 'portal help' again or 'mandoc -a \(file)'"])
        }
        let output = try ManualPage.capture(mandoc, ["-T", ManualPage.utf8 ? "utf8" : "ascii", file])
        Terminal.stdout(Terminal.stdoutIsTerminal ? output : ManualPage.withoutOverstrike(output))
    }

    static var utf8: Bool {
        let environment = ProcessInfo.processInfo.environment
        let locale = [environment["LC_ALL"], environment["LC_CTYPE"], environment["LANG"]]
            .compactMap { $0 }.first { !$0.isEmpty } ?? ""
        return locale.lowercased().replacing("-", with: "").contains("utf8")
    }

    static func capture(_ program: String, _ arguments: [String]) throws -> String {
        guard let result = try Child.run([program] + arguments) else { throw Failure("interrupted", status: .interrupted) }
        guard result.status == 0 else {
            throw Failure("'\(program)' failed with exit status \(result.status)")
        }
        return String(decoding: result.out, as: UTF8.self)
    }

    /// Terminal formatting without the backspaces of bold (`x\bx`) and
    /// underline (`_\bx`), for a file or a pipe.
    static func withoutOverstrike(_ text: String) -> String {
        var result: [Character] = []
        for character in text {
            if character == "\u{8}" { _ = result.popLast(); continue }
            result.append(character)
        }
        return String(result)
    }
}
