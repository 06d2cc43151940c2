import Foundation
import PortalBase
import Testing

@testable import PortalAWS

/// Lines a trace hook is given, from whichever thread.
final class LineRecorder: @unchecked Sendable {
    // Unchecked: `lines` is touched only under `lock`.
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.withLock { _lines } }
    func record(_ line: String) { lock.withLock { _lines.append(line) } }
}

@Suite("HTTPClient, against a scripted server on loopback")
struct HTTPClientTests {
    @Test("a GET goes out with its headers in order, and the response comes back whole")
    func getRoundTrip() throws {
        let server = try ScriptedHTTPServer([
            .status(200, headers: [.init("X-Amz-Request-Id", "req-1"), .init("Content-Type", "text/xml"),
                                   .init("X-Repeated", "one"), .init("X-Repeated", "two")],
                    body: "<ok/>"),
        ])
        defer { server.stop() }
        let client = HTTPClient()
        let sent: [HTTPRequest.Header] = [.init("X-First", "1"), .init("x-second", "two words"),
                                          .init("X-Third", "3")]
        let response = try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/some/path?a=1&b=2",
                                                   headers: sent))

        #expect(response.status == 200)
        #expect(response.body == Array("<ok/>".utf8))
        #expect(response.header("x-amz-request-id") == "req-1")
        #expect(response.headers.filter { $0.name == "X-Repeated" }.map(\.value) == ["one", "two"])
        #expect(response.header("Content-Length") == "5")

        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(request.method == "GET")
        #expect(request.path == "/some/path?a=1&b=2")
        let names = Set(sent.map { $0.name.lowercased() })
        #expect(request.headers.filter { names.contains($0.name.lowercased()) } == sent)
        #expect(request.header("User-Agent") == "portal-gun/0.1")
        #expect(request.header("Host") == "127.0.0.1:\(server.port)")
        #expect(request.header("Accept") == nil)
        #expect(request.body.isEmpty)
    }

    @Test("a POST sends its body and headers exactly: no Expect, no Accept, its own User-Agent kept")
    func postRoundTrip() throws {
        // Over 1 MiB: large enough that libcurl would ask for `Expect: 100-continue`.
        let body = (0..<1_100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let server = try ScriptedHTTPServer([
            .status(201, headers: [.init("X-Answer", "yes")], body: "created"),
        ])
        defer { server.stop() }
        let client = HTTPClient()
        let sent: [HTTPRequest.Header] = [
            .init("Host", "ec2.eu-west-1.amazonaws.com"),
            .init("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            .init("X-Amz-Date", "20240101T000000Z"),
            .init("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/ec2/aws4_request"),
            .init("User-Agent", "someone-else/2.0"),
        ]
        let response = try client.send(HTTPRequest(method: "POST", url: server.baseURL + "/", headers: sent,
                                                   body: body))

        #expect(response.status == 201)
        #expect(response.header("X-Answer") == "yes")
        #expect(response.body == Array("created".utf8))

        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.path == "/")
        #expect(request.body == body)
        #expect(request.header("Content-Length") == "\(body.count)")
        let names = Set(sent.map { $0.name.lowercased() })
        #expect(request.headers.filter { names.contains($0.name.lowercased()) } == sent)
        #expect(request.values("User-Agent") == ["someone-else/2.0"])
        #expect(request.header("Expect") == nil)
        #expect(request.header("Accept") == nil)
    }

    @Test("libcurl adds no Content-Type, Accept or Expect of its own, and an empty value is sent as empty")
    func noHeadersOfItsOwn() throws {
        let server = try ScriptedHTTPServer([.status(200), .status(200)])
        defer { server.stop() }
        let client = HTTPClient()
        _ = try client.send(HTTPRequest(method: "POST", url: server.baseURL + "/form",
                                        headers: [.init("X-Empty", "")], body: Array("a=b".utf8)))
        _ = try client.send(HTTPRequest(method: "POST", url: server.baseURL + "/empty"))

        let requests = server.requests
        #expect(requests.count == 2)
        #expect(requests[0].headers.map { $0.name.lowercased() }.sorted()
                == ["content-length", "host", "user-agent", "x-empty"])
        #expect(requests[0].header("X-Empty") == "")
        #expect(requests[0].body == Array("a=b".utf8))
        #expect(requests[1].method == "POST")
        #expect(requests[1].header("Content-Length") == "0")
        #expect(requests[1].header("Content-Type") == nil)
    }

    @Test("other methods go out as themselves, with or without a body")
    func otherMethods() throws {
        let server = try ScriptedHTTPServer([.status(200), .status(200, body: "ignored"), .status(204)])
        defer { server.stop() }
        let client = HTTPClient()
        _ = try client.send(HTTPRequest(method: "PUT", url: server.baseURL + "/put", body: Array("data".utf8)))
        let head = try client.send(HTTPRequest(method: "HEAD", url: server.baseURL + "/head"))
        _ = try client.send(HTTPRequest(method: "DELETE", url: server.baseURL + "/delete"))

        let requests = server.requests
        #expect(requests.map(\.method) == ["PUT", "HEAD", "DELETE"])
        #expect(requests[0].body == Array("data".utf8))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
    }

    @Test("three requests share one connection")
    func keepAlive() throws {
        let server = try ScriptedHTTPServer([.status(200, body: "1"), .status(200, body: "2"),
                                             .status(200, body: "3")])
        defer { server.stop() }
        let client = HTTPClient()
        var bodies: [String] = []
        for i in 1...3 {
            let response = try client.send(HTTPRequest(method: i == 2 ? "GET" : "POST",
                                                       url: server.baseURL + "/\(i)", body: Array("n=\(i)".utf8)))
            bodies.append(String(decoding: response.body, as: UTF8.self))
        }
        #expect(bodies == ["1", "2", "3"])
        #expect(server.requests.map(\.path) == ["/1", "/2", "/3"])
        #expect(server.acceptedConnections == 1)
        #expect(client.connectionsOpened == 1)
    }

    @Test("only the final response's headers are kept, not those of a 100 Continue")
    func informationalHeadersDropped() throws {
        let server = try ScriptedHTTPServer([.status(200, headers: [.init("X-Final", "yes")], body: "done",
                                                     informational: true)])
        defer { server.stop() }
        let response = try HTTPClient().send(HTTPRequest(method: "GET", url: server.baseURL + "/"))
        #expect(response.status == 200)
        #expect(response.header("X-Final") == "yes")
        #expect(response.header("X-Interim") == nil)
        #expect(response.body == Array("done".utf8))
    }

    @Test("a 500 is a response, not an error")
    func serverErrorIsAResponse() throws {
        let server = try ScriptedHTTPServer([.status(500, body: "<Error><Code>InternalError</Code></Error>")])
        defer { server.stop() }
        let response = try HTTPClient().send(HTTPRequest(method: "POST", url: server.baseURL + "/"))
        #expect(response.status == 500)
        #expect(String(decoding: response.body, as: UTF8.self) == "<Error><Code>InternalError</Code></Error>")
    }

    @Test("a refused connection is an HTTPError of kind connect, exit status 69")
    func connectionRefused() throws {
        let closed = try ClosedPort()
        let client = HTTPClient()
        let error = try #require(throws: HTTPError.self) {
            try client.send(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(closed.port)/"))
        }
        #expect(error.kind == .connect)
        #expect(error.code == 7)  // CURLE_COULDNT_CONNECT
        #expect(error.host == "127.0.0.1:\(closed.port)")
        #expect(error.exitStatus == .unavailable)
        #expect(error.exitStatus.rawValue == 69)
        #expect(error.description == "could not connect to '127.0.0.1:\(closed.port)': Connection refused")
        #expect(error.retryClass == .transient)
    }

    @Test("a server slower than totalTimeout is an HTTPError of kind timeout, exit status 75")
    func timeout() throws {
        let server = try ScriptedHTTPServer([.status(200, delay: 10)])
        defer { server.stop() }
        let client = HTTPClient(totalTimeout: 0.2)
        let start = Date()
        let error = try #require(throws: HTTPError.self) {
            try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/slow"))
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(error.kind == .timeout)
        #expect(error.code == 28)  // CURLE_OPERATION_TIMEDOUT
        #expect(error.exitStatus == .temporary)
        #expect(error.exitStatus.rawValue == 75)
        #expect(error.description.hasPrefix("timed out waiting for '127.0.0.1:\(server.port)': "))
        #expect(error.retryClass == .timeout)
        #expect(elapsed >= 0.15 && elapsed < 2)
    }

    @Test("a connection closed without an answer is a transport error, and the next request reconnects")
    func closedWithoutAnswer() throws {
        let server = try ScriptedHTTPServer([.closeConnection, .status(200, body: "back")])
        defer { server.stop() }
        let client = HTTPClient()
        let error = try #require(throws: HTTPError.self) {
            try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/"))
        }
        #expect(error.kind == .transport)
        #expect(error.code == 52)  // CURLE_GOT_NOTHING
        #expect(error.exitStatus == .unavailable)
        #expect(error.description.hasPrefix("lost the connection to '127.0.0.1:\(server.port)': "))
        let response = try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/"))
        #expect(response.body == Array("back".utf8))
        #expect(server.acceptedConnections == 2)
    }

    @Test("a malformed URL is an error retries will not help")
    func malformedURL() throws {
        let error = try #require(throws: HTTPError.self) {
            try HTTPClient().send(HTTPRequest(method: "GET", url: "nope://what"))
        }
        #expect(error.kind == .other)
        #expect(error.exitStatus == .failure)
        #expect(error.retryClass == .notRetryable)
        #expect(error.description.hasPrefix("request to 'what' failed: "))
    }

    @Test("the trace gets one line per request, without query, headers or body")
    func trace() throws {
        let server = try ScriptedHTTPServer([.status(200), .status(503)])
        defer { server.stop() }
        let client = HTTPClient()
        let recorder = LineRecorder()
        client.trace = { recorder.record($0) }
        _ = try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/a?X-Amz-Signature=secret",
                                        headers: [.init("Authorization", "secret-header")]))
        _ = try client.send(HTTPRequest(method: "POST", url: server.baseURL + "/b", body: Array("secret-body".utf8)))
        let closed = try ClosedPort()
        _ = try? client.send(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(closed.port)/c"))

        let lines = recorder.lines
        #expect(lines.count == 3)
        let pattern = #/^(GET|POST) http://127\.0\.0\.1:\d+/[abc] -> (\d{3}|could not connect .*) \(\d+ ms\)$/#
        for line in lines {
            #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
            #expect(!line.contains("secret"), "\(line)")
        }
        #expect(lines[0].hasPrefix("GET \(server.baseURL)/a -> 200 ("))
        #expect(lines[1].hasPrefix("POST \(server.baseURL)/b -> 503 ("))
    }

    @Test("a trace hook may use the client it traces")
    func traceMayUseTheClient() throws {
        let server = try ScriptedHTTPServer([.status(200)])
        defer { server.stop() }
        let client = HTTPClient()
        let recorder = LineRecorder()
        client.trace = { [weak client] line in recorder.record("\(client?.connectionsOpened ?? -1) \(line)") }
        _ = try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/"))
        #expect(recorder.lines.count == 1)
        #expect(recorder.lines.first?.hasPrefix("1 GET ") == true)
    }

    @Test("requests from several threads take turns on the one handle")
    func concurrentCallers() throws {
        let server = try ScriptedHTTPServer(Array(repeating: .status(200, body: "ok"), count: 8))
        defer { server.stop() }
        let client = HTTPClient()
        let results = LineRecorder()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let response = try? client.send(HTTPRequest(method: "GET", url: server.baseURL + "/\(i)"))
            results.record(response.map { String(decoding: $0.body, as: UTF8.self) } ?? "error")
        }
        #expect(results.lines == Array(repeating: "ok", count: 8))
        #expect(server.requests.count == 8)
        #expect(server.acceptedConnections == 1)
    }

    @Test("an answer larger than the cap is refused, not held in memory whole")
    func responseCap() throws {
        let server = try ScriptedHTTPServer([.status(200, body: String(repeating: "x", count: (1 << 20) + 1))])
        defer { server.stop() }
        let client = HTTPClient()
        #expect(client.maximumResponse == 32 << 20)
        client.maximumResponse = 1 << 20
        let error = #expect(throws: HTTPError.self) {
            try client.send(HTTPRequest(method: "GET", url: server.baseURL + "/big", headers: [], body: []))
        }
        #expect(error?.description.contains("larger than") == true, "\(String(describing: error))")
    }

    @Test("an error body that is not AWS's XML is summarised: an HTML page by its title, other text by its first line")
    func nonXMLErrorBodies() {
        let page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
            + String(repeating: "<p>proxy error</p>\n", count: 1000) + "</body></html>"
        let html = AWSError.decode(Array(page.utf8), status: 502, service: "ec2", action: "DescribeVolumes")
        #expect(html.code == "HTTP502")
        #expect(html.message.contains("502 Bad Gateway"), "\(html.message)")
        #expect(!html.message.contains("<"), "\(html.message)")
        let text = AWSError.decode(Array(("upstream connect error\r\n" + String(repeating: "y", count: 5000)).utf8),
                                   status: 503, service: "ec2", action: "DescribeVolumes")
        #expect(text.message.contains("upstream connect error"), "\(text.message)")
        #expect(text.description.count < 200, "\(text.description)")
    }
}

@Suite("libcurl, loaded on the first request")
struct CurlLibraryTests {
    @Test("a libcurl that cannot be loaded: the error names the library and the Debian package; exit 69")
    func missingLibrary() throws {
        let failure = try #require(throws: Failure.self) { try Curl.load("libcurl-portal-gun-absent.so.4").get() }
        #expect(failure.message.hasPrefix("cannot load libcurl (libcurl-portal-gun-absent.so.4)"), "\(failure.message)")
        #expect(failure.message.contains("No such file"), "dlerror's reason: \(failure.message)")
        #expect(failure.hints == ["install it: sudo apt-get install libcurl4 (Debian and Ubuntu)"])
        #expect(failure.exitStatus == .unavailable)
    }

    @Test("a library that is not libcurl: the error names the function it lacks")
    func notLibcurl() throws {
        let failure = try #require(throws: Failure.self) { try Curl.load("libc.so.6").get() }
        #expect(failure.message == "libc.so.6 lacks curl_global_init: not a libcurl Portal Gun can use")
        #expect(failure.exitStatus == .unavailable)
    }

}
