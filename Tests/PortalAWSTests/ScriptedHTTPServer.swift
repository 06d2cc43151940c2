import Foundation
import PortalAWS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for tests. It
/// answers each request, in the order they come, with the next response of
/// its script, keeps connections alive, and records what it was sent.
///
/// One thread serves one connection at a time, which is all an `HTTPClient`
/// (one handle, one connection) needs. `stop()` wakes it through a pipe,
/// joins it and closes the sockets.
///
/// `@unchecked Sendable`: the recorded requests and counters are guarded by
/// `lock`; the script is consumed only by the server thread.
final class ScriptedHTTPServer: @unchecked Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: [HTTPRequest.Header]
        var body: [UInt8]
        /// Seconds to wait before answering.
        var delay: Double = 0
        /// Send a `100 Continue` (with a header of its own) before the answer.
        var informational = false
        /// Close the connection instead of answering.
        var closeWithoutAnswer = false

        static func status(_ status: Int, headers: [HTTPRequest.Header] = [], body: String = "",
                           delay: Double = 0, informational: Bool = false) -> Response
        {
            Response(status: status, headers: headers, body: Array(body.utf8), delay: delay,
                     informational: informational)
        }

        static let closeConnection = Response(status: 0, headers: [], body: [], closeWithoutAnswer: true)
    }

    struct Request: Sendable {
        var method: String
        /// The request target: path and query.
        var path: String
        var headers: [HTTPRequest.Header]
        var body: [UInt8]

        func header(_ name: String) -> String? { values(name).first }
        func values(_ name: String) -> [String] {
            headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }
    }

    struct SocketError: Error, CustomStringConvertible {
        var call: String
        var code: Int32
        var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    let port: UInt16
    var baseURL: String { "http://127.0.0.1:\(port)" }

    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var script: [Response]
    private var _requests: [Request] = []
    private var _acceptedConnections = 0
    private var stopped = false

    init(_ script: [Response]) throws {
        self.script = script
        (listener, port) = try ScriptedHTTPServer.bindLoopback(listen: true)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            let code = errno
            close(listener)
            throw SocketError(call: "pipe", code: code)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "ScriptedHTTPServer"
        thread.start()
    }

    deinit { stop() }

    var requests: [Request] { lock.withLock { _requests } }
    var acceptedConnections: Int { lock.withLock { _acceptedConnections } }

    /// Wakes the server thread, waits for it to end, closes the sockets.
    /// Safe to call more than once.
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        finished.wait()
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    /// A TCP socket bound to 127.0.0.1 on an ephemeral port; listening or not.
    static func bindLoopback(listen shouldListen: Bool) throws -> (fd: Int32, port: UInt16) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw SocketError(call: "bind", code: code)
        }
        if shouldListen, listen(fd, 16) != 0 {
            let code = errno
            close(fd)
            throw SocketError(call: "listen", code: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    // MARK: The server thread

    private enum Wait { case ready, timedOut, stopped }

    /// Waits until `fd` is readable, unless `stop()` is called first.
    private func wait(for fd: Int32, milliseconds: Int32 = -1) -> Wait {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        while true {
            let count = poll(&fds, 2, milliseconds)
            if count < 0, errno == EINTR { continue }
            if count < 0 || fds[0].revents != 0 { return .stopped }
            if count == 0 { return .timedOut }
            return .ready
        }
    }

    private func run() {
        while wait(for: listener) == .ready {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            lock.withLock { _acceptedConnections += 1 }
            serve(connection)
            close(connection)
        }
    }

    /// Answers requests on one connection until the client closes it, a
    /// response says to close it, or the server stops.
    private func serve(_ connection: Int32) {
        var buffer: [UInt8] = []
        while true {
            guard let headEnd = readUntil(connection, &buffer, { ScriptedHTTPServer.headEnd(in: $0) }) else { return }
            let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
            buffer.removeFirst(headEnd + 4)
            var lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.removeFirst().split(separator: " ", maxSplits: 2).map(String.init)
            let headers = lines.compactMap { line -> HTTPRequest.Header? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return HTTPRequest.Header(String(line[..<colon]),
                                          line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
            guard readUntil(connection, &buffer, { $0.count >= length ? length : nil }) != nil else { return }
            let body = Array(buffer.prefix(length))
            buffer.removeFirst(length)

            let response: Response = lock.withLock {
                _requests.append(Request(method: requestLine.first ?? "", path: requestLine.count > 1 ? requestLine[1] : "",
                                         headers: headers, body: body))
                return script.isEmpty
                    ? .status(599, body: "the script has no response for this request")
                    : script.removeFirst()
            }
            if response.closeWithoutAnswer { return }
            // While it delays, a client that gives up (closes) ends the
            // connection, so that its next attempt is served at once.
            if response.delay > 0, wait(for: connection, milliseconds: Int32(response.delay * 1000)) != .timedOut {
                return
            }
            guard sendAll(connection, ScriptedHTTPServer.encode(response)) else { return }
            if response.headers.contains(where: { $0.name.lowercased() == "connection" && $0.value.lowercased() == "close" }) {
                return
            }
        }
    }

    /// Reads into `buffer` until `complete` finds what it wants (its result is
    /// returned); nil when the peer closes or the server stops first.
    private func readUntil(_ connection: Int32, _ buffer: inout [UInt8], _ complete: ([UInt8]) -> Int?) -> Int? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let found = complete(buffer) { return found }
            guard wait(for: connection) == .ready else { return nil }
            let count = recv(connection, &chunk, chunk.count, 0)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    private func sendAll(_ connection: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    private static func headEnd(in buffer: [UInt8]) -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    private static func encode(_ response: Response) -> [UInt8] {
        var head = ""
        if response.informational { head += "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" }
        head += "HTTP/1.1 \(response.status) \(reason(response.status))\r\n"
        for header in response.headers { head += "\(header.name): \(header.value)\r\n" }
        if !response.headers.contains(where: { $0.name.lowercased() == "content-length" }) {
            head += "Content-Length: \(response.body.count)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + response.body
    }

    private static func reason(_ status: Int) -> String {
        [200: "OK", 201: "Created", 400: "Bad Request", 500: "Internal Server Error",
         502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"][status] ?? "Status"
    }
}

/// A port on 127.0.0.1 that refuses connections: bound, never listening,
/// held until deinit so nothing else takes it meanwhile.
final class ClosedPort {
    let port: UInt16
    private let fd: Int32

    init() throws {
        (fd, port) = try ScriptedHTTPServer.bindLoopback(listen: false)
    }

    deinit { close(fd) }
}
