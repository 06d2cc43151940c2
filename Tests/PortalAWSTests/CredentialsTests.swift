import Foundation
import PortalBase
import Testing

@testable import PortalAWS

/// Credential, region and endpoint resolution, each test in a temporary HOME
/// with its own files and an environment of its own (the process's
/// environment is never read).
struct CredentialsTests {
    final class Home {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("portal-home-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path + "/.aws", withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func write(_ relative: String, _ text: String) throws {
            let url = URL(fileURLWithPath: path + "/" + relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        func resolver(_ env: [String: String] = [:], profile: String? = nil, region: String? = nil) -> ConfigurationResolver {
            ConfigurationResolver(environment: env.merging(["HOME": path]) { a, _ in a }, profile: profile, region: region)
        }
    }

    @Test("environment variables come first, with the session token")
    func environment() throws {
        let home = try Home()
        try home.write(".aws/credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n")
        let creds = try home.resolver(["AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret",
                                       "AWS_SESSION_TOKEN": "tok"]).resolveCredentials()
        #expect(creds.accessKeyId == "ENVKEY")
        #expect(creds.secretAccessKey == "envsecret")
        #expect(creds.sessionToken == "tok")
    }

    @Test("--profile beats the environment's keys; AWS_PROFILE does not")
    func profilePrecedence() throws {
        let home = try Home()
        try home.write(".aws/credentials", "[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = devsecret\n")
        let env = ["AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret"]
        #expect(try home.resolver(env, profile: "dev").resolveCredentials().accessKeyId == "DEVKEY")
        #expect(try home.resolver(env.merging(["AWS_PROFILE": "dev"]) { a, _ in a }).resolveCredentials().accessKeyId == "ENVKEY")
        #expect(try home.resolver(["AWS_PROFILE": "dev"]).resolveCredentials().accessKeyId == "DEVKEY")
    }

    @Test("the config file's [profile x] section, its region and endpoint_url")
    func configFile() throws {
        let home = try Home()
        try home.write(".aws/config", """
            [default]
            region = eu-west-1
            [profile work]
            region = us-west-2
            aws_access_key_id = WORKKEY
            aws_secret_access_key = worksecret
            endpoint_url = http://127.0.0.1:9999
            s3 =
              addressing_style = path
            """)
        let work = try home.resolver(profile: "work").resolve()
        #expect(work.credentials.accessKeyId == "WORKKEY")
        #expect(work.region == "us-west-2")
        #expect(work.endpoint(for: "ec2") == "http://127.0.0.1:9999")
        #expect(try home.resolver().resolveRegion() == "eu-west-1")
        #expect(try home.resolver(["AWS_REGION": "ap-south-1"]).resolveRegion() == "ap-south-1")
        #expect(try home.resolver(["AWS_DEFAULT_REGION": "ca-central-1"]).resolveRegion() == "ca-central-1")
        #expect(try home.resolver(["AWS_REGION": "ap-south-1"], region: "sa-east-1").resolveRegion() == "sa-east-1")
    }

    @Test("AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move the files")
    func fileVariables() throws {
        let home = try Home()
        try home.write("elsewhere/creds", "[default]\naws_access_key_id = MOVED\naws_secret_access_key = s\n")
        try home.write("elsewhere/conf", "[default]\nregion = eu-north-1\n")
        let resolver = home.resolver(["AWS_SHARED_CREDENTIALS_FILE": home.path + "/elsewhere/creds",
                                      "AWS_CONFIG_FILE": home.path + "/elsewhere/conf"])
        #expect(try resolver.resolveCredentials().accessKeyId == "MOVED")
        #expect(try resolver.resolveRegion() == "eu-north-1")
    }

    @Test("credential_process prints JSON credentials")
    func credentialProcess() throws {
        let home = try Home()
        try home.write(".aws/config", """
            [profile proc]
            credential_process = printf '{"Version": 1, "AccessKeyId": "PROCKEY", "SecretAccessKey": "procsecret", "SessionToken": "ptok"}'
            """)
        let creds = try home.resolver(profile: "proc").resolveCredentials()
        #expect(creds.accessKeyId == "PROCKEY")
        #expect(creds.sessionToken == "ptok")
        #expect(!creds.description.contains("procsecret"))
        #expect(!creds.description.contains("ptok"))
    }

    @Test("a failing or expired credential_process is refused with exit 77")
    func credentialProcessFailures() throws {
        let home = try Home()
        try home.write(".aws/config", """
            [profile broken]
            credential_process = exit 3
            [profile expired]
            credential_process = echo '{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "B", "Expiration": "2001-01-01T00:00:00Z"}'
            """)
        for profile in ["broken", "expired"] {
            #expect {
                try home.resolver(profile: profile).resolveCredentials()
            } throws: { ($0 as? Failure)?.exitStatus == .permission }
        }
    }

    @Test("Portal Gun's old ~/.portal-gun/config.json is read last")
    func legacyConfig() throws {
        let home = try Home()
        try home.write(".portal-gun/config.json", #"{"aws_region": "us-east-2", "aws_access_key": "OLDKEY", "aws_secret_key": "oldsecret"}"#)
        let config = try home.resolver().resolve()
        #expect(config.credentials.accessKeyId == "OLDKEY")
        #expect(config.region == "us-east-2")
        #expect(config.endpoint(for: "ec2") == "https://ec2.us-east-2.amazonaws.com")
    }

    @Test("no credentials: one message naming every place looked, exit 77")
    func nothingFound() throws {
        let home = try Home()
        do {
            _ = try home.resolver().resolveCredentials()
            Issue.record("expected a failure")
        } catch let failure as Failure {
            #expect(failure.exitStatus == .permission)
            let text = ([failure.message] + failure.hints).joined(separator: "\n")
            for place in ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", ".aws/credentials", ".aws/config", "credential_process", ".portal-gun/config.json"] {
                #expect(text.contains(place), "the message does not name \(place)")
            }
        }
    }

    @Test("no region: a usage error naming the places looked")
    func noRegion() throws {
        let home = try Home()
        #expect { try home.resolver().resolveRegion() } throws: {
            guard let failure = $0 as? Failure else { return false }
            return failure.exitStatus == .usage && failure.hints.joined().contains("AWS_DEFAULT_REGION")
        }
    }

    @Test("endpoints: per service variable, then AWS_ENDPOINT_URL, then AWS's own")
    func endpoints() throws {
        let home = try Home()
        let env = ["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S", "AWS_REGION": "us-east-1",
                   "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:2"]
        let config = try home.resolver(env).resolve()
        #expect(config.endpoint(for: "ec2") == "http://127.0.0.1:1")
        #expect(config.endpoint(for: "sts") == "http://127.0.0.1:2")
        let plain = try home.resolver(["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S", "AWS_REGION": "eu-west-3"]).resolve()
        #expect(plain.endpoint(for: "ec2") == "https://ec2.eu-west-3.amazonaws.com")
        #expect(plain.endpoint(for: "sts") == "https://sts.eu-west-3.amazonaws.com")
    }

    @Test("a region that is not one host label is a usage error, from every source where a region is read")
    func hostileRegion() throws {
        let home = try Home()
        let bad = "x@127.0.0.1:8443/#"
        try home.write(".aws/config", "[profile evil]\nregion = \(bad)\n")
        try home.write(".portal-gun/config.json", #"{"aws_region": "x@127.0.0.1:8443/#", "aws_access_key": "K", "aws_secret_key": "S"}"#)
        let keys = ["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S"]
        let sources: [(String, ConfigurationResolver)] = [
            ("--region", home.resolver(keys, region: bad)),
            ("AWS_REGION", home.resolver(keys.merging(["AWS_REGION": bad]) { a, _ in a })),
            ("AWS_DEFAULT_REGION", home.resolver(keys.merging(["AWS_DEFAULT_REGION": bad]) { a, _ in a })),
            ("profile", home.resolver(keys.merging(["AWS_PROFILE": "evil"]) { a, _ in a })),
            ("legacy", home.resolver()),
        ]
        for (source, resolver) in sources {
            let error = #expect(throws: Failure.self, "\(source)") { try resolver.resolve() }
            #expect(error?.exitStatus == .usage, "\(source)")
            #expect(error?.message.contains("invalid region") == true, "\(source): \(String(describing: error))")
        }
        for name in ["", "-us-east-1", "us-east-1-", "1234", "us east 1", "us.east.1", String(repeating: "a", count: 64)] {
            #expect(!AWSNames.isRegion(name), "\(name)")
        }
        for name in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "local", "US-EAST-1", "a1"] {
            #expect(AWSNames.isRegion(name), "\(name)")
        }
    }

    @Test("an endpoint URL is http or https to a host name or address, with no user, query or fragment")
    func hostileEndpoint() throws {
        let home = try Home()
        let base = ["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S", "AWS_REGION": "us-east-1"]
        for bad in ["http://evil@127.0.0.1:1", "ftp://127.0.0.1", "127.0.0.1:5000", "http://127.0.0.1:1/#",
                    "http://127.0.0.1:1/?a=b", "http://a b/", "http://-x.example/", "http:///path", "http://h:99999/"] {
            for variable in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"] {
                let error = #expect(throws: Failure.self, "\(variable)=\(bad)") {
                    try home.resolver(base.merging([variable: bad]) { a, _ in a }).resolve()
                }
                #expect(error?.exitStatus == .usage)
                #expect(error?.message.contains(variable) == true, "\(String(describing: error))")
            }
        }
        for good in ["http://127.0.0.1:5000", "https://ec2.us-east-1.amazonaws.com/", "http://[::1]:5000", "http://localhost/x/"] {
            let config = try home.resolver(base.merging(["AWS_ENDPOINT_URL": good]) { a, _ in a }).resolve()
            #expect(config.endpoint(for: "ec2") == good)
        }
    }

    @Test("credential_process runs without the AWS keys of this process, which it is there to produce")
    func credentialProcessEnvironment() throws {
        setenv("PORTAL_TEST_CREDENTIAL_PROCESS_MARK", "kept", 1)
        let output = try ConfigurationResolver.runCredentialProcess("env")
        #expect(output.contains("PORTAL_TEST_CREDENTIAL_PROCESS_MARK=kept"))
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] where getenv(name) != nil {
            #expect(!output.contains(name + "="), "\(name) reached credential_process")
        }
        #expect(getenv("AWS_SECRET_ACCESS_KEY") != nil || ProcessInfo.processInfo.environment["PORTAL_REQUIRE_LOCAL_CLOUD"] != "1", "run with keys in the environment (bin/test does)")
    }
}
