import PortalBase

/// Progress on stderr, as people like it: on a terminal, one status line that
/// is rewritten in place, with the time since the command started ticking
/// while a step waits; elsewhere (a log, a pipe), one plain line per change
/// of state. Colour only on a terminal, and never with NO_COLOR set.
public final class StatusLine: @unchecked Sendable {
    // Unchecked: every mutable field is touched only while `lock` is held.
    private let lock = Lock()
    private let started = Date()
    private let program: String
    private let interactive: Bool
    private var current: String?
    private var ticking = false

    public init(program: String, interactive: Bool = Terminal.stderrIsTerminal) {
        self.program = program
        self.interactive = interactive
    }

    public static var colourAllowed: Bool {
        Terminal.stderrIsTerminal && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
            && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Shows a new state.
    public func update(_ message: String) {
        guard interactive else {
            Terminal.stderr("\(program): \(message)")
            return
        }
        lock.withLock {
            current = message
            draw()
            if !ticking {
                ticking = true
                detachThread { [weak self] in
                    while let self, self.tick() { sleep(seconds: 0.25) }
                }
            }
        }
    }

    /// Ends the status line: the last state stays on screen as a plain line.
    public func finish() {
        lock.withLock {
            if interactive, current != nil { StandardStreams.stderr("\n") }
            current = nil
        }
    }

    private func tick() -> Bool {
        lock.withLock {
            guard current != nil else { ticking = false; return false }
            draw()
            return true
        }
    }

    private func draw() {
        guard let current else { return }
        let elapsed = cFormat("%5.1fs", Date().timeIntervalSince(started))
        let width = Terminal.columns
        var line = "[\(elapsed)] \(current)"
        if line.count > width - 1 { line = String(line.prefix(max(10, width - 2))) + "…" }
        StandardStreams.stderr("\r\u{1B}[K\(line)")
    }
}

extension Terminal {
    /// The terminal's width, or 80.
    public static var columns: Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }
}
