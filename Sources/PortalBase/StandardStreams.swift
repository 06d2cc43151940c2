#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// stdin, stdout and stderr through the system calls, never trapping:
/// Foundation's FileHandle traps (`try!`) on a closed, full or abandoned
/// stream. A failure to write stdout (closed: EBADF, its reader gone: EPIPE,
/// the disk full: ENOSPC) is kept, later writes to it are skipped, and the
/// command stops at its next check and exits 74 (`OutputFailure`); a failure
/// to write stderr loses the message and nothing else.
public enum StandardStreams {
    nonisolated(unsafe) private static var stdoutErrno: Int32 = 0
    private static let lock = Lock()

    /// Ignores SIGPIPE, so that a reader going away is EPIPE from write(2),
    /// handled here, rather than death by a signal mid-way. Children get the
    /// default disposition back (see `Child`).
    public static func install() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Writes to stdout, unless an earlier write failed.
    public static func stdout(_ text: String) {
        lock.withLock {
            guard stdoutErrno == 0 else { return }
            stdoutErrno = writeAll(text, to: STDOUT_FILENO)
        }
    }

    /// Writes to stderr; a failure is ignored (there is nowhere to say it).
    public static func stderr(_ text: String) {
        lock.withLock { _ = writeAll(text, to: STDERR_FILENO) }
    }

    /// The failure of stdout, once a write to it has failed.
    public static var outputFailure: OutputFailure? {
        lock.withLock { stdoutErrno == 0 ? nil : OutputFailure(code: stdoutErrno) }
    }

    /// 0, or the errno of the failed write.
    static func writeAll(_ text: String, to fd: Int32) -> Int32 {
        var text = text
        return text.withUTF8 { buffer -> Int32 in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return 0
        }
    }

    /// The whole of stdin, at most `limit` bytes (more is bad input, exit
    /// 65). A closed stdin reads as empty.
    public static func readInput(limit: Int = 16 << 20) throws(Failure) -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(STDIN_FILENO, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EBADF { return data }
                throw Failure("<stdin>: cannot read: \(String(cString: strerror(errno)))", status: .dataError)
            }
            if count == 0 { return data }
            data += buffer[..<count]
            if data.count > limit {
                throw Failure("<stdin>: more than \(limit >> 20) MiB; a portal document is far smaller", status: .dataError)
            }
        }
    }
}

/// stdout could not be written: exit 74 (sysexits' EX_IOERR).
public struct OutputFailure: PortalFailure, Equatable {
    public var code: Int32
    public var exitStatus: ExitStatus { .ioError }
    public var description: String { "cannot write to stdout: \(String(cString: strerror(code)))" }
}
