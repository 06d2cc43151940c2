
/// A value computed on a thread of its own; `value()` waits for it (and
/// gives up with exit 130 on Ctrl-C).
public final class Background<T>: @unchecked Sendable {  // `result` guarded by `done`
    private var result: Result<T, Error>?
    private let done = DispatchSemaphore(value: 0)

    public init(_ body: @escaping @Sendable () throws -> T) {
        backgroundRunning.add(1)
        detachThread { [self] in
            result = Result { try body() }
            done.signal()
            backgroundRunning.add(-1)
        }
    }

    /// Waits, at most `seconds`, until no background body is running: a
    /// process that exits while one still uses libssh2, libcurl or OpenSSL
    /// can crash in their exit-time clean-up (seen after Ctrl-C with
    /// `portal open --keep-on-failure`, exit by SIGSEGV instead of 130).
    /// True when none is left.
    @discardableResult
    public static func settle(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while backgroundRunning.value > 0 {
            if Date() >= deadline { return false }
            usleep(20_000)
        }
        return true
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
    private let lock = Lock()
    private var value = false
    public init() {}
    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}

/// How many background bodies run now (see `Background.settle`).
final class RunningCount: @unchecked Sendable {  // `count` guarded by `lock`
    private let lock = Lock()
    private var count = 0
    func add(_ n: Int) { lock.withLock { count += n } }
    var value: Int { lock.withLock { count } }
}

private let backgroundRunning = RunningCount()
