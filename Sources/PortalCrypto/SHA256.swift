import CCrypto

/// SHA-256 and HMAC-SHA256 from libcrypto: what SigV4 signs with (PortalAWS)
/// and what host key fingerprints are (PortalSSH). Its own target, so that
/// only what links those two links libcrypto.
public enum SHA256 {
    public static func hash(_ message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        message.withUnsafeBufferPointer { input in _ = CCrypto.SHA256(input.baseAddress, input.count, &digest) }
        return digest
    }

    public static func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress, d.count, &digest, &length)
            }
        }
        return Array(digest.prefix(Int(length)))
    }
}

extension Array where Element == UInt8 {
    /// Lowercase hex, two digits a byte, as SigV4 writes hashes and signatures.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
