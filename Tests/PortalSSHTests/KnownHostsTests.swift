import Foundation
import PortalBase
import Testing

@testable import PortalSSH

/// A temporary folder, removed when the value goes.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("portal-ssh-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

struct KnownHostsTests {
    @Test("keys are recorded and found by instance id; other instances' lines, comments and hashed lines are not")
    func readWrite() throws {
        let folder = try TemporaryFolder()
        let file = KnownHosts(path: folder.file("sub/known_hosts"))
        #expect(try file.keys(for: "i-0abc").isEmpty)
        try file.add(host: "i-0abc", key: SampleKeys.key(SampleKeys.ed25519))
        try file.add(host: "i-0def", key: SampleKeys.key(SampleKeys.other))
        #expect(try file.keys(for: "i-0abc") == [SampleKeys.key(SampleKeys.ed25519)])
        #expect(try file.keys(for: "i-0def") == [SampleKeys.key(SampleKeys.other)])
        #expect(try file.keys(for: "i-0ab").isEmpty)

        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        let blob = SampleKeys.ed25519.split(separator: " ")[1]
        #expect(text.hasPrefix("i-0abc ssh-ed25519 \(blob)\n"))
        // Private to the user, in a private folder.
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let folderAttributes = try FileManager.default.attributesOfItem(atPath: folder.file("sub"))
        #expect((folderAttributes[.posixPermissions] as? Int) == 0o700)
    }

    @Test("lines OpenSSH writes are read: comma-separated names, comments, markers and hashed names skipped")
    func parseOpenSSHLines() {
        let ecdsa = SampleKeys.ecdsa.split(separator: " ")[0...1].joined(separator: " ")
        let text = """
            # a comment
            |1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= \(ecdsa)
            @cert-authority i-0abc \(ecdsa)
            10.0.0.1,i-0abc \(ecdsa) a comment
            i-0abc garbage
            """
        #expect(KnownHosts.parse(text, host: "i-0abc") == [SampleKeys.key(SampleKeys.ecdsa)])
        #expect(KnownHosts.parse(text, host: "10.0.0.1") == [SampleKeys.key(SampleKeys.ecdsa)])
    }

    @Test("an unfinished last line is not glued to the next entry")
    func appendsOnANewLine() throws {
        let folder = try TemporaryFolder()
        try "i-0old \(SampleKeys.other)".write(toFile: folder.file("kh"), atomically: true, encoding: .utf8)
        let file = KnownHosts(path: folder.file("kh"))
        try file.add(host: "i-0new", key: SampleKeys.key(SampleKeys.ed25519))
        #expect(try file.keys(for: "i-0old") == [SampleKeys.key(SampleKeys.other)])
        #expect(try file.keys(for: "i-0new") == [SampleKeys.key(SampleKeys.ed25519)])
    }

    @Test("the file is PORTAL_KNOWN_HOSTS, else ~/.portal-gun/known_hosts")
    func defaultPath() {
        #expect(KnownHosts.defaultPath(environment: ["PORTAL_KNOWN_HOSTS": "/x/kh", "HOME": "/home/me"]) == "/x/kh")
        #expect(KnownHosts.defaultPath(environment: ["HOME": "/home/me"]) == "/home/me/.portal-gun/known_hosts")
    }
}

struct HostKeyCheckTests {
    let key = SampleKeys.key(SampleKeys.ed25519)

    @Test("a recorded key is accepted without asking the console")
    func known() throws {
        let folder = try TemporaryFolder()
        let file = KnownHosts(path: folder.file("kh"))
        try file.add(host: "i-1", key: key)
        let trust = try checkHostKey(key, host: "i-1", address: "1.2.3.4:22", knownHosts: file,
                                     consoleOutput: { Issue.record("console asked"); return nil })
        #expect(trust == .known)
    }

    @Test("a key other than the recorded one is refused, exit 77, with both fingerprints")
    func changedKeyRefused() throws {
        let folder = try TemporaryFolder()
        let file = KnownHosts(path: folder.file("kh"))
        try file.add(host: "i-1", key: SampleKeys.key(SampleKeys.other))
        do {
            try checkHostKey(key, host: "i-1", address: "1.2.3.4:22", knownHosts: file, consoleOutput: { nil })
            Issue.record("accepted a changed key")
        } catch let error as SSHError {
            #expect(error.exitStatus == .permission)
            let text = ([error.message] + error.hints).joined(separator: "\n")
            #expect(text.contains(SampleKeys.otherFingerprint))
            #expect(text.contains(SampleKeys.ed25519Fingerprint))
            #expect(text.contains("ssh-keygen -R i-1"))
        }
        #expect(try file.keys(for: "i-1") == [SampleKeys.key(SampleKeys.other)])
    }

    @Test("the same address under another instance id is a new host, not a changed key")
    func reusedAddress() throws {
        let folder = try TemporaryFolder()
        let file = KnownHosts(path: folder.file("kh"))
        try file.add(host: "i-old", key: SampleKeys.key(SampleKeys.other))
        let trust = try checkHostKey(key, host: "i-new", address: "1.2.3.4:22", knownHosts: file, consoleOutput: { nil })
        #expect(trust == .firstUse)
    }

    @Test("first contact: verified against the console's fingerprints and recorded, and the note says so")
    func consoleVerified() throws {
        let folder = try TemporaryFolder()
        let file = KnownHosts(path: folder.file("kh"))
        var notes: [String] = []
        let trust = try checkHostKey(key, host: "i-1", address: "a:22", knownHosts: file,
                                     consoleOutput: { SampleKeys.amazonLinuxConsole }, note: { notes.append($0) })
        #expect(trust == .console)
        #expect(notes.count == 1 && notes[0].contains("verified against the instance console"))
        #expect(try file.keys(for: "i-1") == [key])
    }

    @Test("first contact: a key the console does not list is refused, exit 77, with the console's fingerprints and the offered one")
    func consoleMismatch() throws {
        let folder = try TemporaryFolder()
        let file = KnownHosts(path: folder.file("kh"))
        do {
            try checkHostKey(SampleKeys.key(SampleKeys.other), host: "i-1", address: "a:22", knownHosts: file,
                             consoleOutput: { SampleKeys.ubuntuConsole })
            Issue.record("accepted a key the console does not list")
        } catch let error as SSHError {
            #expect(error.exitStatus == .permission)
            let text = ([error.message] + error.hints).joined(separator: "\n")
            #expect(text.contains(SampleKeys.ed25519Fingerprint) && text.contains(SampleKeys.otherFingerprint))
        }
        #expect(try file.keys(for: "i-1").isEmpty)
    }

    @Test("first contact without fingerprints on the console: trusted on first use, recorded, and said")
    func trustOnFirstUse() throws {
        let folder = try TemporaryFolder()
        let file = KnownHosts(path: folder.file("kh"))
        var notes: [String] = []
        let trust = try checkHostKey(key, host: "i-1", address: "a:22", knownHosts: file,
                                     consoleOutput: { "Linux version 6.1\n" }, note: { notes.append($0) })
        #expect(trust == .firstUse)
        #expect(notes.first?.contains("trusting the host key of i-1 on first use") == true)
        #expect(notes.first?.contains(SampleKeys.ed25519Fingerprint) == true)
        #expect(try file.keys(for: "i-1") == [key])
    }
}
