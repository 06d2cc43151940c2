import Foundation
@testable import PortalAWS

/// The SigV4 canonicaliser (PortalAWS): a request as the AWS test suite writes
/// one (`METHOD TARGET HTTP/1.1`, header lines, a blank line, the body),
/// signed and presigned. The canonical query is a fixed point; a canonical
/// path starts with a slash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSigV4(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let (head, body) = text.range(of: "\n\n").map { (text[..<$0.lowerBound], text[$0.upperBound...]) } ?? (text[...], "")
    var lines = head.split(separator: "\n", omittingEmptySubsequences: false)
    guard !lines.isEmpty else { return 0 }
    let requestLine = lines.removeFirst().split(separator: " ", maxSplits: 1)
    guard requestLine.count == 2 else { return 0 }
    let target = requestLine[1].hasSuffix(" HTTP/1.1") ? requestLine[1].dropLast(9) : requestLine[1]
    var headers: [HTTPRequest.Header] = []
    for line in lines where !line.isEmpty {
        if line.first == " " || line.first == "\t", !headers.isEmpty {
            headers[headers.count - 1].value += "\n" + line
        } else if let colon = line.firstIndex(of: ":") {
            headers.append(.init(String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
    }
    let host = headers.first { $0.name.lowercased() == "host" }?.value ?? "example.amazonaws.com"
    let request = HTTPRequest(method: String(requestLine[0]), url: "https://\(host)\(target)", headers: headers,
                              body: Array(body.utf8))

    var signer = SigV4(credentials: AWSCredentials(accessKeyId: "AKIDEXAMPLE",
                                                   secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                       region: "us-east-1", service: "service")
    signer.signSessionToken = size % 2 == 0
    signer.addContentSHA256 = size % 3 == 0
    if size % 5 == 0 { signer.credentials.sessionToken = "token" }
    let date = Date(timeIntervalSince1970: 1_440_938_160)
    let signed = signer.sign(request, date: date)
    precondition(signed.headers.last?.name == "Authorization")
    _ = signer.presign(request, expires: 300, date: date)
    let query = SigV4.canonicalQuery(request.parts.query)
    precondition(SigV4.canonicalQuery(query) == query, "canonical query not canonical: \(query)")
    precondition(SigV4.canonicalURI(request.parts.path).hasPrefix("/"))
    return 0
}
