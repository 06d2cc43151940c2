import CSSH2
import PortalBase
import PortalModel

/// Where and as whom to connect for a portal: what `portal-mount` connects to
/// in process and what `portal ssh` hands to OpenSSH, from one place.
public struct SSHTarget: Equatable, Sendable {
    public var host: String
    public var port: Int
    public var user: String
    /// The private key (absolute), from `spot_instance.identity_file`.
    public var identityFile: String
    /// The name the host key is recorded under: the instance id.
    public var hostKeyAlias: String

    public init(host: String, port: Int, user: String, identityFile: String, hostKeyAlias: String) {
        self.host = host
        self.port = port
        self.user = user
        self.identityFile = identityFile
        self.hostKeyAlias = hostKeyAlias
    }

    /// The target of a portal document: the spec's user, key and `ssh`
    /// settings, and the instance from `"instance"` (else the instance id of
    /// the first attachment, when `ssh.host` is set).
    public init(document: PortalDocument) throws {
        let spec = document.spec
        let instance = try document.givenInstance()
        let instanceID = document.instanceID
        let host: String
        if let explicit = spec.ssh.host, !explicit.isEmpty {
            host = explicit
        } else {
            guard let instance else {
                throw Failure("<stdin>: the document has no \"\(DocumentKey.instance)\": run portal-spot-request (or portal-find) before this",
                              status: .dataError)
            }
            host = try SSHTarget.address(of: instance, choice: spec.ssh.address)
        }
        // Both are written into known_hosts and handed to ssh: the instance id
        // was checked as the document was read (an `InstanceID`), the host here.
        guard AWSNames.isHost(host) else {
            throw Failure("<stdin>: expected a host name or IP address to connect to, found \(JSON.string(host).shortDescription)",
                          status: .dataError)
        }
        self.init(host: host, port: spec.ssh.port, user: spec.spotInstance.remoteUser,
                  identityFile: spec.spotInstance.identityFile,
                  hostKeyAlias: instanceID?.rawValue ?? "[\(host)]:\(spec.ssh.port)")
    }

    /// Which of an instance's addresses to use: `public_dns` (else the public
    /// IP when the instance has no DNS name), `public_ip` or `private_ip`.
    public static func address(of instance: Instance, choice: PortalSpec.SSH.Address) throws -> String {
        func value(_ string: String?) -> String? {
            guard let string, !string.isEmpty else { return nil }
            return string
        }
        let found: String?
        switch choice {
        case .publicDNS: found = value(instance.publicDNS) ?? value(instance.publicIP)
        case .publicIP: found = value(instance.publicIP)
        case .privateIP: found = value(instance.privateIP)
        }
        guard let found else {
            let name = instance.id
            let what = choice == .privateIP ? "no private IP address" : choice == .publicIP ? "no public IP address" : "no public DNS name nor public IP address"
            throw Failure("\(name) has \(what) to connect to (ssh.address is \"\(choice.rawValue)\")",
                          status: .dataError,
                          hints: ["set \"ssh\": {\"address\": \"private_ip\"} in the spec to use the private address "
                                  + "(from inside the VPC), or \"ssh\": {\"host\": …, \"port\": …} for a tunnel"])
        }
        return found
    }

    /// `user@host` as OpenSSH takes it.
    public var destination: String { "\(user)@\(host)" }
}

/// The arguments (after the program name) that make OpenSSH connect where
/// `portal-mount` does, check the host key against the same known_hosts entry
/// (the instance id, through HostKeyAlias, with strict checking), and run
/// `command` or a tmux session.
///
/// `command`: one word is a command line for the remote shell, as `ssh HOST
/// 'a | b'` takes it; several words are run exactly as given, each quoted
/// (`portal ssh gpu -- sh -c 'exit 7'`). With `tmux`, the command (if any)
/// runs in a new tmux session of that name, or the session is attached if
/// it exists; a terminal is always requested.
public func sshArguments(target: SSHTarget, knownHosts: KnownHosts = .default, tmux: String? = nil,
                         command: [String] = []) -> [String] {
    var arguments: [String] = []
    if tmux != nil { arguments.append("-t") }
    arguments += [
        "-i", target.identityFile,
        "-p", String(target.port),
        "-o", "IdentitiesOnly=yes",
        "-o", "UserKnownHostsFile=\(knownHosts.path)",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "HostKeyAlias=\(target.hostKeyAlias)",
        "-o", "CheckHostIP=no",
        "-o", "UpdateHostKeys=no",
        "-o", "ServerAliveInterval=30",
        target.destination,
    ]
    var remote = command.count == 1 ? command[0] : Shell.join(command)
    if let tmux {
        remote = Shell.join(["tmux", "new", "-A", "-s", tmux]) + (remote.isEmpty ? "" : " " + remote)
    }
    if !remote.isEmpty { arguments += ["--", remote] }
    return arguments
}

/// `portal ssh`'s two words, the portal and the tmux session, in either
/// order Portal Gun 0.x took them: `NAME -t SESSION`, or `-t SESSION NAME`,
/// where the word right after `-t` (`--tmux`) is the session.
public func portalAndTmuxSession(_ words: (String, String?), arguments: [String]) -> (name: String, session: String?) {
    guard let second = words.1,
        let flag = arguments.firstIndex(where: { $0 == "-t" || $0 == "--tmux" }),
        flag + 1 < arguments.count, arguments[flag + 1] == words.0
    else { return words }
    return (second, words.0)
}

/// `sshArguments` for a portal document.
public func sshArguments(document: PortalDocument, knownHosts: KnownHosts = .default, tmux: String? = nil,
                         command: [String] = []) throws -> [String] {
    sshArguments(target: try SSHTarget(document: document), knownHosts: knownHosts, tmux: tmux, command: command)
}

/// The OpenSSH command line, quoted for a shell: what `portal info` and
/// `portal open` print as the way to connect.
public func sshCommandLine(target: SSHTarget, knownHosts: KnownHosts = .default, tmux: String? = nil,
                           command: [String] = []) -> String {
    Shell.join(["ssh"] + sshArguments(target: target, knownHosts: knownHosts, tmux: tmux, command: command))
}

/// Options for connecting to a portal's instance.
public struct ConnectOptions: Sendable {
    /// Seconds to wait for sshd while the instance boots (`--ssh-timeout`).
    public var timeout: Double = 300
    public var knownHosts: KnownHosts = .default
    /// Use ssh-agent when the identity file is refused or encrypted.
    public var useAgent = true
    /// Seconds to keep trying when the instance refuses an unencrypted key:
    /// while it boots, sshd may answer before cloud-init has installed the
    /// key pair's public key. 0: refused is final at once.
    public var refusedKeyRetry: Double = 15
    /// Asked while waiting for sshd: true gives up (exit 130). By default, Ctrl-C.
    public var shouldStop: @Sendable () -> Bool = { Interruption.cutsShort }

    public init(timeout: Double = 300, knownHosts: KnownHosts = .default, useAgent: Bool = true,
                refusedKeyRetry: Double = 15) {
        self.timeout = timeout
        self.knownHosts = knownHosts
        self.useAgent = useAgent
        self.refusedKeyRetry = refusedKeyRetry
    }
}

/// Connects to a target: waits for sshd, checks the host key (known_hosts,
/// else the console text, else trust on first use), and authenticates.
///
/// - Parameters:
///   - consoleOutput: the instance's console text (GetConsoleOutput,
///     decoded or not), asked only on first contact, while the handshake
///     goes on (asked again after it when that text shows no fingerprints
///     yet); nil if not available.
///   - progress: messages for stderr.
///
/// A refused key (not an RSA one, not an encrypted one) is tried again on a
/// new connection for `options.refusedKeyRetry` seconds, since a booting
/// instance may not have installed it yet; the statistics of the session
/// returned count every connection made.
public func connect(to target: SSHTarget, options: ConnectOptions = ConnectOptions(),
                    consoleOutput: @escaping @Sendable () -> String? = { nil },
                    progress: @escaping (String) -> Void = { _ in }) throws -> SSHSession {
    let start = monotonicSeconds()
    var earlier: SSHStatistics?
    var firstRefusal: Double?
    var console: Background<String?>?
    while true {
        let began = monotonicSeconds()
        let remaining = max(1, options.timeout - (began - start))
        let session = try SSHSession.connect(host: target.host, port: target.port, timeout: remaining, progress: progress,
                                             shouldStop: options.shouldStop, connected: {
            if console == nil, (try? options.knownHosts.keys(for: target.hostKeyAlias).isEmpty) == true {
                console = Background(consoleOutput)
            }
        })
        if let earlier { session.count(earlier, secondsBefore: began - start) }
        try checkHostKey(session.hostKey, host: target.hostKeyAlias, address: SSHSession.endpoint(target.host, target.port),
                         knownHosts: options.knownHosts, consoleOutput: {
            if let console, let early = try? console.value(), ConsoleHostKeys(consoleOutput: early) != nil { return early }
            return consoleOutput()
        }, note: progress)
        do {
            try session.authenticate(user: target.user, identityFile: target.identityFile, useAgent: options.useAgent)
            return session
        } catch let error as SSHError where error.code == LIBSSH2_ERROR_AUTHENTICATION_FAILED {
            let now = monotonicSeconds()
            let encrypted = (try? IdentityFile.read(target.identityFile))?.encrypted ?? true
            if firstRefusal == nil { firstRefusal = now }
            guard !encrypted, now - firstRefusal! + 3 <= options.refusedKeyRetry, now - start + 3 <= options.timeout else {
                throw error
            }
            if now == firstRefusal {
                progress("\(target.user)@\(SSHSession.endpoint(target.host, target.port)) refused the key; a booting instance may "
                         + "not have installed it yet: trying again for up to \(Int(options.refusedKeyRetry)) s")
            }
            earlier = session.statistics
            usleep(3_000_000)
        }
    }
}

/// Makes sure Portal Gun's known_hosts holds the instance's key (what
/// `portal ssh` needs before handing over to OpenSSH with strict checking):
/// when it does not, connects once without authenticating and checks the key
/// as `connect` does. Returns how the key is trusted.
@discardableResult
public func ensureKnownHost(_ target: SSHTarget, options: ConnectOptions = ConnectOptions(),
                            consoleOutput: () -> String? = { nil }, progress: @escaping (String) -> Void = { _ in }) throws -> HostKeyTrust {
    if try !options.knownHosts.keys(for: target.hostKeyAlias).isEmpty { return .known }
    let session = try SSHSession.connect(host: target.host, port: target.port, timeout: options.timeout, progress: progress)
    return try checkHostKey(session.hostKey, host: target.hostKeyAlias, address: SSHSession.endpoint(target.host, target.port),
                            knownHosts: options.knownHosts, consoleOutput: consoleOutput, note: progress)
}
