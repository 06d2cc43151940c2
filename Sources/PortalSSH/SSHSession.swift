// Over 400 lines, kept whole: one class over one libssh2 session (connecting,
// authentication, commands on its channels), whose private state every part uses.
import CSSH2Shim
import CSSH2
import PortalBase

#if canImport(Glibc)
import Glibc
#endif

/// A failure of SSH: the message says what was being done and carries
/// libssh2's own last error text; `code` is libssh2's error number (or 0).
public struct SSHError: PortalFailure {
    public var message: String
    public var code: Int32
    public var exitStatus: ExitStatus
    public var hints: [String]

    public init(_ message: String, code: Int32 = 0, status: ExitStatus = .failure, hints: [String] = []) {
        self.message = message
        self.code = code
        self.exitStatus = status
        self.hints = hints
    }

    public var description: String { message }
}

/// The result of a remote command.
public struct CommandResult: Sendable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// The exit status; 128 + the signal's number when it was killed by a signal.
    public var status: Int32
    /// The signal that ended the command (`KILL`, `TERM`, …), if one did.
    public var signal: String?

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// What a session cost, for `-v` and the benchmark (issue 4: one connection,
/// one round trip per volume). A round trip here is one remote command: a
/// channel opened, a command run, its output read.
public struct SSHStatistics: Sendable, Equatable {
    /// TCP connections tried while waiting for sshd (refused, timed out, or made).
    public var connectionAttempts = 0
    /// SSH connections made (TCP connected and handshake done): 1 per session.
    public var connections = 0
    /// Remote commands run: the round trips.
    public var commands = 0
    /// Seconds from the first attempt until the handshake was done (waiting for sshd included).
    public var connectSeconds = 0.0
    /// Seconds spent authenticating.
    public var authSeconds = 0.0
    /// Seconds spent in remote commands.
    public var commandSeconds = 0.0

    public init() {}

    public var summary: String {
        let conn = connections == 1 ? "1 connection" : "\(connections) connections"
        let cmds = commands == 1 ? "1 round trip" : "\(commands) round trips"
        return "\(conn) (\(connectionAttempts) attempt\(connectionAttempts == 1 ? "" : "s")), \(cmds) (remote commands); "
            + "connect \(seconds(connectSeconds)), auth \(seconds(authSeconds)), commands \(seconds(commandSeconds))"
    }

    private func seconds(_ value: Double) -> String { cFormat("%.3f s", value) }
}

/// libssh2_init, once per process, before the first session (a global `let`
/// is initialised once, thread-safely).
private let libssh2Initialised: Int32 = libssh2_init(0)

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// An SSH connection through libssh2: owns the LIBSSH2_SESSION and the socket
/// and frees both in deinit. One session runs any number of commands, one
/// after another; it is not for use from several threads at once.
public final class SSHSession {
    public let host: String
    public let port: Int
    /// The key the server showed in the handshake.
    public let hostKey: HostKey
    public private(set) var statistics: SSHStatistics
    /// Seconds between keepalives while a command runs.
    public var keepaliveInterval: UInt32 = 15 {
        didSet { libssh2_keepalive_config(session, 1, keepaliveInterval) }
    }

    private let session: OpaquePointer
    private let socket: Int32
    /// The user authenticated as, once `authenticate` succeeded.
    public private(set) var user: String?

    /// Timeout of one blocking libssh2 call (handshake, auth, opening a channel), in seconds.
    static let callTimeout = 30

    // MARK: Connecting

    /// Connects and does the SSH handshake, waiting for sshd while the
    /// instance boots: a refused, unreachable or timed-out connection (or
    /// one dropped before the handshake ends) is tried again with backoff
    /// until `timeout` seconds have passed. No authentication yet: check the
    /// host key first (`checkHostKey`), then `authenticate`.
    ///
    /// - Parameters:
    ///   - attemptTimeout: seconds one TCP connection may take.
    ///   - progress: messages for stderr while waiting (no prefix).
    ///   - shouldStop: asked between attempts; true ends the wait (exit 130).
    ///   - connected: called when a TCP connection is made, before its
    ///     handshake (what is needed next can be asked for meanwhile).
    public static func connect(host: String, port: Int, timeout: Double = 300, attemptTimeout: Double = 10,
                               progress: ((String) -> Void)? = nil,
                               shouldStop: () -> Bool = { Interruption.cutsShort },
                               connected: () -> Void = {}) throws -> SSHSession {
        guard libssh2Initialised == 0 else { throw SSHError("libssh2 could not be initialised") }
        let start = monotonicSeconds()
        let deadline = start + max(timeout, 0)
        var statistics = SSHStatistics()
        let delay = 0.05
        var lastReport = start
        var reported = false
        while true {
            if shouldStop() { throw SSHError("interrupted", status: .interrupted) }
            statistics.connectionAttempts += 1
            let remaining = deadline - monotonicSeconds()
            var why: String
            do {
                let fd = try openSocket(host: host, port: port, timeout: max(1, min(attemptTimeout, remaining)))
                connected()
                do {
                    let session = try SSHSession(host: host, port: port, socket: fd,
                                                 handshakeTimeout: max(5, min(Double(callTimeout), remaining)),
                                                 statistics: statistics)
                    session.statistics.connections = 1
                    session.statistics.connectSeconds = monotonicSeconds() - start
                    if reported { progress?("sshd on \(endpoint(host, port)) answered after \(Int(monotonicSeconds() - start)) s") }
                    return session
                } catch let error as SSHError where SSHSession.isRetryableHandshake(error.code) {
                    why = error.message
                }
            } catch let error as ConnectError where error.retryable {
                why = error.message
            } catch let error as ConnectError {
                throw SSHError("cannot connect to \(endpoint(host, port)): \(error.message)", status: .unavailable)
            }
            let now = monotonicSeconds()
            if now + delay > deadline {
                throw SSHError("cannot reach sshd on \(endpoint(host, port)) within \(Int(timeout)) s: \(why)",
                               status: .unavailable,
                               hints: ["the instance may still be booting, or a security group may block port \(port); "
                                       + "try again with a longer --ssh-timeout, or check the instance's console"])
            }
            if !reported {
                progress?("waiting for sshd on \(endpoint(host, port)) (\(why)); trying for up to \(Int(timeout)) s")
                reported = true
                lastReport = now
            } else if now - lastReport >= 10 {
                progress?("still waiting for sshd on \(endpoint(host, port)) (\(why)), \(Int(now - start)) s so far")
                lastReport = now
            }
            // A twentieth of a second between attempts: sshd is seen within
            // that of answering (a refused TCP connection costs nothing, and
            // no AWS request is made).
            let wake = monotonicSeconds() + delay
            while !shouldStop(), monotonicSeconds() < wake { usleep(10_000) }
        }
    }

    private static func isRetryableHandshake(_ code: Int32) -> Bool {
        // sshd starting up accepts and drops connections, or sends nothing yet.
        [LIBSSH2_ERROR_BANNER_RECV, LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV,
         LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_TIMEOUT, LIBSSH2_ERROR_SOCKET_TIMEOUT].contains(code)
    }

    static func endpoint(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private init(host: String, port: Int, socket: Int32, handshakeTimeout: Double, statistics: SSHStatistics) throws {
        guard let session = pg_libssh2_session_init() else {
            close(socket)
            throw SSHError("libssh2 could not make a session")
        }
        self.host = host
        self.port = port
        self.socket = socket
        self.session = session
        self.statistics = statistics
        // Prefer what OpenSSH prefers, so that the key recorded here is the
        // one `ssh` is shown later; libssh2 1.10 cannot verify rsa-sha2 host keys.
        _ = libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY,
                                        "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-rsa")
        libssh2_session_set_blocking(session, 1)
        libssh2_session_set_timeout(session, Int(handshakeTimeout * 1000))
        let rc = libssh2_session_handshake(session, socket)
        if rc != 0 {
            let error = SSHSession.error(session, "SSH handshake with \(SSHSession.endpoint(host, port)) failed", rc)
            libssh2_session_free(session)
            close(socket)
            throw error
        }
        libssh2_session_set_timeout(session, SSHSession.callTimeout * 1000)
        var length = 0
        var type: Int32 = 0
        guard let raw = libssh2_session_hostkey(session, &length, &type), length > 0 else {
            let error = SSHSession.error(session, "\(SSHSession.endpoint(host, port)) showed no host key", LIBSSH2_ERROR_HOSTKEY_INIT)
            libssh2_session_free(session)
            close(socket)
            throw error
        }
        let blob = raw.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
        hostKey = HostKey(type: HostKey.typeName(inBlob: blob) ?? "unknown", blob: blob)
        libssh2_keepalive_config(session, 1, keepaliveInterval)
    }

    deinit {
        _ = pg_libssh2_session_disconnect(session, "portal gun: done")
        libssh2_session_free(session)
        close(socket)
    }

    /// Adds what earlier sessions to the same place cost (a reconnection
    /// after a refused key); `secondsBefore` is the time from the first
    /// attempt until this connection began, counted as connecting.
    func count(_ earlier: SSHStatistics, secondsBefore: Double) {
        statistics.connectionAttempts += earlier.connectionAttempts
        statistics.connections += earlier.connections
        statistics.commands += earlier.commands
        statistics.connectSeconds += secondsBefore
        statistics.commandSeconds += earlier.commandSeconds
    }

    // MARK: Errors

    /// libssh2's last error for this session, as text.
    public var lastErrorText: String { SSHSession.lastError(session).text }

    private static func lastError(_ session: OpaquePointer) -> (code: Int32, text: String) {
        var message: UnsafeMutablePointer<CChar>?
        let code = pg_libssh2_session_last_error(session, &message)
        return (code, message.map { String(cString: $0) } ?? "")
    }

    /// One place that turns a libssh2 return code and the session's last error into a Swift error.
    private static func error(_ session: OpaquePointer, _ what: String, _ rc: Int32,
                              status: ExitStatus = .failure, hints: [String] = []) -> SSHError {
        let last = lastError(session)
        let code = rc < 0 ? rc : last.code
        let detail = last.text.isEmpty ? "libssh2 error \(code)" : "\(last.text) (libssh2 error \(code))"
        return SSHError("\(what): \(detail)", code: code, status: status, hints: hints)
    }

    private func error(_ what: String, _ rc: Int32, status: ExitStatus = .failure, hints: [String] = []) -> SSHError {
        SSHSession.error(session, what, rc, status: status, hints: hints)
    }

    // MARK: Authentication

    /// Authenticates as `user` with a private key file, or with ssh-agent
    /// (`SSH_AUTH_SOCK`) when there is no file or the file is refused. An
    /// encrypted key is tried through the agent first, then its passphrase is
    /// asked on the terminal. Refused is exit 77; an RSA key refused gets the
    /// error that explains libssh2 1.10's limit and the remedy.
    public func authenticate(user: String, identityFile: String?, useAgent: Bool = true,
                             passphrase: (String) -> String? = { askPassphrase(prompt: $0) }) throws {
        let start = monotonicSeconds()
        defer { statistics.authSeconds += monotonicSeconds() - start }
        let identity = try identityFile.map(IdentityFile.read)
        let agentAvailable = useAgent && !(ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"] ?? "").isEmpty
        var triedAgent = false
        var refusals: [String] = []

        if let identity, identity.encrypted, agentAvailable {
            triedAgent = true
            if try authenticateWithAgent(user: user, refusals: &refusals) { self.user = user; return }
        }
        if let identity {
            var secret: String?
            if identity.encrypted {
                guard let asked = passphrase("Enter passphrase for key '\(identity.path)': ") else {
                    throw SSHError("identity file '\(identity.path)' is encrypted and there is no terminal to ask its passphrase on",
                                   status: .permission,
                                   hints: ["add the key to ssh-agent (ssh-add '\(identity.path)') and run this again"])
                }
                secret = asked
            }
            let rc = pg_libssh2_userauth_publickey_fromfile(session, user, nil, identity.path, secret ?? "")
            if rc == 0 { self.user = user; return }
            if rc == LIBSSH2_ERROR_FILE || rc == LIBSSH2_ERROR_KEYFILE_AUTH_FAILED && identity.encrypted {
                throw error("cannot use identity file '\(identity.path)'\(identity.encrypted ? " (wrong passphrase?)" : "")",
                            rc, status: .permission)
            }
            if rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED && rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED {
                throw error("authenticating as \(user) with '\(identity.path)' failed", rc, status: .permission)
            }
            refusals.append("'\(identity.path)' (\(identity.kind.rawValue)): \(lastErrorText)")
        }
        if agentAvailable, !triedAgent, try authenticateWithAgent(user: user, refusals: &refusals) {
            self.user = user
            return
        }
        if let identity, identity.kind == .rsa {
            throw rsaKeyFailure(identityFile: identity.path, user: user, host: SSHSession.endpoint(host, port))
        }
        if identity == nil && !agentAvailable {
            throw SSHError("no key to authenticate as \(user) with: no identity file and no ssh-agent (SSH_AUTH_SOCK)",
                           status: .permission)
        }
        throw SSHError("\(SSHSession.endpoint(host, port)) refused \(user)'s keys: " + refusals.joined(separator: "; "),
                       code: LIBSSH2_ERROR_AUTHENTICATION_FAILED, status: .permission,
                       hints: ["check that spot_instance.key_pair_name is the key pair of spot_instance.identity_file, "
                               + "and that remote_user is the image's user (ubuntu, ec2-user, admin, …)"])
    }

    private func authenticateWithAgent(user: String, refusals: inout [String]) throws -> Bool {
        guard let agent = libssh2_agent_init(session) else { return false }
        defer { libssh2_agent_free(agent) }
        guard libssh2_agent_connect(agent) == 0 else {
            refusals.append("ssh-agent: cannot connect: \(lastErrorText)")
            return false
        }
        defer { libssh2_agent_disconnect(agent) }
        guard libssh2_agent_list_identities(agent) == 0 else {
            refusals.append("ssh-agent: cannot list keys: \(lastErrorText)")
            return false
        }
        var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
        var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
        var count = 0
        while libssh2_agent_get_identity(agent, &identity, previous) == 0, let current = identity {
            count += 1
            if libssh2_agent_userauth(agent, user, current) == 0 { return true }
            previous = current
        }
        refusals.append(count == 0 ? "ssh-agent holds no keys" : "ssh-agent's \(count) key\(count == 1 ? "" : "s") refused")
        return false
    }

    // MARK: Commands

    /// Runs a command (a line for the remote user's shell) and waits for it.
    /// Output goes to the handlers as it comes (for streaming to stderr) and is
    /// also collected in the result unless `collect` is false. Keepalives go
    /// out while the command is quiet; a dead connection is an error, not a hang.
    @discardableResult
    ///
    /// `holdStdin`: stdin stays open while the command runs, and is closed
    /// on Ctrl-C (`Interruption.cutsShort`), so that a command that watches
    /// it (the mount script) stops itself; otherwise it ends at once.
    public func run(_ command: String, stdin: [UInt8]? = nil, holdStdin: Bool = false, collect: Bool = true,
                    onStdout: (([UInt8]) -> Void)? = nil, onStderr: (([UInt8]) -> Void)? = nil) throws -> CommandResult {
        let start = monotonicSeconds()
        statistics.commands += 1
        defer { statistics.commandSeconds += monotonicSeconds() - start }
        libssh2_session_set_blocking(session, 1)
        guard let channel = pg_libssh2_channel_open_session(session) else {
            throw error("cannot open an SSH channel on \(SSHSession.endpoint(host, port))", 0, status: .unavailable)
        }
        defer { libssh2_channel_free(channel) }
        let rc = pg_libssh2_channel_exec(channel, command)
        if rc != 0 { throw error("cannot start a remote command", rc) }
        if let stdin, !stdin.isEmpty {
            var offset = 0
            while offset < stdin.count {
                let written = stdin[offset...].withUnsafeBufferPointer { buffer in
                    buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                        pg_libssh2_channel_write(channel, $0, buffer.count)
                    }
                }
                if written < 0 { throw error("cannot write to the remote command", Int32(written)) }
                offset += written
            }
        }
        if !holdStdin { _ = libssh2_channel_send_eof(channel) }

        var result = CommandResult(stdout: [], stderr: [], status: -1, signal: nil)
        var buffer = [CChar](repeating: 0, count: 32 * 1024)
        libssh2_session_set_blocking(session, 0)
        defer { libssh2_session_set_blocking(session, 1) }
        while true {
            var progressed = false
            for stream in [0, 1] {
                while true {
                    let n = buffer.withUnsafeMutableBufferPointer { pointer in
                        stream == 0 ? pg_libssh2_channel_read(channel, pointer.baseAddress, pointer.count)
                            : pg_libssh2_channel_read_stderr(channel, pointer.baseAddress, pointer.count)
                    }
                    if n == LIBSSH2_ERROR_EAGAIN || n == 0 { break }
                    if n < 0 { throw error("reading the remote command's output failed", Int32(n), status: .unavailable) }
                    progressed = true
                    let bytes = buffer[0..<n].map { UInt8(bitPattern: $0) }
                    if stream == 0 {
                        onStdout?(bytes)
                        if collect { result.stdout += bytes }
                    } else {
                        onStderr?(bytes)
                        if collect { result.stderr += bytes }
                    }
                }
            }
            if libssh2_channel_eof(channel) != 0 { break }
            if Interruption.cutsShort {
                libssh2_session_set_blocking(session, 1)
                _ = libssh2_channel_send_eof(channel)
                _ = libssh2_channel_close(channel)
                throw SSHError("interrupted", status: .interrupted)
            }
            if !progressed { try waitForSocket() }
        }
        libssh2_session_set_blocking(session, 1)
        _ = libssh2_channel_close(channel)
        _ = libssh2_channel_wait_closed(channel)
        result.status = libssh2_channel_get_exit_status(channel)
        var signal: UnsafeMutablePointer<CChar>?
        var signalLength = 0
        if libssh2_channel_get_exit_signal(channel, &signal, &signalLength, nil, nil, nil, nil) == 0, let signal {
            let name = String(cString: signal)
            free(signal)
            if !name.isEmpty {
                result.signal = name
                result.status = 128 + (SSHSession.signalNumbers[name] ?? 0)
            }
        }
        return result
    }

    private static let signalNumbers: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9, "SEGV": 11,
        "PIPE": 13, "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12,
    ]

    /// Waits until libssh2 can go on (the socket readable or writable, as
    /// libssh2 says), sending a keepalive when one is due.
    private func waitForSocket() throws {
        var next: Int32 = 0
        let rc = libssh2_keepalive_send(session, &next)
        if rc != 0 && rc != LIBSSH2_ERROR_EAGAIN {
            throw error("the connection to \(SSHSession.endpoint(host, port)) was lost", rc, status: .unavailable)
        }
        let directions = libssh2_session_block_directions(session)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        var descriptor = pollfd(fd: socket, events: events, revents: 0)
        // At most a fifth of a second, so that Ctrl-C is seen promptly.
        let milliseconds = min(Int32(max(1, next)) * 1000, 200)
        _ = poll(&descriptor, 1, milliseconds)
    }
}

// MARK: - Sockets

struct ConnectError: Error {
    var message: String
    var retryable: Bool
}

/// A TCP connection to host:port, IPv4 or IPv6 (every address getaddrinfo
/// gives, in its order), within `timeout` seconds per address.
func openSocket(host: String, port: Int, timeout: Double) throws -> Int32 {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_ADDRCONFIG
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &list)
    guard rc == 0, let first = list else {
        let text = String(cString: gai_strerror(rc))
        throw ConnectError(message: "cannot resolve '\(host)': \(text)", retryable: rc == EAI_AGAIN)
    }
    defer { freeaddrinfo(first) }
    var lastError = "no address"
    var retryable = true
    var entry: UnsafeMutablePointer<addrinfo>? = first
    while let info = entry {
        entry = info.pointee.ai_next
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
        if fd < 0 { lastError = String(cString: strerror(errno)); continue }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var result = connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen)
        var code: Int32 = result == 0 ? 0 : errno
        if result != 0 && code == EINPROGRESS {
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            result = poll(&descriptor, 1, Int32(timeout * 1000))
            if result == 0 {
                code = ETIMEDOUT
            } else {
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                code = soError
            }
        }
        if code == 0 {
            _ = fcntl(fd, F_SETFL, flags)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
            #if os(Linux)
            // Unacknowledged data for a minute means the instance is gone (keepalives go every 15 s).
            var userTimeout: UInt32 = 60_000
            setsockopt(fd, Int32(IPPROTO_TCP), 18 /* TCP_USER_TIMEOUT */, &userTimeout, socklen_t(MemoryLayout<UInt32>.size))
            #endif
            return fd
        }
        close(fd)
        lastError = code == ETIMEDOUT ? "connection timed out" : String(cString: strerror(code)).lowercased()
        let transient: Set<Int32> = [ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ECONNRESET, ECONNABORTED, EAGAIN]
        retryable = transient.contains(code)
    }
    throw ConnectError(message: lastError, retryable: retryable)
}
