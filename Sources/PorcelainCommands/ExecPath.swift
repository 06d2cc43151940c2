import PortalBase
import PortalCLI
import PortalCore
import PortalModel

/// git's extension mechanism: `portal foo …` that is not built in runs
/// `portal-foo …`, found in `--exec-path DIR`, `PORTAL_EXEC_PATH`, the folder
/// of `portal` itself, then `PATH`.
enum ExecPath {
    /// `portal bar` and `portal help bar` alike, in git's words: what is
    /// wrong, where the commands are listed, and the closest one.
    static func unknownCommand(_ word: String, builtins: [String]) -> Failure {
        var hints = ["'portal --help' lists the commands; 'portal help' is the manual"]
        if let closest = SpecChecker.closest(to: word, among: builtins.filter { $0 != "help" } + ["help"]) {
            hints.insert("the most similar command is '\(closest)'", at: 0)
        }
        return Failure("'\(word)' is not a portal command", status: .usage, hints: hints)
    }

    static func directories(arguments: [String], environment: [String: String]) -> [String] {
        var dirs: [String] = []
        if let i = arguments.firstIndex(where: { $0 == "--exec-path" || $0.hasPrefix("--exec-path=") }) {
            if arguments[i].hasPrefix("--exec-path=") {
                dirs.append(String(arguments[i].dropFirst("--exec-path=".count)))
            } else if i + 1 < arguments.count {
                dirs.append(arguments[i + 1])
            }
        }
        if let env = environment["PORTAL_EXEC_PATH"], !env.isEmpty { dirs.append(env) }
        dirs.append(selfDirectory)
        dirs += (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        return dirs
    }

    /// The folder of the running executable (through /proc/self/exe, so a
    /// symlink to an installed `portal` still finds its plumbing).
    static var selfDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return folder(of: exe)
    }

    static func find(_ command: String, arguments: [String], environment: [String: String]) -> String? {
        guard !command.contains("/") else { return nil }
        return findProgram("portal-" + command, path: directories(arguments: arguments, environment: environment).joined(separator: ":"))
    }

    /// When the first word is not a built-in command nor an option, replace
    /// this process with `portal-WORD`. Unknown words fall through to the
    /// parser, which says what is known. Returns the arguments for the parser,
    /// without `--exec-path`.
    static func runExternalCommandIfNeeded(builtins: [String], arguments: [String]) -> [String] {
        var args = arguments
        if let i = args.firstIndex(of: "--exec-path"), i + 1 < args.count { args.removeSubrange(i...i + 1) }
        args.removeAll { $0.hasPrefix("--exec-path=") }
        guard let word = args.first, !word.hasPrefix("-"), !builtins.contains(word) else { return args }
        let env = ProcessInfo.processInfo.environment
        guard let path = find(word, arguments: Array(CommandLine.arguments.dropFirst()), environment: env) else {
            let failure = unknownCommand(word, builtins: builtins)
            Report.error(failure.message, hints: failure.hints)
            exit(failure.exitStatus.rawValue)
        }
        // An extension command is part of the toolkit, as git-foo is of git:
        // it gets the whole environment, AWS keys included (ChildEnvironment
        // is for the programs Portal Gun runs on its way, not for itself).
        replaceProcess([path] + args.dropFirst(), keepingEnvironment: true)
        Report.error("could not run '\(path)': \(String(cString: strerror(errno)))")
        exit(126)
    }
}
