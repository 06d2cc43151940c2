
#if canImport(Glibc)
import Glibc
#endif

/// The environment a child runs with: this process's, less what no child
/// may have. The AWS keys: the secret and the session token are secrets (a
/// child's environment is readable in /proc/PID/environ, and ssh sends
/// `AWS_*` where a config says `SendEnv AWS_*`); the access key id goes with
/// them, so that an AWS tool run on the way (or credential_process) finds
/// no half of a key pair and uses its own configuration. And
/// RSYNC_OLD_ARGS and RSYNC_PROTECT_ARGS, with which rsync would hand remote
/// paths to the remote shell.
public enum ChildEnvironment {
    public static let withheld: Set<String> = [
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION", "RSYNC_OLD_ARGS", "RSYNC_PROTECT_ARGS",
    ]

    public static func filtered(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        environment.filter { !withheld.contains($0.key) }
    }

    /// `NAME=value` strings for posix_spawn and execve.
    public static func entries(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        filtered(environment).map { "\($0.key)=\($0.value)" }.sorted()
    }
}

/// Replaces this process with `arguments[0]` (an absolute path), with the
/// child environment (or, `keepingEnvironment`, this process's whole one)
/// and SIGPIPE back to its default; returns only on failure (errno says why).
public func replaceProcess(_ arguments: [String], keepingEnvironment: Bool = false) {
    signal(SIGPIPE, SIG_DFL)
    let environment = ProcessInfo.processInfo.environment
    let entries = keepingEnvironment ? environment.map { "\($0.key)=\($0.value)" }.sorted() : ChildEnvironment.entries(environment)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    var envp: [UnsafeMutablePointer<CChar>?] = entries.map { strdup($0) } + [nil]
    execve(arguments[0], &argv, &envp)
    let saved = errno
    for pointer in argv + envp { free(pointer) }
    errno = saved
}

/// A child process started with posix_spawn: an empty signal mask and default
/// dispositions (a Swift process's worker threads may have SIGINT blocked,
/// and children would inherit that), in a process group of its own, so that a
/// Ctrl-C at the terminal reaches portal-sync alone, which then ends its
/// children on purpose. stdout and stderr are pipes read with `pump`. Every
/// child process of Portal Gun is started here, with `ChildEnvironment`.
public final class Child: @unchecked Sendable {
    public let pid: pid_t
    private static let spawnLock = Lock()
    private var outFD: Int32
    private var errFD: Int32
    private var inFD: Int32
    private var exitStatus: Int32?

    /// A pipe (read end, write end) whose ends close on exec, made while no
    /// child is being spawned, so that no child inherits it.
    public static func pipe() throws -> (read: Int32, write: Int32) {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        let fds = try closeOnExecPipe()
        return (fds[0], fds[1])
    }

    private static func closeOnExecPipe() throws -> [Int32] {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { throw Failure("cannot create a pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return fds
    }

    /// Starts `arguments[0]` (an absolute path) with the rest as arguments.
    /// - Parameter stdinPipe: give the child a pipe as stdin, whose writing
    ///   end this object holds until `closeInput()` (else /dev/null).
    /// - Parameter environment: before `ChildEnvironment` takes out what no
    ///   child may have (default: this process's).
    public init(_ arguments: [String], stdinPipe: Bool = false,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        // Pipes are made close-on-exec and the child spawned under one lock,
        // so that no other thread's child inherits this one's pipes (and
        // keeps them open past this child's end).
        Child.spawnLock.lock()
        defer { Child.spawnLock.unlock() }
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1], inPipe: [Int32] = [-1, -1]
        func makePipe(_ fds: inout [Int32]) throws { fds = try Child.closeOnExecPipe() }
        try makePipe(&outPipe)
        try makePipe(&errPipe)
        if stdinPipe { try makePipe(&inPipe) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdinPipe {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = ChildEnvironment.entries(environment).map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, &envp)
        close(outPipe[1])
        close(errPipe[1])
        if stdinPipe { close(inPipe[0]) }
        guard spawned == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            if stdinPipe { close(inPipe[1]) }
            throw Failure("cannot run '\(arguments[0])': \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        self.outFD = outPipe[0]
        self.errFD = errPipe[0]
        self.inFD = stdinPipe ? inPipe[1] : -1
        _ = fcntl(outFD, F_SETFL, fcntl(outFD, F_GETFL) | O_NONBLOCK)
        _ = fcntl(errFD, F_SETFL, fcntl(errFD, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        closeInput()
        if outFD >= 0 { close(outFD) }
        if errFD >= 0 { close(errFD) }
        if exitStatus == nil {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Writes `bytes` to the child's stdin on another thread, then closes it
    /// (the child may be writing output meanwhile, which `collect` reads).
    public func sendInput(_ bytes: [UInt8]) {
        let fd = inFD
        inFD = -1
        guard fd >= 0 else { return }
        detachThread {
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }  // the child is gone (EPIPE): its status says why
                offset += written
            }
            close(fd)
        }
    }

    public func closeInput() {
        if inFD >= 0 { close(inFD); inFD = -1 }
    }

    /// Both pipes at end of file.
    public var outputClosed: Bool { outFD < 0 && errFD < 0 }

    /// Waits up to `timeout` seconds (nil: no limit) for output, or for one
    /// of `others` to be readable, and returns what came (stdout, stderr); a
    /// pipe at its end is closed.
    public func pump(timeout: Double?, alsoWaitingFor others: [Int32] = []) -> (out: [UInt8], err: [UInt8]) {
        var fds: [pollfd] = []
        if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
        if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
        guard !fds.isEmpty else { return ([], []) }
        let ours = fds.count
        fds += others.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        _ = Glibc.poll(&fds, nfds_t(fds.count), pollMilliseconds(timeout))
        var out: [UInt8] = [], err: [UInt8] = []
        for entry in fds.prefix(ours) where entry.revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(entry.fd, &buffer, buffer.count)
                if count > 0 {
                    if entry.fd == outFD { out += buffer[..<count] } else { err += buffer[..<count] }
                    continue
                }
                if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    close(entry.fd)
                    if entry.fd == outFD { outFD = -1 } else { errFD = -1 }
                }
                break
            }
        }
        return (out, err)
    }

    /// The exit status once the child has ended (without waiting), else nil.
    /// A child ended by a signal gets 128 + the signal, as shells report it.
    public func poll() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        exitStatus = Child.decode(status)
        return exitStatus
    }

    /// Waits for the child to end.
    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = Child.decode(status)
        return exitStatus!
    }

    static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Ends the child and everything in its process group: SIGTERM, then
    /// SIGKILL after `grace` seconds.
    public func terminate(grace: Double = 2) {
        guard poll() == nil else { return }
        kill(-pid, SIGTERM)
        let end = monotonic() + grace
        while monotonic() < end {
            _ = pump(timeout: 0.02)
            if poll() != nil { return }
        }
        kill(-pid, SIGKILL)
        wait()
    }

    /// Runs to the end, collecting all output; ends the child (and returns
    /// nil) when `stop` says so.
    public func collect(stop: () -> Bool = { Interruption.requested }) -> (status: Int32, out: [UInt8], err: [UInt8])? {
        var out: [UInt8] = [], err: [UInt8] = []
        while !outputClosed {
            if stop() { terminate(); return nil }
            let chunk = pump(timeout: 0.1)
            out += chunk.out
            err += chunk.err
        }
        while poll() == nil {
            if stop() { terminate(); return nil }
            usleep(2000)
        }
        return (wait(), out, err)
    }

    /// Runs a program to its end and returns its status and output.
    public static func run(_ arguments: [String], stop: () -> Bool = { Interruption.requested })
        throws -> (status: Int32, out: [UInt8], err: [UInt8])?
    {
        try Child(arguments).collect(stop: stop)
    }
}

/// Seconds on the monotonic clock.
public func monotonic() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The absolute path of a program found on PATH, or nil.
public func findProgram(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    for folder in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(folder)/\(name)"
        var info = stat()
        if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
            return candidate
        }
    }
    return nil
}

/// `poll(2)`'s timeout for `seconds` (nil: no limit), rounded up: a wait cut
/// to 0 ms before its deadline would spin until it.
public func pollMilliseconds(_ seconds: Double?) -> Int32 {
    seconds.map { Int32(min(3_600_000, max(0, ($0 * 1000).rounded(.up)))) } ?? -1
}
