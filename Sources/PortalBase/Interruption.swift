import Foundation

/// Ctrl-C and SIGTERM as a flag that long waits poll, so that an interrupted
/// command can clean up (cancel the spot request, terminate the instance)
/// before it exits 130, instead of dying mid-way.
public enum Interruption {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0
    nonisolated(unsafe) private static var installed = false

    /// From now on SIGINT and SIGTERM set the flag instead of ending the
    /// process. A second Ctrl-C while cleaning up is taken as the same request.
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
        signal(SIGINT) { _ in Interruption.flag = 1 }
        signal(SIGTERM) { _ in Interruption.flag = 1 }
    }

    public static var requested: Bool { flag != 0 }

    /// Throws the interruption failure (exit 130) when Ctrl-C was pressed.
    public static func check() throws {
        if requested { throw Failure("interrupted", status: .interrupted) }
    }

    /// Sleeps up to `seconds`, waking early (in at most 50 ms) when interrupted.
    public static func sleep(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while !requested {
            let left = end.timeIntervalSinceNow
            if left <= 0 { return }
            Thread.sleep(forTimeInterval: min(left, 0.05))
        }
    }
}
