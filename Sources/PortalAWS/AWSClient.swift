import PortalBase

/// An error AWS answered with: its code, message and request id, kept as AWS
/// gave them.
public struct AWSError: PortalFailure, Equatable {
    public var service: String
    public var action: String
    public var code: String
    public var message: String
    public var requestId: String?
    public var httpStatus: Int

    public var description: String {
        let id = requestId.map { " (request id \($0))" } ?? ""
        return "\(service.uppercased()) \(action): \(code): \(message)\(id)"
    }

    static let credentialCodes: Set<String> = [
        "AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
        "IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken", "RequestExpired",
        "AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "OptInRequired",
    ]
    static let capacityCodes: Set<String> = [
        "InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity", "SpotMaxPriceTooLow", "MaxSpotInstanceCountExceeded",
        "InstanceLimitExceeded", "VcpuLimitExceeded", "Unsupported",
    ]

    public var exitStatus: ExitStatus {
        if AWSError.credentialCodes.contains(code) { return .permission }
        if AWSError.capacityCodes.contains(code) || RetryPolicy.throttlingCodes.contains(code) {
            return .temporary
        }
        if RetryPolicy.transientCodes.contains(code) || httpStatus >= 500 { return .unavailable }
        if code.hasPrefix("InvalidParameter") || code == "MissingParameter" || code == "UnknownParameter"
            || code == "InvalidAction" || code == "InvalidQueryParameter" || code == "MalformedQueryString"
        {
            return .dataError
        }
        return .failure
    }

    public var hints: [String] {
        switch code {
        case "AuthFailure", "SignatureDoesNotMatch", "InvalidClientTokenId", "InvalidAccessKeyId":
            return ["check the access key and secret in use ('portal-ec2 --service sts GetCallerIdentity' shows who you are)"]
        case "UnauthorizedOperation", "AccessDenied":
            return ["the credentials are valid but not allowed this action: see the IAM policy in the README"]
        case "ExpiredToken", "RequestExpired":
            return ["the session token has expired, or the clock is off: refresh the credentials"]
        default: return []
        }
    }

    /// Reads an error body: EC2's `<Response><Errors><Error>` or STS's
    /// `<ErrorResponse><Error>`.
    static func decode(_ body: [UInt8], status: Int, service: String, action: String) -> AWSError {
        let root = try? XMLDocumentParser.parse(body)
        let error = root?.find("Error")
        let requestId = root?.find("RequestID")?.text ?? root?.find("RequestId")?.text
        return AWSError(
            service: service, action: action,
            code: error?.child("Code")?.text ?? "HTTP\(status)",
            message: error?.child("Message")?.text ?? summary(of: body),
            requestId: requestId, httpStatus: status)
    }

    /// A body that is not AWS's error XML (a proxy's HTML page, a load
    /// balancer's text), in a line: an HTML page by its title, else the
    /// first line of text, cut short, control characters taken out.
    static func summary(of body: [UInt8]) -> String {
        if body.isEmpty { return "no error message" }
        let text = String(decoding: body.prefix(65536), as: UTF8.self)
        func oneLine<S: StringProtocol>(_ s: S) -> String {
            s.split(whereSeparator: { $0.isWhitespace || $0.unicodeScalars.allSatisfy { $0.properties.generalCategory == .control } })
                .joined(separator: " ")
        }
        if let title = text.firstMatch(of: #/(?is)<title>(.*?)</title>/#) {
            return "an HTML page, not an AWS answer: '\(abbreviated(oneLine(title.1), limit: 100))'"
        }
        if text.firstMatch(of: #/(?i)<html/#) != nil {
            return "an HTML page of \(body.count) bytes, not an AWS answer"
        }
        let first = text.split(whereSeparator: \.isNewline).first { !$0.allSatisfy(\.isWhitespace) } ?? ""
        return "not an AWS answer: '\(abbreviated(oneLine(first), limit: 100))'"
    }
}

/// Calls EC2 and STS through their Query APIs: form-encoded POSTs signed with
/// SigV4, over one HTTP connection for the whole process, with the SDKs'
/// standard retries, answers decoded from XML into JSON.
public final class AWSClient: @unchecked Sendable {
    // Unchecked: the mutable state (the idle connections, the counter) is
    // touched only while `lock` is held; an HTTP client (one curl handle) is
    // used by one call at a time, taken from and returned to the pool.
    public let configuration: AWSConfiguration
    let lock = Lock()
    private var idle: [HTTPClient]
    private var _requestCount = 0
    private var _connectionsCreated = 0
    public var retryPolicy = RetryPolicy()
    public let quota = RetryQuota()
    /// One line per call (action, status, time), for `-v`; never secrets.
    public var trace: (@Sendable (String) -> Void)?

    public static let versions = ["ec2": "2016-11-15", "sts": "2011-06-15"]

    public init(configuration: AWSConfiguration, http: HTTPClient = HTTPClient()) {
        self.configuration = configuration
        self.idle = [http]
        self._connectionsCreated = 1
    }

    /// How many HTTP requests this client has sent, retries included.
    public var requestCount: Int { lock.withLock { _requestCount } }
    /// How many HTTP clients (connections) calls made at the same time needed.
    public var connectionCount: Int { lock.withLock { _connectionsCreated } }

    /// Calls on one thread reuse one connection; calls made at the same time
    /// (attaching several volumes) each take a connection of their own.
    private func withConnection<T>(_ body: (HTTPClient) throws -> T) rethrows -> T {
        let http = lock.withLock { () -> HTTPClient in
            _requestCount += 1
            if let client = idle.popLast() { return client }
            _connectionsCreated += 1
            return HTTPClient()
        }
        defer { lock.withLock { idle.append(http) } }
        return try body(http)
    }

    /// One call. `parameters` are the Query parameters besides Action and Version.
    public func call(_ action: String, _ parameters: QueryParameters = QueryParameters(), service: String = "ec2")
        throws -> JSON
    {
        var query = QueryParameters([("Action", action), ("Version", AWSClient.versions[service] ?? "")])
        query.pairs += parameters.pairs.filter { $0.0 != "Action" && $0.0 != "Version" }
        if let version = parameters["Version"] { query["Version"] = version }
        let url = configuration.endpoint(for: service)
        let signer = SigV4(credentials: configuration.credentials, region: configuration.region, service: service)
        let unsigned = HTTPRequest(
            method: "POST", url: url.hasSuffix("/") || url.contains("?") ? url : url + "/",
            headers: [.init("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            body: Array(query.formEncoded.utf8))

        return try withRetries(
            policy: retryPolicy, quota: quota,
            sleep: { Interruption.sleep($0) },
            classify: AWSClient.classify,
            onRetry: { [trace] attempt, delay, error in
                trace?("retrying \(action) in \(cFormat("%.2f", delay)) s after: \(error)")
            }
        ) { _ in
            try Interruption.check()
            let started = Date()
            let response = try withConnection { http in try http.send(signer.sign(unsigned, date: Date())) }
            let ms = Int(Date().timeIntervalSince(started) * 1000)
            trace?("\(service) \(action) -> \(response.status) (\(ms) ms)")
            guard (200..<300).contains(response.status) else {
                throw AWSError.decode(response.body, status: response.status, service: service, action: action)
            }
            return try XMLToJSON.convert(response.body)
        }
    }

    /// JSON-shaped parameters (flat or structured), flattened the service's way.
    public func call(_ action: String, json parameters: JSONObject, service: String = "ec2") throws -> JSON {
        let style: QueryParameters.Style = service == "ec2" ? .ec2 : .query
        return try call(action, QueryParameters.flatten(parameters, style: style), service: service)
    }

    static func classify(_ error: Error) -> RetryClass {
        if let aws = error as? AWSError { return RetryPolicy.classify(code: aws.code, status: aws.httpStatus) }
        return RetryPolicy.classify(error)
    }
}
