import Foundation
import PortalBase
import Testing

@testable import PortalSSH

/// Makes a key pair with ssh-keygen in a folder; returns the private key's path.
func makeKey(in folder: TemporaryFolder, _ name: String, type: String, pem: Bool = false, passphrase: String = "") throws -> String {
    let path = folder.file(name)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
    process.arguments = ["-q", "-t", type, "-N", passphrase, "-C", "test", "-f", path] + (pem ? ["-m", "PEM"] : [])
        + (type == "rsa" ? ["-b", "2048"] : [])
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw Failure("ssh-keygen failed for \(name)") }
    return path
}

struct IdentityFileTests {
    @Test("the key type and encryption are read without the passphrase, OpenSSH and PEM formats alike",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen")))
    func kinds() throws {
        let folder = try TemporaryFolder()
        let cases: [(String, String, Bool, String, IdentityFile.Kind, Bool, String)] = [
            ("ed", "ed25519", false, "", .ed25519, false, "openssh"),
            ("ed-enc", "ed25519", false, "secret", .ed25519, true, "openssh"),
            ("ec", "ecdsa", false, "", .ecdsa, false, "openssh"),
            ("ec-pem", "ecdsa", true, "", .ecdsa, false, "pem"),
            ("ec-pem-enc", "ecdsa", true, "secret", .ecdsa, true, "pem"),
            ("rsa", "rsa", false, "", .rsa, false, "openssh"),
            ("rsa-pem", "rsa", true, "", .rsa, false, "pem"),
        ]
        for (name, type, pem, passphrase, kind, encrypted, format) in cases {
            let path = try makeKey(in: folder, name, type: type, pem: pem, passphrase: passphrase)
            let identity = try IdentityFile.read(path)
            #expect(identity.kind == kind, "\(name)")
            #expect(identity.encrypted == encrypted, "\(name)")
            #expect(identity.format == format, "\(name)")
        }
    }

    @Test("a missing identity file is exit 77; a file that is no key is exit 65")
    func badFiles() throws {
        let folder = try TemporaryFolder()
        do { _ = try IdentityFile.read(folder.file("none")); Issue.record("no error") } catch let failure as Failure {
            #expect(failure.exitStatus == .permission)
            #expect(failure.message.contains("no such file"))
        }
        try "ssh-ed25519 AAAA… a public key".write(toFile: folder.file("pub"), atomically: true, encoding: .utf8)
        do { _ = try IdentityFile.read(folder.file("pub")); Issue.record("no error") } catch let failure as Failure {
            #expect(failure.exitStatus == .dataError)
        }
    }

    @Test("the RSA error says why (libssh2 1.10, rsa-sha2, modern sshd) and how to make and import an ed25519 key; exit 77")
    func rsaError() {
        let failure = rsaKeyFailure(identityFile: "/home/me/.ssh/id_rsa", user: "ubuntu", host: "1.2.3.4:22")
        let text = ([failure.message] + failure.hints).joined(separator: "\n")
        #expect(failure.exitStatus == .permission)
        for needle in ["'/home/me/.ssh/id_rsa' is an RSA key", "libssh2 1.10", "rsa-sha2", "ssh-rsa", "OpenSSH 8.8",
                       "ssh-keygen -t ed25519 -f ~/.ssh/portal",
                       "aws ec2 import-key-pair --key-name portal --public-key-material fileb://~/.ssh/portal.pub"] {
            #expect(text.contains(needle), "\(needle)")
        }
    }
}
