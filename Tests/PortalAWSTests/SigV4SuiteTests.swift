import Foundation
import Testing

@testable import PortalAWS

/// AWS's official Signature Version 4 test suite (../shared/aws-sigv4-testsuite,
/// or PORTAL_SIGV4_SUITE; bin/test fetches the same files from botocore's
/// source distribution where ../shared is missing). Every case is run: the
/// canonical request, the string to sign, the Authorization header and the
/// signed request must match the suite's files to the byte.
struct SigV4SuiteTests {
    static let credentials = AWSCredentials(
        accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let sessionToken =
        "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

    static var suiteDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["PORTAL_SIGV4_SUITE"] {
            return URL(fileURLWithPath: path)
        }
        // Tests/PortalAWSTests/ -> repository -> ../shared
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/aws-sigv4-testsuite")
    }

    /// Every folder holding a NAME.req, as a path relative to the suite.
    static let cases: [String] = {
        let root = suiteDirectory
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var found: [String] = []
        while let item = walker.nextObject() as? String {
            let url = URL(fileURLWithPath: item)
            if url.pathExtension == "req" {
                found.append(url.deletingLastPathComponent().relativePath)
            }
        }
        return found.sorted()
    }()

    @Test("the suite is present and complete")
    func suiteIsPresent() {
        #expect(Self.cases.count >= 32, "found \(Self.cases.count) cases in \(Self.suiteDirectory.path)")
        #expect(Self.cases.contains("normalize-path/get-space"))
        #expect(Self.cases.contains("post-sts-token/post-sts-header-after"))
    }

    @Test("every case of the official suite signs to the byte", arguments: cases)
    func suiteCase(_ name: String) throws {
        let folder = Self.suiteDirectory.appendingPathComponent(name)
        let base = (name as NSString).lastPathComponent
        func file(_ ext: String) throws -> String {
            try String(contentsOf: folder.appendingPathComponent("\(base).\(ext)"), encoding: .utf8)
        }
        let request = try SuiteRequest(parsing: try file("req"))
        var signer = SigV4(credentials: Self.credentials, region: "us-east-1", service: "service")
        if name.hasSuffix("with-session-token") {
            // botocore's harness signs this case with this token.
            signer.credentials.sessionToken = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
        }
        if name.hasSuffix("post-sts-header-after") {
            // The token is added after the signature, so it is not signed.
            signer.credentials.sessionToken = Self.sessionToken
            signer.signSessionToken = false
        }
        let date = try #require(SigV4.parseAmzDate("20150830T123600Z"))
        let (prepared, amzDate) = signer.prepared(request.http, date: date)
        let canonical = signer.canonicalRequest(prepared)
        #expect(canonical == (try file("creq")))
        let stringToSign = signer.stringToSign(canonicalRequest: canonical, amzDate: amzDate)
        #expect(stringToSign == (try file("sts")))
        #expect(signer.authorization(prepared, amzDate: amzDate) == (try file("authz")))

        let signed = signer.sign(request.http, date: date)
        let expected = try SuiteRequest(parsing: try file("sreq"))
        #expect(signed.method == expected.http.method)
        #expect(signed.headers.map(\.name) == expected.http.headers.map(\.name))
        // The signed request carries the Authorization of the .authz file. (One
        // case, get-vanilla-with-session-token, has a stale Authorization in
        // its .sreq that contradicts its own .authz, .sts and .creq; the
        // .authz is the one consistent with the rest, so it is the reference.)
        func values(_ headers: [HTTPRequest.Header]) -> [String] {
            headers.filter { $0.name != "Authorization" }.map { SigV4.foldWhitespace($0.value) }
        }
        #expect(values(signed.headers) == values(expected.http.headers))
        #expect(signed.header("Authorization") == (try file("authz")))
        #expect(signed.body == expected.http.body)
    }
}

/// A request as the suite writes it: `METHOD PATH HTTP/1.1`, header lines
/// (a line starting with white space continues the one before), a blank line,
/// the body. The path may hold spaces and raw UTF-8, which Foundation's URL
/// does not take, so the request line is split by hand.
struct SuiteRequest {
    var http: HTTPRequest

    init(parsing text: String) throws {
        let (head, body) = Self.splitBody(text)
        var lines = head.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        guard let firstSpace = requestLine.firstIndex(of: " "),
            let versionRange = requestLine.range(of: " HTTP/", options: .backwards)
        else { throw SuiteError("bad request line: \(requestLine)") }
        let method = String(requestLine[..<firstSpace])
        let target = String(requestLine[requestLine.index(after: firstSpace)..<versionRange.lowerBound])
        var headers: [HTTPRequest.Header] = []
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { throw SuiteError("bad header line: \(line)") }
            headers.append(.init(String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        let host = headers.first(where: { $0.name.lowercased() == "host" })?.value ?? "example.amazonaws.com"
        http = HTTPRequest(method: method, url: "https://\(host)\(target)", headers: headers, body: Array(body.utf8))
    }

    static func splitBody(_ text: String) -> (String, String) {
        if let range = text.range(of: "\n\n") {
            return (String(text[..<range.lowerBound]), String(text[range.upperBound...]))
        }
        return (text, "")
    }
}

struct SuiteError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct AmzDateTests {
    @Test("dates format and parse in UTC, and impossible ones are refused")
    func amzDates() throws {
        let date = try #require(SigV4.parseAmzDate("20150830T123600Z"))
        #expect(date.timeIntervalSince1970 == 1_440_938_160)
        #expect(SigV4.amzDate(date) == "20150830T123600Z")
        #expect(SigV4.amzDate(Date(timeIntervalSince1970: 0.9)) == "19700101T000000Z")
        for bad in ["20150230T000000Z", "2015-08-30T12:36", "20151330T000000Z", "20150830T243600Z", "20150830T123600"] {
            #expect(SigV4.parseAmzDate(bad) == nil, "\(bad)")
        }
    }
}
