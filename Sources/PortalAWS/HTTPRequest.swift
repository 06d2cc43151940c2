/// An HTTP request as the signer and the HTTP client see it. The URL is kept
/// as text, split by hand rather than by Foundation's URL, so that a path with
/// a space or raw UTF-8 (as the SigV4 suite has them) is still a request.
public struct HTTPRequest: Equatable, Sendable {
    public var method: String
    public var url: String
    /// Header pairs in order; a name may repeat.
    public var headers: [Header]
    public var body: [UInt8]

    public struct Header: Equatable, Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String, url: String, headers: [Header] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The value of the first header with this name (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name.lowercased() == lower })?.value
    }

    public func hasHeader(_ name: String) -> Bool { header(name) != nil }

    /// Scheme, authority (host and port), path and raw query of `url`.
    public var parts: URLParts { URLParts(url) }
}

/// A URL split into its parts without decoding anything.
public struct URLParts: Equatable, Sendable {
    public var scheme: String
    public var authority: String
    public var path: String
    public var query: String?

    public init(_ url: String) {
        var rest = Substring(url)
        if let range = rest.firstRange(of: "://") {
            scheme = String(rest[..<range.lowerBound]).lowercased()
            rest = rest[range.upperBound...]
        } else {
            scheme = "https"
        }
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        let pathStart = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        authority = String(rest[..<pathStart])
        let pathAndQuery = rest[pathStart...]
        if let q = pathAndQuery.firstIndex(of: "?") {
            path = String(pathAndQuery[..<q])
            query = String(pathAndQuery[pathAndQuery.index(after: q)...])
        } else {
            path = String(pathAndQuery)
            query = nil
        }
        if path.isEmpty { path = "/" }
    }

    /// The Host header's value: the authority without user info, and without
    /// the port when it is the scheme's default.
    public var host: String {
        var hostPort = authority
        if let at = hostPort.lastIndex(of: "@") { hostPort = String(hostPort[hostPort.index(after: at)...]) }
        if scheme == "https", hostPort.hasSuffix(":443") { hostPort.removeLast(4) }
        if scheme == "http", hostPort.hasSuffix(":80") { hostPort.removeLast(3) }
        return hostPort
    }
}
