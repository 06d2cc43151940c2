import PortalBase

/// What a private key file is, read without its passphrase: the key type and
/// whether it is encrypted. OpenSSH-format keys keep their public half in
/// clear; PEM keys say their type in the armour or the PKCS#8 algorithm.
public struct IdentityFile: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case ed25519, ecdsa, rsa, dsa, unknown
    }

    public var path: String
    public var kind: Kind
    public var encrypted: Bool
    /// `openssh` (openssh-key-v1) or `pem`.
    public var format: String

    /// Reads the file. A missing or unreadable file is exit 77 (the key is the
    /// credential), a file that is not a private key is exit 65.
    public static func read(_ path: String) throws -> IdentityFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
            throw Failure("identity file '\(path)': \(why)", status: .permission)
        }
        guard let identity = inspect(String(decoding: data, as: UTF8.self), path: path) else {
            throw Failure("identity file '\(path)': not a private key in OpenSSH or PEM format", status: .dataError)
        }
        return identity
    }

    /// Inspects a key's text; nil when it is not a private key.
    public static func inspect(_ text: String, path: String = "") -> IdentityFile? {
        guard let begin = text.firstRange(of: "-----BEGIN "), let close = text[begin.upperBound...].firstRange(of: "-----") else {
            return nil
        }
        let label = String(text[begin.upperBound..<close.lowerBound])
        let body = pemBody(text, after: close.upperBound)
        switch label {
        case "OPENSSH PRIVATE KEY":
            guard let body, let parsed = parseOpenSSH(body) else { return nil }
            return IdentityFile(path: path, kind: parsed.kind, encrypted: parsed.encrypted, format: "openssh")
        case "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY":
            let kind: Kind = label.hasPrefix("RSA") ? .rsa : label.hasPrefix("EC") ? .ecdsa : .dsa
            return IdentityFile(path: path, kind: kind, encrypted: text.contains("Proc-Type: 4,ENCRYPTED"), format: "pem")
        case "PRIVATE KEY":
            return IdentityFile(path: path, kind: body.map(pkcs8Kind) ?? .unknown, encrypted: false, format: "pem")
        case "ENCRYPTED PRIVATE KEY":
            return IdentityFile(path: path, kind: .unknown, encrypted: true, format: "pem")
        default:
            return nil
        }
    }

    /// The base64 body of the first PEM block, decoded (header lines such as `Proc-Type:` skipped).
    private static func pemBody(_ text: String, after start: String.Index) -> [UInt8]? {
        let rest = text[start...]
        let end = rest.firstRange(of: "-----END ")?.lowerBound ?? rest.endIndex
        let lines = rest[..<end].split(whereSeparator: \.isNewline).filter { !$0.contains(":") }
        return Data(base64Encoded: lines.joined().filter { !$0.isWhitespace }).map(Array.init)
    }

    private static func parseOpenSSH(_ bytes: [UInt8]) -> (kind: Kind, encrypted: Bool)? {
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard bytes.starts(with: magic) else { return nil }
        var reader = SSHReader(bytes: bytes, offset: magic.count)
        guard let cipher = reader.string(), reader.string() != nil, reader.string() != nil,
              let count = reader.uint32(), count >= 1, let publicKey = reader.bytes(),
              let type = HostKey.typeName(inBlob: publicKey) else { return nil }
        return (kind(forType: type), String(decoding: cipher, as: UTF8.self) != "none")
    }

    static func kind(forType type: String) -> Kind {
        if type.hasPrefix("ssh-ed25519") { return .ed25519 }
        if type.hasPrefix("ecdsa-sha2-") { return .ecdsa }
        if type.hasPrefix("ssh-rsa") || type.hasPrefix("rsa-sha2-") { return .rsa }
        if type.hasPrefix("ssh-dss") { return .dsa }
        return .unknown
    }

    /// The algorithm of a PKCS#8 key, from the OID in its DER.
    private static func pkcs8Kind(_ der: [UInt8]) -> Kind {
        let oids: [(Kind, [UInt8])] = [
            (.rsa, [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]),
            (.ecdsa, [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]),
            (.ed25519, [0x06, 0x03, 0x2B, 0x65, 0x70]),
            (.dsa, [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x01]),
        ]
        let head = Array(der.prefix(64))
        for (kind, oid) in oids where head.count >= oid.count {
            for start in 0...(head.count - oid.count) where Array(head[start..<start + oid.count]) == oid { return kind }
        }
        return .unknown
    }
}

/// Reads SSH wire encoding: uint32 big-endian, and strings as length + bytes.
struct SSHReader {
    var data: [UInt8]
    var offset: Int

    init(bytes: [UInt8], offset: Int) {
        self.data = bytes
        self.offset = offset
    }

    mutating func uint32() -> UInt32? {
        guard offset + 4 <= data.count else { return nil }
        defer { offset += 4 }
        return data[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func bytes() -> [UInt8]? {
        guard let length = uint32().map(Int.init), length <= data.count - offset else { return nil }
        defer { offset += length }
        return Array(data[offset..<offset + length])
    }

    mutating func string() -> [UInt8]? { bytes() }
}

/// The error for an RSA key, which libssh2 1.10 cannot use against a modern sshd.
public func rsaKeyFailure(identityFile: String, user: String, host: String) -> Failure {
    Failure("'\(identityFile)' is an RSA key, and the instance refused it: Portal Gun's SSH library "
            + "(libssh2 1.10, as Debian 12 ships it) can only sign with ssh-rsa (SHA-1), which modern sshd "
            + "(OpenSSH 8.8 and later) refuses; it cannot sign with rsa-sha2-256 or rsa-sha2-512",
            status: .permission,
            hints: [
                "use an ed25519 key pair instead: make one and import it into EC2:",
                "  ssh-keygen -t ed25519 -f ~/.ssh/portal",
                "  aws ec2 import-key-pair --key-name portal --public-key-material fileb://~/.ssh/portal.pub",
                "then set spot_instance.key_pair_name to \"portal\" and spot_instance.identity_file to \"~/.ssh/portal\" "
                    + "in the spec, and open the portal again (\(user)@\(host) was refused)",
            ])
}
