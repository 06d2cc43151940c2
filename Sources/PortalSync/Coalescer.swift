/// Turns a burst of file events into one transfer: the transfer is due once
/// the burst has been quiet for `quiet` seconds (an editor's save, a git
/// checkout), but never later than `cap` seconds after its first event, so
/// that a never-ending stream of writes is still sent as it goes.
public struct Coalescer: Equatable, Sendable {
    public var quiet: Double
    public var cap: Double
    public private(set) var first: Double?
    public private(set) var last: Double?

    public init(quiet: Double = 0.02, cap: Double = 0.25) {
        self.quiet = quiet
        self.cap = cap
    }

    /// An event came at `now` (seconds, monotonic).
    public mutating func note(at now: Double) {
        if first == nil { first = now }
        last = now
    }

    public var isPending: Bool { first != nil }

    /// When the pending burst is due, or nil when nothing is pending.
    public var deadline: Double? {
        guard let first, let last else { return nil }
        return min(last + quiet, first + cap)
    }

    public func isDue(at now: Double) -> Bool {
        guard let deadline else { return false }
        return now >= deadline
    }

    /// The burst was taken for a transfer.
    public mutating func reset() {
        first = nil
        last = nil
    }
}

/// Waits between attempts after a failure: 0.5 s, doubling up to `maximum`;
/// back to the start after a success.
public struct Backoff: Equatable, Sendable {
    public var initial: Double
    public var maximum: Double
    public private(set) var failures = 0

    public init(initial: Double = 0.5, maximum: Double = 30) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before the next attempt, counting this failure.
    public mutating func fail() -> Double {
        failures += 1
        return delay
    }

    /// The wait the current count of failures means.
    public var delay: Double {
        guard failures > 0 else { return 0 }
        return min(maximum, initial * Double(1 << min(failures - 1, 20)))
    }

    public mutating func succeed() { failures = 0 }
}

/// The names (relative to a channel's root, "" for the root itself) of the
/// transfers in flight, so that no name is in two transfers at once: the
/// later one could land first, and the older content stay. A name conflicts
/// with one in flight that is the same, a folder above it or a name below it.
public struct NamesInFlight: Equatable, Sendable {
    /// Names in flight, and the folders above them ("" above every name),
    /// each with the count of flights holding it.
    private var names: [String: Int] = [:]
    private var above: [String: Int] = [:]

    public init() {}

    public var isEmpty: Bool { names.isEmpty }

    public mutating func add(_ batch: Set<String>) {
        for name in batch {
            names[name, default: 0] += 1
            for folder in Self.folders(above: name) { above[folder, default: 0] += 1 }
        }
    }

    public mutating func remove(_ batch: Set<String>) {
        func drop(_ key: String, from counts: inout [String: Int]) {
            guard let count = counts[key] else { return }
            counts[key] = count > 1 ? count - 1 : nil
        }
        for name in batch {
            drop(name, from: &names)
            for folder in Self.folders(above: name) { drop(folder, from: &above) }
        }
    }

    public func conflicts(_ name: String) -> Bool {
        names[name] != nil || above[name] != nil || Self.folders(above: name).contains { names[$0] != nil }
    }

    /// A batch split into what may be sent now and what must wait.
    public func split(_ batch: Set<String>) -> (ready: Set<String>, waiting: Set<String>) {
        guard !names.isEmpty else { return (batch, []) }
        var ready = Set<String>(), waiting = Set<String>()
        for name in batch {
            if conflicts(name) { waiting.insert(name) } else { ready.insert(name) }
        }
        return (ready, waiting)
    }

    /// "a/b/c" → "", "a", "a/b"; "" → none.
    static func folders(above name: String) -> [String] {
        guard !name.isEmpty else { return [] }
        var folders = [""]
        var index = name.startIndex
        while let slash = name[index...].firstIndex(of: "/") {
            folders.append(String(name[..<slash]))
            index = name.index(after: slash)
        }
        return folders
    }
}
