import Foundation
import PortalBase
import Testing

@testable import PortalSSH

/// The local cloud's loopback sshd (bin/local-cloud up: PORTAL_LOCAL_SSHD_* in the
/// twin whose instances are machines, where it is a fixture and no instance;
/// PORTAL_LOCAL_SSH_* in the older twin, where it plays every instance).
///
/// Why these tests stay on it rather than on an instance's machine: they are unit tests
/// of the SSH layer (SSHSession, connect, authenticate, sshArguments), with no portal, spec
/// or EC2 call in them. They need an sshd that is up before the test starts and stays
/// put (no launch to wait for, no instance to clean up), and one reachable by name on
/// 127.0.0.1 ("localhost" resolving to ::1 then 127.0.0.1), which a machine, reached at
/// an address inside its own network namespace, is not. Everything about a portal
/// (portal-mount, portal ssh, host keys checked against the console) is tested on the
/// twin's machines: IntegrationTests/MountIntegrationTests and TwinWorkflowTests.
enum LocalSSHD {
    static let environment = ProcessInfo.processInfo.environment
    static func exported(_ name: String) -> String? {
        environment["PORTAL_LOCAL_SSHD_" + name] ?? environment[name == "HOST_KEY" ? "PORTAL_LOCAL_KNOWN_HOST_KEY" : "PORTAL_LOCAL_SSH_" + name]
    }
    static var available: Bool {
        if exported("PORT") == nil && environment["PORTAL_REQUIRE_LOCAL_CLOUD"] == "1" {
            Issue.record("PORTAL_REQUIRE_LOCAL_CLOUD=1 but the local cloud is not up")
        }
        return exported("PORT") != nil
    }
    static var host: String { exported("HOST") ?? "127.0.0.1" }
    static var port: Int { Int(exported("PORT") ?? "") ?? 22 }
    static var user: String { exported("USER") ?? "root" }
    static var key: String { environment["PORTAL_LOCAL_SSH_KEY"] ?? "" }
    static var rsaKey: String { (environment["PORTAL_LOCAL_CLOUD_DIR"] ?? "") + "/id_rsa" }
    static var hostKey: HostKey? {
        (try? String(contentsOfFile: exported("HOST_KEY") ?? "", encoding: .utf8)).flatMap(HostKey.init(line:))
    }
}

/// SSHSession and OpenSSH against the local cloud's real sshd.
@Suite(.enabled(if: LocalSSHD.available))
struct LocalSSHTests {
    @Test("a session runs commands over one connection: stdout, stderr and exit status apart, counted")
    func runCommands() throws {
        let session = try SSHSession.connect(host: LocalSSHD.host, port: LocalSSHD.port, timeout: 30)
        #expect(session.hostKey == LocalSSHD.hostKey)
        try session.authenticate(user: LocalSSHD.user, identityFile: LocalSSHD.key, useAgent: false)
        let result = try session.run("printf out; printf err >&2; exit 3")
        #expect(result.stdoutText == "out")
        #expect(result.stderrText == "err")
        #expect(result.status == 3)
        var streamed: [UInt8] = []
        let big = try session.run("head -c 300000 /dev/zero | tr '\\0' x; echo", collect: false, onStdout: { streamed += $0 })
        #expect(big.status == 0 && big.stdout.isEmpty && streamed.count == 300_001)
        let input = try session.run("wc -c", stdin: Array("four".utf8))
        #expect(input.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "4")
        let killed = try session.run("kill -TERM $$")
        #expect(killed.signal == "TERM" && killed.status == 143)
        #expect(session.statistics.connections == 1)
        #expect(session.statistics.connectionAttempts == 1)
        #expect(session.statistics.commands == 4)
    }

    @Test("a name with several addresses is tried address by address (localhost: ::1 refused, then 127.0.0.1)",
          .enabled(if: LocalSSHD.host == "127.0.0.1"))
    func everyAddress() throws {
        let session = try SSHSession.connect(host: "localhost", port: LocalSSHD.port, timeout: 10)
        #expect(session.hostKey == LocalSSHD.hostKey)
        #expect(session.statistics.connectionAttempts == 1)
    }

    @Test("a refused port is tried again with backoff until --ssh-timeout, saying so, then exit 69")
    func waitsThenGivesUp() throws {
        let port = try closedPort()
        var messages: [String] = []
        let start = Date()
        do {
            _ = try SSHSession.connect(host: "127.0.0.1", port: port, timeout: 2.5, progress: { messages.append($0) })
            Issue.record("connected to a closed port")
        } catch let error as SSHError {
            #expect(error.exitStatus == .unavailable)
            #expect(error.message.contains("within 2 s") && error.message.contains("connection refused"))
        }
        #expect(Date().timeIntervalSince(start) >= 1.4)
        #expect(messages.first?.contains("waiting for sshd on 127.0.0.1:\(port) (connection refused)") == true)
    }

    @Test("an RSA key is refused by modern sshd, and the error explains libssh2 1.10's limit: exit 77")
    func rsaKey() throws {
        let session = try SSHSession.connect(host: LocalSSHD.host, port: LocalSSHD.port, timeout: 30)
        do {
            try session.authenticate(user: LocalSSHD.user, identityFile: LocalSSHD.rsaKey, useAgent: false)
            Issue.record("an RSA key was accepted")
        } catch let failure as Failure {
            #expect(failure.exitStatus == .permission)
            #expect(failure.message.contains("is an RSA key") && failure.message.contains("libssh2 1.10"))
        }
    }

    @Test("a key the instance does not know is tried again for a while (cloud-init may not have installed it yet), then refused: exit 77")
    func unknownKeyRetriedThenRefused() throws {
        let folder = try TemporaryFolder()
        let key = try makeKey(in: folder, "stranger", type: "ed25519")
        let target = SSHTarget(host: LocalSSHD.host, port: LocalSSHD.port, user: LocalSSHD.user, identityFile: key,
                               hostKeyAlias: "i-stranger")
        var messages: [String] = []
        let start = Date()
        do {
            _ = try connect(to: target, options: ConnectOptions(timeout: 30, knownHosts: KnownHosts(path: folder.file("kh")),
                                                                useAgent: false, refusedKeyRetry: 4),
                            progress: { messages.append($0) })
            Issue.record("a stranger's key was accepted")
        } catch let error as SSHError {
            #expect(error.exitStatus == .permission)
            #expect(error.message.contains("refused \(LocalSSHD.user)'s keys"))
        }
        #expect(Date().timeIntervalSince(start) >= 3)
        #expect(messages.contains { $0.contains("refused the key; a booting instance may not have installed it yet") })
    }

    @Test("an encrypted key with no terminal to ask on says to use ssh-agent; a wrong passphrase is refused: exit 77")
    func encryptedKey() throws {
        let folder = try TemporaryFolder()
        let key = try makeKey(in: folder, "enc", type: "ed25519", passphrase: "right one")
        let session = try SSHSession.connect(host: LocalSSHD.host, port: LocalSSHD.port, timeout: 30)
        do {
            try session.authenticate(user: LocalSSHD.user, identityFile: key, useAgent: false, passphrase: { _ in nil })
            Issue.record("authenticated without a passphrase")
        } catch let error as SSHError {
            #expect(error.exitStatus == .permission)
            #expect(error.hints.joined().contains("ssh-add"))
        }
        do {
            try session.authenticate(user: LocalSSHD.user, identityFile: key, useAgent: false, passphrase: { _ in "wrong" })
            Issue.record("authenticated with a wrong passphrase")
        } catch let error as SSHError {
            #expect(error.exitStatus == .permission)
            #expect(error.message.contains("wrong passphrase"))
        }
    }

    @Test("OpenSSH with sshArguments accepts the key recorded by instance id and returns the command's exit status",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh")))
    func openSSHAgrees() throws {
        let folder = try TemporaryFolder()
        let knownHosts = KnownHosts(path: folder.file("known_hosts"))
        let target = SSHTarget(host: LocalSSHD.host, port: LocalSSHD.port, user: LocalSSHD.user,
                               identityFile: LocalSSHD.key, hostKeyAlias: "i-\(UUID().uuidString.prefix(8).lowercased())")
        // Not recorded yet: OpenSSH refuses (strict checking).
        #expect(try runSSH(sshArguments(target: target, knownHosts: knownHosts, command: ["true"])) == 255)
        // Recorded the way portal-mount records it: OpenSSH accepts it.
        #expect(try ensureKnownHost(target, options: ConnectOptions(timeout: 30, knownHosts: knownHosts)) == .firstUse)
        #expect(try runSSH(sshArguments(target: target, knownHosts: knownHosts, command: ["sh", "-c", "exit 7"])) == 7)
        #expect(try runSSH(sshArguments(target: target, knownHosts: knownHosts, command: ["test \"$(echo a b)\" = 'a b'"])) == 0)
        // A different instance id on the same address is a host never seen.
        var other = target
        other.hostKeyAlias = "i-other"
        #expect(try runSSH(sshArguments(target: other, knownHosts: knownHosts, command: ["true"])) == 255)
    }

    func runSSH(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
        process.arguments = ["-o", "BatchMode=yes"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
