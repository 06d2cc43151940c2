import CCrypto

/// SHA-256 from libcrypto, for host key fingerprints.
enum SHA256 {
    static func hash(_ message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        message.withUnsafeBufferPointer { input in _ = CCrypto.SHA256(input.baseAddress, input.count, &digest) }
        return digest
    }
}
