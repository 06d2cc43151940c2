import PortalBase
import PortalModel

/// Installing the watcher (`WatcherScript`) on an instance and talking to it:
/// its settings, its deadline, its events.
public struct WatcherInstall: Sendable {
    /// Where the watcher keeps its state on the instance.
    public var state = "/var/lib/portal-gun"
    /// Where its script goes.
    public var library = "/usr/local/lib/portal-gun"
    /// Seconds between two rounds.
    public var interval = 2.0
    public var hookSeconds = 60.0
    /// 0: no idle stop.
    public var idleSeconds = 0
    public var warnSeconds = 300
    /// The remote user: the hook and `run` run as this user.
    public var user = "ubuntu"
    public var hook: [String] = []
    public var deadline: Deadline = .keep
    /// How the instance stops itself.
    public var shutdownCommand = "shutdown -h now"
    public var wallCommand = "wall"
    /// What an SSH session looks like in `ps -eo args` (an extended regular expression).
    public var sessions = "^sshd(-session)?: [^ ]+@"
    /// Whether to run under systemd when it is PID 1 (`nil`: when it is).
    public var systemd: Bool? = nil
    /// The environment the watcher is started with (tests move its state and IMDS).
    public var environment: [(String, String)] = []

    public enum Deadline: Equatable, Sendable {
        /// Leave the instance's deadline as it is.
        case keep
        /// Terminate at this time (epoch seconds); set at `since`, for the warning lead.
        case at(Int, since: Int)
        case none
    }

    public init() {}

    public init(spec: PortalSpec, deadline: Deadline) {
        user = spec.spotInstance.remoteUser
        hook = spec.spotMarket.interruptionHook
        hookSeconds = spec.spotMarket.interruptionHookSeconds
        idleSeconds = spec.spotMarket.idleMinutes.map { max(1, Int(($0 * 60).rounded())) } ?? 0
        self.deadline = deadline
    }

    var events: String { state + "/events.jsonl" }

    /// The hook as a script for the remote user's sh: each command in its own
    /// shell, all of them run, the last failure's status the script's.
    var hookScript: String {
        guard !hook.isEmpty else { return "" }
        var lines = ["cd \"$HOME\" 2>/dev/null || true", "status=0"]
        for command in hook { lines.append("sh -c \(Shell.quote(command)) || status=$?") }
        lines.append("exit $status")
        return lines.joined(separator: "\n") + "\n"
    }

    var conf: String {
        let values: [(String, String)] = [
            ("interval", cFormat("%g", interval)), ("hook_seconds", String(Int(hookSeconds.rounded(.up)))),
            ("idle_seconds", String(idleSeconds)), ("warn_seconds", String(warnSeconds)), ("user", user),
            ("session", SpotMarket.runSession), ("shutdown_command", shutdownCommand), ("wall_command", wallCommand),
            ("sessions", sessions),
        ]
        return values.map { "\($0.0)=\(Shell.quote($0.1))" }.joined(separator: "\n") + "\n"
    }

    /// The script that installs the watcher, for `sh -s` as root: writes the
    /// watcher, its settings, the hook and the deadline, then makes sure one
    /// watcher runs — a systemd unit (restarted at boot) when systemd is PID 1,
    /// else a detached process guarded by its pidfile — restarting it only when
    /// its script changed. Prints `watcher=started|running|restarted`,
    /// `manager=systemd|pidfile`, `pid=N`.
    public var script: String {
        // A here-document's end: a line that none of the contents holds.
        var delimiter = "PORTAL_GUN_EOF"
        let contents = (WatcherScript.text + "\n" + conf + hookScript).split(separator: "\n")
        while contents.contains(where: { $0 == delimiter }) { delimiter += "_" }
        var lines = [
            "set -eu", "umask 022",
            "state=\(Shell.quote(state)) lib=\(Shell.quote(library))",
            "mkdir -p \"$state\" \"$lib\"",
            "cat >\"$lib/watcher.new\" <<'\(delimiter)'", WatcherScript.text, delimiter,
            "cat >\"$state/watcher.conf.new\" <<'\(delimiter)'", conf + delimiter,
            "mv -f \"$state/watcher.conf.new\" \"$state/watcher.conf\"",
            "cat >\"$state/hook.sh\" <<'\(delimiter)'", hookScript + delimiter,
        ]
        switch deadline {
        case .keep: break
        case .none: lines.append("rm -f \"$state/deadline\"")
        case .at(let time, let since): lines.append("printf '%s %s\\n' \(time) \(since) >\"$state/deadline.new\" && mv -f \"$state/deadline.new\" \"$state/deadline\"")
        }
        let env = environment.map { "\($0.0)=\(Shell.quote($0.1))" }.joined(separator: " ")
        let useSystemd = systemd.map { $0 ? "yes" : "no" } ?? "auto"
        lines += [
            "changed=yes",
            "if [ -f \"$lib/watcher\" ] && cmp -s \"$lib/watcher.new\" \"$lib/watcher\"; then changed=no; fi",
            "mv -f \"$lib/watcher.new\" \"$lib/watcher\"", "chmod 755 \"$lib/watcher\"",
            "systemd=\(useSystemd)",
            "if [ $systemd = auto ]; then",
            "  if [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ] && command -v systemctl >/dev/null; then systemd=yes; else systemd=no; fi",
            "fi",
            "if [ $systemd = yes ]; then",
            "  unit=/etc/systemd/system/portal-gun-watcher.service",
            "  printf '%s\\n' '[Unit]' 'Description=Portal Gun watcher (spot notices, deadline, idle stop)' 'After=network-online.target' '' "
                + "'[Service]' \"ExecStart=/bin/sh $lib/watcher\" 'Restart=always' 'RestartSec=2' '' '[Install]' 'WantedBy=multi-user.target' >\"$unit\"",
            "  systemctl daemon-reload",
            "  if systemctl is-active --quiet portal-gun-watcher; then",
            "    if [ $changed = yes ]; then systemctl restart portal-gun-watcher; echo watcher=restarted; else echo watcher=running; fi",
            "  else systemctl enable --now portal-gun-watcher >/dev/null 2>&1; echo watcher=started; fi",
            "  systemctl enable portal-gun-watcher >/dev/null 2>&1 || true",
            "  echo manager=systemd",
            "  echo pid=$(systemctl show -p MainPID --value portal-gun-watcher)",
            "  exit 0",
            "fi",
            "pid=$(cat \"$state/watcher.pid\" 2>/dev/null || true)",
            "alive=no",
            "case $pid in '' | *[!0-9]*) ;; *) if kill -0 \"$pid\" 2>/dev/null && grep -q portal-gun \"/proc/$pid/cmdline\" 2>/dev/null; then alive=yes; fi ;; esac",
            "if [ $alive = yes ] && [ $changed = no ]; then echo watcher=running; echo manager=pidfile; echo pid=$pid; exit 0; fi",
            "how=started",
            "if [ $alive = yes ]; then kill \"$pid\"; how=restarted; fi",
            "rm -f \"$state/watcher.pid\"",
            "\(env.isEmpty ? "" : "env \(env) ")setsid nohup /bin/sh \"$lib/watcher\" portal-gun-watcher </dev/null >>\"$state/watcher.log\" 2>&1 &",
            "i=0; while [ ! -s \"$state/watcher.pid\" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done",
            "echo watcher=$how; echo manager=pidfile; echo pid=$(cat \"$state/watcher.pid\" 2>/dev/null)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The command line that runs `script` (sent on stdin) as root: directly
    /// for root, else with `sudo -n` (passwordless sudo, as on Ubuntu's AMIs).
    public static let rootShell = "if [ \"$(id -u)\" = 0 ]; then exec sh -s; else exec sudo -n sh -s; fi"

    /// Installs (or refreshes) the watcher over a session; returns what it printed as `key=value`.
    @discardableResult
    public func install(session: SSHSession) throws -> [String: String] {
        let result = try session.run(WatcherInstall.rootShell, stdin: Array(script.utf8))
        guard result.status == 0 else {
            let why = result.stderrText.trimming()
            throw Failure("cannot install the watcher on the instance (exit \(result.status)): \(why)",
                          hints: why.contains("sudo") ? ["the remote user needs passwordless sudo, as 'ubuntu' has on Ubuntu's AMIs"] : [])
        }
        return Self.pairs(result.stdoutText)
    }

    static func pairs(_ text: String) -> [String: String] {
        var pairs: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            pairs[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return pairs
    }

    /// The command that prints the events file from byte `offset` on (nothing
    /// when it does not exist yet).
    public func eventsCommand(from offset: Int) -> String {
        "f=\(Shell.quote(events)); [ -f \"$f\" ] && tail -c +\(offset + 1) \"$f\" || true"
    }

    /// The command that sets the deadline (as root): `extend`.
    public func deadlineCommand(_ deadline: Int, since: Int) -> String {
        "printf '%s %s\\n' \(deadline) \(since) >\(Shell.quote(state + "/deadline.new")) && mv -f "
            + "\(Shell.quote(state + "/deadline.new")) \(Shell.quote(state + "/deadline"))"
    }

    /// The command that starts the spec's `run` in its tmux session as the
    /// remote user, from the home folder, unless that session already runs.
    /// Prints `run=started` or `run=running`.
    public static func runCommand(_ run: String) -> String {
        let session = SpotMarket.runSession
        return "command -v tmux >/dev/null || { echo 'tmux is not installed on the instance' >&2; exit 3; }; "
            + "if tmux has-session -t =\(session) 2>/dev/null; then echo run=running; else cd && "
            + "tmux new-session -d -s \(session) \(Shell.quote(run)) && echo run=started; fi"
    }
}

/// One line of the watcher's `events.jsonl`.
public struct WatcherEvent: Equatable, Sendable {
    public var event: String
    /// Epoch seconds, the instance's clock.
    public var at: Double
    public var fields: JSON

    public init?(line: Substring) {
        guard let json = try? JSON(parsing: Array(line.utf8)), let event = json["event"]?.stringValue else { return nil }
        self.event = event
        at = json["at"]?.doubleValue ?? 0
        fields = json
    }

    /// A notice that the instance is going away.
    public var isFinal: Bool { ["interruption", "deadline", "idle-stop"].contains(event) }
}

/// Reads events from a growing file: keeps the offset and an incomplete last line.
public struct WatcherEventReader: Sendable {
    public private(set) var offset = 0
    private var pending = ""

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [WatcherEvent] {
        offset += bytes.count
        pending += String(decoding: bytes, as: UTF8.self)
        guard let last = pending.lastIndex(of: "\n") else { return [] }
        let complete = pending[..<last]
        pending = String(pending[pending.index(after: last)...])
        return complete.split(separator: "\n").compactMap(WatcherEvent.init(line:))
    }
}
