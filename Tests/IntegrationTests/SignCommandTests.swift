import Foundation
import PortalBase
import Testing

/// The built portal-sign against the official suite's vanilla case, through
/// its JSON interface: every stage and the signed headers.
struct SignCommandTests {
    static let environment = [
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "us-east-1",
    ]
    static let request = """
        {"method": "GET", "url": "https://example.amazonaws.com/", "service": "service", "region": "us-east-1",
         "headers": [["Host", "example.amazonaws.com"]]}
        """

    @Test("--print canonical-request and string-to-sign give the suite's stages; the output adds the suite's Authorization")
    func vanilla() throws {
        let args = ["--date", "20150830T123600Z"]
        let canonical = try run("portal-sign", args + ["--print", "canonical-request"], stdin: Self.request,
                                environment: Self.environment)
        #expect(canonical.stdout == """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

            """)
        let sts = try run("portal-sign", args + ["--print", "string-to-sign"], stdin: Self.request,
                          environment: Self.environment)
        #expect(sts.stdout.hasSuffix("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63\n"))
        let signed = try run("portal-sign", args, stdin: Self.request, environment: Self.environment)
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.json?["headers"] == [
            ["Host", "example.amazonaws.com"], ["X-Amz-Date", "20150830T123600Z"],
            ["Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"],
        ])
        #expect(signed.json?["service"] == "service")
        #expect(!signed.stdout.contains("wJalrXUtnFEMI"), "the secret reached stdout")
    }

    @Test("--presign puts the signature and its parameters in the URL's query, and no Authorization header")
    func presign() throws {
        let signed = try run("portal-sign", ["--date", "20150830T123600Z", "--presign", "300"], stdin: Self.request,
                             environment: Self.environment)
        let url = try #require(signed.json?["url"]?.stringValue)
        #expect(url.hasPrefix("https://example.amazonaws.com/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature="))
        #expect(url.split(separator: "=").last?.count == 64)
        #expect(signed.json?["headers"]?.arrayValue?.contains { $0[0] == "Authorization" } == false)
    }

    @Test("bad input is exit 65 and names the field; a bad --date is a usage error")
    func badInput() throws {
        let noURL = try run("portal-sign", stdin: #"{"method": "GET"}"#, environment: Self.environment)
        #expect(noURL.status == 65)
        #expect(noURL.stderr.contains("url"))
        let badHeaders = try run("portal-sign", stdin: #"{"url": "https://x.amazonaws.com/", "headers": [["a"]]}"#,
                                 environment: Self.environment)
        #expect(badHeaders.status == 65)
        #expect(badHeaders.stderr.contains("headers[0]"))
        let badDate = try run("portal-sign", ["--date", "yesterday"], stdin: Self.request, environment: Self.environment)
        #expect(badDate.status == 64)
    }

    @Test("credentials are never taken from the command line")
    func noSecretFlags() throws {
        let result = try run("portal-sign", ["--secret-access-key", "x"], stdin: Self.request, environment: Self.environment)
        #expect(result.status == 64)
    }
}
