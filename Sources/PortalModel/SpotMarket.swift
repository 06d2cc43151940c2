import PortalBase

/// Extension: what a portal does about the spot market and about time — the
/// top-level keys `run`, `interruption_hook`, `interruption_hook_seconds`,
/// `fallback_instance_types`, `reopen`, `reopen_attempts`, `max_hours` and
/// `idle_minutes` (portal-spec(5)). All optional; the defaults do nothing.
public struct SpotMarket: Equatable, Hashable, Sendable {
    /// A shell command started on the instance in the tmux session `runSession`
    /// after every open (and reopen), as the remote user, from its home folder.
    public var run: String?
    /// Shell commands run on the instance, in order, when a notice comes
    /// (spot interruption, rebalance recommendation, deadline).
    public var interruptionHook: [String] = []
    /// The hook's time budget: it is killed after this many seconds, leaving
    /// the rest of AWS's two minutes for the flush and the final inbound pass.
    public var interruptionHookSeconds: Double = 60
    /// Instance types to try, in order, when the spec's own has no capacity.
    public var fallbackInstanceTypes: [String] = []
    /// `portal watch` reopens the portal after AWS takes it back.
    public var reopen = false
    /// How many launches a reopen tries before it gives up (exit 75).
    public var reopenAttempts = 5
    /// The instance terminates itself this many hours after it opens.
    public var maxHours: Double?
    /// The instance terminates itself after this many minutes without an SSH
    /// session, a running `run` command or GPU activity.
    public var idleMinutes: Double?

    public init() {}

    /// The tmux session that holds `run`.
    public static let runSession = "portal-run"
    public static let hookSecondsRange: ClosedRange<Double> = 1...110

    /// Whether the instance needs the watcher for anything the spec asks.
    public var needsWatcher: Bool {
        run != nil || !interruptionHook.isEmpty || reopen || maxHours != nil || idleMinutes != nil
    }

    /// The keys, as `PortalSpec.toJSON` writes them: the ones set, and every
    /// one with a default once any is set.
    public func write(into spec: inout JSONObject) {
        guard self != SpotMarket() else { return }
        if let run { spec["run"] = .string(run) }
        spec["interruption_hook"] = .array(interruptionHook.map(JSON.string))
        spec["interruption_hook_seconds"] = .double(interruptionHookSeconds)
        spec["fallback_instance_types"] = .array(fallbackInstanceTypes.map(JSON.string))
        spec["reopen"] = .bool(reopen)
        spec["reopen_attempts"] = .int(Int64(reopenAttempts))
        if let maxHours { spec["max_hours"] = .double(maxHours) }
        if let idleMinutes { spec["idle_minutes"] = .double(idleMinutes) }
    }

    /// The instance types a launch tries, in order: the spec's, then the fallbacks.
    public func instanceTypes(first: String) -> [String] {
        var types = [first]
        for type in fallbackInstanceTypes where !types.contains(type) { types.append(type) }
        return types
    }
}

/// The spot market keys being read, filled by `SpecChecker.spotMarketFields`.
final class SpotMarketDraft {
    var value = SpotMarket()
}

extension SpecChecker {
    /// The top-level fields of the extension, each writing into `draft`.
    func spotMarketFields(_ draft: SpotMarketDraft) -> [Field] {
        [
            Field("run") { value, path in draft.value.run = self.string(value, at: path) },
            Field("interruption_hook") { value, path in draft.value.interruptionHook = self.strings(value, at: path) ?? [] },
            Field("interruption_hook_seconds") { value, path in
                let range = SpotMarket.hookSecondsRange
                guard let seconds = value.doubleValue, range.contains(seconds) else {
                    self.fail(path, "expected a number of seconds from \(Int(range.lowerBound)) to \(Int(range.upperBound)) "
                        + "(AWS gives two minutes' notice), found \(value.shortDescription)")
                    return
                }
                draft.value.interruptionHookSeconds = seconds
            },
            Field("fallback_instance_types") { value, path in
                let types = self.array(value, at: path, of: "an array of instance types") { value, path -> String? in
                    guard let string = self.string(value, at: path) else { return nil }
                    guard SpecChecker.isInstanceType(string) else {
                        self.fail(path, "expected an instance type such as \"g5.xlarge\", found \(value.shortDescription)")
                        return nil
                    }
                    return string
                }
                draft.value.fallbackInstanceTypes = types?.compactMap { $0 } ?? []
            },
            Field("reopen") { value, path in draft.value.reopen = self.bool(value, at: path) ?? false },
            Field("reopen_attempts") { value, path in
                guard let count = value.intValue, (1...100).contains(count) else {
                    self.fail(path, "expected a number of attempts from 1 to 100, found \(value.shortDescription)")
                    return
                }
                draft.value.reopenAttempts = Int(count)
            },
            Field("max_hours") { value, path in draft.value.maxHours = self.positive(value, at: path, unit: "hours") },
            Field("idle_minutes") { value, path in draft.value.idleMinutes = self.positive(value, at: path, unit: "minutes") },
        ]
    }

    func positive(_ value: JSON, at path: FieldPath, unit: String) -> Double? {
        guard let number = value.doubleValue, number > 0, number.isFinite else {
            fail(path, "expected a positive number of \(unit), found \(value.shortDescription)")
            return nil
        }
        return number
    }
}
