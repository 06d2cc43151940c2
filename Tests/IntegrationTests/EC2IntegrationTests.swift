import Foundation
import PortalBase
import Testing

/// The built portal-ec2 and portal-sign against moto, as EC2 and STS.
@Suite(.enabled(if: LocalCloud.available))
struct EC2IntegrationTests {
    @Test("portal-ec2 creates a tagged volume and finds it again with a structured filter")
    func createAndDescribe() throws {
        let name = "it-\(UUID().uuidString.prefix(8))"
        let created = try run("portal-ec2", ["CreateVolume"], stdin: """
            {"Size": 3, "AvailabilityZone": "us-east-1a", "VolumeType": "gp3",
             "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "\(name)"}]}]}
            """)
        #expect(created.status == 0, "\(created.stderr)")
        let id = try #require(created.json?["volumeId"]?.stringValue)
        #expect(created.json?["size"] == .int(3))

        let found = try run("portal-ec2", stdin: """
            {"Action": "DescribeVolumes", "Filters": [{"Name": "tag:Name", "Values": ["\(name)"]}]}
            """)
        #expect(found.status == 0, "\(found.stderr)")
        let volumes = try #require(found.json?["volumeSet"]?.arrayValue)
        #expect(volumes.count == 1)
        #expect(volumes.first?["volumeId"] == .string(id))
        #expect(volumes.first?["tagSet"] == [["key": "Name", "value": .string(name)]])

        let flat = try run("portal-ec2", stdin: #"{"Action": "DescribeVolumes", "VolumeId.1": "\#(id)"}"#)
        #expect(flat.json?["volumeSet"]?[0]?["volumeId"] == .string(id))
        try run("portal-ec2", ["DeleteVolume"], stdin: #"{"VolumeId": "\#(id)"}"#)
    }

    @Test("an AWS error keeps its code and request id, and its exit status says what kind it is")
    func awsError() throws {
        let result = try run("portal-ec2", ["DescribeVolumes"], stdin: #"{"VolumeId.1": "vol-00000000000000000"}"#)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("portal-ec2: error: EC2 DescribeVolumes: InvalidVolume.NotFound"))
        #expect(result.stderr.contains("request id"))
    }

    @Test("bad JSON on stdin is exit 65 with line and column, before any call")
    func badInput() throws {
        let result = try run("portal-ec2", stdin: "{\"Action\": \"DescribeVolumes\",\n  oops}", environment: [
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9"  // nothing listens: a call would fail otherwise
        ])
        #expect(result.status == 65)
        #expect(result.stderr.contains("<stdin>: line 2, column 3"))
    }

    @Test("STS GetCallerIdentity names the caller")
    func callerIdentity() throws {
        let result = try run("portal-ec2", ["--service", "sts", "GetCallerIdentity"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json?["GetCallerIdentityResult"]?["Arn"]?.stringValue?.hasPrefix("arn:aws:") == true)
    }

    @Test("no credentials anywhere: exit 77 and every place looked, nothing sent")
    func noCredentials() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("empty-home-\(UUID())").path
        let result = try run("portal-ec2", ["DescribeVolumes"], environment: [
            "HOME": home, "PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": LocalCloud.endpoint,
        ], replacingEnvironment: true)
        #expect(result.status == 77)
        #expect(result.stderr.contains("no AWS credentials found"))
        #expect(result.stderr.contains("credential_process"))
    }
}

/// A moto of its own with signature verification on: an IAM user and access
/// key made through moto, our requests signed with that key accepted, and a
/// request signed with a wrong secret refused.
@Suite(.enabled(if: LocalCloud.available))
struct SignatureVerificationTests {
    let moto: MotoServer
    let accessKeyId: String
    let secret: String

    init() throws {
        let server = try MotoServer()
        moto = server
        // The next 3 calls go through unchecked; everything after is verified.
        try server.post("/moto-api/reset-auth", body: "3")
        func iam(_ body: String) throws -> String {
            try server.post("/", body: body + "&Version=2010-05-08", service: "iam")
        }
        _ = try iam("Action=CreateUser&UserName=portal")
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","sts:*"],"Resource":"*"}]}"#
        _ = try iam("Action=PutUserPolicy&UserName=portal&PolicyName=all&PolicyDocument="
            + policy.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        let key = try iam("Action=CreateAccessKey&UserName=portal")
        accessKeyId = Self.element("AccessKeyId", in: key)
        secret = Self.element("SecretAccessKey", in: key)
    }

    static func element(_ name: String, in xml: String) -> String {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>") else { return "" }
        return String(xml[start.upperBound..<end.lowerBound])
    }

    func environment(secret: String) -> [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKeyId, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1",
         "AWS_ENDPOINT_URL": moto.endpoint, "AWS_SESSION_TOKEN": "", "AWS_PROFILE": ""]
    }

    @Test("requests signed with the IAM user's key are accepted; a wrong secret is refused with exit 77")
    func verification() throws {
        #expect(accessKeyId.count >= 16 && secret.count >= 30, "moto did not create an access key")
        let good = try run("portal-ec2", ["DescribeVolumes"], environment: environment(secret: secret))
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.json?["volumeSet"] == .array([]))

        let who = try run("portal-ec2", ["--service", "sts", "GetCallerIdentity"], environment: environment(secret: secret))
        #expect(who.json?["GetCallerIdentityResult"]?["Arn"]?.stringValue?.hasSuffix(":user/portal") == true, "\(who.stderr)")

        let bad = try run("portal-ec2", ["DescribeVolumes"], environment: environment(secret: secret + "x"))
        #expect(bad.status == 77, "\(bad.stderr)")
        #expect(bad.stderr.contains("AuthFailure") || bad.stderr.contains("SignatureDoesNotMatch"))
        #expect(!bad.stderr.contains(secret), "the secret reached stderr")
    }

    @Test("portal-sign's output, sent as it is with curl, is accepted by the verifying server")
    func signThenSend() throws {
        let request = """
            {"method": "POST", "url": "\(moto.endpoint)/", "service": "ec2", "region": "us-east-1",
             "headers": [["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"]],
             "body": "Action=DescribeVolumes&Version=2016-11-15"}
            """
        for (secretUsed, expectOK) in [(secret, true), ("wrong" + secret, false)] {
            let signed = try run("portal-sign", stdin: request, environment: environment(secret: secretUsed))
            #expect(signed.status == 0, "\(signed.stderr)")
            let json = try #require(signed.json)
            var args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", json["url"]!.stringValue!,
                        "--data-binary", json["body"]!.stringValue!]
            for header in json["headers"]!.arrayValue! {
                args += ["-H", "\(header[0]!.stringValue!): \(header[1]!.stringValue!)"]
            }
            let sent = try run("/usr/bin/curl", args)
            #expect((sent.stdout == "200") == expectOK, "HTTP \(sent.stdout) with \(expectOK ? "the right" : "a wrong") secret")
        }
    }
}
