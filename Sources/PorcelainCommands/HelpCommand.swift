import ArgumentParser
import Foundation
import PortalBase
import PortalCLI

/// `portal help [COMMAND [SUBCOMMAND]]`: the manual page of a command, as
/// `git help` shows it. `portal help` is portal(1), `portal help open`
/// portal-open(1), `portal help mount` the plumbing's portal-mount(1),
/// `portal help format` portal-spec(5). Pages are found beside `portal` (an
/// installed one's `../share/man`, or the source tree's `man/` when it runs
/// from its build folder), else in man's own path; without man(1) the page
/// is printed as text.
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
            folder), then in man's own path. Without man(1), the page is printed as text.
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

    /// Opens the page with man(1); without man, prints it as text (through
    /// mandoc(1) when there is one, else the page's own text).
    func show() throws {
        if let man = ManualPage.program("man") {
            // A path with a slash is a file to man-db, mandoc's man and macOS's alike.
            let arguments = file.map { [$0] } ?? [String(section), name]
            replaceProcess([man] + arguments)
            throw Failure("cannot run '\(man)': \(String(cString: strerror(errno)))")
        }
        guard let file else {
            throw Failure("no manual page '\(name)(\(section))' beside portal, and no man(1) to look further",
                          hints: ["install man-db, or run portal from the source tree, whose man/ holds the pages"])
        }
        if let mandoc = ManualPage.program("mandoc") {
            let output = try ManualPage.capture(mandoc, ["-T", ManualPage.utf8 ? "utf8" : "ascii", file])
            Terminal.stdout(Terminal.stdoutIsTerminal ? output : ManualPage.withoutOverstrike(output))
            return
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Failure("'\(file)': cannot be read")
        }
        Terminal.stdout(MdocText.render(String(decoding: data, as: UTF8.self)))
    }

    static var utf8: Bool {
        let environment = ProcessInfo.processInfo.environment
        let locale = [environment["LC_ALL"], environment["LC_CTYPE"], environment["LANG"]]
            .compactMap { $0 }.first { !$0.isEmpty } ?? ""
        return locale.lowercased().replacingOccurrences(of: "-", with: "").contains("utf8")
    }

    /// A program on PATH, or nil.
    static func program(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
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

/// The last resort when neither man(1) nor mandoc(1) is installed: the text
/// of an mdoc page, its macros turned into plain words, paragraphs filled,
/// literal blocks kept as they are.
enum MdocText {
    static let width = 78

    static func render(_ source: String) -> String {
        var out: [String] = []
        var words: [String] = []
        var indent = 0
        var literal = false
        var listKinds: [String] = []
        var counters: [Int] = []
        var name = ""

        func flush() {
            guard !words.isEmpty else { return }
            var line = ""
            for word in words {
                if !line.isEmpty && line.count + 1 + word.count + indent > width {
                    out.append(String(repeating: " ", count: indent) + line)
                    line = ""
                }
                line += line.isEmpty ? word : " " + word
            }
            if !line.isEmpty { out.append(String(repeating: " ", count: indent) + line) }
            words = []
        }
        func blank() {
            flush()
            if let last = out.last, !last.isEmpty { out.append("") }
        }

        for rawLine in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if literal {
                if line.hasPrefix(".Ed") { literal = false; blank(); continue }
                out.append(String(repeating: " ", count: indent + 4) + unescape(line))
                continue
            }
            if line.hasPrefix(".\\\"") { continue }
            guard line.hasPrefix(".") else {
                words += unescape(line).split(separator: " ").map(String.init)
                continue
            }
            var tokens = tokenize(String(line.dropFirst()))
            guard !tokens.isEmpty else { continue }
            let macro = tokens.removeFirst()
            switch macro {
            case "Dd", "Os": continue
            case "Dt":
                out.append("\(tokens.first ?? "")(\(tokens.dropFirst().first ?? ""))")
                out.append("")
            case "Sh":
                blank()
                indent = 0
                out.append(tokens.joined(separator: " "))
                indent = 4
            case "Ss":
                blank()
                indent = 2
                out.append(String(repeating: " ", count: indent) + tokens.joined(separator: " "))
                indent = 4
            case "Nm" where name.isEmpty:
                name = tokens.first ?? ""
                words.append(contentsOf: inline(tokens, name: name))
            case "Pp": blank()
            case "Bd":
                blank()
                literal = tokens.contains("-literal")
            case "Dl":
                flush()
                out.append(String(repeating: " ", count: indent + 4) + inline(tokens, name: name).joined(separator: " "))
            case "Bl":
                blank()
                listKinds.append(tokens.joined(separator: " "))
                counters.append(0)
            case "El":
                blank()
                if listKinds.popLast() != nil { _ = counters.popLast() }
                indent = listKinds.isEmpty ? 4 : 4 * listKinds.count + 4
            case "It":
                let depth = max(listKinds.count, 1)
                let kind = listKinds.last ?? "-tag"
                flush()
                if !kind.contains("-compact"), let last = out.last, !last.isEmpty { out.append("") }
                indent = 4 * depth
                if kind.contains("-enum") {
                    counters[counters.count - 1] += 1
                    words.append("\(counters[counters.count - 1]).")
                    indent = 4 * depth
                } else if kind.contains("-bullet") || kind.contains("-dash") {
                    words.append("-")
                } else {
                    out.append(String(repeating: " ", count: indent) + inline(tokens, name: name).joined(separator: " "))
                    indent = 4 * depth + 4
                }
            default:
                words.append(contentsOf: inline([macro] + tokens, name: name))
            }
        }
        flush()
        return out.joined(separator: "\n") + "\n"
    }

    /// Splits a macro line into words, keeping "quoted arguments" whole.
    static func tokenize(_ line: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var quoted = false
        for character in line {
            if character == "\"" { quoted.toggle(); continue }
            if character == " " && !quoted {
                if !current.isEmpty { tokens.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    static let punctuation: Set<String> = [".", ",", ";", ":", ")", "]", "?", "!"]
    static let macros: Set<String> = [
        "Ar", "Cm", "Dq", "Em", "Ev", "Fl", "Ic", "Li", "Nm", "No", "Ns", "Op", "Pa", "Pf", "Pq", "Ql", "Qq", "Qo",
        "Qc", "Sq", "Sx", "Sy", "Va", "Xr", "Oo", "Oc", "Po", "Pc", "Dv", "Er", "Nd", "Ms", "%T", "%U", "Rs", "Re",
    ]

    /// The words of a line of inline macros.
    static func inline(_ tokens: [String], name: String) -> [String] {
        var words: [String] = []
        var glue = false  // Ns: no space before the next word
        var i = 0
        func add(_ word: String) {
            if glue || (punctuation.contains(word) && !words.isEmpty), let last = words.popLast() {
                words.append(last + word)
            } else {
                words.append(word)
            }
            glue = word == "(" || word == "["
        }
        func enclose(_ open: String, _ close: String, from start: Int) {
            var inner = Array(tokens[start...])
            var trailing: [String] = []
            while let last = inner.last, punctuation.contains(last) { trailing.insert(inner.removeLast(), at: 0) }
            let text = self.inline(inner, name: name).joined(separator: " ")
            add(open + text + close)
            trailing.forEach(add)
            i = tokens.count
        }
        var mode = ""
        while i < tokens.count {
            let token = tokens[i]
            if macros.contains(token) {
                i += 1
                switch token {
                case "Ns": glue = true
                case "Pf":
                    if i < tokens.count { add(unescape(tokens[i])); glue = true; i += 1 }
                case "Xr":
                    let page = i < tokens.count ? tokens[i] : ""
                    let section = i + 1 < tokens.count ? tokens[i + 1] : ""
                    add("\(page)(\(section))")
                    i += 2
                case "Nm":
                    if i >= tokens.count || macros.contains(tokens[i]) || punctuation.contains(tokens[i]) { add(name) }
                case "Nd": add("-")
                case "Qq", "Dq": enclose("\"", "\"", from: i)
                case "Ql", "Sq": enclose("'", "'", from: i)
                case "Pq": enclose("(", ")", from: i)
                case "Op": enclose("[", "]", from: i)
                case "Qo": add("\""); glue = true
                case "Qc": if let last = words.popLast() { words.append(last + "\"") }
                case "Oo": add("[")
                case "Oc": add("]")
                case "Po": add("(")
                case "Pc": add(")")
                default: break
                }
                mode = token
                continue
            }
            let word = unescape(token)
            if mode == "Fl" && !punctuation.contains(word) && word != "|" {
                add("-" + word)
            } else {
                add(word)
            }
            i += 1
        }
        if mode == "Fl" && tokens.last == "Fl" { add("-") }
        return words
    }

    static func unescape(_ text: String) -> String {
        var text = text
        for (escape, plain) in [("\\(dq", "\""), ("\\(rs", "\\"), ("\\-", "-"), ("\\&", ""), ("\\e", "\\")] {
            text = text.replacingOccurrences(of: escape, with: plain)
        }
        return text
    }
}
