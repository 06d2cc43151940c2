
/// What may go into a URL or a host name, checked as the AWS SDKs check it
/// before anything is sent: a value from the command line, the environment or
/// a file never decides where signed requests go by its punctuation.
public enum AWSNames {
    /// A region is one DNS label, as botocore's `validate_region_name` has
    /// it: 1 to 63 letters, digits and hyphens, not starting or ending with a
    /// hyphen, not all digits.
    public static func isRegion(_ name: String) -> Bool {
        isHostLabel(name) && !name.allSatisfy(\.isNumber)
    }

    static func isHostLabel<S: StringProtocol>(_ label: S) -> Bool {
        (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
            && label.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    /// A host name (labels joined by dots, one final dot allowed), an IPv4
    /// address or an IPv6 address (without its brackets).
    public static func isHost(_ host: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1 { return true }
        let name = host.hasSuffix(".") ? host.dropLast() : Substring(host)
        return name.utf8.count <= 253 && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isHostLabel)
    }

    /// Why an endpoint URL is refused, or nil: it must be http or https to a
    /// host (see `isHost`), with an optional port and path, and nothing else
    /// (no user or password, query, fragment, white space).
    public static func endpointProblem(_ url: String) -> String? {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased() else {
            return "not a URL"
        }
        guard scheme == "http" || scheme == "https" else { return "expected http:// or https://" }
        var host = parts.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, isHost(host) else { return "expected a host name or an IP address after \(scheme)://" }
        if parts.user != nil || parts.password != nil { return "a user or password in the URL is not allowed" }
        if parts.query != nil || parts.fragment != nil { return "a query (?) or fragment (#) is not allowed" }
        if let port = parts.port, !(1...65535).contains(port) { return "the port is not between 1 and 65535" }
        return nil
    }
}
