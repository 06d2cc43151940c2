import PortalBase
import PortalCore
import PortalModel
import PortalSSH

/// What `portal open` does on the instance for the spot market keys of a
/// spec (SpotMarket.swift), after mounting and provisioning: the watcher
/// installed (notices, deadline, idle stop) and `run` started in its tmux
/// session. `portal watch` and `portal extend` use the same pieces.
public enum SpotMarketStages {
    /// The deadline an open sets: `--for` first, else `max_hours` when the
    /// instance was just launched; a portal continued with keeps its own.
    public static func deadline(spec: PortalSpec, duration: Double?, justLaunched: Bool,
                                now: Date = Date()) -> WatcherInstall.Deadline {
        let seconds = duration ?? (justLaunched ? spec.spotMarket.maxHours.map { $0 * 3600 } : nil)
        guard let seconds else { return .keep }
        let start = Int(now.timeIntervalSince1970)
        return .at(start + max(1, Int(seconds.rounded())), since: start)
    }

    /// Installs the watcher and starts `run`; the document gets `"watcher"`
    /// (what the install printed) and `"run"` (started or running).
    public static func prepare(_ document: PortalDocument, session: SSHSession, deadline: WatcherInstall.Deadline,
                               cloud: PortalCloud?, progress: (String) -> Void) throws -> PortalDocument {
        var document = document
        let spec = document.spec
        progress("installing the watcher (spot notices" + (spec.spotMarket.maxHours != nil || deadline != .keep ? ", deadline" : "")
            + (spec.spotMarket.idleMinutes != nil ? ", idle stop" : "") + ")")
        let answer = try WatcherInstall(spec: spec, deadline: deadline).install(session: session)
        var watcher = JSONObject()
        for key in answer.keys.sorted() { watcher[key] = .string(answer[key]!) }
        if case .at(let time, _) = deadline {
            let date = Date(timeIntervalSince1970: TimeInterval(time))
            watcher["deadline"] = .string(Ending.iso(date))
            if let id = document.instance?.id { try cloud?.tagDeadline(instanceID: id, deadline: date) }
        }
        document["watcher"] = .object(watcher)
        if let run = spec.spotMarket.run {
            let result = try session.run(WatcherInstall.runCommand(run))
            let out = result.stdoutText
            guard result.status == 0 else {
                throw Failure("cannot start run in tmux session '\(SpotMarket.runSession)': "
                    + result.stderrText.trimming())
            }
            let state = out.contains("run=running") ? "running" : "started"
            progress("run: \(state) in tmux session '\(SpotMarket.runSession)' ('portal ssh \(document.name) -t \(SpotMarket.runSession)' attaches)")
            document["run"] = .string(state)
        }
        return document
    }

    /// `90s`, `30m`, `3h`, `1.5h`, `2d`, or a number of hours: seconds.
    public static func duration(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = Substring(text)
        var unit = 3600.0
        if let last = text.last, let scale = units[last] {
            unit = scale
            number = number.dropLast()
        }
        guard let value = Double(number), value > 0, value.isFinite else { return nil }
        return value * unit
    }
}
