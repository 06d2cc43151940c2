import CCurlShim
import PortalBase

/// An HTTP response: the final response's status, headers in the order they
/// came (a name may repeat) and body.
public struct HTTPResponse: Equatable, Sendable {
    public var status: Int
    public var headers: [HTTPRequest.Header]
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPRequest.Header] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header with this name (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name.lowercased() == lower })?.value
    }
}

/// A request that got no HTTP response: the connection could not be made, it
/// broke, or it took too long. (An HTTP error status is a response, not this.)
public struct HTTPError: PortalFailure, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// No connection: refused, unreachable, or the host name did not resolve.
        case connect
        /// The connect timeout or the total timeout ran out.
        case timeout
        /// The connection broke mid-request: reset, closed without an answer,
        /// a failed TLS handshake.
        case transport
        /// Anything else (a malformed URL, a certificate that does not verify):
        /// trying again will not help.
        case other
        /// Cut short by Ctrl-C (`Interruption.cutsShort`).
        case interrupted
    }

    public var kind: Kind
    /// libcurl's CURLcode.
    public var code: Int
    /// libcurl's own words: its error buffer, else `curl_easy_strerror`.
    public var curlMessage: String
    /// The host (and port, unless it is the scheme's default) the request was for.
    public var host: String
    /// For a refused or unreachable connection, the system's reason
    /// ("Connection refused"), when libcurl knows it.
    public var reason: String?

    public init(kind: Kind, code: Int, curlMessage: String, host: String, reason: String? = nil) {
        self.kind = kind
        self.code = code
        self.curlMessage = curlMessage
        self.host = host
        self.reason = reason
    }

    public var exitStatus: ExitStatus {
        switch kind {
        case .connect, .transport: return .unavailable
        case .timeout: return .temporary
        case .other: return .failure
        case .interrupted: return .interrupted
        }
    }

    public var description: String {
        switch kind {
        case .connect:
            if code == Int(CURLE_COULDNT_RESOLVE_HOST.rawValue) { return "could not resolve host '\(host)'" }
            return "could not connect to '\(host)': \(reason ?? curlMessage)"
        case .timeout: return "timed out waiting for '\(host)': \(curlMessage)"
        case .transport: return "lost the connection to '\(host)': \(curlMessage)"
        case .other: return "request to '\(host)' failed: \(curlMessage)"
        case .interrupted: return "interrupted"
        }
    }

    /// Which kind a libcurl error code is.
    public static func kind(ofCurlCode code: Int) -> Kind {
        switch UInt32(truncatingIfNeeded: code) {
        case CURLE_COULDNT_CONNECT.rawValue, CURLE_COULDNT_RESOLVE_HOST.rawValue,
             CURLE_COULDNT_RESOLVE_PROXY.rawValue:
            return .connect
        case CURLE_OPERATION_TIMEDOUT.rawValue:
            return .timeout
        case CURLE_ABORTED_BY_CALLBACK.rawValue:
            return .interrupted
        case CURLE_SEND_ERROR.rawValue, CURLE_RECV_ERROR.rawValue, CURLE_GOT_NOTHING.rawValue,
             CURLE_PARTIAL_FILE.rawValue, CURLE_SSL_CONNECT_ERROR.rawValue, CURLE_HTTP2.rawValue,
             CURLE_HTTP2_STREAM.rawValue:
            return .transport
        default:
            return .other
        }
    }
}

/// An HTTP client over one libcurl easy handle, reused for every request so
/// that the connection (TCP and TLS) is kept alive between calls.
///
/// Headers go out exactly as given, in order: libcurl adds no `Accept`, no
/// `Expect: 100-continue` and no `Content-Type` of its own, and a
/// `User-Agent: portal-gun/0.1` only when the request has none (SigV4 does not
/// sign the user agent, so adding it after signing is safe).
///
/// libcurl itself is loaded by the first request (`Curl`, CurlLibrary.swift),
/// and the handle made then: a client that sends nothing costs nothing.
///
/// `@unchecked Sendable`: the handle, the error buffer and the counters are
/// touched only while `lock` is held, so concurrent callers take turns on the
/// one connection; libcurl never sees the handle from two threads at once.
public final class HTTPClient: @unchecked Sendable {
    public static let userAgent = "portal-gun/0.1"

    public let connectTimeout: Double
    public let totalTimeout: Double
    /// The largest answer taken, in bytes: more ends the transfer and fails
    /// the request (EC2's largest answers are a few MiB).
    public var maximumResponse = 32 << 20

    /// libcurl and this client's handle, from the first request on.
    private var easy: (curl: Curl, handle: Curl.Handle)?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let lock = Lock()
    private var _trace: (@Sendable (String) -> Void)?
    private var _connectionsOpened = 0

    /// - Parameters:
    ///   - connectTimeout: seconds to wait for a connection (TCP and TLS).
    ///   - totalTimeout: seconds one whole request may take.
    public init(connectTimeout: Double = 10, totalTimeout: Double = 60) {
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        if let easy { easy.curl.easyCleanup(easy.handle) }
        errorBuffer.deallocate()
    }

    /// Called with one line per request, such as `POST https://host/ -> 200 (123 ms)`.
    /// It never shows headers, bodies or the query string: they carry signatures.
    public var trace: (@Sendable (String) -> Void)? {
        get { lock.withLock { _trace } }
        set { lock.withLock { _trace = newValue } }
    }

    /// How many connections this client has opened so far; with keep-alive,
    /// many requests share one.
    public var connectionsOpened: Int { lock.withLock { _connectionsOpened } }

    /// Sends the request and waits for the whole response. Any HTTP status,
    /// 500 included, is a response; only a failure to get one throws
    /// `HTTPError`; so does libcurl missing (a `Failure`, before any request).
    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let curl = try Curl.loaded()
        let (result, line, trace) = lock.withLock { () -> (Result<HTTPResponse, HTTPError>, String, ((String) -> Void)?) in
            let handle: Curl.Handle
            if let easy {
                handle = easy.handle
            } else {
                guard let made = curl.easyInit() else { fatalError("curl_easy_init failed: out of memory") }
                easy = (curl, made)
                handle = made
            }
            let (result, line) = sendLocked(request, curl, handle)
            return (result, line, _trace)
        }
        // Outside the lock, so that a trace hook may use this client.
        trace?(line)
        return try result.get()
    }

    /// The result, and the line for the trace.
    private func sendLocked(_ request: HTTPRequest, _ curl: Curl, _ handle: Curl.Handle) -> (Result<HTTPResponse, HTTPError>, String) {
        // Reset every option (the connection cache survives a reset), so that
        // nothing from the previous request leaks into this one.
        curl.easyReset(handle)
        errorBuffer[0] = 0

        let parts = request.parts
        let collector = ResponseCollector()
        collector.limit = maximumResponse
        let context = Unmanaged.passUnretained(collector).toOpaque()

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl.slistFreeAll(headerList) }
        for line in HTTPClient.headerLines(for: request) {
            guard let appended = curl.slistAppend(headerList, line) else {
                fatalError("curl_slist_append failed: out of memory")
            }
            headerList = appended
        }

        let writeCallback: pg_curl_data_callback = { data, size, count, userdata in
            let length = size * count
            guard let userdata else { return 0 }
            let collector = Unmanaged<ResponseCollector>.fromOpaque(userdata).takeUnretainedValue()
            if collector.body.count + length > collector.limit {
                collector.tooLarge = true
                return 0  // libcurl ends the transfer: CURLE_WRITE_ERROR
            }
            if let data, length > 0 {
                data.withMemoryRebound(to: UInt8.self, capacity: length) {
                    collector.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                }
            }
            return length
        }
        let headerCallback: pg_curl_data_callback = { data, size, count, userdata in
            let length = size * count
            guard let userdata else { return 0 }
            let collector = Unmanaged<ResponseCollector>.fromOpaque(userdata).takeUnretainedValue()
            if let data, length > 0 {
                let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                }
                collector.headerLine(line)
            }
            return length
        }

        // A body buffer that is never empty, so that POSTFIELDS always gets a
        // real pointer; the size sent is the request's.
        var bodyStorage = request.body
        if bodyStorage.isEmpty { bodyStorage = [0] }
        let method = request.method
        let sendsBody = !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(method)

        // Setting an option can only fail for an option this libcurl does not
        // know, or out of memory: a programming error, not a runtime condition.
        func check(_ code: CURLcode) {
            precondition(code == CURLE_OK, "curl_easy_setopt: \(curl.message(code))")
        }
        func set(_ option: CURLoption, _ value: Int) { check(pg_curl_setopt_long(curl.setopt, handle, option, value)) }
        func set(_ option: CURLoption, string value: String) { check(pg_curl_setopt_string(curl.setopt, handle, option, value)) }
        func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?) {
            check(pg_curl_setopt_pointer(curl.setopt, handle, option, value))
        }

        let start = ContinuousClock.now
        let code: CURLcode = bodyStorage.withUnsafeMutableBytes { body in
            set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
            set(CURLOPT_NOSIGNAL, 1)
            // Ctrl-C cuts a request in flight short instead of waiting out its timeout.
            check(pg_curl_set_stop_check(curl.setopt, handle) { Interruption.cutsShort ? 1 : 0 })
            set(CURLOPT_CONNECTTIMEOUT_MS, HTTPClient.milliseconds(connectTimeout))
            set(CURLOPT_TIMEOUT_MS, HTTPClient.milliseconds(totalTimeout))
            set(CURLOPT_URL, string: request.url)
            set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(headerList))
            if !request.hasHeader("User-Agent") { set(CURLOPT_USERAGENT, string: HTTPClient.userAgent) }
            check(pg_curl_setopt_callback(curl.setopt, handle, CURLOPT_WRITEFUNCTION, writeCallback))
            set(CURLOPT_WRITEDATA, pointer: context)
            check(pg_curl_setopt_callback(curl.setopt, handle, CURLOPT_HEADERFUNCTION, headerCallback))
            set(CURLOPT_HEADERDATA, pointer: context)

            if method == "HEAD" {
                set(CURLOPT_NOBODY, 1)
            } else if sendsBody {
                set(CURLOPT_POSTFIELDS, pointer: body.baseAddress)
                check(pg_curl_setopt_off_t(curl.setopt, handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
                if method != "POST" { set(CURLOPT_CUSTOMREQUEST, string: method) }
            } else if method != "GET" {
                set(CURLOPT_CUSTOMREQUEST, string: method)
            }
            return withExtendedLifetime(collector) { curl.easyPerform(handle) }
        }
        let elapsed = start.duration(to: .now)
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000

        var connects = 0
        if pg_curl_getinfo_long(curl.getinfo, handle, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK {
            _connectionsOpened += connects
        }
        let traceURL = "\(parts.scheme)://\(parts.host)\(parts.path)"

        guard code == CURLE_OK else {
            var error = makeError(code, host: parts.host, curl, handle)
            if collector.tooLarge {
                error = HTTPError(kind: .other, code: Int(code.rawValue),
                                  curlMessage: "the answer is larger than \(maximumResponse >> 20) MiB; refused", host: parts.host)
            }
            return (.failure(error), "\(method) \(traceURL) -> \(error) (\(milliseconds) ms)")
        }
        var status = 0
        _ = pg_curl_getinfo_long(curl.getinfo, handle, CURLINFO_RESPONSE_CODE, &status)
        let response = HTTPResponse(status: status, headers: collector.headers, body: collector.body)
        return (.success(response), "\(method) \(traceURL) -> \(status) (\(milliseconds) ms)")
    }

    /// The header lines handed to libcurl: the request's own, then empty
    /// ones (`Name:`) that stop libcurl adding headers of its own.
    static func headerLines(for request: HTTPRequest) -> [String] {
        var lines = request.headers.map { header in
            // `Name;` is libcurl's way to send a header with an empty value
            // (`Name:` would remove it).
            header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)"
        }
        for name in ["Accept", "Expect", "Content-Type"] where !request.hasHeader(name) {
            lines.append("\(name):")
        }
        return lines
    }

    private static func milliseconds(_ seconds: Double) -> Int {
        max(1, Int((seconds * 1000).rounded()))
    }

    private func makeError(_ code: CURLcode, host: String, _ curl: Curl, _ handle: Curl.Handle) -> HTTPError {
        let buffered = String(cString: errorBuffer)
        let message = buffered.isEmpty ? curl.message(code) : buffered
        let kind = HTTPError.kind(ofCurlCode: Int(code.rawValue))
        var reason: String? = nil
        var osError = 0
        if kind == .connect, pg_curl_getinfo_long(curl.getinfo, handle, CURLINFO_OS_ERRNO, &osError) == CURLE_OK, osError != 0 {
            reason = String(cString: strerror(Int32(osError)))
        }
        return HTTPError(kind: kind, code: Int(code.rawValue), curlMessage: message, host: host, reason: reason)
    }
}

/// What the callbacks fill in while one request runs; reached from C through
/// an unretained pointer that lives no longer than `curl_easy_perform`.
private final class ResponseCollector {
    var headers: [HTTPRequest.Header] = []
    var body: [UInt8] = []
    var limit = Int.max
    var tooLarge = false

    /// One raw header line: a status line starts a new response (after a
    /// `100 Continue` or a redirect only the last one counts), a line starting
    /// with white space continues the previous header, the empty line ends.
    func headerLine(_ raw: String) {
        // (Not `Character` by `Character`: "\r\n" is one Character.)
        let line = raw.trimming(\.isNewline)
        if line.hasPrefix("HTTP/") {
            headers = []
            body = []
            return
        }
        guard !line.isEmpty else { return }
        if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
            headers[headers.count - 1].value += " " + line.trimming(\.isBlank)
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimming(\.isBlank)
        headers.append(HTTPRequest.Header(name, value))
    }
}
