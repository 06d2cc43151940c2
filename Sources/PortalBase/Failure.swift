/// Exit statuses, as the README's table fixes them (sysexits, as
/// swift-argument-parser already uses for usage errors). Every executable
/// documents them.
public enum ExitStatus: Int32, Sendable {
    case success = 0
    /// The operation failed.
    case failure = 1
    /// Bad command line.
    case usage = 64
    /// Bad input: a spec, or the JSON on stdin.
    case dataError = 65
    /// AWS or the instance unreachable after retries.
    case unavailable = 69
    /// The output could not be written: stdout closed, full, or its reader gone.
    case ioError = 74
    /// Temporary: no capacity, timed out. Trying again later may work.
    case temporary = 75
    /// Credentials or SSH authentication refused.
    case permission = 77
    /// Interrupted, after cleaning up.
    case interrupted = 130
}

/// An error meant for a person: a message in the house style (lowercase, the
/// problem first, no final full stop), optional lines of advice, and the exit
/// status it ends the process with.
public protocol PortalFailure: Error, CustomStringConvertible {
    var exitStatus: ExitStatus { get }
    /// Further lines: what to do about it.
    var hints: [String] { get }
}

extension PortalFailure {
    public var hints: [String] { [] }
}

/// The general-purpose failure, for errors that need no type of their own.
public struct Failure: PortalFailure, Equatable {
    public var message: String
    public var exitStatus: ExitStatus
    public var hints: [String]

    public init(_ message: String, status: ExitStatus = .failure, hints: [String] = []) {
        self.message = message
        self.exitStatus = status
        self.hints = hints
    }

    public var description: String { message }
}
