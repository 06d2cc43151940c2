import PortalBase
import PortalCrypto

/// A server's public host key: its algorithm name and the key blob as SSH
/// encodes it (the base64 part of a known_hosts or `.pub` line, decoded).
public struct HostKey: Equatable, Hashable, Sendable {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    public var type: String
    public var blob: [UInt8]

    public init(type: String, blob: [UInt8]) {
        self.type = type
        self.blob = blob
    }

    /// Reads `TYPE BASE64` (a `.pub` line or the key part of a known_hosts
    /// line); anything after the key is a comment. Nil when it is not a key,
    /// or when the blob does not name the same type.
    public init?(line: String) {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count >= 2, let data = Data(base64Encoded: fields[1]) else { return nil }
        let blob = Array(data)
        guard HostKey.typeName(inBlob: blob) == fields[0] else { return nil }
        self.init(type: fields[0], blob: blob)
    }

    /// The key's fingerprint as OpenSSH prints it: `SHA256:` and the base64 of
    /// the SHA-256 of the blob, without padding.
    public var fingerprint: String { HostKey.fingerprint(of: blob) }

    public static func fingerprint(of blob: [UInt8]) -> String {
        let digest = Data(SHA256.hash(blob)).base64EncodedString()
        return "SHA256:" + digest.replacing("=", with: "")
    }

    /// `ED25519`, `ECDSA`, `RSA`, `DSA`: the label cloud-init and `ssh-keygen -l`
    /// put after a fingerprint.
    public var label: String { HostKey.label(forType: type) }

    public static func label(forType type: String) -> String {
        switch type {
        case "ssh-ed25519": return "ED25519"
        case "ssh-rsa": return "RSA"
        case "ssh-dss": return "DSA"
        case _ where type.hasPrefix("ecdsa-sha2-"): return "ECDSA"
        default: return type.uppercased()
        }
    }

    /// `TYPE BASE64`: the key as a `.pub` file or known_hosts line holds it.
    public var openSSHText: String { "\(type) \(Data(blob).base64EncodedString())" }

    /// The algorithm name a key blob starts with (an SSH string: 4-byte length, then the name).
    static func typeName(inBlob blob: [UInt8]) -> String? {
        guard blob.count >= 4 else { return nil }
        let length = Int(blob[0]) << 24 | Int(blob[1]) << 16 | Int(blob[2]) << 8 | Int(blob[3])
        guard length > 0, length <= 64, blob.count >= 4 + length else { return nil }
        return String(bytes: blob[4..<4 + length], encoding: .utf8)
    }
}

/// What cloud-init prints on the instance's console while it boots (GetConsoleOutput):
///
///     ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
///     ec2: 256 SHA256:Gkq1…/3c root@ip-172-31-1-2 (ECDSA)
///     ec2: 256 SHA256:7o0q…I2E root@ip-172-31-1-2 (ED25519)
///     ec2: -----END SSH HOST KEY FINGERPRINTS-----
///     -----BEGIN SSH HOST KEY KEYS-----
///     ecdsa-sha2-nistp256 AAAAE2V… root@ip-172-31-1-2
///     ssh-ed25519 AAAAC3Nz… root@ip-172-31-1-2
///     -----END SSH HOST KEY KEYS-----
///
/// Either block is enough to verify a host key on first contact.
public struct ConsoleHostKeys: Equatable, Sendable {
    public struct Fingerprint: Equatable, Sendable {
        /// `SHA256:…` (older images print MD5 `aa:bb:…`, which is kept but never matches).
        public var fingerprint: String
        /// `ED25519`, `ECDSA`, `RSA`, … as printed in parentheses.
        public var label: String
    }

    public var fingerprints: [Fingerprint] = []
    public var keys: [HostKey] = []

    public var isEmpty: Bool { fingerprints.isEmpty && keys.isEmpty }

    /// Reads the console text; nil when it holds neither block. The text may
    /// also be GetConsoleOutput's `output` as it comes, in base64.
    public init?(consoleOutput text: String) {
        var text = text
        if !text.contains("-----BEGIN SSH HOST KEY"),
           let data = Data(base64Encoded: text.filter { !$0.isWhitespace }),
           let decoded = String(data: data, encoding: .utf8), decoded.contains("-----BEGIN SSH HOST KEY") {
            text = decoded
        }
        var block: String?
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var line = String(rawLine).trimming(\.isBlank)
            // Console lines may carry a prefix: "ec2: ", "[   12.3] cloud-init[812]: ".
            if let start = line.firstRange(of: "-----") {
                let marker = String(line[start.lowerBound...])
                if marker.hasPrefix("-----BEGIN SSH HOST KEY ") { block = marker; continue }
                if marker.hasPrefix("-----END SSH HOST KEY ") { block = nil; continue }
            }
            guard let current = block else { continue }
            if current.contains("FINGERPRINTS") {
                if let index = line.firstRange(of: "SHA256:") ?? ConsoleHostKeys.md5Range(in: line) {
                    line = String(line[index.lowerBound...])
                    let fields = line.split(separator: " ").map(String.init)
                    var label = ""
                    if let last = fields.last, last.hasPrefix("("), last.hasSuffix(")") {
                        label = String(last.dropFirst().dropLast())
                    }
                    fingerprints.append(Fingerprint(fingerprint: fields[0], label: label))
                }
            } else if current.contains("KEYS") {
                let fields = line.split(separator: " ").map(String.init)
                if let start = fields.firstIndex(where: { $0.hasPrefix("ssh-") || $0.hasPrefix("ecdsa-") }),
                   let key = HostKey(line: fields[start...].joined(separator: " ")) {
                    keys.append(key)
                }
            }
        }
        if isEmpty { return nil }
    }

    private static func md5Range(in line: String) -> Range<String.Index>? {
        line.firstRange(of: #/\b[0-9a-f]{2}(:[0-9a-f]{2}){15}\b/#)
    }

    public enum Verdict: Equatable, Sendable {
        /// The console lists this key (or its SHA-256 fingerprint).
        case match
        /// The console lists host keys, and this one is not among them.
        case mismatch(expected: [String])
        /// Nothing usable to compare with (only MD5 fingerprints).
        case unusable
    }

    /// Compares a server's key with what the console lists.
    public func verify(_ key: HostKey) -> Verdict {
        if keys.contains(key) { return .match }
        let sha = fingerprints.filter { $0.fingerprint.hasPrefix("SHA256:") }
        if sha.contains(where: { $0.fingerprint == key.fingerprint }) { return .match }
        var expected = keys.map { "\($0.label) \($0.fingerprint)" }
        for print in sha where !keys.contains(where: { $0.fingerprint == print.fingerprint }) {
            expected.append("\(print.label.isEmpty ? "?" : print.label) \(print.fingerprint)")
        }
        return expected.isEmpty ? .unusable : .mismatch(expected: expected)
    }
}
