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
