import ArgumentParser

/// A length of time on the command line (`--timeout 90`, `--ssh-timeout 2.5`),
/// checked as the option is parsed: a finite number from 0 to a week. So
/// `nan`, `inf`, `1e308`, `9223372036854775807` or `-1` is a usage error (64)
/// that names the option, before anything runs, rather than a trap or a wait
/// without end. Options of this type take the next word unconditionally
/// (`parsing: .unconditional`), so that `-1` is read as the value it is.
public struct Seconds: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    public static let range: ClosedRange<Double> = 0...604_800

    public var value: Double

    public init(_ value: Double) { self.value = value }

    public init?(argument: String) {
        guard let value = Seconds.number(argument, in: Seconds.range) else { return nil }
        self.value = value
    }

    /// The number a command-line word holds, when it is finite and in range.
    static func number(_ text: String, in range: ClosedRange<Double>) -> Double? {
        guard text.count <= 32, let value = Double(text), value.isFinite, range.contains(value) else { return nil }
        return value
    }

    public var description: String {
        value.rounded() == value ? String(Int(value)) : String(value)
    }

    public var defaultValueDescription: String { description }
}

/// Milliseconds on the command line (`--settle 20`): a whole number from 0 to
/// an hour, checked as `Seconds` is.
public struct Milliseconds: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    public var value: Int

    public init(_ value: Int) { self.value = value }

    public init?(argument: String) {
        guard let number = Seconds.number(argument, in: 0...3_600_000), number.rounded() == number else { return nil }
        value = Int(number)
    }

    public var seconds: Double { Double(value) / 1000 }
    public var description: String { String(value) }
    public var defaultValueDescription: String { description }
}
