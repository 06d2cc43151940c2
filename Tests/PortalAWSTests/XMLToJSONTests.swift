import Foundation
import PortalBase
import Testing

@testable import PortalAWS

struct XMLToJSONTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/xml/\(name)", withExtension: "xml"))
        return Array(try Data(contentsOf: url))
    }

    @Test("sets become arrays without item wrappers, numbers and booleans are typed")
    func describeVolumes() throws {
        let json = try XMLToJSON.convert(Self.fixture("moto-describe-volumes"))
        let volume = try #require(json["volumeSet"]?[0])
        #expect(volume["volumeId"] == "vol-d80ffbb70e4608243")
        #expect(volume["size"] == .int(8))
        #expect(volume["encrypted"] == .bool(false))
        #expect(volume["attachmentSet"] == .array([]))
        #expect(volume["tagSet"] == [["key": "Name", "value": "data"]])
        #expect(json["requestId"] == "request-id")
    }

    @Test("nested sets of a real DescribeInstances answer, identifiers and tag values stay strings")
    func describeInstances() throws {
        let json = try XMLToJSON.convert(Self.fixture("aws-describe-instances"))
        let reservation = try #require(json["reservationSet"]?[0])
        #expect(reservation["ownerId"] == "123456789012")
        #expect(reservation["groupSet"] == .array([]))
        let instance = try #require(reservation["instancesSet"]?[0])
        #expect(instance["instanceState"] == ["code": 16, "name": "running"])
        #expect(instance["amiLaunchIndex"] == .int(0))
        #expect(instance["groupSet"] == [["groupId": "sg-e4076980", "groupName": "SecurityGroup1"]])
        #expect(instance["blockDeviceMapping"]?[0]?["ebs"]?["deleteOnTermination"] == .bool(true))
        #expect(instance["tagSet"]?[1] == ["key": "build", "value": "00042"])
        #expect(instance["ipAddress"] == "54.194.252.215")
        #expect(instance["spotInstanceRequestId"] == "sir-abcd1234")
    }

    @Test("an STS answer keeps the account number as text")
    func callerIdentity() throws {
        let json = try XMLToJSON.convert(Self.fixture("sts-get-caller-identity"))
        #expect(json["GetCallerIdentityResult"]?["Account"] == "012345678901")
        #expect(json["GetCallerIdentityResult"]?["Arn"] == "arn:aws:iam::123456789012:user/Alice")
    }

    @Test("EC2 errors keep code, message and request id")
    func ec2Error() throws {
        let error = AWSError.decode(try Self.fixture("aws-error"), status: 400, service: "ec2", action: "DescribeInstances")
        #expect(error.code == "InvalidInstanceID.NotFound")
        #expect(error.message == "The instance ID 'i-1a2b3c4d' does not exist")
        #expect(error.requestId == "ea966190-f9aa-478e-9ede-example")
        #expect(error.exitStatus == .failure)
        #expect(error.description == "EC2 DescribeInstances: InvalidInstanceID.NotFound: The instance ID 'i-1a2b3c4d' does not exist (request id ea966190-f9aa-478e-9ede-example)")
    }

    @Test("STS errors are read too, and a bad signature means exit 77")
    func stsError() throws {
        let error = AWSError.decode(try Self.fixture("sts-error"), status: 403, service: "sts", action: "GetCallerIdentity")
        #expect(error.code == "SignatureDoesNotMatch")
        #expect(error.requestId == "4e5f5b1a-example")
        #expect(error.exitStatus == .permission)
    }

    @Test("an error body that is not XML still gives a message")
    func garbageError() {
        let error = AWSError.decode(Array("<html>bad gateway".utf8), status: 502, service: "ec2", action: "X")
        #expect(error.code == "HTTP502")
        #expect(error.exitStatus == .unavailable)
    }

    @Test("numbers with leading zeros, huge numbers and decimals stay text")
    func scalars() {
        #expect(XMLToJSON.scalar("007", key: "size") == "007")
        #expect(XMLToJSON.scalar("12345678901234567890", key: "size") == "12345678901234567890")
        #expect(XMLToJSON.scalar("0.5", key: "spotPrice") == "0.5")
        #expect(XMLToJSON.scalar("-3", key: "x") == .int(-3))
        #expect(XMLToJSON.scalar("42", key: "volumeId") == "42")
    }

    @Test("what crashed FoundationXML's parser is refused (found by bin/fuzz xml, inputs in Fuzz/corpus/xml)",
          arguments: [[0x3C, 0xFF, 0xFF, 0xFF, 0xFF], Array("<?m?>".utf8), Array("<?xml version=\"1.0\"?><a><?m?></a>".utf8),
                      Array("<?xml-stylesheet?><a/>".utf8)] as [[UInt8]])
    func crashedTheParser(_ body: [UInt8]) {
        #expect(throws: Failure.self) { try XMLToJSON.convert(body) }
        let error = AWSError.decode(body, status: 500, service: "ec2", action: "X")
        #expect(error.code == "HTTP500")
    }

    @Test("entities, character references, CDATA, comments and attributes are read as XML says")
    func reader() throws {
        let body = Array("""
            \u{FEFF}<?xml version="1.0"?>
            <!-- a comment -->
            <R xmlns="http://ec2.amazonaws.com/doc/2016-11-15/" a='1'>
              <t>a&amp;b &lt;c&gt; &quot;&apos; &#65;&#x42;&#x1F600;</t><c><![CDATA[<not> & a tag]]></c>
              <e/><e2 x="y" /><!-- <x> --><crlf>a\r\nb</crlf>
            </R>
            """.utf8)
        let json = try XMLToJSON.convert(body)
        #expect(json["t"] == "a&b <c> \"' AB😀")
        #expect(json["c"] == "<not> & a tag")
        #expect(json["e"] == "" && json["e2"] == "")
        #expect(json["crlf"] == "a\nb")
    }

    @Test("what is not well-formed, or what AWS never sends, is refused with a reason",
          arguments: ["", "   ", "<a>", "<a></b>", "<a><b></a></b>", "</a>", "<a/><b/>", "<a/>text", "text<a/>",
                      "<a>&bogus;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>& b</a>", "<a b></a>", "<a b=c></a>",
                      "<a b=\"<\"></a>", "<a b=\"1\"c=\"2\"></a>", "<!DOCTYPE a><a/>", "<a><!DOCTYPE a></a>",
                      "<a><![CDATA[x</a>", "<a><!-- x</a>", "< a/>", "<1a/>"])
    func refused(_ text: String) {
        #expect(throws: Failure.self) { try XMLToJSON.convert(Array(text.utf8)) }
    }

    @Test("elements nest at most 256 deep: deeper is refused, not a stack overflow")
    func depth() throws {
        func nested(_ depth: Int) -> [UInt8] {
            Array((String(repeating: "<a>", count: depth) + "x" + String(repeating: "</a>", count: depth)).utf8)
        }
        #expect(throws: Never.self) { try XMLToJSON.convert(nested(256)) }
        #expect(throws: Failure.self) { try XMLToJSON.convert(nested(257)) }
        #expect(throws: Failure.self) { try XMLToJSON.convert(nested(100_000)) }
    }

    @Test("the XML declaration is no processing instruction")
    func declaration() throws {
        #expect(try XMLToJSON.convert(Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R><a>1</a></R>".utf8)) == ["a": 1])
    }
}

struct QueryParametersTests {
    @Test("structured filters flatten the way EC2 expects")
    func filters() throws {
        let params = try QueryParameters.flatten(
            JSONObject([("Filters", [["Name": "tag:portal-name", "Values": ["gpu", "cpu"]]]), ("DryRun", true)]))
        #expect(params.pairs.map { "\($0.0)=\($0.1)" } == [
            "Filter.1.Name=tag:portal-name", "Filter.1.Value.1=gpu", "Filter.1.Value.2=cpu", "DryRun=true",
        ])
    }

    @Test("flat names pass through; nested objects join with dots; unknown lists keep their name")
    func nested() throws {
        let params = try QueryParameters.flatten(JSONObject([
            ("Filter.1.Name", "a"),
            ("InstanceMarketOptions", ["MarketType": "spot", "SpotOptions": ["SpotInstanceType": "one-time"]]),
            ("TagSpecifications", [["ResourceType": "instance", "Tags": [["Key": "k", "Value": "v"]]]]),
            ("SpotFleetRequestConfig", ["LaunchSpecifications": [["ImageId": "ami-1"]], "TargetCapacity": 1]),
        ]))
        #expect(params.pairs.map { "\($0.0)=\($0.1)" } == [
            "Filter.1.Name=a",
            "InstanceMarketOptions.MarketType=spot",
            "InstanceMarketOptions.SpotOptions.SpotInstanceType=one-time",
            "TagSpecification.1.ResourceType=instance",
            "TagSpecification.1.Tag.1.Key=k", "TagSpecification.1.Tag.1.Value=v",
            "SpotFleetRequestConfig.LaunchSpecifications.1.ImageId=ami-1",
            "SpotFleetRequestConfig.TargetCapacity=1",
        ])
    }

    @Test("the Query protocol of STS numbers lists under member")
    func stsStyle() throws {
        let params = try QueryParameters.flatten(JSONObject([("Tags", [["Key": "a", "Value": "b"]])]), style: .query)
        #expect(params.pairs.map { "\($0.0)=\($0.1)" } == ["Tags.member.1.Key=a", "Tags.member.1.Value=b"])
    }

    @Test("the form body encodes every reserved byte")
    func formEncoding() {
        let params = QueryParameters([("Filter.1.Value.1", "a b&c=d/é"), ("Action", "X")])
        #expect(params.formEncoded == "Filter.1.Value.1=a%20b%26c%3Dd%2F%C3%A9&Action=X")
    }
}
