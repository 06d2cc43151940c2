import PortalBase

/// How a host key came to be trusted.
public enum HostKeyTrust: String, Sendable {
    /// Portal Gun's known_hosts already held it for this instance.
    case known
    /// First contact, and the instance's console (cloud-init) lists it.
    case console
    /// First contact, nothing to check it against: trusted on first use.
    case firstUse = "first use"
}

/// Checks the key a server showed against Portal Gun's known_hosts, keyed by
/// `host` (the instance id). On first contact the console text (from
/// GetConsoleOutput, fetched by the caller only when needed) decides; without
/// fingerprints there, the key is trusted on first use. A trusted new key is
/// recorded. A key that differs from the recorded one, or that the console
/// does not list, is refused: exit 77, both fingerprints in the message.
///
/// - Parameters:
///   - address: where the server was reached, for messages.
///   - note: what was decided, for stderr (first contact only).
@discardableResult
public func checkHostKey(_ key: HostKey, host: String, address: String, knownHosts: KnownHosts,
                         consoleOutput: () -> String?, note: (String) -> Void = { _ in }) throws -> HostKeyTrust {
    let known = try knownHosts.keys(for: host)
    if known.contains(key) { return .known }
    if !known.isEmpty {
        throw SSHError("the host key of \(host) (\(address)) is not the one recorded in '\(knownHosts.path)': refusing to connect",
                       status: .permission,
                       hints: known.map { "recorded: \($0.label) \($0.fingerprint)" }
                           + ["offered:  \(key.label) \(key.fingerprint)",
                              "someone may be intercepting the connection; if the instance really changed its key, "
                                  + "remove the old one with: ssh-keygen -R \(host) -f \(Shell.quote(knownHosts.path))"])
    }
    let trust: HostKeyTrust
    if let text = consoleOutput(), let console = ConsoleHostKeys(consoleOutput: text) {
        switch console.verify(key) {
        case .match:
            trust = .console
            note("host key of \(host) verified against the instance console's fingerprints: \(key.label) \(key.fingerprint)")
        case .mismatch(let expected):
            throw SSHError("the host key of \(host) (\(address)) is not among those the instance printed on its console: refusing to connect",
                           status: .permission,
                           hints: expected.map { "console:  \($0)" }
                               + ["offered:  \(key.label) \(key.fingerprint)",
                                  "someone may be intercepting the connection (or \(address) is not \(host))"])
        case .unusable:
            trust = .firstUse
            note("trusting the host key of \(host) on first use: \(key.label) \(key.fingerprint) "
                 + "(the console's fingerprints are MD5 only, which cannot be compared)")
        }
    } else {
        trust = .firstUse
        note("trusting the host key of \(host) on first use: \(key.label) \(key.fingerprint) "
             + "(the instance's console shows no host key fingerprints yet)")
    }
    try knownHosts.add(host: host, key: key)
    return trust
}
