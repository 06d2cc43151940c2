import PortalBase
import PortalCrypto

/// AWS Signature Version 4, in the stages the AWS document names: canonical
/// request, string to sign, signing key, signature. Every stage is a pure
/// function of the request, the credentials, the scope and the clock, so tests
/// are exact (see Tests/PortalAWSTests/SigV4SuiteTests.swift, which runs the
/// official suite).
public struct SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// Headers the SDKs never sign: proxies and clients may change them.
    static let unsignedHeaders: Set<String> = ["authorization", "user-agent", "expect", "x-amzn-trace-id"]

    public var credentials: AWSCredentials
    public var region: String
    public var service: String
    /// Sign `X-Amz-Security-Token` (the default, as EC2 and STS expect), or add
    /// it after the signature, as some services want.
    public var signSessionToken = true
    /// Add `X-Amz-Content-Sha256` (S3 wants it; EC2 does not need it).
    public var addContentSHA256 = false

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    // MARK: Time

    /// `20150830T123600Z`. Formatted with the C library rather than a
    /// DateFormatter, which would load ICU: that alone costs a one-call
    /// process about 7 MiB and several milliseconds.
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }

    public static func parseAmzDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            guard bytes[range].allSatisfy({ (48...57).contains($0) }) else { return nil }
            return Int32(String(decoding: bytes[range], as: UTF8.self))
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let seconds = timegm(&parts)
        // timegm normalises out-of-range days (February 30th): refuse those.
        guard parts.tm_mday == day, parts.tm_mon == month - 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    // MARK: Stages

    public func credentialScope(amzDate: String) -> String {
        "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
    }

    /// The hex SHA-256 of the payload, unless the request states it.
    public static func payloadHash(_ request: HTTPRequest) -> String {
        request.header("x-amz-content-sha256") ?? SHA256.hash(request.body).hex
    }

    /// Lowercased names, values trimmed and inner runs of white space folded to
    /// one space, repeated names joined with commas in their order, sorted.
    public static func canonicalHeaders(_ headers: [HTTPRequest.Header]) -> [(name: String, value: String)] {
        var merged: [String: [String]] = [:]
        for header in headers {
            let name = header.name.lowercased()
            if unsignedHeaders.contains(name) { continue }
            merged[name, default: []].append(foldWhitespace(header.value))
        }
        return merged.keys.sorted().map { ($0, merged[$0]!.joined(separator: ",")) }
    }

    static func foldWhitespace(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            .joined(separator: " ")
    }

    /// The path with dot segments and empty segments removed, each segment
    /// percent-encoded (RFC 3986 unreserved characters kept), as for every
    /// service but S3.
    public static func canonicalURI(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(segment)
            }
        }
        var uri = "/" + segments.map { percentEncode(String($0)) }.joined(separator: "/")
        if path.hasSuffix("/"), !segments.isEmpty { uri += "/" }
        return uri
    }

    /// Query pairs decoded, re-encoded strictly, sorted by name then value.
    public static func canonicalQuery(_ query: String?) -> String {
        guard let query, !query.isEmpty else { return "" }
        let encoded: [(name: String, value: String)] = queryPairs(query).map { pair in
            (percentEncode(pair.0), percentEncode(pair.1))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    static func queryPairs(_ query: String) -> [(String, String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { item in
            if let eq = item.firstIndex(of: "=") {
                return (percentDecode(item[..<eq]), percentDecode(item[item.index(after: eq)...]))
            }
            return (percentDecode(item), "")
        }
    }

    public func canonicalRequest(_ request: HTTPRequest) -> String {
        let parts = request.parts
        let headers = SigV4.canonicalHeaders(request.headers)
        return [
            request.method.uppercased(),
            SigV4.canonicalURI(parts.path),
            SigV4.canonicalQuery(parts.query),
            headers.map { "\($0.name):\($0.value)\n" }.joined(),
            headers.map(\.name).joined(separator: ";"),
            SigV4.payloadHash(request),
        ].joined(separator: "\n")
    }

    public func stringToSign(canonicalRequest: String, amzDate: String) -> String {
        [
            SigV4.algorithm,
            amzDate,
            credentialScope(amzDate: amzDate),
            SHA256.hash(Array(canonicalRequest.utf8)).hex,
        ].joined(separator: "\n")
    }

    public func signingKey(amzDate: String) -> [UInt8] {
        let secret = Array("AWS4\(credentials.secretAccessKey)".utf8)
        let dateKey = SHA256.hmac(key: secret, data: Array(amzDate.prefix(8).utf8))
        let regionKey = SHA256.hmac(key: dateKey, data: Array(region.utf8))
        let serviceKey = SHA256.hmac(key: regionKey, data: Array(service.utf8))
        return SHA256.hmac(key: serviceKey, data: Array("aws4_request".utf8))
    }

    public func signature(stringToSign: String, amzDate: String) -> String {
        SHA256.hmac(key: signingKey(amzDate: amzDate), data: Array(stringToSign.utf8)).hex
    }

    // MARK: Signing

    /// The request as it goes into the canonical request: Host and X-Amz-Date
    /// (and the session token, when signed) added if missing.
    public func prepared(_ request: HTTPRequest, date: Date) -> (request: HTTPRequest, amzDate: String) {
        var request = request
        if !request.hasHeader("host") {
            request.headers.insert(.init("Host", request.parts.host), at: 0)
        }
        let amzDate: String
        if let given = request.header("x-amz-date") {
            amzDate = given
        } else {
            amzDate = SigV4.amzDate(date)
            request.headers.append(.init("X-Amz-Date", amzDate))
        }
        if signSessionToken, let token = credentials.sessionToken, !request.hasHeader("x-amz-security-token") {
            request.headers.append(.init("X-Amz-Security-Token", token))
        }
        if addContentSHA256, !request.hasHeader("x-amz-content-sha256") {
            request.headers.append(.init("X-Amz-Content-Sha256", SigV4.payloadHash(request)))
        }
        return (request, amzDate)
    }

    public func authorization(_ prepared: HTTPRequest, amzDate: String) -> String {
        let canonical = canonicalRequest(prepared)
        let signed = SigV4.canonicalHeaders(prepared.headers).map(\.name).joined(separator: ";")
        let sts = stringToSign(canonicalRequest: canonical, amzDate: amzDate)
        return "\(SigV4.algorithm) Credential=\(credentials.accessKeyId)/\(credentialScope(amzDate: amzDate)), "
            + "SignedHeaders=\(signed), Signature=\(signature(stringToSign: sts, amzDate: amzDate))"
    }

    /// Adds the signing headers: X-Amz-Date (unless present), the session
    /// token, then Authorization.
    public func sign(_ request: HTTPRequest, date: Date = Date()) -> HTTPRequest {
        var (request, amzDate) = prepared(request, date: date)
        let authorization = authorization(request, amzDate: amzDate)
        if !signSessionToken, let token = credentials.sessionToken, !request.hasHeader("x-amz-security-token") {
            request.headers.append(.init("X-Amz-Security-Token", token))
        }
        request.headers.append(.init("Authorization", authorization))
        return request
    }

    /// A presigned URL: the signature and its parameters in the query, valid
    /// for `expires` seconds. Only the Host header is signed.
    public func presign(_ request: HTTPRequest, expires: Int, date: Date = Date()) -> HTTPRequest {
        var request = request
        let parts = request.parts
        let amzDate = request.header("x-amz-date") ?? SigV4.amzDate(date)
        request.headers.removeAll { $0.name.lowercased() == "x-amz-date" }
        if !request.hasHeader("host") { request.headers.insert(.init("Host", parts.host), at: 0) }
        var query = parts.query.map { $0.isEmpty ? [] : [$0] } ?? []
        func add(_ name: String, _ value: String) { query.append("\(name)=\(SigV4.percentEncode(value))") }
        add("X-Amz-Algorithm", SigV4.algorithm)
        add("X-Amz-Credential", "\(credentials.accessKeyId)/\(credentialScope(amzDate: amzDate))")
        add("X-Amz-Date", amzDate)
        add("X-Amz-Expires", String(expires))
        add("X-Amz-SignedHeaders", SigV4.canonicalHeaders(request.headers).map(\.name).joined(separator: ";"))
        if let token = credentials.sessionToken { add("X-Amz-Security-Token", token) }
        request.url = "\(parts.scheme)://\(parts.authority)\(parts.path)?\(query.joined(separator: "&"))"
        let sts = stringToSign(canonicalRequest: canonicalRequest(request), amzDate: amzDate)
        request.url += "&X-Amz-Signature=\(signature(stringToSign: sts, amzDate: amzDate))"
        return request
    }

    // MARK: Encoding

    private static let unreserved: Set<UInt8> = Set(
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8))

    /// RFC 3986 percent-encoding of everything but the unreserved characters,
    /// with upper-case hex, as SigV4 requires.
    public static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for byte in text.utf8 {
            if unreserved.contains(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func percentDecode<S: StringProtocol>(_ text: S) -> String {
        var out = [UInt8]()
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
                let value = UInt8(String(decoding: bytes[i + 1...i + 2], as: UTF8.self), radix: 16)
            {
                out.append(value)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
