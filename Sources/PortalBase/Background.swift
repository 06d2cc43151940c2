import Foundation

/// A value computed on a thread of its own; `value()` waits for it (and
/// gives up with exit 130 on Ctrl-C).
public final class Background<T>: @unchecked Sendable {  // `result` guarded by `done`
    private var result: Result<T, Error>?
    private let done = DispatchSemaphore(value: 0)

    public init(_ body: @escaping @Sendable () throws -> T) {
        Thread.detachNewThread { [self] in
            result = Result { try body() }
            done.signal()
        }
    }

    public func value() throws -> T {
        while done.wait(timeout: .now() + 0.05) == .timedOut {
            try Interruption.check()
        }
        done.signal()
        return try result!.get()
    }
}

/// A flag one thread sets and others read.
public final class StopFlag: @unchecked Sendable {  // `value` guarded by `lock`
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}
