
/// Ctrl-C and SIGTERM as a flag that long waits poll, so that an interrupted
/// command can clean up (cancel the spot request, terminate the instance)
/// before it exits 130, instead of dying mid-way.
///
/// The first signal asks: waits and requests in flight are cut short
/// (`cutsShort`), then the command cleans up inside `cleaningUp`, whose own
/// requests are not cut short. A second signal while cleaning up forces a
/// prompt exit (130), after saying what is still running.
public enum Interruption {
    nonisolated(unsafe) private static var count: sig_atomic_t = 0
    nonisolated(unsafe) private static var cleaning: sig_atomic_t = 0
    /// What the forced exit says (a C string, written by the signal handler).
    nonisolated(unsafe) private static var farewell: UnsafeMutablePointer<CChar>? = nil
    nonisolated(unsafe) private static var farewellLength = 0
    nonisolated(unsafe) private static var installed = false

    /// From now on SIGINT and SIGTERM set the flag instead of ending the process.
    public static func install() {
        guard !installed else { return }
        installed = true
        // Children started from worker threads would inherit a blocked mask;
        // make sure these two are deliverable here.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in Interruption.received() }
        signal(SIGTERM) { _ in Interruption.received() }
    }

    /// The signal handler: only async-signal-safe calls (write, _exit).
    private static func received() {
        count += 1
        if count >= 2, cleaning != 0 { forceExit() }
    }

    private static func forceExit() {
        if let farewell { _ = write(STDERR_FILENO, farewell, farewellLength) }
        _exit(130)
    }

    /// Ctrl-C (or SIGTERM) was received.
    public static var requested: Bool { count != 0 }

    /// Waits and requests in flight stop now: interrupted, and not cleaning
    /// up (or interrupted twice).
    public static var cutsShort: Bool { count != 0 && (cleaning == 0 || count >= 2) }

    /// Throws the interruption failure (exit 130) when Ctrl-C was pressed.
    public static func check() throws {
        if cutsShort { throw Failure("interrupted", status: .interrupted) }
    }

    /// Runs a clean-up that must not be cut short by the Ctrl-C that caused
    /// it. A second Ctrl-C meanwhile exits at once (130) after printing
    /// `stillRunning` (what is left, and how to end it) on stderr.
    public static func cleaningUp<T>(stillRunning: String, _ body: () throws -> T) rethrows -> T {
        let program = programName
        let text = strdup("\n\(program): interrupted again: \(stillRunning)\n")
        let previous = (farewell, farewellLength)
        farewellLength = text.map { strlen($0) } ?? 0
        farewell = text
        cleaning += 1
        if count >= 2 { forceExit() }
        defer {
            cleaning -= 1
            (farewell, farewellLength) = previous
            free(text)
        }
        return try body()
    }

    /// Sleeps up to `seconds`, waking early (in at most 50 ms) when cut short.
    public static func sleep(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while !cutsShort {
            let left = end.timeIntervalSinceNow
            if left <= 0 { return }
            PortalBase.sleep(seconds: min(left, 0.05))
        }
    }
}
