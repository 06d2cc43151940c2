import Foundation
import Testing

@testable import PortalSSH

/// Sample keys made with ssh-keygen; fingerprints as `ssh-keygen -l` prints them.
enum SampleKeys {
    static let ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFFbDT/ELaxHOdH7biwE6SATvHniJtU5lLkBgo1iavE/ root@ip-172-31-5-6"
    static let ed25519Fingerprint = "SHA256:m0D7wMU3QY601j1B26JbrmJ0nEZcrG1gE2xSTEQVcko"
    static let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDpqBvUc0VkI9waoeInxFGW2yW4XAaQi7MJsFRUx26geiT1dbThnkX5wTTjDH0IQ7zW9CyVTp1h7wTVLusbFLN0= root@ip-172-31-5-6"
    static let ecdsaFingerprint = "SHA256:T7vuw7i6+xkDLlH0hHpAbC/tXQXIc9mUH/kmA4syOKk"
    static let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSngqGu6/1MLQpqTj3QBmk34dtOljHGuelgU03EXwCV other"
    static let otherFingerprint = "SHA256:C+z0XlMNVoaqwnrQcJHew5h1pbUGKHLer9+nYv314yM"

    static func key(_ line: String) -> HostKey { HostKey(line: line)! }

    /// An Ubuntu instance's console: syslog-prefixed fingerprints, then the keys.
    static let ubuntuConsole = """
        [   18.502911] cloud-init[1034]: Cloud-init v. 23.1.2-0ubuntu0~22.04.1 running 'modules:config' at Fri, 01 Mar 2024 12:00:00 +0000.
        ci-info: no authorized SSH keys fingerprints found for user ubuntu.
        <14>Mar  1 12:00:01 cloud-init: #############################################################
        <14>Mar  1 12:00:01 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----
        <14>Mar  1 12:00:01 cloud-init: 256 \(ecdsaFingerprint) root@ip-172-31-5-6 (ECDSA)
        <14>Mar  1 12:00:01 cloud-init: 256 \(ed25519Fingerprint) root@ip-172-31-5-6 (ED25519)
        <14>Mar  1 12:00:01 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----
        <14>Mar  1 12:00:01 cloud-init: #############################################################
        -----BEGIN SSH HOST KEY KEYS-----
        \(ecdsa)
        \(ed25519)
        -----END SSH HOST KEY KEYS-----
        [   19.104223] cloud-init[1102]: Cloud-init v. 23.1.2 finished at Fri, 01 Mar 2024 12:00:02 +0000. Up 19.08 seconds

        """

    /// Amazon Linux prints only fingerprints, each line prefixed with "ec2: ".
    static let amazonLinuxConsole = """
        ec2:
        ec2: #############################################################
        ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
        ec2: 256 \(ecdsaFingerprint) no comment (ECDSA)
        ec2: 256 \(ed25519Fingerprint) no comment (ED25519)
        ec2: -----END SSH HOST KEY FINGERPRINTS-----
        ec2: #############################################################
        """
}

struct HostKeyTests {
    @Test("a host key's fingerprint is what ssh-keygen -l prints: SHA256: and unpadded base64")
    func fingerprints() {
        #expect(SampleKeys.key(SampleKeys.ed25519).fingerprint == SampleKeys.ed25519Fingerprint)
        #expect(SampleKeys.key(SampleKeys.ecdsa).fingerprint == SampleKeys.ecdsaFingerprint)
        #expect(SampleKeys.key(SampleKeys.ed25519).label == "ED25519")
        #expect(SampleKeys.key(SampleKeys.ecdsa).label == "ECDSA")
    }

    @Test("a key line whose type does not match its blob, or that is not base64, is not a key")
    func badLines() {
        let blob = SampleKeys.ed25519.split(separator: " ")[1]
        #expect(HostKey(line: "ssh-rsa \(blob)") == nil)
        #expect(HostKey(line: "ssh-ed25519 not*base64") == nil)
        #expect(HostKey(line: "ssh-ed25519") == nil)
        #expect(HostKey(line: "ssh-ed25519 \(blob)")?.openSSHText == "ssh-ed25519 \(blob)")
    }
}

struct ConsoleHostKeysTests {
    @Test("cloud-init's console blocks are read through their prefixes: fingerprints with their labels, and keys")
    func parsesUbuntu() throws {
        let console = try #require(ConsoleHostKeys(consoleOutput: SampleKeys.ubuntuConsole))
        #expect(console.fingerprints.map(\.fingerprint) == [SampleKeys.ecdsaFingerprint, SampleKeys.ed25519Fingerprint])
        #expect(console.fingerprints.map(\.label) == ["ECDSA", "ED25519"])
        #expect(console.keys == [SampleKeys.key(SampleKeys.ecdsa), SampleKeys.key(SampleKeys.ed25519)])
    }

    @Test("a key the console lists is a match, by its key or by its fingerprint alone")
    func matches() throws {
        let ubuntu = try #require(ConsoleHostKeys(consoleOutput: SampleKeys.ubuntuConsole))
        let amazon = try #require(ConsoleHostKeys(consoleOutput: SampleKeys.amazonLinuxConsole))
        #expect(amazon.keys.isEmpty)
        for console in [ubuntu, amazon] {
            #expect(console.verify(SampleKeys.key(SampleKeys.ed25519)) == .match)
            #expect(console.verify(SampleKeys.key(SampleKeys.ecdsa)) == .match)
        }
    }

    @Test("a key the console does not list is a mismatch that names what the console lists")
    func mismatch() throws {
        let console = try #require(ConsoleHostKeys(consoleOutput: SampleKeys.amazonLinuxConsole))
        #expect(console.verify(SampleKeys.key(SampleKeys.other))
                == .mismatch(expected: ["ECDSA \(SampleKeys.ecdsaFingerprint)", "ED25519 \(SampleKeys.ed25519Fingerprint)"]))
    }

    @Test("a console without the blocks (moto's, or one still booting) gives nothing; base64 as GetConsoleOutput sends it is read too")
    func absentAndEncoded() throws {
        #expect(ConsoleHostKeys(consoleOutput: "Linux version 2.6.16-xenU\nBIOS-provided physical RAM map:\n") == nil)
        #expect(ConsoleHostKeys(consoleOutput: "") == nil)
        let encoded = Data(SampleKeys.amazonLinuxConsole.utf8).base64EncodedString()
        let console = try #require(ConsoleHostKeys(consoleOutput: encoded))
        #expect(console.verify(SampleKeys.key(SampleKeys.ed25519)) == .match)
    }

    @Test("MD5 fingerprints of old images cannot be compared: unusable, not a mismatch")
    func md5Only() throws {
        let console = try #require(ConsoleHostKeys(consoleOutput: """
            ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
            ec2: 256 ff:b9:3e:c3:45:14:4f:9f:ea:2c:ce:bd:14:67:b6:91 /etc/ssh/ssh_host_ed25519_key.pub (ED25519)
            ec2: -----END SSH HOST KEY FINGERPRINTS-----
            """))
        #expect(console.fingerprints.count == 1)
        #expect(console.verify(SampleKeys.key(SampleKeys.ed25519)) == .unusable)
    }
}
